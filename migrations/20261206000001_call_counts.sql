-- Calls counted per caller and minute: the searches' rate limit, which
-- must hold across every execution environment of the faces function.
-- A caller keeps one row; older windows are deleted as new ones begin.
CREATE TABLE call_count (
    caller          VARCHAR(128) NOT NULL,
    window_start    TIMESTAMP NOT NULL,
    calls           INT UNSIGNED NOT NULL,
    PRIMARY KEY (caller, window_start)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
