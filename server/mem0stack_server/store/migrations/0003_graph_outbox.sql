-- Graph memory: the durable outbox of graph updates, applied to Neo4j after the memory
-- changes they follow have committed (so a Neo4j outage never fails a memory write).
--
-- Jobs of one user are applied in id order, one at a time: a worker only takes the oldest
-- job of a user (and only when no other worker holds it), so a memory's relations are
-- written before the job that deletes it. A job is deleted once applied; a failing one
-- stays, with its error, and is tried again after a backoff.
CREATE TABLE graph_outbox (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      text NOT NULL,
    -- EXTRACT: relations from a conversation and the memories it produced (written by
    --          AddMemories with an LLM); FORGET: memories deleted; SUPERSEDE: memories
    --          superseded (both written by the triggers below).
    kind         text NOT NULL CHECK (kind IN ('EXTRACT', 'FORGET', 'SUPERSEDE')),
    payload      jsonb NOT NULL,
    state        text NOT NULL DEFAULT 'PENDING' CHECK (state IN ('PENDING', 'FAILED')),
    attempts     integer NOT NULL DEFAULT 0,
    next_attempt timestamptz NOT NULL DEFAULT now(),
    lease_owner  text,
    lease_until  timestamptz,
    last_error   text NOT NULL DEFAULT '',
    create_time  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX graph_outbox_user ON graph_outbox (user_id, id) WHERE state = 'PENDING';
CREATE INDEX graph_outbox_due ON graph_outbox (next_attempt) WHERE state = 'PENDING';

-- Memories that have (or are about to have) graph data. Deleting or superseding one of
-- them queues the graph update; memories of a server without graph memory never appear
-- here, so they cost nothing.
CREATE TABLE graph_sources (
    memory_id uuid PRIMARY KEY,
    user_id   text NOT NULL
);

CREATE FUNCTION queue_graph_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO graph_outbox (user_id, kind, payload)
        SELECT s.user_id, 'FORGET',
               jsonb_build_object('memory_ids', jsonb_agg(s.memory_id ORDER BY s.memory_id))
        FROM graph_sources AS s JOIN old_rows AS o ON o.id = s.memory_id
        GROUP BY s.user_id;
        DELETE FROM graph_sources AS s USING old_rows AS o WHERE s.memory_id = o.id;
    ELSE
        INSERT INTO graph_outbox (user_id, kind, payload)
        SELECT n.user_id, 'SUPERSEDE',
               jsonb_build_object('memories', jsonb_agg(
                   jsonb_build_object('id', n.id, 'by', n.superseded_by, 'time', n.update_time)
                   ORDER BY n.id))
        FROM new_rows AS n
        JOIN old_rows AS o ON o.id = n.id
        JOIN graph_sources AS s ON s.memory_id = n.id
        WHERE n.state = 'SUPERSEDED' AND o.state <> 'SUPERSEDED'
        GROUP BY n.user_id;
    END IF;
    IF FOUND THEN
        PERFORM pg_notify('mem0stack_graph_outbox', '');
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER memories_graph_delete AFTER DELETE ON memories
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION queue_graph_changes();
CREATE TRIGGER memories_graph_supersede AFTER UPDATE ON memories
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION queue_graph_changes();
