-- 07_admin.sql: the tokenctl functions of sql/007 at the SQL level:
-- client create/set/disable/enable/rotate-key and token revoke.
BEGIN;
SELECT plan(41);

CREATE FUNCTION pg_temp.u(text) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
	SELECT ('00000000-0000-4000-8000-' || lpad($1, 12, '0'))::uuid
$$;
CREATE FUNCTION pg_temp.d(text) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
	SELECT sha256(convert_to($1, 'UTF8'))
$$;
CREATE FUNCTION pg_temp.c(p_id text) RETURNS clients LANGUAGE sql AS $$
	SELECT * FROM clients WHERE id = pg_temp.u(p_id)
$$;
CREATE FUNCTION pg_temp.valid(p_id text) RETURNS boolean LANGUAGE sql AS $$
	SELECT token_is_valid(t) FROM tokens t WHERE t.id = pg_temp.u(p_id)
$$;

-- ------------------------------------------------- tokend_client_create
SELECT lives_ok($$ SELECT tokend_client_create(pg_temp.u('c1'), 'one', pg_temp.d('key c1'),
	'{read,tokend:rotate,write,tokend:revoke}', NULL, NULL, NULL, NULL, NULL, NULL, NULL) $$,
	'client_create: with defaults');
SELECT row_eq($$ SELECT name, key_digest, scopes, default_scopes, long_ttl_default, long_ttl_max,
                        short_ttl_default, short_ttl_max, overlap_max, family_max_seconds,
                        disabled_at, prev_key_digest
                 FROM clients WHERE id = pg_temp.u('c1') $$,
	ROW('one'::text, pg_temp.d('key c1'), '{read,tokend:rotate,write,tokend:revoke}'::text[],
	    '{read,write}'::text[], 2592000, 7776000, 900, 3600, 604800, 31536000,
	    NULL::timestamptz, NULL::bytea),
	'client_create: column defaults; default scopes = the unreserved scopes, in order');
SELECT is((SELECT count(*) FROM token_events WHERE event = 'client_created' AND client_id = pg_temp.u('c1')),
	1::bigint, 'client_create: one client_created event');
SELECT is((SELECT detail ?| ARRAY['key_digest', 'prev_key_digest', 'id'] FROM token_events
           WHERE event = 'client_created' AND client_id = pg_temp.u('c1')),
	false, 'client_create: the event carries no digest');
SELECT is((SELECT detail ->> 'long_ttl_default' FROM token_events
           WHERE event = 'client_created' AND client_id = pg_temp.u('c1')),
	'2592000', 'client_create: the event carries the policy');

SELECT tokend_client_create(pg_temp.u('c2'), 'two', pg_temp.d('key c2'), '{read}', '{}',
	NULL, 3600, NULL, 60, 0, 86400);
SELECT row_eq($$ SELECT default_scopes, long_ttl_default, long_ttl_max, short_ttl_default,
                        short_ttl_max, overlap_max, family_max_seconds
                 FROM clients WHERE id = pg_temp.u('c2') $$,
	ROW('{}'::text[], 3600, 3600, 60, 60, 0, 86400),
	'client_create: default TTLs lowered to smaller maximums; an empty default set kept');
SELECT throws_ok($$ SELECT tokend_client_create(pg_temp.u('c3'), 'three', pg_temp.d('key c3'),
	'{read,tokend:rotate}', '{tokend:rotate}', NULL, NULL, NULL, NULL, NULL, NULL) $$,
	'23514', NULL, 'client_create: a reserved default scope is refused');
SELECT throws_ok($$ SELECT tokend_client_create(pg_temp.u('c3'), 'three', pg_temp.d('key c3'),
	'{read}', NULL, 100, 50, NULL, NULL, NULL, NULL) $$,
	'23514', NULL, 'client_create: a default TTL above its maximum is refused');
