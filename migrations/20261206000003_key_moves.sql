-- A corrected name moves the person's photo to a key of the new names. The
-- record names the new key at once; this remembers the old one until the
-- photo is copied and every version of the old key deleted, so that a move
-- cut short is finished rather than left with the old name in the bucket.
CREATE TABLE key_move (
    person_id   BIGINT UNSIGNED NOT NULL,
    from_key    VARCHAR(512) NOT NULL,
    to_key      VARCHAR(512) NOT NULL,
    moved_at    TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (person_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
