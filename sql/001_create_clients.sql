-- 001_create_clients.sql: the services allowed to hold tokens, with their key and TTL policy.
CREATE TABLE clients (
	id                   uuid PRIMARY KEY,
	name                 text NOT NULL
	                     CONSTRAINT clients_name_check
	                     CHECK (char_length(name) BETWEEN 1 AND 200),
	-- SHA-256 of the client key (tkc_...); the key itself is never stored.
	key_digest           bytea NOT NULL
	                     CONSTRAINT clients_key_digest_check
	                     CHECK (octet_length(key_digest) = 32),
	-- The previous key, still accepted until prev_key_valid_until after
	-- "tokenctl client rotate-key --overlap".
	prev_key_digest      bytea
	                     CONSTRAINT clients_prev_key_digest_check
	                     CHECK (octet_length(prev_key_digest) = 32),
	prev_key_valid_until timestamptz,
	-- Scopes the client may be granted, in the order responses list them.
	scopes               text[] NOT NULL DEFAULT '{}',
	-- Scopes of a token that names none; never a reserved scope.
	default_scopes       text[] NOT NULL DEFAULT '{}',
	long_ttl_default     integer NOT NULL DEFAULT 2592000,
	long_ttl_max         integer NOT NULL DEFAULT 7776000,
	short_ttl_default    integer NOT NULL DEFAULT 900,
	short_ttl_max        integer NOT NULL DEFAULT 3600,
	overlap_max          integer NOT NULL DEFAULT 604800,
	family_max_seconds   integer NOT NULL DEFAULT 31536000,
	-- A resource server may introspect tokens (POST /auth/tokens/introspect).
	resource_server      boolean NOT NULL DEFAULT false,
	disabled_at          timestamptz,
	created_at           timestamptz NOT NULL DEFAULT date_trunc('second', now()),
	updated_at           timestamptz NOT NULL DEFAULT date_trunc('second', now()),
	CONSTRAINT clients_prev_key_pair_check
		CHECK ((prev_key_digest IS NULL) = (prev_key_valid_until IS NULL)),
	CONSTRAINT clients_scopes_check
		CHECK (array_position(scopes, NULL) IS NULL
		       AND cardinality(scopes) <= 256),
	CONSTRAINT clients_default_scopes_check
		CHECK (default_scopes <@ scopes
		       AND NOT default_scopes && ARRAY['tokend:rotate', 'tokend:revoke']),
	CONSTRAINT clients_long_ttl_check
		CHECK (long_ttl_default BETWEEN 1 AND long_ttl_max),
	CONSTRAINT clients_short_ttl_check
		CHECK (short_ttl_default BETWEEN 1 AND short_ttl_max),
	CONSTRAINT clients_overlap_max_check CHECK (overlap_max >= 0),
	CONSTRAINT clients_family_max_check CHECK (family_max_seconds >= 1)
);
