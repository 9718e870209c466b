-- The access audit log (store/access_log.py, app/access_log.py): who read, listed,
-- searched, exported, watched or deleted whose memories, when, from where, with which
-- request id and outcome. Writes are in the revisions already; this records the reads.
-- Rows hold no memory content. Kept for MEM0STACK_AUDIT_RETENTION_DAYS.
CREATE TABLE access_log (
    user_id     text NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    time        timestamptz NOT NULL DEFAULT now(),
    key_id      text NOT NULL,
    action      text NOT NULL,
    method      text NOT NULL,
    outcome     text NOT NULL,
    request_id  text NOT NULL DEFAULT '',
    peer        text NOT NULL DEFAULT '',
    PRIMARY KEY (user_id, id)  -- with user_id first, for distribution by user
);
CREATE INDEX access_log_time ON access_log (time);
CREATE INDEX access_log_key ON access_log (key_id, time);
