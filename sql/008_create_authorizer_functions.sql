-- 008_create_authorizer_functions.sql: the checks of the FastCGI authorizer and of introspection.

-- FCGI_ROLE=AUTHORIZER: is this short-term token valid?  One round trip,
-- the validity rule and nothing else; no write (a check is not audited).
-- "known_client" names the client of a refused token, for the failure
-- counts.
CREATE FUNCTION tokend_check_short(p_id uuid, p_digest bytea,
	OUT outcome text, OUT known_client uuid,
	OUT r_client_id uuid, OUT r_token_id uuid, OUT r_scope text,
	OUT r_audience text, OUT r_expires_at text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
	t tokens;
BEGIN
	SELECT * INTO t FROM tokens
	WHERE id = p_id AND digest = p_digest AND kind = 'short';
	IF NOT FOUND OR NOT token_is_valid(t) THEN
		outcome := 'invalid_token';
		SELECT client_id INTO known_client FROM tokens WHERE id = p_id;
		RETURN;
	END IF;
	outcome := 'ok';
	r_client_id := t.client_id;
	r_token_id := t.id;
	r_scope := array_to_string(t.scope, ' ');
	r_audience := coalesce(t.audience, '');
	r_expires_at := tokend_time_text(t.valid_until);
END
$$;

-- POST /auth/tokens/introspect (RFC 7662): a resource server, by its
-- client key, asks about a token.  Active only for a valid short-term
-- token of the caller's own client, or whose audience names the caller
-- (its client id or its name, as one of the audience's space-separated
-- words).  p_id NULL: the token was malformed, only the caller is checked.
CREATE FUNCTION tokend_introspect(p_key_client uuid, p_key_digest bytea,
	p_id uuid, p_digest bytea,
	OUT outcome text, OUT detail text, OUT known_client uuid,
	OUT active boolean, OUT r_client_id uuid, OUT r_token_id uuid,
	OUT r_scope text, OUT r_audience text, OUT r_exp bigint, OUT r_iat bigint)
LANGUAGE plpgsql AS $$
DECLARE
	c clients;
	t tokens;
BEGIN
	-- A read: no lock on the client row, unlike an issuance.
	SELECT * INTO c FROM clients
	WHERE id = p_key_client AND tokend_key_matches(clients, p_key_digest);
	IF NOT FOUND OR NOT c.resource_server THEN
		outcome := 'invalid_client';
		SELECT id INTO known_client FROM clients WHERE id = p_key_client;
		RETURN;
	END IF;
	outcome := 'ok';
	active := false;
	IF p_id IS NULL THEN
		RETURN;
	END IF;
	SELECT * INTO t FROM tokens
	WHERE id = p_id AND digest = p_digest AND kind = 'short';
	IF NOT FOUND OR NOT token_is_valid(t)
	   OR NOT (t.client_id = c.id
	           OR c.id::text = ANY (string_to_array(t.audience, ' '))
	           OR c.name = ANY (string_to_array(t.audience, ' '))) THEN
		RETURN;
	END IF;
	active := true;
	r_client_id := t.client_id;
	r_token_id := t.id;
	r_scope := array_to_string(t.scope, ' ');
	r_audience := t.audience;
	r_exp := extract(epoch FROM t.valid_until)::bigint;
	r_iat := extract(epoch FROM t.issued_at)::bigint;
END
$$;
