-- 015_auth_client_read_only.sql: a wrong client key answers 401 on a read-only database too.
--
-- tokend_auth_client (006) reads the client row FOR KEY SHARE, so that a
-- concurrent "tokenctl client disable" cannot slip between the key check
-- and the new token.  A read-only transaction (a database set
-- default_transaction_read_only, a hot standby) refuses any row lock,
-- even one that matches no row: every key, wrong or right, got 25006 and
-- 503, and a wrong key was neither answered 401 nor counted.  When the
-- transaction is read-only no token can be written anyway, so the key is
-- checked without the lock: a wrong key answers 401 (the credential comes
-- before the write, CONTRACT §8) and a right one reaches the write, which
-- answers 503.
CREATE OR REPLACE FUNCTION tokend_auth_client(p_client uuid, p_digest bytea)
RETURNS clients LANGUAGE plpgsql AS $$
DECLARE
	c clients;
BEGIN
	IF current_setting('transaction_read_only')::boolean THEN
		SELECT * INTO c FROM clients
		WHERE id = p_client AND tokend_key_matches(clients, p_digest);
	ELSE
		SELECT * INTO c FROM clients
		WHERE id = p_client AND tokend_key_matches(clients, p_digest)
		FOR KEY SHARE;
	END IF;
	RETURN c;
END
$$;

-- Owner, SECURITY DEFINER and search_path of the request functions as
-- sql/010 sets them.
SELECT tokend_apply_grants();
