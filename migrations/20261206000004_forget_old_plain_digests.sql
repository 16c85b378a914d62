-- Erasures recorded before `key_has_token` existed took its default (a key
-- with a token, kept erased for good), plain keys too, so a plain key's
-- digest, which someone guessing the name can confirm, was never forgotten.
-- Which of them were plain is not known; none can bring anyone back any
-- more (every version of their photo was deleted, their upload URLs and
-- dead letters expired within days), so all of them are taken as plain:
-- reconcile forgets their digests as it forgets plain keys'.
UPDATE erasure SET key_has_token = FALSE
WHERE requested_at < (
    SELECT installed_on FROM _sqlx_migrations WHERE version = 20261202000002
);
