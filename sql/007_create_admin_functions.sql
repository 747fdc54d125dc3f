-- 007_create_admin_functions.sql: each tokenctl write as one statement with its audit row.
--
-- The client key and its digest are made by tokenctl; only the digest
-- reaches the database.  A NULL argument means "not given": keep the
-- current value (or the column default for a new client).

-- The scopes of p_scopes that a default set may hold, in order.
CREATE FUNCTION tokend_scope_unreserved(p_scopes text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
	SELECT ARRAY(SELECT x FROM unnest(p_scopes) WITH ORDINALITY AS u(x, n)
	             WHERE x NOT IN ('tokend:rotate', 'tokend:revoke')
	             ORDER BY n)
$$;

-- Change the client p_id and return the changed columns with their new
-- values ('{}' when nothing changed, NULL when there is no such client).
-- A default TTL that is not given is lowered to a maximum that is; a
-- default scope set that is not given loses the scopes no longer granted.
CREATE FUNCTION tokend_client_update(
	p_id uuid, p_name text, p_scopes text[], p_default_scopes text[],
	p_long_ttl_default integer, p_long_ttl_max integer,
	p_short_ttl_default integer, p_short_ttl_max integer,
	p_overlap_max integer, p_family_max integer)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	o       clients;
	n       clients;
	changes jsonb;
BEGIN
	SELECT * INTO o FROM clients WHERE id = p_id FOR UPDATE;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	UPDATE clients SET
		name = coalesce(p_name, name),
		scopes = coalesce(p_scopes, scopes),
		default_scopes = coalesce(p_default_scopes,
		    ARRAY(SELECT x FROM unnest(default_scopes) WITH ORDINALITY AS u(x, k)
		          WHERE x = ANY (coalesce(p_scopes, scopes)) ORDER BY k)),
		long_ttl_max = coalesce(p_long_ttl_max, long_ttl_max),
		long_ttl_default = coalesce(p_long_ttl_default,
		    least(long_ttl_default, coalesce(p_long_ttl_max, long_ttl_max))),
		short_ttl_max = coalesce(p_short_ttl_max, short_ttl_max),
		short_ttl_default = coalesce(p_short_ttl_default,
		    least(short_ttl_default, coalesce(p_short_ttl_max, short_ttl_max))),
		overlap_max = coalesce(p_overlap_max, overlap_max),
		family_max_seconds = coalesce(p_family_max, family_max_seconds)
	WHERE id = p_id
	RETURNING * INTO n;
	SELECT coalesce(jsonb_object_agg(nv.key, nv.value), '{}') INTO changes
	FROM jsonb_each(to_jsonb(n)) AS nv
	JOIN jsonb_each(to_jsonb(o)) AS ov USING (key)
	WHERE nv.value IS DISTINCT FROM ov.value;
	IF changes <> '{}' THEN
		UPDATE clients SET updated_at = date_trunc('second', now())
		WHERE id = p_id;
	END IF;
	RETURN changes;
END
$$;

-- tokenctl client create.
CREATE FUNCTION tokend_client_create(
	p_id uuid, p_name text, p_key_digest bytea,
	p_scopes text[], p_default_scopes text[],
	p_long_ttl_default integer, p_long_ttl_max integer,
	p_short_ttl_default integer, p_short_ttl_max integer,
	p_overlap_max integer, p_family_max integer,
	p_resource_server boolean DEFAULT false)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	c clients;
BEGIN
	INSERT INTO clients (id, name, key_digest, scopes, default_scopes,
	                     resource_server)
	VALUES (p_id, p_name, p_key_digest, coalesce(p_scopes, '{}'),
	        coalesce(p_default_scopes,
	                 tokend_scope_unreserved(coalesce(p_scopes, '{}'))),
	        p_resource_server);
	-- The policy goes through the update so that the column defaults,
	-- written once in 001, fill what was not given.
	PERFORM tokend_client_update(p_id, NULL, NULL, NULL,
	    p_long_ttl_default, p_long_ttl_max,
	    p_short_ttl_default, p_short_ttl_max, p_overlap_max, p_family_max);
	SELECT * INTO c FROM clients WHERE id = p_id;
	INSERT INTO token_events (event, client_id, detail)
	VALUES ('client_created', p_id,
	        to_jsonb(c) - ARRAY['id', 'key_digest', 'prev_key_digest',
	                            'prev_key_valid_until', 'disabled_at',
	                            'created_at', 'updated_at']);
END
$$;

-- tokenctl client set: the changed columns, NULL for an unknown client.
CREATE FUNCTION tokend_client_set(
	p_id uuid, p_name text, p_scopes text[], p_default_scopes text[],
	p_long_ttl_default integer, p_long_ttl_max integer,
	p_short_ttl_default integer, p_short_ttl_max integer,
	p_overlap_max integer, p_family_max integer)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	changes jsonb;
BEGIN
	changes := tokend_client_update(p_id, p_name, p_scopes, p_default_scopes,
	    p_long_ttl_default, p_long_ttl_max,
	    p_short_ttl_default, p_short_ttl_max, p_overlap_max, p_family_max);
	IF changes IS NOT NULL AND changes <> '{}' THEN
		INSERT INTO token_events (event, client_id, detail)
		VALUES ('client_changed', p_id, changes);
	END IF;
	RETURN changes;
END
$$;

-- tokenctl client disable: every token of the client still running gets
-- a revocation row, so that enabling the client does not bring it back.
CREATE FUNCTION tokend_client_disable(p_id uuid,
	OUT known boolean, OUT was_disabled boolean, OUT revoked integer)
LANGUAGE plpgsql AS $$
DECLARE
	c clients;
BEGIN
	SELECT * INTO c FROM clients WHERE id = p_id FOR UPDATE;
	known := FOUND;
	IF NOT known THEN
		RETURN;
	END IF;
	was_disabled := c.disabled_at IS NOT NULL;
	IF NOT was_disabled THEN
		UPDATE clients
		SET disabled_at = date_trunc('second', now()),
		    updated_at = date_trunc('second', now())
		WHERE id = p_id;
	END IF;
	INSERT INTO revocations (token_id, reason)
	SELECT t.id, 'client_disabled' FROM tokens t
	WHERE t.client_id = p_id AND t.valid_until > now()
	  AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.token_id = t.id)
	ON CONFLICT (token_id) DO NOTHING;
	GET DIAGNOSTICS revoked = ROW_COUNT;
	IF NOT was_disabled OR revoked > 0 THEN
		INSERT INTO token_events (event, client_id, reason, detail)
		VALUES ('client_disabled', p_id, 'client_disabled',
		        jsonb_build_object('revoked_tokens', revoked));
	END IF;
