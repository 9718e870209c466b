-- Webhooks (store/webhooks.py, app/webhooks.py): URLs the server POSTs memory changes to.
--
-- The delivery worker reads memory_events after each webhook's position. Events of one user
-- commit in seq order (the feed's advisory lock), but events of different users do not: a
-- webhook of all users could read seq 12 while seq 10 is still uncommitted, then move past
-- it. So every event records the transaction that wrote it, and each webhook remembers the
-- oldest transaction still running when it last read (position_xmin): on the next read,
-- events at or before its position written by that transaction or a later one are read again
-- (deliveries are unique per webhook and event, so nothing is sent twice).
ALTER TABLE memory_events ADD COLUMN xid xid8;
ALTER TABLE memory_events ALTER COLUMN xid SET DEFAULT pg_current_xact_id();
CREATE INDEX memory_events_xid ON memory_events (xid);

-- Webhooks are few and read by every server's worker, and a webhook of all users belongs to
-- no user: a reference table, so the user a webhook is scoped to is not a user_id key.
CREATE TABLE webhooks (
    id            uuid PRIMARY KEY,
    scope_user    text,                -- the user whose changes it sees; NULL: all users (admin)
    url           text NOT NULL,
    event_types   text[] NOT NULL DEFAULT '{}',   -- empty: every type
    filter        text NOT NULL DEFAULT '',
    disabled      boolean NOT NULL DEFAULT false,
    secret        text NOT NULL,
    position      bigint NOT NULL,     -- the newest memory_events.seq read
    position_xmin xid8 NOT NULL,       -- the oldest transaction running at that read
    lease_owner   text,                -- the server process delivering now, if any
    lease_until   timestamptz NOT NULL DEFAULT '-infinity',
    create_time   timestamptz NOT NULL DEFAULT now(),
    update_time   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_scope ON webhooks (scope_user, create_time, id);

CREATE TABLE webhook_deliveries (
    webhook_id        uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    seq               bigint NOT NULL,  -- memory_events.seq of the change
    user_id           text NOT NULL,
    memory_id         uuid NOT NULL,
    event             text NOT NULL,
    payload           jsonb NOT NULL,   -- the change as the body will carry it
    change_time       timestamptz NOT NULL,
    state             text NOT NULL DEFAULT 'PENDING'
                      CHECK (state IN ('PENDING', 'SUCCEEDED', 'FAILED')),
    attempts          integer NOT NULL DEFAULT 0,
    last_error        text NOT NULL DEFAULT '',
    next_attempt_time timestamptz NOT NULL DEFAULT now(),
    create_time       timestamptz NOT NULL DEFAULT now(),
    complete_time     timestamptz,
    PRIMARY KEY (user_id, webhook_id, seq)  -- with user_id first, for distribution by user
);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, seq);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (webhook_id, seq)
    WHERE state = 'PENDING';
CREATE INDEX webhook_deliveries_time ON webhook_deliveries (create_time);
