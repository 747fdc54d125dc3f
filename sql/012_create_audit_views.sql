-- 012_create_audit_views.sql: the DBA's questions as views for the auditor role, and the indexes that keep them cheap.
--
-- sql/README.md gives each question, its query and its plan on a million
-- tokens.  The views show no digest.  They run as their owner, but a
-- function they call runs as the reader: token_is_valid() (the one
-- validity rule, sql/005) reads tokens (id, valid_until), clients (id,
-- disabled_at) and revocations (token_id), so the auditor holds SELECT
-- on exactly those columns besides the views and token_events.

-- Live tokens of a client: the unexpired ones, from the index alone.
CREATE INDEX tokens_client_valid_idx ON tokens (client_id, valid_until);
-- Per-day questions (auth_failures, client_activity) filter on the UTC
-- day of occurred_at, the expression of these indexes.
CREATE INDEX token_events_event_day_idx
	ON token_events (event, ((occurred_at AT TIME ZONE 'UTC')::date));
CREATE INDEX token_events_client_day_idx
	ON token_events (client_id, ((occurred_at AT TIME ZONE 'UTC')::date))
	WHERE client_id IS NOT NULL;

-- Every valid token (CONTRACT §3).  "valid_until > now()" is implied by
-- token_is_valid() and written first so that an index finds the
-- candidates: most tokens have expired.
CREATE VIEW active_tokens AS
SELECT t.id AS token_id, t.kind, t.client_id, c.name AS client_name,
       t.family_id, t.generation, t.parent_id,
       array_to_string(t.scope, ' ') AS scope, t.label, t.audience,
       t.issued_at, t.expires_at, t.valid_until, t.rotated_at,
       t.rotated_at IS NOT NULL AS in_overlap
FROM tokens t
JOIN clients c ON c.id = t.client_id
WHERE t.valid_until > now() AND token_is_valid(t);

-- Families: each long-term token (from_token_id: the token it was
-- rotated from) and each short-term token (from_token_id: its long-term
-- parent), with the family and generation of the long-term token it
-- belongs to, its state, and the request that issued it (from the audit
-- row, while its partition is kept).
CREATE VIEW token_lineage AS
SELECT x.family_id, x.generation, x.token_id, x.kind, x.from_token_id,
       x.long_token_id, x.client_id, x.scope, x.label, x.audience,
       x.issued_at, x.expires_at, x.valid_until, x.rotated_at,
       r.revoked_at, r.reason AS revoked_reason,
       CASE WHEN r.reason IS NOT NULL THEN 'revoked'
            WHEN c.disabled_at IS NOT NULL THEN 'client_disabled'
            WHEN now() >= x.valid_until THEN
                 CASE WHEN x.rotated_at IS NULL THEN 'expired' ELSE 'rotated' END
            WHEN NOT token_is_valid(x.t) THEN 'parent_invalid'
            WHEN x.rotated_at IS NOT NULL THEN 'overlap'
            ELSE 'valid' END AS state,
       ev.request_id AS issued_request_id, ev.remote_addr AS issued_from
FROM (
	SELECT l.family_id, l.generation, l.id AS token_id, l.kind,
	       l.rotated_from AS from_token_id, l.id AS long_token_id,
	       l.client_id, array_to_string(l.scope, ' ') AS scope, l.label,
	       l.audience, l.issued_at, l.expires_at, l.valid_until,
	       l.rotated_at, l AS t
	FROM tokens l
	WHERE l.kind = 'long'
	UNION ALL
	SELECT p.family_id, p.generation, s.id, s.kind, s.parent_id, s.parent_id,
	       s.client_id, array_to_string(s.scope, ' '), s.label, s.audience,
	       s.issued_at, s.expires_at, s.valid_until, s.rotated_at, s
	FROM tokens s
	JOIN tokens p ON p.id = s.parent_id
	WHERE s.kind = 'short'
) x
JOIN clients c ON c.id = x.client_id
LEFT JOIN revocations r ON r.token_id = x.token_id
LEFT JOIN LATERAL (
	-- The audit row is written with the token, in the same second.
	SELECT e.request_id, e.remote_addr
	FROM token_events e
	WHERE e.token_id = x.token_id
	  AND e.event IN ('issued', 'rotated')
	  AND e.occurred_at >= x.issued_at
	  AND e.occurred_at < x.issued_at + interval '1 minute'
	ORDER BY e.occurred_at
	LIMIT 1
) ev ON true;

