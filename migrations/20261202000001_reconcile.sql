-- Reconcile: what it found out of place, remembered between runs so that it
-- acts only on what stays so for its grace period, and where its scans of
-- the collection and the bucket stand.
CREATE TABLE drift_sighting (
    kind          ENUM('face', 'photo') NOT NULL,
    -- A FaceId, or the SHA-256 (hex) of a photo's key: never a name.
    subject       VARCHAR(64) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
    first_seen_at TIMESTAMP(3) NOT NULL,
    last_seen_at  TIMESTAMP(3) NOT NULL,
    PRIMARY KEY (kind, subject),
    KEY ix_drift_last_seen (kind, last_seen_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE reconcile_checkpoint (
    scan            VARCHAR(16) NOT NULL,
    -- ListFaces' token, or the last key of the bucket reached.
    position        TEXT NULL,
    pass_started_at TIMESTAMP(3) NULL,
    PRIMARY KEY (scan)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
