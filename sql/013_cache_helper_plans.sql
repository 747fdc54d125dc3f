-- 013_cache_helper_plans.sql: the helpers of every request in PL/pgSQL, planned once per connection instead of once per call.
--
-- PostgreSQL 15 inlines a SQL-language function only when its body is a
-- single expression without sub-selects, WITH or a call less immutable
-- than itself.  token_is_valid() (sub-selects), tokend_scope_pick()
-- (WITH) and tokend_time_text() (IMMUTABLE, but to_char() is STABLE)
-- were not inlined: each call from a request function parsed and planned
-- the body again, a third of the database's CPU per request
-- (tests/bench/RESULTS.md).  PL/pgSQL keeps the plans of a function for
-- the life of the connection.  Same names, signatures, volatility and
-- results: the rule stays written once, here, and every path (request
-- functions, views, tokenctl) calls it.

-- The validity rule (CONTRACT §3), as in 005: a token is valid when it
-- exists, its client is not disabled, it has no revocation row,
-- now() < valid_until, and, for a short-term token, its parent is valid
-- by the same rule.  One statement, so one executor run per call.
CREATE OR REPLACE FUNCTION token_is_valid(t tokens) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
	RETURN now() < t.valid_until
	   AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.token_id = t.id)
	   AND EXISTS (SELECT 1 FROM clients c
	               WHERE c.id = t.client_id AND c.disabled_at IS NULL)
	   AND (t.parent_id IS NULL OR EXISTS (
	        -- The parent is long-term: same client, no parent of its own.
	        SELECT 1 FROM tokens p
	        WHERE p.id = t.parent_id
	          AND now() < p.valid_until
	          AND NOT EXISTS (SELECT 1 FROM revocations r
	                          WHERE r.token_id = p.id)));
END
$$;

COMMENT ON FUNCTION token_is_valid(tokens) IS
	'The validity rule: not revoked, client enabled, now() < valid_until, parent valid.';

-- Timestamps are written YYYY-MM-DDTHH:MM:SSZ everywhere.  A simple
-- expression: PL/pgSQL evaluates it without the executor.
CREATE OR REPLACE FUNCTION tokend_time_text(ts timestamptz) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
BEGIN
	RETURN to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"');
END
$$;

-- The scope set of a new token: p_requested (space-separated; NULL means
-- p_default) when it is a subset of p_allowed, de-duplicated and in the
-- client's order p_order (scopes p_order lacks last, by name); NULL when
-- it is not a subset.  The usual case, every scope in p_order, runs as
-- simple expressions only: a token holds at most 32 scopes and a client
-- is granted at most 256.
CREATE OR REPLACE FUNCTION tokend_scope_pick(p_requested text, p_default text[],
                                             p_allowed text[], p_order text[])
RETURNS text[] LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	s    text[] := CASE WHEN p_requested IS NULL THEN p_default
	                    ELSE string_to_array(p_requested, ' ') END;
	pick text[] := '{}';
	x    text;
BEGIN
	IF NOT (s <@ p_allowed) THEN
		RETURN NULL;
	END IF;
	IF p_order IS NOT NULL THEN
		FOREACH x IN ARRAY p_order LOOP
			IF x = ANY (s) AND NOT x = ANY (pick) THEN
				pick := pick || x;
			END IF;
		END LOOP;
	END IF;
	IF p_order IS NULL OR NOT (s <@ p_order) THEN
		pick := pick || ARRAY(SELECT DISTINCT u.x FROM unnest(s) AS u(x)
		                      WHERE array_position(p_order, u.x) IS NULL
		                      ORDER BY u.x);
	END IF;
	RETURN pick;
END
$$;

-- POST /short, as in 006, with the default scope set (the parent's
-- scopes but the reserved ones, in order) taken by array_remove(): a
-- simple expression instead of a sub-select per request.
CREATE OR REPLACE FUNCTION tokend_issue_short(
	p_bearer_id uuid, p_bearer_digest bytea,
	p_new_id uuid, p_new_digest bytea,
	p_scope text, p_ttl integer, p_audience text,
	p_request_id text, p_remote inet,
	OUT outcome text, OUT detail text, OUT known_client uuid,
	OUT r_token_id uuid, OUT r_scope text, OUT r_expires_in integer,
	OUT r_expires_at text, OUT r_long_token_id uuid)
LANGUAGE plpgsql AS $$
DECLARE
	l     tokens;
	c     clients;
	scope text[];
	now_s timestamptz := date_trunc('second', now());
	exp   timestamptz;
BEGIN
	l := tokend_auth_token('long', p_bearer_id, p_bearer_digest,
	                       p_request_id, p_remote);
	IF l.id IS NULL THEN
		outcome := 'invalid_token';
		SELECT client_id INTO known_client FROM tokens WHERE id = p_bearer_id;
		RETURN;
	END IF;
	SELECT * INTO c FROM clients WHERE id = l.client_id;
	IF p_ttl > c.short_ttl_max THEN
		outcome := 'invalid_request';
		detail := format('ttl_seconds exceeds the client''s maximum of %s',
		                 c.short_ttl_max);
		RETURN;
	END IF;
	-- Reserved scopes only when asked for by name.
	scope := tokend_scope_pick(p_scope,
	    array_remove(array_remove(l.scope, 'tokend:rotate'), 'tokend:revoke'),
	    l.scope, c.scopes);
	IF scope IS NULL THEN
		outcome := 'invalid_scope';
		detail := 'scope is not a subset of the scope of the long-term token';
		RETURN;
	END IF;
	exp := least(now_s + make_interval(secs => coalesce(p_ttl, c.short_ttl_default)),
	             l.valid_until);
	INSERT INTO tokens (id, kind, client_id, digest, parent_id, scope,
	                    audience, issued_at, expires_at, valid_until)
	VALUES (p_new_id, 'short', c.id, p_new_digest, l.id, scope, p_audience,
	        now_s, exp, exp);
	INSERT INTO token_events (event, client_id, token_id, token_kind,
	                          family_id, parent_id, actor_id, request_id,
	                          remote_addr)
	VALUES ('issued', c.id, p_new_id, 'short', l.family_id, l.id, l.id,
	        p_request_id, p_remote);
	outcome := 'ok';
	r_token_id := p_new_id;
	r_scope := array_to_string(scope, ' ');
	r_expires_in := extract(epoch FROM exp - now_s)::integer;
	r_expires_at := tokend_time_text(exp);
	r_long_token_id := l.id;
END
$$;

-- tokend_issue_short was replaced: SECURITY DEFINER and its search_path
-- again (sql/010).
SELECT tokend_apply_grants();
