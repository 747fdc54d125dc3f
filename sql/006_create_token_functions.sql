-- 006_create_token_functions.sql: each API request as one statement: authentication, checks, write and audit row.
--
-- Every function returns one row whose "outcome" is 'ok' or the error
-- code of the HTTP answer (invalid_client, invalid_token, invalid_request,
-- invalid_scope, insufficient_scope, not_found, conflict), with a safe
-- "detail" for 400 and 409.  "known_client" names the client a failed
-- credential pointed at, when it exists, for the failure counts.
-- Tokens and their digests are made by tokend: the id is embedded in the
-- token, so only the caller can build it.

-- Does p_digest open client c: enabled, and its key or its previous key
-- within the overlap of "tokenctl client rotate-key --overlap"?
CREATE FUNCTION tokend_key_matches(c clients, p_digest bytea) RETURNS boolean
LANGUAGE sql STABLE AS $$
	SELECT c.disabled_at IS NULL
	   AND (c.key_digest = p_digest
	        OR (c.prev_key_digest = p_digest AND now() < c.prev_key_valid_until))
$$;

-- The enabled client owning a client key, or a row of NULLs, for a
-- request that issues a token.  FOR KEY SHARE makes a concurrent
-- "tokenctl client disable" (which locks the row FOR UPDATE) either wait
-- for this issuance and revoke its token, or commit first and be seen
-- here: no token escapes a disable.
CREATE FUNCTION tokend_auth_client(p_client uuid, p_digest bytea)
RETURNS clients LANGUAGE plpgsql AS $$
DECLARE
	c clients;
BEGIN
	SELECT * INTO c FROM clients
	WHERE id = p_client AND tokend_key_matches(clients, p_digest)
	FOR KEY SHARE;
	RETURN c;
END
$$;

-- Rotations and reuse detection of one family run one after another: a
-- transaction-scoped advisory lock on the family id (the first token may
-- have been pruned, so it is not the row to lock).
CREATE FUNCTION tokend_lock_family(p_family uuid) RETURNS void
LANGUAGE sql AS $$
	SELECT pg_advisory_xact_lock(hashtextextended(p_family::text, 7224))
$$;

-- The valid token of kind p_kind with this id and digest, or a row of
-- NULLs.  Presenting a rotated long-term token after its overlap is
-- reuse: the whole family is revoked here, with its audit row.
CREATE FUNCTION tokend_auth_token(p_kind text, p_id uuid, p_digest bytea,
                                  p_request_id text, p_remote inet)
RETURNS tokens LANGUAGE plpgsql AS $$
DECLARE
	t tokens;
BEGIN
	SELECT * INTO t FROM tokens
	WHERE id = p_id AND digest = p_digest AND kind = p_kind;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF token_is_valid(t) THEN
		RETURN t;
	END IF;
	IF t.kind = 'long' AND t.rotated_at IS NOT NULL AND now() >= t.valid_until
	   AND NOT EXISTS (SELECT 1 FROM revocations WHERE token_id = t.id)
	   AND EXISTS (SELECT 1 FROM clients
	               WHERE id = t.client_id AND disabled_at IS NULL) THEN
		-- Serialised with rotations of the family, so that a successor
		-- committed meanwhile is revoked too; one event per detection.
		PERFORM tokend_lock_family(t.family_id);
		WITH rev AS (
			INSERT INTO revocations (token_id, reason, request_id)
			SELECT id, 'reuse_detected', p_request_id
			FROM tokens WHERE family_id = t.family_id
			ON CONFLICT (token_id) DO NOTHING
			RETURNING token_id
		)
		INSERT INTO token_events (event, client_id, token_id, token_kind,
		                          family_id, reason, request_id, remote_addr)
		SELECT 'reuse_detected', t.client_id, t.id, 'long', t.family_id,
		       'reuse_detected', p_request_id, p_remote
		WHERE EXISTS (SELECT 1 FROM rev);
	END IF;
	RETURN NULL;
END
$$;

-- POST /long, grant_type client_credentials: a new family.
CREATE FUNCTION tokend_issue_long(
	p_client_id uuid, p_key_client uuid, p_key_digest bytea,
	p_new_id uuid, p_new_digest bytea,
	p_scope text, p_ttl integer, p_label text,
	p_request_id text, p_remote inet,
	OUT outcome text, OUT detail text, OUT known_client uuid,
	OUT r_token_id uuid, OUT r_client_id uuid, OUT r_scope text,
	OUT r_issued_at text, OUT r_expires_at text, OUT r_rotated_from uuid)
LANGUAGE plpgsql AS $$
DECLARE
	c     clients;
	scope text[];
	now_s timestamptz := date_trunc('second', now());
	exp   timestamptz;
