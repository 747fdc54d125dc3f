-- invariants.sql - the audit trail against the state it describes, over
-- a whole database: no committed change without its row, no row without
-- its change, no secret in a row.  Tokens pruned ("tokenctl token prune")
-- and partitions dropped ("tokenctl audit prune") are not asked about.
-- Prints "ok - ..." / "not ok - ..." lines.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only on
SET client_min_messages = warning;

CREATE TEMP VIEW kept AS
SELECT coalesce(min(range_from), '-infinity') AS since
FROM tokend_audit_partition_list();

CREATE FUNCTION pg_temp.none(n bigint, descr text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN n = 0 THEN 'ok' ELSE 'not ok' END || ' - ' || descr
	       || CASE WHEN n = 0 THEN '' ELSE E'\n#   ' || n || ' found' END
$$;

SELECT pg_temp.none(count(*), 'every token has its issuance row (issued, or rotated from its predecessor)')
FROM tokens t, kept
WHERE t.issued_at >= kept.since
  AND NOT EXISTS (
	SELECT 1 FROM token_events e
	WHERE e.token_id = t.id AND e.occurred_at = t.issued_at
	  AND e.client_id = t.client_id AND e.token_kind = t.kind
	  AND CASE WHEN t.kind = 'short' THEN e.event = 'issued' AND e.parent_id = t.parent_id
	           WHEN t.generation = 0 THEN e.event = 'issued' AND e.family_id = t.family_id
	           ELSE e.event = 'rotated' AND e.parent_id = t.rotated_from
	                AND e.family_id = t.family_id END);

SELECT pg_temp.none(count(*), 'every token has one issuance row, no more')
FROM (SELECT e.token_id FROM token_events e
      WHERE e.event IN ('issued', 'rotated')
      GROUP BY e.token_id HAVING count(*) > 1) d;

SELECT pg_temp.none(count(*), 'every issuance row names a token that was issued (or pruned since)')
FROM token_events e
WHERE e.event IN ('issued', 'rotated')
  AND NOT EXISTS (SELECT 1 FROM tokens t WHERE t.id = e.token_id)
  AND e.occurred_at > (SELECT coalesce(max(expires_at), '-infinity') FROM tokens);

SELECT pg_temp.none(count(*), 'every rotated token has the rotated row of its successor')
FROM tokens t, kept
WHERE t.rotated_at IS NOT NULL AND t.rotated_at >= kept.since
  AND NOT EXISTS (SELECT 1 FROM token_events e
                  WHERE e.event = 'rotated' AND e.parent_id = t.id
                    AND e.occurred_at = t.rotated_at);

SELECT pg_temp.none(count(*), 'every revocation has its row: revoked, superseded, reuse_detected or client_disabled')
FROM revocations r JOIN tokens t ON t.id = r.token_id, kept
WHERE r.revoked_at >= kept.since
  AND NOT EXISTS (
	SELECT 1 FROM token_events e
	WHERE e.occurred_at = r.revoked_at AND e.client_id = t.client_id
	  AND CASE r.reason
	      WHEN 'requested' THEN e.event = 'revoked' AND e.token_id = r.token_id
	                            AND e.reason = 'requested'
	                            AND e.actor_id IS NOT DISTINCT FROM r.revoked_by
	      WHEN 'superseded' THEN e.event = 'superseded' AND e.token_id = r.token_id
	      WHEN 'reuse_detected' THEN e.event = 'reuse_detected'
	                                 AND e.family_id = t.family_id
	                                 AND e.request_id IS NOT DISTINCT FROM r.request_id
	      WHEN 'client_disabled' THEN e.event = 'client_disabled'
	      END);

SELECT pg_temp.none(count(*), 'every revoked or superseded row has its revocation')
FROM token_events e
WHERE e.event IN ('revoked', 'superseded')
  AND EXISTS (SELECT 1 FROM tokens t WHERE t.id = e.token_id)
  AND NOT EXISTS (SELECT 1 FROM revocations r
                  WHERE r.token_id = e.token_id AND r.revoked_at = e.occurred_at
                    AND r.reason = CASE e.event WHEN 'revoked' THEN 'requested'
                                                ELSE 'superseded' END);

SELECT pg_temp.none(count(*), 'every reuse_detected row revoked its family')
FROM token_events e
WHERE e.event = 'reuse_detected'
  AND EXISTS (SELECT 1 FROM tokens t WHERE t.family_id = e.family_id)
  AND NOT EXISTS (SELECT 1 FROM revocations r JOIN tokens t ON t.id = r.token_id
                  WHERE t.family_id = e.family_id AND r.reason = 'reuse_detected'
                    AND r.revoked_at = e.occurred_at);

SELECT pg_temp.none(count(*), 'every client has its client_created row')
FROM clients c, kept
WHERE c.created_at >= kept.since
  AND NOT EXISTS (SELECT 1 FROM token_events e
                  WHERE e.event = 'client_created' AND e.client_id = c.id);

SELECT pg_temp.none(count(*), 'every disabled client has its client_disabled row')
FROM clients c, kept
WHERE c.disabled_at IS NOT NULL AND c.disabled_at >= kept.since
  AND NOT EXISTS (SELECT 1 FROM token_events e
                  WHERE e.event = 'client_disabled' AND e.client_id = c.id
                    AND e.occurred_at = c.disabled_at);

SELECT pg_temp.none(count(*), 'failed authentications are counts: count, first_at <= last_at, no token, no detail')
FROM token_events e
WHERE e.event = 'auth_failed'
  AND NOT (e.count >= 1 AND e.first_at <= e.last_at AND e.token_id IS NULL
           AND e.actor_id IS NULL AND e.detail IS NULL);

SELECT pg_temp.none(count(*), 'no audit row holds a token, a client key or a digest')
FROM token_events e
WHERE e::text ~ 'tk[lsc]_[0-9A-Za-z]{71}'
   OR e.detail ?| ARRAY['key_digest', 'prev_key_digest', 'digest'];
