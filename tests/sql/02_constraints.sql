-- 02_constraints.sql: the constraints of sql/001-004 make bad rows
-- impossible, whoever writes them.  Every bad row is refused by the
-- constraint named in the expected message, so that a row refused for
-- another reason does not pass for the wrong one.
BEGIN;
SELECT plan(38);

-- A client, a long-term token (its own family) and a short-term token.
INSERT INTO clients (id, name, key_digest, scopes, default_scopes)
VALUES ('00000000-0000-4000-8000-0000000000c1', 'c1', sha256('key c1'),
        '{read,write,tokend:rotate,tokend:revoke}', '{read}');

SELECT lives_ok($$
	INSERT INTO tokens (id, kind, client_id, digest, family_id, generation,
	                    family_expires_at, scope, issued_at, expires_at, valid_until)
	VALUES ('00000000-0000-4000-8000-000000000001', 'long',
	        '00000000-0000-4000-8000-0000000000c1', sha256('l1'),
	        '00000000-0000-4000-8000-000000000001', 0, now() + interval '1 year',
	        '{read}', now(), now() + interval '1 day', now() + interval '1 day')
$$, 'a well-formed long-term token is accepted');
SELECT lives_ok($$
	INSERT INTO tokens (id, kind, client_id, digest, parent_id, scope,
	                    issued_at, expires_at, valid_until)
	VALUES ('00000000-0000-4000-8000-000000000002', 'short',
	        '00000000-0000-4000-8000-0000000000c1', sha256('s1'),
	        '00000000-0000-4000-8000-000000000001', '{read}',
	        now(), now() + interval '15 minutes', now() + interval '15 minutes')
$$, 'a well-formed short-term token is accepted');

-- tokens: shape of each kind.
SELECT throws_ok($$
	INSERT INTO tokens (id, kind, client_id, digest, scope, issued_at, expires_at, valid_until)
	VALUES ('00000000-0000-4000-8000-000000000010', 'short',
	        '00000000-0000-4000-8000-0000000000c1', sha256('x'), '{}',
	        now(), now() + interval '1 minute', now() + interval '1 minute')
$$, '23514', 'new row for relation "tokens" violates check constraint "tokens_shape_check"',
	'a short-term token without a parent is refused');
SELECT throws_ok($$
	INSERT INTO tokens (id, kind, client_id, digest, generation, family_expires_at,
	                    scope, issued_at, expires_at, valid_until)
	VALUES ('00000000-0000-4000-8000-000000000010', 'long',
	        '00000000-0000-4000-8000-0000000000c1', sha256('x'), 0, now() + interval '1 year',
	        '{}', now(), now() + interval '1 day', now() + interval '1 day')
$$, '23514', 'new row for relation "tokens" violates check constraint "tokens_shape_check"',
	'a long-term token without a family is refused');
SELECT throws_ok($$
	INSERT INTO tokens (id, kind, client_id, digest, family_id, family_expires_at,
	                    scope, issued_at, expires_at, valid_until)
	VALUES ('00000000-0000-4000-8000-000000000010', 'long',
	        '00000000-0000-4000-8000-0000000000c1', sha256('x'),
	        '00000000-0000-4000-8000-000000000010', now() + interval '1 year',
	        '{}', now(), now() + interval '1 day', now() + interval '1 day')
$$, '23514', 'new row for relation "tokens" violates check constraint "tokens_shape_check"',
	'a long-term token without a generation is refused');
SELECT throws_ok($$
	INSERT INTO tokens (id, kind, client_id, digest, family_id, generation,
	                    family_expires_at, scope, issued_at, expires_at, valid_until)
	VALUES ('00000000-0000-4000-8000-000000000010', 'long',
	        '00000000-0000-4000-8000-0000000000c1', sha256('x'),
	        '00000000-0000-4000-8000-000000000010', 0, now() + interval '1 day',
	        '{}', now(), now() + interval '2 days', now() + interval '1 day')
$$, '23514', 'new row for relation "tokens" violates check constraint "tokens_shape_check"',
	'a long-term token expiring after its family is refused');