BEGIN
	c := tokend_auth_client(p_key_client, p_key_digest);
	IF c.id IS NULL OR c.id <> p_client_id THEN
		outcome := 'invalid_client';
		SELECT id INTO known_client FROM clients WHERE id = p_key_client;
		RETURN;
	END IF;
	IF p_ttl > c.long_ttl_max THEN
		outcome := 'invalid_request';
		detail := format('ttl_seconds exceeds the client''s maximum of %s',
		                 c.long_ttl_max);
		RETURN;
	END IF;
	scope := tokend_scope_pick(p_scope, c.default_scopes, c.scopes, c.scopes);
	IF scope IS NULL THEN
		outcome := 'invalid_scope';
		detail := 'scope is not a subset of the scopes granted to the client';
		RETURN;
	END IF;
	exp := least(now_s + make_interval(secs => coalesce(p_ttl, c.long_ttl_default)),
	             now_s + make_interval(secs => c.family_max_seconds));
	INSERT INTO tokens (id, kind, client_id, digest, family_id, generation,
	                    family_expires_at, scope, label, issued_at,
	                    expires_at, valid_until)
	VALUES (p_new_id, 'long', c.id, p_new_digest, p_new_id, 0,
	        now_s + make_interval(secs => c.family_max_seconds), scope,
	        p_label, now_s, exp, exp);
	INSERT INTO token_events (event, client_id, token_id, token_kind,
	                          family_id, request_id, remote_addr)
	VALUES ('issued', c.id, p_new_id, 'long', p_new_id, p_request_id, p_remote);
	outcome := 'ok';
	r_token_id := p_new_id;
	r_client_id := c.id;
	r_scope := array_to_string(scope, ' ');
	r_issued_at := tokend_time_text(now_s);
	r_expires_at := tokend_time_text(exp);
END
$$;

-- POST /long, grant_type rotate.  With a client key (p_key_client not
-- NULL) p_token_id names the token; otherwise the short-term bearer
-- rotates its own parent and needs the scope tokend:rotate.
CREATE FUNCTION tokend_rotate(
	p_client_id uuid, p_key_client uuid, p_key_digest bytea,
	p_bearer_id uuid, p_bearer_digest bytea, p_token_id uuid,
	p_new_id uuid, p_new_digest bytea,
	p_scope text, p_ttl integer, p_overlap integer, p_grace integer,
	p_label text, p_request_id text, p_remote inet,
	OUT outcome text, OUT detail text, OUT known_client uuid,
	OUT r_token_id uuid, OUT r_client_id uuid, OUT r_scope text,
	OUT r_issued_at text, OUT r_expires_at text, OUT r_rotated_from uuid)
LANGUAGE plpgsql AS $$
DECLARE
	c       clients;
	s       tokens;
	o       tokens;
	scope   text[];
	target  uuid;
	overlap integer;
	now_s   timestamptz := date_trunc('second', now());
	exp     timestamptz;
