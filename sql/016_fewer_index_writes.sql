-- 016_fewer_index_writes.sql: four index entries fewer per request (one per token, three per audit row), and a rotation that rewrites no index.
--
-- Every request writes a token or a revocation and an audit row, and each
-- index on those tables is one more entry to insert and to WAL-log in the
-- request's transaction.  Two indexes duplicated another's lookup:
--
-- - tokens (client_id, issued_at) (002) and tokens (client_id, valid_until)
--   (012) both find a client's tokens.  The second one also made rotation
--   expensive: rotation sets valid_until, an indexed column, so its UPDATE
--   could never be a heap-only (HOT) update and wrote a new entry in every
--   index of tokens.  One index on (client_id, expires_at) replaces both:
--   expires_at never changes after the insert, and since valid_until <=
--   expires_at (tokens_valid_until_check) a live token has expires_at >
--   now(), which active_tokens now says so the index finds the candidates.
--   "tokenctl token list --client" and client disable find the client's
--   tokens by its leading column.
-- - token_events (client_id, occurred_at) (004): every question about a
--   client's audit rows is asked by day and served by (client_id, UTC day)
--   (012); a time range within that is filtered on the client's rows.
--
-- Rotation updates rotated_at and valid_until, now in no index, so the
-- update can stay on its page (HOT) when the page has room: tokens keeps
-- 10 % of each new page free for it.  Pages written before this migration
-- are full and keep the old cost until the token is pruned.
DROP INDEX tokens_client_id_idx;
DROP INDEX tokens_client_valid_idx;
CREATE INDEX tokens_client_expires_idx ON tokens (client_id, expires_at);
ALTER TABLE tokens SET (fillfactor = 90);

DROP INDEX token_events_client_idx;

-- Two indexes of token_events need only the rare rows: a request's own
-- audit row (issued, rotated, revoked, superseded) is never looked up
-- through them.
-- - (family_id): revocation_log finds a family's reuse_detected row by it;
--   a family's other rows are found through its tokens (token_lineage:
--   tokens_family_idx, then token_events by token_id).
-- - (event, UTC day): the per-day questions across clients ask about
--   auth_failed and reuse_detected rows; a client's days are served by
--   (client_id, UTC day), and a time range alone by the BRIN index (014).
DROP INDEX token_events_family_idx;
CREATE INDEX token_events_family_idx ON token_events (family_id)
	WHERE event = 'reuse_detected';
DROP INDEX token_events_event_day_idx;
CREATE INDEX token_events_event_day_idx
	ON token_events (event, ((occurred_at AT TIME ZONE 'UTC')::date))
	WHERE event NOT IN ('issued', 'rotated', 'revoked', 'superseded');

-- Same columns, same rows: "expires_at > now()" is implied by
-- "valid_until > now()" and written for the index above.
CREATE OR REPLACE VIEW active_tokens AS
SELECT t.id AS token_id, t.kind, t.client_id, c.name AS client_name,
       t.family_id, t.generation, t.parent_id,
       array_to_string(t.scope, ' ') AS scope, t.label, t.audience,
       t.issued_at, t.expires_at, t.valid_until, t.rotated_at,
       t.rotated_at IS NOT NULL AS in_overlap
FROM tokens t
JOIN clients c ON c.id = t.client_id
WHERE t.expires_at > now() AND t.valid_until > now() AND token_is_valid(t);
