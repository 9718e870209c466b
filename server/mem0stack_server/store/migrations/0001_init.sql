-- The system of record. {{embedding_dim}} is filled in from the embedder the database was
-- created with; store_meta keeps it so a later start with another dimension stops cleanly.

CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE store_meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

CREATE TABLE memories (
    id            uuid PRIMARY KEY,
    user_id       text NOT NULL,
    agent_id      text NOT NULL DEFAULT '',
    run_id        text NOT NULL DEFAULT '',
    actor_id      text NOT NULL DEFAULT '',
    role          text NOT NULL DEFAULT '',
    memory_type   text NOT NULL DEFAULT 'SEMANTIC',
    content       text NOT NULL,
    hash          text NOT NULL,
    embedding     vector({{embedding_dim}}) NOT NULL,
    -- 'english' stems words so "drinks" finds "drink"; content in other languages still
    -- matches on exact words.
    tsv           tsvector GENERATED ALWAYS AS (to_tsvector('english', content)) STORED,
    metadata      jsonb NOT NULL DEFAULT '{}',
    categories    text[] NOT NULL DEFAULT '{}',
    state         text NOT NULL DEFAULT 'ACTIVE' CHECK (state IN ('ACTIVE', 'SUPERSEDED')),
    superseded_by uuid,
    version       integer NOT NULL DEFAULT 1,
    create_time   timestamptz NOT NULL,
    update_time   timestamptz NOT NULL,
    expire_time   timestamptz,
    event_time    timestamptz,
    -- Where an imported memory came from (its id in the exporting system); '' otherwise.
    source_id     text NOT NULL DEFAULT ''
);

-- Keyset pagination per user, newest first, and by update time.
CREATE INDEX memories_user_create ON memories (user_id, create_time DESC, id DESC);
CREATE INDEX memories_user_update ON memories (user_id, update_time DESC, id DESC);
-- Scope lookups for reconciliation and filters.
CREATE INDEX memories_user_scope ON memories (user_id, agent_id, run_id);
CREATE INDEX memories_user_hash ON memories (user_id, hash);
CREATE INDEX memories_embedding ON memories USING hnsw (embedding vector_cosine_ops);
CREATE INDEX memories_tsv ON memories USING gin (tsv);
CREATE INDEX memories_metadata ON memories USING gin (metadata jsonb_path_ops);
CREATE INDEX memories_categories ON memories USING gin (categories);
CREATE UNIQUE INDEX memories_user_source ON memories (user_id, source_id) WHERE source_id <> '';

-- Every change of every memory; kept after the memory is deleted.
CREATE TABLE memory_revisions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    memory_id       uuid NOT NULL,
    user_id         text NOT NULL,
    event           text NOT NULL CHECK (event IN ('CREATE', 'UPDATE', 'SUPERSEDE', 'DELETE')),
    content_before  text NOT NULL DEFAULT '',
    content_after   text NOT NULL DEFAULT '',
    metadata_before jsonb,
    metadata_after  jsonb,
    actor           text NOT NULL,
    request_id      text NOT NULL DEFAULT '',
    create_time     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX memory_revisions_memory ON memory_revisions (memory_id, id);

-- The change feed: seq is the Watch cursor. Rows are written by the triggers below, so no
-- write path can forget them; each carries the memory as the change left it.
CREATE TABLE memory_events (
    seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     text NOT NULL,
    memory_id   uuid NOT NULL,
    event       text NOT NULL CHECK (event IN ('CREATED', 'UPDATED', 'SUPERSEDED', 'DELETED')),
    snapshot    jsonb NOT NULL,
    create_time timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX memory_events_user ON memory_events (user_id, seq);
CREATE INDEX memory_events_time ON memory_events (create_time);

-- Feed writes of one user are serialised by a transaction-scoped advisory lock taken before
-- their sequence numbers are drawn, so within a user seq order is commit order: a watcher
-- that has read seq 11 can never later find a seq 10 committed behind it. Writes of
-- different users do not wait for each other.
CREATE FUNCTION capture_memory_changes() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed_user text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        FOR changed_user IN SELECT DISTINCT user_id FROM new_rows ORDER BY 1 LOOP
            PERFORM pg_advisory_xact_lock(hashtext('mem0stack.feed'), hashtext(changed_user));
        END LOOP;
        INSERT INTO memory_events (user_id, memory_id, event, snapshot)
        SELECT r.user_id, r.id, 'CREATED', to_jsonb(r) - 'embedding' - 'tsv'
        FROM new_rows AS r ORDER BY r.id;
        FOR changed_user IN SELECT DISTINCT user_id FROM new_rows LOOP
            PERFORM pg_notify('mem0stack_memory_events', changed_user);
        END LOOP;
    ELSIF TG_OP = 'UPDATE' THEN
        FOR changed_user IN SELECT DISTINCT user_id FROM new_rows ORDER BY 1 LOOP
            PERFORM pg_advisory_xact_lock(hashtext('mem0stack.feed'), hashtext(changed_user));
        END LOOP;
        INSERT INTO memory_events (user_id, memory_id, event, snapshot)
        SELECT n.user_id, n.id,
               CASE WHEN n.state = 'SUPERSEDED' AND o.state <> 'SUPERSEDED'
                    THEN 'SUPERSEDED' ELSE 'UPDATED' END,
               to_jsonb(n) - 'embedding' - 'tsv'
        FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id ORDER BY n.id;
        FOR changed_user IN SELECT DISTINCT user_id FROM new_rows LOOP
            PERFORM pg_notify('mem0stack_memory_events', changed_user);
        END LOOP;
    ELSE
        FOR changed_user IN SELECT DISTINCT user_id FROM old_rows ORDER BY 1 LOOP
            PERFORM pg_advisory_xact_lock(hashtext('mem0stack.feed'), hashtext(changed_user));
        END LOOP;
        INSERT INTO memory_events (user_id, memory_id, event, snapshot)
        SELECT r.user_id, r.id, 'DELETED', to_jsonb(r) - 'embedding' - 'tsv'
        FROM old_rows AS r ORDER BY r.id;
        FOR changed_user IN SELECT DISTINCT user_id FROM old_rows LOOP
            PERFORM pg_notify('mem0stack_memory_events', changed_user);
        END LOOP;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER memories_feed_insert AFTER INSERT ON memories
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION capture_memory_changes();
CREATE TRIGGER memories_feed_update AFTER UPDATE ON memories
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION capture_memory_changes();
CREATE TRIGGER memories_feed_delete AFTER DELETE ON memories
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION capture_memory_changes();

CREATE TABLE api_keys (
    id          text PRIMARY KEY,
    secret_hash bytea NOT NULL,
    role        text NOT NULL CHECK (role IN ('admin', 'user')),
    users       text[] NOT NULL DEFAULT '{}',
    label       text NOT NULL DEFAULT '',
    create_time timestamptz NOT NULL DEFAULT now(),
    revoke_time timestamptz
);

-- Responses of calls made with a request_id, so a retry returns the first answer.
CREATE TABLE idempotency (
    user_id      text NOT NULL,
    request_id   text NOT NULL,
    method       text NOT NULL,
    request_hash bytea NOT NULL,
    response     bytea NOT NULL,
    create_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, method, request_id)
);
CREATE INDEX idempotency_time ON idempotency (create_time);