BEGIN
	IF p_key_client IS NOT NULL THEN
		c := tokend_auth_client(p_key_client, p_key_digest);
		IF c.id IS NULL OR c.id <> p_client_id THEN
			outcome := 'invalid_client';
			SELECT id INTO known_client FROM clients WHERE id = p_key_client;
			RETURN;
		END IF;
		target := p_token_id;
	ELSE
		s := tokend_auth_token('short', p_bearer_id, p_bearer_digest,
		                       p_request_id, p_remote);
		IF s.id IS NULL THEN
			outcome := 'invalid_token';
			SELECT client_id INTO known_client FROM tokens WHERE id = p_bearer_id;
			RETURN;
		END IF;
		IF NOT ('tokend:rotate' = ANY (s.scope)) THEN
			outcome := 'insufficient_scope';
			detail := 'rotation needs a token with the scope tokend:rotate';
			RETURN;
		END IF;
		IF s.client_id <> p_client_id THEN
			outcome := 'invalid_request';
			detail := 'client_id does not match the client of the token';
			RETURN;
		END IF;
		IF p_token_id IS NOT NULL AND p_token_id <> s.parent_id THEN
			outcome := 'invalid_request';
			detail := 'token_id must name the long-term token of the bearer';
			RETURN;
		END IF;
		target := s.parent_id;
		SELECT * INTO c FROM clients WHERE id = s.client_id;
	END IF;

	IF p_overlap > c.overlap_max THEN
		outcome := 'invalid_request';
		detail := format('overlap_seconds exceeds the client''s maximum of %s',
		                 c.overlap_max);
		RETURN;
	END IF;
	IF p_ttl > c.long_ttl_max THEN
		outcome := 'invalid_request';
		detail := format('ttl_seconds exceeds the client''s maximum of %s',
		                 c.long_ttl_max);
		RETURN;
	END IF;

	-- Concurrent rotations of one family run one after another.
	PERFORM tokend_lock_family(f.family_id) FROM tokens f
	WHERE f.id = target AND f.client_id = c.id AND f.kind = 'long';
	SELECT * INTO o FROM tokens
	WHERE id = target AND client_id = c.id AND kind = 'long'
	FOR UPDATE;
	IF NOT FOUND THEN
		outcome := 'not_found';
		RETURN;
	END IF;
	IF EXISTS (SELECT 1 FROM revocations WHERE token_id = o.id) THEN
		outcome := 'conflict';
		detail := 'the token is revoked and cannot be rotated';
		RETURN;
	END IF;
	IF now() >= o.valid_until THEN
		outcome := 'conflict';
		detail := CASE WHEN o.rotated_at IS NULL
		               THEN 'the token has expired and cannot be rotated'
		               ELSE 'the token was rotated and its overlap has ended' END;
		RETURN;
	END IF;
	scope := tokend_scope_pick(p_scope, o.scope, o.scope, c.scopes);
	IF scope IS NULL THEN
		outcome := 'invalid_scope';
		detail := 'scope is not a subset of the scope of the rotated token';
		RETURN;
	END IF;

	-- Every refusal comes before the first write: a refused rotation
	-- changes nothing.
	exp := least(now_s + make_interval(secs => coalesce(p_ttl, c.long_ttl_default)),
	             o.family_expires_at);
	IF exp <= now_s THEN
		outcome := 'conflict';
		detail := 'the token family has reached its maximum lifetime';
		RETURN;
	END IF;

	-- A second rotation within the overlap: a client that lost the first
	-- answer retries.  Everything issued after this token is superseded.
	IF o.rotated_at IS NOT NULL THEN
		WITH sup AS (
			INSERT INTO revocations (token_id, reason, revoked_by, request_id)
			SELECT id, 'superseded', s.id, p_request_id FROM tokens
			WHERE family_id = o.family_id AND generation > o.generation
			ON CONFLICT (token_id) DO NOTHING
			RETURNING token_id
		)
		INSERT INTO token_events (event, client_id, token_id, token_kind,
		                          family_id, actor_id, reason, request_id,
		                          remote_addr)
		SELECT 'superseded', c.id, sup.token_id, 'long', o.family_id, s.id,
		       'superseded', p_request_id, p_remote
		FROM sup;
	END IF;

	overlap := coalesce(p_overlap, p_grace);
	UPDATE tokens
	SET rotated_at = coalesce(rotated_at, now_s),
	    valid_until = least(valid_until, now_s + make_interval(secs => overlap))
	WHERE id = o.id;

	INSERT INTO tokens (id, kind, client_id, digest, family_id, generation,
	                    rotated_from, family_expires_at, scope, label,
	                    issued_at, expires_at, valid_until)
	VALUES (p_new_id, 'long', c.id, p_new_digest, o.family_id,
	        o.generation + 1, o.id, o.family_expires_at, scope,
	        coalesce(p_label, o.label), now_s, exp, exp);
	INSERT INTO token_events (event, client_id, token_id, token_kind,
	                          family_id, parent_id, actor_id, request_id,
	                          remote_addr, detail)
	VALUES ('rotated', c.id, p_new_id, 'long', o.family_id, o.id, s.id,
	        p_request_id, p_remote,
	        jsonb_build_object('overlap_seconds', overlap));
	outcome := 'ok';
	r_token_id := p_new_id;
	r_client_id := c.id;
	r_scope := array_to_string(scope, ' ');
	r_issued_at := tokend_time_text(now_s);
	r_expires_at := tokend_time_text(exp);
	r_rotated_from := o.id;
END
$$;

-- POST /short: a short-term token from a valid long-term bearer.
CREATE FUNCTION tokend_issue_short(
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
	    ARRAY(SELECT x FROM unnest(l.scope) WITH ORDINALITY AS u(x, n)
	          WHERE x NOT IN ('tokend:rotate', 'tokend:revoke') ORDER BY n),
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

-- POST /{tokenId}/revoke.  A long-term bearer reaches every token of its
-- client; a short-term one itself, and its parent with tokend:revoke.
-- Out of reach answers like unknown.
CREATE FUNCTION tokend_revoke(
	p_kind text, p_bearer_id uuid, p_bearer_digest bytea, p_target uuid,
	p_request_id text, p_remote inet,
	OUT outcome text, OUT detail text, OUT known_client uuid)
LANGUAGE plpgsql AS $$
DECLARE
	b tokens;
	t tokens;
BEGIN
	b := tokend_auth_token(p_kind, p_bearer_id, p_bearer_digest,
	                       p_request_id, p_remote);
	IF b.id IS NULL THEN
		outcome := 'invalid_token';
		SELECT client_id INTO known_client FROM tokens WHERE id = p_bearer_id;
		RETURN;
	END IF;
	SELECT * INTO t FROM tokens WHERE id = p_target AND client_id = b.client_id;
	IF NOT FOUND
	   OR (b.kind = 'short' AND t.id <> b.id
	       AND NOT (t.id = b.parent_id AND 'tokend:revoke' = ANY (b.scope))) THEN
		outcome := 'not_found';
		RETURN;
	END IF;
	WITH rev AS (
		INSERT INTO revocations (token_id, reason, revoked_by, request_id)
		VALUES (t.id, 'requested', b.id, p_request_id)
		ON CONFLICT (token_id) DO NOTHING
		RETURNING token_id
	)
	INSERT INTO token_events (event, client_id, token_id, token_kind,
	                          family_id, parent_id, actor_id, reason,
	                          request_id, remote_addr)
	SELECT 'revoked', t.client_id, t.id, t.kind, t.family_id, t.parent_id,
	       b.id, 'requested', p_request_id, p_remote
	FROM rev;
	outcome := 'ok';
END
$$;
