-- 014_index_lookups_always.sql: cached plans of the validity rule that stay right as revocations grows, and a BRIN index on the audit trail's time.
--
-- Since 013 each connection plans token_is_valid() once and keeps the
-- plan.  A plan made while revocations is empty (a new deployment, or
-- any database after a quiet night and an ANALYZE) reads it with a
-- sequential scan, and keeps doing so as the table grows until the next
-- ANALYZE invalidates it: under a burst of revocations, over a third of
-- the database's time per request went there (tests/bench/RESULTS.md).
-- Every lookup of the rule is by a key, so the index is right at any
-- size: the function plans with sequential scans off.  The setting holds
-- only inside the function; a reader's own query is planned as before.
ALTER FUNCTION token_is_valid(tokens) SET enable_seqscan = off;

-- token_events is appended in time order and its monthly partitions are
-- dropped whole, so no query needs a B-tree on occurred_at: the per-day
-- questions use the (event, UTC day) and (client_id, UTC day) indexes of
-- 012, a time range alone is served as well by a BRIN index, a few pages
-- instead of one more B-tree entry for every audit row written.
DROP INDEX token_events_occurred_idx;
CREATE INDEX token_events_occurred_brin ON token_events USING brin (occurred_at);