SELECT throws_ok($$
	INSERT INTO tokens (id, kind, client_id, digest, family_id, generation,
	                    family_expires_at, parent_id, scope, issued_at, expires_at, valid_until)
	VALUES ('00000000-0000-4000-8000-000000000010', 'long',
	        '00000000-0000-4000-8000-0000000000c1', sha256('x'),
	        '00000000-0000-4000-8000-000000000010', 0, now() + interval '1 year',
	        '00000000-0000-4000-8000-000000000001',
	        '{}', now(), now() + interval '1 day', now() + interval '1 day')
$$, '23514', 'new row for relation "tokens" violates check constraint "tokens_shape_check"',
	'a long-term token with a parent is refused');
SELECT throws_ok($$
	INSERT INTO tokens (id, kind, client_id, digest, parent_id, family_id, scope,
	                    issued_at, expires_at, valid_until)
	VALUES ('00000000-0000-4000-8000-000000000010', 'short',
	        '00000000-0000-4000-8000-0000000000c1', sha256('x'),
	        '00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000001',
	        '{}', now(), now() + interval '1 minute', now() + interval '1 minute')
$$, '23514', 'new row for relation "tokens" violates check constraint "tokens_shape_check"',
	'a short-term token with a family is refused');
SELECT throws_ok($$
	INSERT INTO tokens (id, kind, client_id, digest, parent_id, label, scope,
	                    issued_at, expires_at, valid_until)
	VALUES ('00000000-0000-4000-8000-000000000010', 'short',
	        '00000000-0000-4000-8000-0000000000c1', sha256('x'),
	        '00000000-0000-4000-8000-000000000001', 'a label',
	        '{}', now(), now() + interval '1 minute', now() + interval '1 minute')
$$, '23514', 'new row for relation "tokens" violates check constraint "tokens_shape_check"',
	'a short-term token with a label is refused');
SELECT throws_ok($$
	INSERT INTO tokens (id, kind, client_id, digest, parent_id, scope,
	                    issued_at, expires_at, valid_until)
	VALUES ('00000000-0000-4000-8000-000000000010', 'medium',
	        '00000000-0000-4000-8000-0000000000c1', sha256('x'),
	        '00000000-0000-4000-8000-000000000001',
	        '{}', now(), now() + interval '1 minute', now() + interval '1 minute')
$$, '23514', 'new row for relation "tokens" violates check constraint "tokens_kind_check"',
	'a token of an unknown kind is refused');

-- tokens: times.
SELECT throws_ok($$
	INSERT INTO tokens (id, kind, client_id, digest, parent_id, scope,
	                    issued_at, expires_at, valid_until)
	VALUES ('00000000-0000-4000-8000-000000000010', 'short',
	        '00000000-0000-4000-8000-0000000000c1', sha256('x'),
	        '00000000-0000-4000-8000-000000000001',
	        '{}', now(), now() + interval '1 minute', now() + interval '2 minutes')
$$, '23514', 'new row for relation "tokens" violates check constraint "tokens_valid_until_check"',
	'valid_until after expires_at is refused');
SELECT throws_ok($$
	INSERT INTO tokens (id, kind, client_id, digest, parent_id, scope,
	                    issued_at, expires_at, valid_until)
	VALUES ('00000000-0000-4000-8000-000000000010', 'short',
	        '00000000-0000-4000-8000-0000000000c1', sha256('x'),
	        '00000000-0000-4000-8000-000000000001',
	        '{}', now(), now(), now())
$$, '23514', 'new row for relation "tokens" violates check constraint "tokens_expiry_check"',
	'expires_at equal to issued_at is refused');
SELECT throws_ok($$
	INSERT INTO tokens (id, kind, client_id, digest, parent_id, scope,
	                    issued_at, expires_at, valid_until)
	VALUES ('00000000-0000-4000-8000-000000000010', 'short',
	        '00000000-0000-4000-8000-0000000000c1', sha256('x'),
	        '00000000-0000-4000-8000-000000000001',
	        '{}', now(), now() - interval '1 second', now() - interval '1 second')
$$, '23514', 'new row for relation "tokens" violates check constraint "tokens_expiry_check"',
	'expires_at before issued_at is refused');
SELECT throws_ok($$
	UPDATE tokens SET rotated_at = now()
	WHERE id = '00000000-0000-4000-8000-000000000002'
$$, '23514', 'new row for relation "tokens" violates check constraint "tokens_rotation_check"',
	'a short-term token cannot be rotated');
