-- The caller's e-mail, as the ID token their pages sent proves it, so that
-- the trail names operators as they know each other. Entries written
-- before, or by callers that send no ID token (scripts), have none and
-- name the caller by subject.
ALTER TABLE audit_event ADD COLUMN actor_email VARCHAR(254) NULL AFTER actor_username;
