-- Time and lifecycle (issue 23): when each memory was true, and expiry announced on the feed.
--
-- valid_time is when the fact became true in the world, invalid_time when it stopped (set
-- from the successor's valid_time on SUPERSEDE). Existing memories get the best values
-- known: valid from their event time, else their create time; a superseded one invalid
-- from its successor's valid time, else (successor gone) from when it was superseded,
-- which is its last update.
ALTER TABLE memories ADD COLUMN valid_time timestamptz;
ALTER TABLE memories ADD COLUMN invalid_time timestamptz;

-- The backfill is no change of any memory: it must not flood the change feed (and every
-- webhook) with an UPDATED event per memory.
ALTER TABLE memories DISABLE TRIGGER memories_feed_update;
UPDATE memories SET valid_time = coalesce(event_time, create_time);
UPDATE memories AS m
SET invalid_time = coalesce((SELECT s.valid_time FROM memories AS s
                             WHERE s.user_id = m.user_id AND s.id = m.superseded_by),
                            m.update_time)
WHERE m.state = 'SUPERSEDED';
ALTER TABLE memories ENABLE TRIGGER memories_feed_update;

ALTER TABLE memories ALTER COLUMN valid_time SET NOT NULL;

-- The expiry sweeper looks for memories past their expire_time plus the retention; few
-- memories expire, so a partial index keeps that look-up off the table.
CREATE INDEX memories_expire ON memories (expire_time) WHERE expire_time IS NOT NULL;

-- The sweeper's deletions are announced as EXPIRED rather than DELETED: it marks its
-- transaction with the setting mem0stack.change_reason = 'expired', which the trigger reads.
ALTER TABLE memory_events DROP CONSTRAINT memory_events_event_check;
ALTER TABLE memory_events ADD CONSTRAINT memory_events_event_check
    CHECK (event IN ('CREATED', 'UPDATED', 'SUPERSEDED', 'DELETED', 'EXPIRED'));

CREATE OR REPLACE FUNCTION capture_memory_changes() RETURNS trigger LANGUAGE plpgsql AS $$
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
        SELECT r.user_id, r.id,
               CASE WHEN current_setting('mem0stack.change_reason', true) = 'expired'
                    THEN 'EXPIRED' ELSE 'DELETED' END,
               to_jsonb(r) - 'embedding' - 'tsv'
        FROM old_rows AS r ORDER BY r.id;
        FOR changed_user IN SELECT DISTINCT user_id FROM old_rows LOOP
            PERFORM pg_notify('mem0stack_memory_events', changed_user);
        END LOOP;
    END IF;
    RETURN NULL;
END
$$;