-- One row per revoked token: when, why, by which token (revoked_by;
-- NULL when tokenctl or tokend itself did it), through tokend or
-- tokenctl, and from which address (the audit row of the request).  A
-- short-term token of a revoked long-term token has no row of its own:
-- ask about token_lineage.long_token_id too (sql/README.md).
CREATE VIEW revocation_log AS
SELECT r.token_id, t.kind, t.client_id, c.name AS client_name,
       t.family_id, t.parent_id, r.revoked_at, r.reason, r.revoked_by,
       b.kind AS revoked_by_kind,
       CASE WHEN r.request_id IS NULL THEN 'tokenctl' ELSE 'tokend' END
           AS revoked_via,
       r.request_id, ev.remote_addr
FROM revocations r
JOIN tokens t ON t.id = r.token_id
JOIN clients c ON c.id = t.client_id
LEFT JOIN tokens b ON b.id = r.revoked_by
LEFT JOIN LATERAL (
	SELECT e.remote_addr
	FROM token_events e
	WHERE r.request_id IS NOT NULL
	  AND e.request_id = r.request_id
	  AND e.occurred_at >= r.revoked_at
	  AND e.occurred_at < r.revoked_at + interval '1 minute'
	  AND (e.token_id = r.token_id
	       OR (e.event = 'reuse_detected' AND e.family_id = t.family_id))
	LIMIT 1
) ev ON true;

-- Failed authentications per UTC day, client (NULL when the credential
-- named none that exists) and address: the flushed counts summed.
CREATE VIEW auth_failures AS
SELECT (e.occurred_at AT TIME ZONE 'UTC')::date AS day,
       e.client_id, c.name AS client_name, e.remote_addr,
       sum(e.count)::bigint AS failures, count(*) AS flushes,
       min(e.first_at) AS first_at, max(e.last_at) AS last_at
FROM token_events e
LEFT JOIN clients c ON c.id = e.client_id
WHERE e.event = 'auth_failed'
GROUP BY (e.occurred_at AT TIME ZONE 'UTC')::date, e.client_id, c.name,
         e.remote_addr;

-- Per client and UTC day: tokens issued and rotated, tokens revoked (by
-- request, superseded, families revoked on reuse) and failed
-- authentications naming the client.
CREATE VIEW client_activity AS
SELECT e.client_id, c.name AS client_name,
       (e.occurred_at AT TIME ZONE 'UTC')::date AS day,
       count(*) FILTER (WHERE e.event = 'issued' AND e.token_kind = 'long')
           AS issued_long,
       count(*) FILTER (WHERE e.event = 'issued' AND e.token_kind = 'short')
           AS issued_short,
       count(*) FILTER (WHERE e.event = 'rotated') AS rotated,
       count(*) FILTER (WHERE e.event = 'revoked') AS revoked,
       count(*) FILTER (WHERE e.event = 'superseded') AS superseded,
       count(*) FILTER (WHERE e.event = 'reuse_detected') AS reuse_detected,
       coalesce(sum(e.count) FILTER (WHERE e.event = 'auth_failed'), 0)::bigint
           AS failures
FROM token_events e
LEFT JOIN clients c ON c.id = e.client_id
WHERE e.client_id IS NOT NULL
GROUP BY e.client_id, c.name, (e.occurred_at AT TIME ZONE 'UTC')::date;

INSERT INTO tokend_grants (role, kind, object, privileges, why) VALUES
	('auditor', 'table', 'active_tokens', 'SELECT', 'who holds live tokens'),
	('auditor', 'table', 'token_lineage', 'SELECT', 'families, issuance'),
	('auditor', 'table', 'revocation_log', 'SELECT', 'who revoked and why'),
	('auditor', 'table', 'auth_failures', 'SELECT', 'failed authentication'),
	('auditor', 'table', 'client_activity', 'SELECT', 'per client and day'),
	('auditor', 'table', 'token_events', 'SELECT', 'the audit trail; no digest'),
	('auditor', 'function', 'token_is_valid(tokens)', 'EXECUTE',
	 'the validity rule, called by the views as the reader'),
	('auditor', 'table', 'tokens', 'SELECT (id, valid_until)',
	 'what token_is_valid() reads of a parent'),
	('auditor', 'table', 'clients', 'SELECT (id, disabled_at)',
	 'what token_is_valid() reads of a client'),
	('auditor', 'table', 'revocations', 'SELECT (token_id)',
	 'what token_is_valid() reads of a revocation');

SELECT tokend_apply_grants();
