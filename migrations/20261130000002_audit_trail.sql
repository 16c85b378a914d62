-- The audit trail: who did what to which person, and when. Append-only:
-- the functions' database users may insert and read it, never change it.
-- It holds person ids, never names, keys or photos.
CREATE TABLE audit_event (
    id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    occurred_at     TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    action          VARCHAR(40) NOT NULL,
    person_id       BIGINT UNSIGNED NULL,
    -- The caller, from their token; NULL for the registry's own work.
    actor_subject   VARCHAR(128) NULL,
    actor_username  VARCHAR(128) NULL,
    actor_groups    VARCHAR(512) NULL,
    request_id      VARCHAR(128) NOT NULL,
    -- JSON: FaceIds, statuses, fields changed; never a name.
    detail          TEXT NOT NULL,
    PRIMARY KEY (id),
    KEY ix_audit_person (person_id, id),
    KEY ix_audit_action (action, id),
    KEY ix_audit_actor (actor_subject, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
