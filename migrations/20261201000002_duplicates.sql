-- The duplicate guard: a person whose indexed face matches another
-- person's is flagged as that person's possible duplicate, with the
-- similarity, until an admin resolves it.
ALTER TABLE person
    ADD COLUMN duplicate_of BIGINT UNSIGNED NULL,
    ADD COLUMN duplicate_similarity FLOAT NULL,
    ADD KEY ix_person_duplicate (duplicate_of);

-- Pairs an admin resolved as different people: never flagged again. The
-- smaller id first, so that a pair is one row whichever way it was found.
CREATE TABLE distinct_pair (
    person_id       BIGINT UNSIGNED NOT NULL,
    other_person_id BIGINT UNSIGNED NOT NULL,
    resolved_at     TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (person_id, other_person_id),
    KEY ix_distinct_other (other_person_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
