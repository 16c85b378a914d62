-- Erasures asked for, finished or not: the one place that says who is to
-- be erased (whatever sweeps leftovers finishes the unfinished ones), and
-- what stops an indexing run from recording an erased person again. It
-- holds no name: the object key (which holds the names) only as its
-- SHA-256 digest.
CREATE TABLE erasure (
    person_id    BIGINT UNSIGNED NOT NULL,
    key_digest   BINARY(32) NOT NULL,
    requested_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    completed_at TIMESTAMP(3) NULL,
    -- JSON: what was removed and checked (FaceIds, counts); never a name.
    receipt      TEXT NULL,
    PRIMARY KEY (person_id),
    -- Not unique: a plain key may be used again after an erasure.
    KEY ix_erasure_key (key_digest),
    KEY ix_erasure_unfinished (completed_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
