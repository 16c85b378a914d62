-- Enrolment requests sent with an Idempotency-Key: the same key again (a
-- retry whose first reply was lost) answers the person the first request
-- created instead of creating another. Kept a day; a digest of what was
-- asked, never the names themselves.
CREATE TABLE upload_request (
    caller          VARCHAR(128) NOT NULL,
    request_key     VARCHAR(128) NOT NULL,
    request_digest  CHAR(64) CHARACTER SET ascii NOT NULL,
    person_id       BIGINT UNSIGNED NOT NULL,
    created_at      TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (caller, request_key),
    KEY ix_upload_request_created (created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