END
$$;

-- tokenctl client enable.  Revoked tokens stay revoked.
CREATE FUNCTION tokend_client_enable(p_id uuid,
	OUT known boolean, OUT was_enabled boolean)
LANGUAGE plpgsql AS $$
DECLARE
	c clients;
BEGIN
	SELECT * INTO c FROM clients WHERE id = p_id FOR UPDATE;
	known := FOUND;
	IF NOT known THEN
		RETURN;
	END IF;
	was_enabled := c.disabled_at IS NULL;
	IF NOT was_enabled THEN
		UPDATE clients
		SET disabled_at = NULL, updated_at = date_trunc('second', now())
		WHERE id = p_id;
		INSERT INTO token_events (event, client_id)
		VALUES ('client_enabled', p_id);
	END IF;
END
$$;

-- tokenctl client rotate-key: the old key stays valid p_overlap seconds
-- (none when 0).  prev_key_valid_until is NULL without an overlap.
CREATE FUNCTION tokend_client_rotate_key(p_id uuid, p_key_digest bytea,
	p_overlap integer, OUT known boolean, OUT prev_key_valid_until text)
LANGUAGE plpgsql AS $$
DECLARE
	until timestamptz;
BEGIN
	IF p_overlap > 0 THEN
		until := date_trunc('second', now()) + make_interval(secs => p_overlap);
	END IF;
	UPDATE clients
	SET prev_key_digest = CASE WHEN until IS NULL THEN NULL ELSE key_digest END,
	    prev_key_valid_until = until,
	    key_digest = p_key_digest,
	    updated_at = date_trunc('second', now())
	WHERE id = p_id;
	known := FOUND;
	IF known THEN
		INSERT INTO token_events (event, client_id, detail)
		VALUES ('key_rotated', p_id,
		        jsonb_build_object('overlap_seconds', coalesce(p_overlap, 0)));
		prev_key_valid_until := tokend_time_text(until);
	END IF;
END
$$;

-- tokenctl token revoke: reason 'requested', by nobody (revoked_by NULL).
-- "reason" is that of the revocation row, this one or an earlier one.
CREATE FUNCTION tokend_token_revoke_admin(p_id uuid,
	OUT known boolean, OUT was_revoked boolean, OUT reason text)
LANGUAGE plpgsql AS $$
DECLARE
	t tokens;
	n integer;
BEGIN
	SELECT * INTO t FROM tokens WHERE id = p_id FOR UPDATE;
	known := FOUND;
	IF NOT known THEN
		RETURN;
	END IF;
	WITH rev AS (
		INSERT INTO revocations (token_id, reason)
		VALUES (t.id, 'requested')
		ON CONFLICT (token_id) DO NOTHING
		RETURNING token_id
	)
	INSERT INTO token_events (event, client_id, token_id, token_kind,
	                          family_id, parent_id, reason)
	SELECT 'revoked', t.client_id, t.id, t.kind, t.family_id, t.parent_id,
	       'requested'
	FROM rev;
	GET DIAGNOSTICS n = ROW_COUNT;
	was_revoked := n = 0;
	SELECT r.reason INTO reason FROM revocations r WHERE r.token_id = t.id;
END
$$;