SELECT throws_ok($$
	UPDATE tokens SET rotated_at = issued_at - interval '1 second'
	WHERE id = '00000000-0000-4000-8000-000000000001'
$$, '23514', 'new row for relation "tokens" violates check constraint "tokens_rotation_check"',
	'rotated_at before issued_at is refused');
SELECT throws_ok($$
	UPDATE tokens SET generation = -1 WHERE id = '00000000-0000-4000-8000-000000000001'
$$, '23514', 'new row for relation "tokens" violates check constraint "tokens_generation_check"',
	'a negative generation is refused');

-- tokens: digest, label, client.
SELECT throws_ok($$
	INSERT INTO tokens (id, kind, client_id, digest, parent_id, scope,
	                    issued_at, expires_at, valid_until)
	VALUES ('00000000-0000-4000-8000-000000000010', 'short',
	        '00000000-0000-4000-8000-0000000000c1', substring(sha256('x') FROM 1 FOR 31),
	        '00000000-0000-4000-8000-000000000001',
	        '{}', now(), now() + interval '1 minute', now() + interval '1 minute')
$$, '23514', 'new row for relation "tokens" violates check constraint "tokens_digest_check"',
	'a token digest of 31 bytes is refused');
SELECT throws_ok($$
	INSERT INTO tokens (id, kind, client_id, digest, parent_id, scope,
	                    issued_at, expires_at, valid_until)
	VALUES ('00000000-0000-4000-8000-000000000010', 'short',
	        '00000000-0000-4000-8000-0000000000c1', sha256('x') || '\x00'::bytea,
	        '00000000-0000-4000-8000-000000000001',
	        '{}', now(), now() + interval '1 minute', now() + interval '1 minute')
$$, '23514', 'new row for relation "tokens" violates check constraint "tokens_digest_check"',
	'a token digest of 33 bytes is refused');
SELECT throws_ok($$
	UPDATE tokens SET label = repeat(chr(233), 201) WHERE id = '00000000-0000-4000-8000-000000000001'
$$, '23514', 'new row for relation "tokens" violates check constraint "tokens_label_check"',
	'a label of 201 code points is refused');
SELECT lives_ok($$
	UPDATE tokens SET label = repeat(chr(233), 200) WHERE id = '00000000-0000-4000-8000-000000000001'
$$, 'a label of 200 code points (400 bytes) is accepted');
SELECT throws_ok($$
	INSERT INTO tokens (id, kind, client_id, digest, parent_id, scope,
	                    issued_at, expires_at, valid_until)
	VALUES ('00000000-0000-4000-8000-000000000010', 'short',
	        '00000000-0000-4000-8000-0000000000c9', sha256('x'),
	        '00000000-0000-4000-8000-000000000001',
	        '{}', now(), now() + interval '1 minute', now() + interval '1 minute')
$$, '23503', NULL, 'a token of an unknown client is refused');

-- revocations.
SELECT throws_ok($$
	INSERT INTO revocations (token_id, reason)
	VALUES ('00000000-0000-4000-8000-000000000001', 'bored')
$$, '23514', 'new row for relation "revocations" violates check constraint "revocations_reason_check"',
	'a revocation with an unknown reason is refused');
SELECT lives_ok($$
	INSERT INTO revocations (token_id, reason)
	VALUES ('00000000-0000-4000-8000-000000000001', 'requested')
$$, 'a revocation with reason requested is accepted');
SELECT throws_ok($$
	INSERT INTO revocations (token_id, reason)
	VALUES ('00000000-0000-4000-8000-000000000001', 'superseded')
$$, '23505', 'duplicate key value violates unique constraint "revocations_pkey"',
	'a second revocation row for a token is refused');

-- clients.
SELECT throws_ok($$
	INSERT INTO clients (id, name, key_digest)
	VALUES ('00000000-0000-4000-8000-0000000000c2', 'c2', '\x0102'::bytea)
$$, '23514', 'new row for relation "clients" violates check constraint "clients_key_digest_check"',
	'a client key digest of 2 bytes is refused');
SELECT throws_ok($$
	INSERT INTO clients (id, name, key_digest, prev_key_digest)
	VALUES ('00000000-0000-4000-8000-0000000000c2', 'c2', sha256('k'), sha256('k2'))
$$, '23514', 'new row for relation "clients" violates check constraint "clients_prev_key_pair_check"',
	'a previous key without its end of validity is refused');
