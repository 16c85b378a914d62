-- Every FaceId the registry recorded for a person, kept for as long as the
-- person is: erasing a person deletes each of them from the collection and
-- then checks, by FaceId (ListFaces filters by FaceIds, not by key), that
-- none is left.
CREATE TABLE person_face (
    face_id     VARCHAR(64) NOT NULL,
    person_id   BIGINT UNSIGNED NOT NULL,
    recorded_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (face_id),
    KEY ix_person_face_person (person_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The faces recorded before this table: each person's current one.
INSERT INTO person_face (face_id, person_id)
SELECT identity, id FROM person WHERE identity IS NOT NULL;