SELECT throws_ok($$ SELECT tokend_client_create(pg_temp.u('c1'), 'again', pg_temp.d('key c1'),
	'{}', NULL, NULL, NULL, NULL, NULL, NULL, NULL) $$,
	'23505', NULL, 'client_create: an existing id is refused');

-- ---------------------------------------------------- tokend_client_set
SELECT is(tokend_client_set(pg_temp.u('c9'), 'x', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
	NULL, 'client_set: unknown client: NULL');
SELECT is(tokend_client_set(pg_temp.u('c1'), 'one', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
	'{}'::jsonb, 'client_set: nothing changed: {}');
SELECT is((SELECT count(*) FROM token_events WHERE event = 'client_changed'), 0::bigint,
	'client_set: ... and no event');
SELECT is(tokend_client_set(pg_temp.u('c1'), 'uno', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
	'{"name": "uno"}'::jsonb, 'client_set: the changed column with its new value');
SELECT is((SELECT detail FROM token_events WHERE event = 'client_changed'), '{"name": "uno"}'::jsonb,
	'client_set: one client_changed event with the change');
SELECT is(tokend_client_set(pg_temp.u('c1'), NULL, '{write,tokend:rotate}', NULL,
                            NULL, NULL, NULL, NULL, NULL, NULL),
	'{"scopes": ["write", "tokend:rotate"], "default_scopes": ["write"]}'::jsonb,
	'client_set: scopes no longer granted leave the default set');
SELECT is(tokend_client_set(pg_temp.u('c1'), NULL, NULL, NULL, NULL, 600, NULL, NULL, NULL, NULL),
	'{"long_ttl_max": 600, "long_ttl_default": 600}'::jsonb,
	'client_set: a lower maximum lowers the default');
SELECT throws_ok($$ SELECT tokend_client_set(pg_temp.u('c1'), NULL, NULL, '{read}',
                                             NULL, NULL, NULL, NULL, NULL, NULL) $$,
	'23514', NULL, 'client_set: a default scope not granted is refused');

-- A family, a short-term token and an expired token of c1.
INSERT INTO tokens (id, kind, client_id, digest, family_id, generation, family_expires_at,
                    scope, issued_at, expires_at, valid_until)
VALUES (pg_temp.u('a1'), 'long', pg_temp.u('c1'), pg_temp.d('tok a1'), pg_temp.u('a1'), 0,
        now() + interval '1 year', '{write}', now(), now() + interval '1 day', now() + interval '1 day'),
       (pg_temp.u('a2'), 'long', pg_temp.u('c1'), pg_temp.d('tok a2'), pg_temp.u('a2'), 0,
        now() + interval '1 year', '{write}', now() - interval '2 days', now() - interval '1 day',
        now() - interval '1 day');
INSERT INTO tokens (id, kind, client_id, digest, parent_id, scope, issued_at, expires_at, valid_until)
VALUES (pg_temp.u('51'), 'short', pg_temp.u('c1'), pg_temp.d('tok 51'), pg_temp.u('a1'), '{write}',
        now(), now() + interval '5 min', now() + interval '5 min');

-- ------------------------------------------ tokend_client_disable/enable
SELECT row_eq($$ SELECT * FROM tokend_client_disable(pg_temp.u('c1')) $$,
	ROW(true, false, 2), 'client_disable: known, was enabled, two live tokens revoked');
SELECT is((SELECT array_agg(reason ORDER BY token_id) FROM revocations), '{client_disabled,client_disabled}'::text[],
	'client_disable: reason client_disabled');
SELECT is((SELECT count(*) FROM revocations WHERE token_id = pg_temp.u('a2')), 0::bigint,
	'client_disable: an expired token gets no row');
SELECT isnt((pg_temp.c('c1')).disabled_at, NULL, 'client_disable: disabled_at set');
SELECT is((tokend_auth_client(pg_temp.u('c1'), pg_temp.d('key c1'))).id, NULL,
	'client_disable: the key is refused');
SELECT row_eq($$ SELECT * FROM tokend_client_disable(pg_temp.u('c1')) $$,
	ROW(true, true, 0), 'client_disable: again: was disabled, nothing revoked');
SELECT is((SELECT count(*) FROM token_events WHERE event = 'client_disabled'), 1::bigint,
	'client_disable: one client_disabled event');
SELECT is((SELECT known FROM tokend_client_disable(pg_temp.u('c9'))), false,
	'client_disable: unknown client: known false');
SELECT row_eq($$ SELECT * FROM tokend_client_enable(pg_temp.u('c1')) $$,
	ROW(true, false), 'client_enable: known, was not enabled');
SELECT is((pg_temp.c('c1')).disabled_at, NULL, 'client_enable: disabled_at cleared');
SELECT is(pg_temp.valid('a1'), false, 'client_enable: revoked tokens stay revoked');
SELECT is(pg_temp.valid('51'), false, 'client_enable: ... short-term ones too');
SELECT row_eq($$ SELECT * FROM tokend_client_enable(pg_temp.u('c1')) $$,
	ROW(true, true), 'client_enable: again: was enabled');
SELECT is((SELECT count(*) FROM token_events WHERE event = 'client_enabled'), 1::bigint,
	'client_enable: one client_enabled event');

-- -------------------------------------------- tokend_client_rotate_key
SELECT row_eq($$ SELECT * FROM tokend_client_rotate_key(pg_temp.u('c2'), pg_temp.d('key c2 new'), 60) $$,
	ROW(true, tokend_time_text(date_trunc('second', now()) + interval '60 s')),
	'rotate_key: known, the old key valid 60 s more');
SELECT is((tokend_auth_client(pg_temp.u('c2'), pg_temp.d('key c2'))).id, pg_temp.u('c2'),
	'rotate_key: the old key works during the overlap');
SELECT is((tokend_auth_client(pg_temp.u('c2'), pg_temp.d('key c2 new'))).id, pg_temp.u('c2'),
	'rotate_key: the new key works');
SELECT row_eq($$ SELECT * FROM tokend_client_rotate_key(pg_temp.u('c2'), pg_temp.d('key c2 newer'), 0) $$,
	ROW(true, NULL::text), 'rotate_key: overlap 0: no previous key');
SELECT is((tokend_auth_client(pg_temp.u('c2'), pg_temp.d('key c2 new'))).id, NULL,
	'rotate_key: overlap 0: the old key is refused at once');
SELECT is((SELECT known FROM tokend_client_rotate_key(pg_temp.u('c9'), pg_temp.d('k'), 0)), false,
	'rotate_key: unknown client: known false');

-- -------------------------------------------- tokend_token_revoke_admin
INSERT INTO tokens (id, kind, client_id, digest, family_id, generation, family_expires_at,
                    scope, issued_at, expires_at, valid_until)
VALUES (pg_temp.u('b1'), 'long', pg_temp.u('c2'), pg_temp.d('tok b1'), pg_temp.u('b1'), 0,
        now() + interval '1 year', '{read}', now(), now() + interval '1 day', now() + interval '1 day');
SELECT row_eq($$ SELECT * FROM tokend_token_revoke_admin(pg_temp.u('b1')) $$,
	ROW(true, false, 'requested'::text), 'token_revoke_admin: known, revoked now, reason requested');
SELECT row_eq($$ SELECT * FROM tokend_token_revoke_admin(pg_temp.u('b1')) $$,
	ROW(true, true, 'requested'::text), 'token_revoke_admin: again: was revoked');
SELECT row_eq($$ SELECT * FROM tokend_token_revoke_admin(pg_temp.u('a1')) $$,
	ROW(true, true, 'client_disabled'::text), 'token_revoke_admin: the first reason is kept');
SELECT is((SELECT known FROM tokend_token_revoke_admin(pg_temp.u('ff'))), false,
	'token_revoke_admin: unknown token: known false');

SELECT * FROM finish();
ROLLBACK;
