-- 01_schema.sql: the shape of the schema (sql/001-004): tables, columns,
-- NOT NULL, keys, and an index behind every lookup the code makes.
BEGIN;
SELECT plan(63);

-- Tables.
SELECT has_table('clients');
SELECT has_table('tokens');
SELECT has_table('revocations');
SELECT has_table('token_events');

-- clients.
SELECT has_pk('clients');
SELECT col_is_pk('clients', 'id');
SELECT col_type_is('clients', 'id', 'uuid');
SELECT col_not_null('clients', 'name');
SELECT col_not_null('clients', 'key_digest');
SELECT col_type_is('clients', 'key_digest', 'bytea');
SELECT col_is_null('clients', 'prev_key_digest');
SELECT col_type_is('clients', 'scopes', 'text[]');
SELECT col_not_null('clients', 'scopes');
SELECT col_not_null('clients', 'default_scopes');
SELECT col_is_null('clients', 'disabled_at');
SELECT col_type_is('clients', 'disabled_at', 'timestamp with time zone');
SELECT col_not_null('clients', 'long_ttl_default');
SELECT col_not_null('clients', 'family_max_seconds');

-- tokens.
SELECT col_is_pk('tokens', 'id');
SELECT col_type_is('tokens', 'id', 'uuid');
SELECT col_not_null('tokens', 'kind');
SELECT col_not_null('tokens', 'client_id');
SELECT fk_ok('tokens', 'client_id', 'clients', 'id');
SELECT col_not_null('tokens', 'digest');
SELECT col_type_is('tokens', 'digest', 'bytea');
SELECT has_column('tokens', 'family_id');
SELECT has_column('tokens', 'generation');
SELECT has_column('tokens', 'rotated_from');
SELECT fk_ok('tokens', 'parent_id', 'tokens', 'id');
SELECT col_not_null('tokens', 'scope');
SELECT col_not_null('tokens', 'issued_at');
SELECT col_not_null('tokens', 'expires_at');
SELECT col_not_null('tokens', 'valid_until');
SELECT col_is_null('tokens', 'rotated_at');
SELECT col_type_is('tokens', 'valid_until', 'timestamp with time zone');

-- revocations: one row per token, the token is the key.
SELECT col_is_pk('revocations', 'token_id');
SELECT fk_ok('revocations', 'token_id', 'tokens', 'id');
SELECT col_not_null('revocations', 'reason');
SELECT col_not_null('revocations', 'revoked_at');
SELECT col_is_null('revocations', 'revoked_by');

-- token_events.
-- Partitioned by month: the key holds the partition key (sql/004).
SELECT col_is_pk('token_events', ARRAY['id', 'occurred_at']);
SELECT col_type_is('token_events', 'id', 'bigint');
SELECT col_not_null('token_events', 'event');
SELECT col_not_null('token_events', 'occurred_at');
SELECT has_column('token_events', 'client_id');
SELECT has_column('token_events', 'token_id');
SELECT has_column('token_events', 'family_id');
SELECT has_column('token_events', 'count');
SELECT col_type_is('token_events', 'remote_addr', 'inet');
SELECT col_type_is('token_events', 'detail', 'jsonb');

-- An index for each lookup: tokens by client, family and parent ...
-- (client_id, expires_at) since 016: expires_at never changes, so rotation's
-- UPDATE touches no indexed column and can be a HOT update.
SELECT has_index('tokens', 'tokens_client_expires_idx', ARRAY['client_id', 'expires_at'],
	'tokens: index on (client_id, expires_at)');
SELECT hasnt_index('tokens', 'tokens_client_valid_idx',
	'tokens: no index holds valid_until (rotation would rewrite it)');
SELECT has_index('tokens', 'tokens_family_idx', ARRAY['family_id', 'generation'],
	'tokens: index on (family_id, generation)');
SELECT has_index('tokens', 'tokens_parent_id_idx', ARRAY['parent_id'],
	'tokens: index on parent_id (ON DELETE CASCADE, revocation reach)');
SELECT has_index('tokens', 'tokens_rotated_from_idx', ARRAY['rotated_from'],
	'tokens: index on rotated_from (ON DELETE SET NULL)');
SELECT has_index('tokens', 'tokens_expires_at_idx', ARRAY['expires_at'],
	'tokens: index on expires_at (prune)');
-- ... and token_events by client, token and family.
-- By client: (client_id, UTC day) of 012 since 016 dropped (client_id,
-- occurred_at), one B-tree entry less per audit row.
SELECT ok(EXISTS (SELECT 1 FROM pg_index i
                  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                  WHERE i.indrelid = 'token_events'::regclass AND a.attname = 'client_id'),
	'token_events: some index leads with client_id');
SELECT has_index('token_events', 'token_events_token_idx', ARRAY['token_id'],
	'token_events: index on token_id');
SELECT has_index('token_events', 'token_events_family_idx', ARRAY['family_id'],
	'token_events: index on family_id');

-- The leading column of each lookup index is the one looked up, whatever
-- the index is called (a rename must not lose the lookup).
SELECT ok(EXISTS (SELECT 1 FROM pg_index i
                  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                  WHERE i.indrelid = 'tokens'::regclass AND a.attname = 'client_id'),
	'tokens: some index leads with client_id');
SELECT ok(EXISTS (SELECT 1 FROM pg_index i
                  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                  WHERE i.indrelid = 'tokens'::regclass AND a.attname = 'family_id'),
	'tokens: some index leads with family_id');
SELECT ok(EXISTS (SELECT 1 FROM pg_index i
                  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                  WHERE i.indrelid = 'token_events'::regclass AND a.attname = 'token_id'),
	'token_events: some index leads with token_id');

-- The functions every path uses.
SELECT has_function('token_is_valid', ARRAY['tokens']);

SELECT * FROM finish();
ROLLBACK;
