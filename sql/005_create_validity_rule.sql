-- 005_create_validity_rule.sql: the one rule deciding whether a token is valid, used by every path.
--
-- A token is valid when it exists, its client is not disabled, it has no
-- revocation row, now() < valid_until, and, for a short-term token, its
-- parent is valid by the same rule.  The database clock is the only clock.
CREATE FUNCTION token_is_valid(t tokens) RETURNS boolean
LANGUAGE sql STABLE AS $$
	SELECT now() < t.valid_until
	   AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.token_id = t.id)
	   AND EXISTS (SELECT 1 FROM clients c
	               WHERE c.id = t.client_id AND c.disabled_at IS NULL)
	   AND (t.parent_id IS NULL OR EXISTS (
	        -- The parent is long-term: same client, no parent of its own.
	        SELECT 1 FROM tokens p
	        WHERE p.id = t.parent_id
	          AND now() < p.valid_until
	          AND NOT EXISTS (SELECT 1 FROM revocations r
	                          WHERE r.token_id = p.id)))
$$;

COMMENT ON FUNCTION token_is_valid(tokens) IS
	'The validity rule: not revoked, client enabled, now() < valid_until, parent valid.';

-- Timestamps are written YYYY-MM-DDTHH:MM:SSZ everywhere.
CREATE FUNCTION tokend_time_text(ts timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
	SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;

-- The scope set of a new token: p_requested (space-separated; NULL means
-- p_default) when it is a subset of p_allowed, de-duplicated and in the
-- client's order p_order; NULL when it is not a subset.
CREATE FUNCTION tokend_scope_pick(p_requested text, p_default text[],
                                  p_allowed text[], p_order text[])
RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
	WITH req AS (
		SELECT CASE WHEN p_requested IS NULL THEN p_default
		            ELSE string_to_array(p_requested, ' ') END AS s
	)
	SELECT CASE WHEN NOT (req.s <@ p_allowed) THEN NULL
	       ELSE ARRAY(SELECT d.x
	                  FROM (SELECT DISTINCT unnest(req.s) AS x) d
	                  ORDER BY array_position(p_order, d.x) NULLS LAST, d.x)
	       END
	FROM req
$$;
