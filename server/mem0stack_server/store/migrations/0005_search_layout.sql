-- Two changes to how memories are laid out, both for search.
--
-- Neighbouring context walks a run in creation order from each candidate: a few steps
-- back and forth along (user, agent, run, create_time, id). This index serves those
-- walks directly (a handful of index tuples per candidate instead of numbering every
-- memory of the run), and its prefix serves the scope lookups the old
-- (user_id, agent_id, run_id) index did.
CREATE INDEX memories_user_run_order ON memories (user_id, agent_id, run_id, create_time, id);
DROP INDEX memories_user_scope;

-- A 384-dimensional embedding takes 1.5 kB, which with the text and its tsvector pushes a
-- typical row past PostgreSQL's 2 kB TOAST threshold, and pgvector's default storage
-- (EXTERNAL) then moves the embedding out of line: every distance computed by an exact
-- scan, and every cosine of a fused candidate, paid a TOAST lookup (an exact scan of 400
-- memories took 0.9 ms instead of 0.4 ms). Rows now stay whole up to a full page, and the
-- embedding is the last column moved out when one does not fit. This applies to rows
-- written from now on; `VACUUM FULL memories` rewrites older ones (docs/operations.md).
ALTER TABLE memories SET (toast_tuple_target = 8160);
ALTER TABLE memories ALTER COLUMN embedding SET STORAGE MAIN;
