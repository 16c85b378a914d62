-- People and the state of their photo. MySQL 8 / Aurora MySQL 3 and MariaDB 10.11.
CREATE TABLE person (
    id               BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    lastname         VARCHAR(100) NOT NULL,
    firstname        VARCHAR(100) NOT NULL,
    object_key       VARCHAR(512) NOT NULL,
    -- Rekognition FaceId of the indexed face.
    identity         VARCHAR(64) NULL,
    status           ENUM('pending', 'indexed', 'rejected') NOT NULL DEFAULT 'pending',
    status_reason    VARCHAR(500) NULL,
    -- The object version the outcome belongs to; S3's sequencer orders events of one key.
    object_etag      VARCHAR(128) NULL,
    object_sequencer VARCHAR(64) NULL,
    face_confidence  FLOAT NULL,
    face_left        FLOAT NULL,
    face_top         FLOAT NULL,
    face_width       FLOAT NULL,
    face_height      FLOAT NULL,
    created_at       TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    updated_at       TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
    PRIMARY KEY (id),
    UNIQUE KEY uq_person_object_key (object_key),
    UNIQUE KEY uq_person_identity (identity),
    -- Listing: newest first, optionally by status, keyset on id.
    KEY ix_person_status_id (status, id),
    -- Name filter: prefix of the last or first name.
    KEY ix_person_lastname (lastname),
    KEY ix_person_firstname (firstname)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Faces replaced by a newer photo, recorded in the same transaction as the
-- new face, and forgotten once deleted from the collection.
CREATE TABLE retired_face (
    face_id    VARCHAR(64) NOT NULL,
    retired_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (face_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
