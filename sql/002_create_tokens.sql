-- 002_create_tokens.sql: every long-term and short-term token ever issued, by digest.
CREATE TABLE tokens (
	id                uuid PRIMARY KEY,
	kind              text NOT NULL
	                  CONSTRAINT tokens_kind_check CHECK (kind IN ('long', 'short')),
	client_id         uuid NOT NULL REFERENCES clients (id),
	-- SHA-256 of the whole token string; the token itself is never stored.
	digest            bytea NOT NULL
	                  CONSTRAINT tokens_digest_check CHECK (octet_length(digest) = 32),
	-- Long-term tokens: the first token of the family, its generation
	-- (0 for the first) and the token it was rotated from.
	family_id         uuid,
	generation        integer
	                  CONSTRAINT tokens_generation_check CHECK (generation >= 0),
	rotated_from      uuid REFERENCES tokens (id) ON DELETE SET NULL,
	family_expires_at timestamptz,
	-- Short-term tokens: the long-term token they were issued from.
	parent_id         uuid REFERENCES tokens (id) ON DELETE CASCADE,
	scope             text[] NOT NULL,
	label             text
	                  CONSTRAINT tokens_label_check CHECK (char_length(label) <= 200),
	audience          text
	                  CONSTRAINT tokens_audience_check CHECK (char_length(audience) <= 200),
	issued_at         timestamptz NOT NULL,
	expires_at        timestamptz NOT NULL,
	rotated_at        timestamptz,
	-- expires_at, or for a rotated token the end of its overlap if earlier.
	valid_until       timestamptz NOT NULL,
	CONSTRAINT tokens_expiry_check CHECK (expires_at > issued_at),
	CONSTRAINT tokens_valid_until_check CHECK (valid_until <= expires_at),
	CONSTRAINT tokens_rotation_check
		CHECK ((rotated_at IS NULL) OR (kind = 'long' AND rotated_at >= issued_at)),
	CONSTRAINT tokens_shape_check CHECK (
		(kind = 'long' AND family_id IS NOT NULL AND generation IS NOT NULL
		 AND family_expires_at IS NOT NULL AND parent_id IS NULL
		 AND audience IS NULL AND expires_at <= family_expires_at)
		OR
		(kind = 'short' AND parent_id IS NOT NULL AND family_id IS NULL
		 AND generation IS NULL AND rotated_from IS NULL
		 AND family_expires_at IS NULL AND label IS NULL))
);

CREATE INDEX tokens_client_id_idx ON tokens (client_id, issued_at);
CREATE INDEX tokens_family_idx ON tokens (family_id, generation) WHERE family_id IS NOT NULL;
CREATE INDEX tokens_parent_id_idx ON tokens (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX tokens_rotated_from_idx ON tokens (rotated_from) WHERE rotated_from IS NOT NULL;
CREATE INDEX tokens_expires_at_idx ON tokens (expires_at);