SELECT throws_ok($$
	INSERT INTO clients (id, name, key_digest, scopes, default_scopes)
	VALUES ('00000000-0000-4000-8000-0000000000c2', 'c2', sha256('k'),
	        '{read,tokend:rotate}', '{read,tokend:rotate}')
$$, '23514', 'new row for relation "clients" violates check constraint "clients_default_scopes_check"',
	'default scopes containing tokend:rotate are refused');
SELECT throws_ok($$
	INSERT INTO clients (id, name, key_digest, scopes, default_scopes)
	VALUES ('00000000-0000-4000-8000-0000000000c2', 'c2', sha256('k'),
	        '{tokend:revoke}', '{tokend:revoke}')
$$, '23514', 'new row for relation "clients" violates check constraint "clients_default_scopes_check"',
	'default scopes containing tokend:revoke are refused');
SELECT throws_ok($$
	INSERT INTO clients (id, name, key_digest, scopes, default_scopes)
	VALUES ('00000000-0000-4000-8000-0000000000c2', 'c2', sha256('k'), '{read}', '{write}')
$$, '23514', 'new row for relation "clients" violates check constraint "clients_default_scopes_check"',
	'default scopes outside the granted scopes are refused');
SELECT throws_ok($$
	INSERT INTO clients (id, name, key_digest, scopes)
	VALUES ('00000000-0000-4000-8000-0000000000c2', 'c2', sha256('k'), ARRAY['read', NULL])
$$, '23514', 'new row for relation "clients" violates check constraint "clients_scopes_check"',
	'a NULL scope is refused');
SELECT throws_ok($$
	INSERT INTO clients (id, name, key_digest) VALUES ('00000000-0000-4000-8000-0000000000c2', '', sha256('k'))
$$, '23514', 'new row for relation "clients" violates check constraint "clients_name_check"',
	'an empty client name is refused');
SELECT throws_ok($$
	INSERT INTO clients (id, name, key_digest, long_ttl_default, long_ttl_max)
	VALUES ('00000000-0000-4000-8000-0000000000c2', 'c2', sha256('k'), 100, 99)
$$, '23514', 'new row for relation "clients" violates check constraint "clients_long_ttl_check"',
	'a default long TTL above its maximum is refused');
SELECT throws_ok($$
	INSERT INTO clients (id, name, key_digest, short_ttl_default)
	VALUES ('00000000-0000-4000-8000-0000000000c2', 'c2', sha256('k'), 0)
$$, '23514', 'new row for relation "clients" violates check constraint "clients_short_ttl_check"',
	'a default short TTL of 0 is refused');

-- token_events: a row is checked in its monthly partition, which the
-- message names.
SELECT throws_matching($$
	INSERT INTO token_events (event, remote_addr) VALUES ('auth_failed', '127.0.0.1')
$$, '^new row for relation "token_events_\d{4}_\d{2}" violates check constraint "token_events_auth_failed_check"$',
	'an auth_failed event without a count is refused');
SELECT throws_matching($$
	INSERT INTO token_events (event, client_id, count)
	VALUES ('issued', '00000000-0000-4000-8000-0000000000c1', 3)
$$, '^new row for relation "token_events_\d{4}_\d{2}" violates check constraint "token_events_auth_failed_check"$',
	'a count on another event is refused');
SELECT throws_matching($$
	INSERT INTO token_events (event, count) VALUES ('auth_failed', 0)
$$, '^new row for relation "token_events_\d{4}_\d{2}" violates check constraint "token_events_count_check"$',
	'an auth_failed count of 0 is refused');
SELECT throws_matching($$
	INSERT INTO token_events (event) VALUES ('exploded')
$$, '^new row for relation "token_events_\d{4}_\d{2}" violates check constraint "token_events_event_check"$',
	'an unknown event is refused');
SELECT lives_ok($$
	INSERT INTO token_events (event, remote_addr, count, first_at, last_at)
	VALUES ('auth_failed', '127.0.0.1', 5, now() - interval '1 second', now())
$$, 'an auth_failed event with a count is accepted');

SELECT * FROM finish();
ROLLBACK;
