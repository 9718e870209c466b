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
    event_time    timestamptz
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

-- The change feed: seq is the Watch cursor.
CREATE TABLE memory_events (
    seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     text NOT NULL,
    memory_id   uuid NOT NULL,
    event       text NOT NULL CHECK (event IN ('CREATED', 'UPDATED', 'SUPERSEDED', 'DELETED')),
    revision_id bigint NOT NULL,
    create_time timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX memory_events_user ON memory_events (user_id, seq);

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
