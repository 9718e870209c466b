-- Keyword search reads the full-text index right after writes (AddMemories, then a
-- search). With GIN's fast update, new entries wait in an unsorted pending list that every
-- search scans until (auto)vacuum merges it: after a bulk import, keyword searches ran two
-- to three times slower for about a minute. Writing entries straight into the index costs
-- a little at insert time and keeps search time steady.
ALTER INDEX memories_tsv SET (fastupdate = off);
SELECT gin_clean_pending_list('memories_tsv'::regclass);
