-- Background AddMemories calls (async_mode). A row is written before the call answers, so
-- the work survives the client going away; a worker claims it by taking a lease, renews
-- the lease while it runs, and commits the result in the same transaction as the memory
-- changes. A row whose lease ran out (its server died) is claimed again by any server.
CREATE TABLE operations (
    id          uuid PRIMARY KEY,
    user_id     text NOT NULL,
    state       text NOT NULL DEFAULT 'PENDING'
                CHECK (state IN ('PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED')),
    -- The AddMemoriesRequest, serialised; the caller as revisions record it.
    request     bytea NOT NULL,
    actor       text NOT NULL,
    request_id  text NOT NULL DEFAULT '',
    -- The AddMemoriesResponse when SUCCEEDED, a google.rpc.Status when FAILED.
    result      bytea,
    error       bytea,
    attempts    integer NOT NULL DEFAULT 0,
    lease_owner text,
    lease_until timestamptz,
    create_time timestamptz NOT NULL DEFAULT now(),
    start_time  timestamptz,
    end_time    timestamptz
);
-- Recovery scans only unfinished operations; retention deletes by end time.
CREATE INDEX operations_unfinished ON operations (create_time)
    WHERE state IN ('PENDING', 'RUNNING');
CREATE INDEX operations_end ON operations (end_time) WHERE end_time IS NOT NULL;
CREATE INDEX operations_user ON operations (user_id);
