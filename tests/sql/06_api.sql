-- 06_api.sql: each API function of sql/006 at the SQL level, outcome by
-- outcome: tokend_issue_long, tokend_rotate (client key and short-term
-- bearer), tokend_issue_short, tokend_revoke, and reuse detection in
-- tokend_auth_token.  now() is fixed for the transaction: now_s below is
-- the whole second every function stamps.
BEGIN;
SELECT plan(151);

-- u('a1') = 00000000-0000-4000-8000-0000000000a1; d(s) = SHA-256 of s.
-- Client X's key digest is d('key X'), token T's is d('tok T').
CREATE FUNCTION pg_temp.u(text) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
	SELECT ('00000000-0000-4000-8000-' || lpad($1, 12, '0'))::uuid
$$;
CREATE FUNCTION pg_temp.d(text) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
	SELECT sha256(convert_to($1, 'UTF8'))
$$;
CREATE FUNCTION pg_temp.now_s() RETURNS timestamptz LANGUAGE sql STABLE AS $$
	SELECT date_trunc('second', now())
$$;
CREATE FUNCTION pg_temp.at(secs integer) RETURNS text LANGUAGE sql STABLE AS $$
	SELECT tokend_time_text(pg_temp.now_s() + make_interval(secs => secs))
$$;

-- Every call's answer, as JSON, by a key.
CREATE TEMP TABLE res (k text PRIMARY KEY, r jsonb NOT NULL);
CREATE FUNCTION pg_temp.r(p_k text, p_field text) RETURNS text LANGUAGE sql AS $$
	SELECT r ->> p_field FROM res WHERE k = p_k
$$;

CREATE FUNCTION pg_temp.long(k text, client text, new text, scope text DEFAULT NULL,
                             ttl integer DEFAULT NULL, label text DEFAULT NULL,
                             key_client text DEFAULT NULL, key text DEFAULT NULL)
RETURNS void LANGUAGE sql AS $$
	INSERT INTO res
	SELECT k, to_jsonb(f) FROM tokend_issue_long(
		pg_temp.u(client), pg_temp.u(coalesce(key_client, client)),
		pg_temp.d(coalesce(key, 'key ' || coalesce(key_client, client))),
		pg_temp.u(new), pg_temp.d('tok ' || new), scope, ttl, label,
		'req-' || k, '192.0.2.1') f
$$;
CREATE FUNCTION pg_temp.short(k text, bearer text, new text, scope text DEFAULT NULL,
                              ttl integer DEFAULT NULL, audience text DEFAULT NULL,
                              digest_of text DEFAULT NULL)
RETURNS void LANGUAGE sql AS $$
	INSERT INTO res
	SELECT k, to_jsonb(f) FROM tokend_issue_short(
		pg_temp.u(bearer), pg_temp.d('tok ' || coalesce(digest_of, bearer)),
		pg_temp.u(new), pg_temp.d('tok ' || new), scope, ttl, audience,
		'req-' || k, '192.0.2.2') f
$$;
-- Rotation with a client key (client_id = client unless given).
CREATE FUNCTION pg_temp.rotate_key(k text, client text, token text, new text,
                                   scope text DEFAULT NULL, ttl integer DEFAULT NULL,
                                   overlap integer DEFAULT NULL, label text DEFAULT NULL,
                                   key_client text DEFAULT NULL, key text DEFAULT NULL)
RETURNS void LANGUAGE sql AS $$
	INSERT INTO res
	SELECT k, to_jsonb(f) FROM tokend_rotate(
		pg_temp.u(client), pg_temp.u(coalesce(key_client, client)),
		pg_temp.d(coalesce(key, 'key ' || coalesce(key_client, client))),
		NULL, NULL, pg_temp.u(token), pg_temp.u(new), pg_temp.d('tok ' || new),
		scope, ttl, overlap, 60, label, 'req-' || k, '192.0.2.3') f
$$;
-- Rotation by a short-term bearer.
CREATE FUNCTION pg_temp.rotate_bearer(k text, client text, bearer text, new text,
                                      token text DEFAULT NULL, digest_of text DEFAULT NULL)
RETURNS void LANGUAGE sql AS $$
	INSERT INTO res
	SELECT k, to_jsonb(f) FROM tokend_rotate(
		pg_temp.u(client), NULL, NULL,
		pg_temp.u(bearer), pg_temp.d('tok ' || coalesce(digest_of, bearer)),
		pg_temp.u(token), pg_temp.u(new), pg_temp.d('tok ' || new),
		NULL, NULL, NULL, 60, NULL, 'req-' || k, '192.0.2.4') f
$$;
CREATE FUNCTION pg_temp.revoke(k text, kind text, bearer text, target text,
                               digest_of text DEFAULT NULL)
RETURNS void LANGUAGE sql AS $$
	INSERT INTO res
	SELECT k, to_jsonb(f) FROM tokend_revoke(
		kind, pg_temp.u(bearer), pg_temp.d('tok ' || coalesce(digest_of, bearer)),
		pg_temp.u(target), 'req-' || k, '192.0.2.5') f
$$;
CREATE FUNCTION pg_temp.tok(p_id text) RETURNS tokens LANGUAGE sql AS $$
	SELECT * FROM tokens WHERE id = pg_temp.u(p_id)
$$;
CREATE FUNCTION pg_temp.valid(p_id text) RETURNS boolean LANGUAGE sql AS $$
	SELECT token_is_valid(t) FROM tokens t WHERE t.id = pg_temp.u(p_id)
$$;
CREATE FUNCTION pg_temp.reason(p_id text) RETURNS text LANGUAGE sql AS $$
	SELECT reason FROM revocations WHERE token_id = pg_temp.u(p_id)
$$;
CREATE FUNCTION pg_temp.events(p_event text, p_id text) RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM token_events WHERE event = p_event AND token_id = pg_temp.u(p_id)
$$;

-- Clients.  c1: a full policy and a previous key still valid for 60 s;
-- c2: another client; c3: its previous key has ended; c4: disabled;
-- c5: families live 100 s.
INSERT INTO clients (id, name, key_digest, prev_key_digest, prev_key_valid_until,
                     scopes, default_scopes, long_ttl_default, long_ttl_max,
                     short_ttl_default, short_ttl_max, overlap_max, family_max_seconds,
                     disabled_at)
VALUES
	(pg_temp.u('c1'), 'c1', pg_temp.d('key c1'), pg_temp.d('old key c1'), now() + interval '60 s',
	 '{read,write,admin,tokend:rotate,tokend:revoke}', '{read,write}',
	 3600, 7200, 300, 600, 120, 86400, NULL),
	(pg_temp.u('c2'), 'c2', pg_temp.d('key c2'), NULL, NULL, '{read}', '{read}',
	 3600, 7200, 300, 600, 120, 86400, NULL),
	(pg_temp.u('c3'), 'c3', pg_temp.d('key c3'), pg_temp.d('old key c3'), now() - interval '1 s',
	 '{read}', '{read}', 3600, 7200, 300, 600, 120, 86400, NULL),
	(pg_temp.u('c4'), 'c4', pg_temp.d('key c4'), NULL, NULL, '{read}', '{read}',
	 3600, 7200, 300, 600, 120, 86400, now() - interval '1 hour'),
	(pg_temp.u('c5'), 'c5', pg_temp.d('key c5'), NULL, NULL, '{read}', '{read}',
	 3600, 7200, 300, 600, 120, 100, NULL);

-- ===================================================== tokend_issue_long
SELECT pg_temp.long('a1', 'c1', 'a1', label => 'label a1');
SELECT is(pg_temp.r('a1', 'outcome'), 'ok', 'issue_long: ok');
SELECT is(pg_temp.r('a1', 'r_token_id'), pg_temp.u('a1')::text, 'issue_long: r_token_id is the new id');
SELECT is(pg_temp.r('a1', 'r_client_id'), pg_temp.u('c1')::text, 'issue_long: r_client_id');
SELECT is(pg_temp.r('a1', 'r_scope'), 'read write', 'issue_long: default scope, space-separated');
SELECT is(pg_temp.r('a1', 'r_issued_at'), pg_temp.at(0), 'issue_long: r_issued_at is now, whole seconds');
SELECT is(pg_temp.r('a1', 'r_expires_at'), pg_temp.at(3600), 'issue_long: r_expires_at = now + long_ttl_default');
SELECT is(pg_temp.r('a1', 'r_rotated_from'), NULL, 'issue_long: r_rotated_from NULL');
SELECT is(pg_temp.r('a1', 'known_client'), NULL, 'issue_long: known_client NULL on success');
SELECT row_eq($$ SELECT kind, client_id, digest, family_id, generation, rotated_from,
                        family_expires_at, parent_id, scope, label, issued_at,
                        expires_at, valid_until, rotated_at
                 FROM tokens WHERE id = pg_temp.u('a1') $$,
	ROW('long'::text, pg_temp.u('c1'), pg_temp.d('tok a1'), pg_temp.u('a1'), 0, NULL::uuid,
	    pg_temp.now_s() + interval '86400 s', NULL::uuid, '{read,write}'::text[],
	    'label a1'::text, pg_temp.now_s(), pg_temp.now_s() + interval '3600 s',
	    pg_temp.now_s() + interval '3600 s', NULL::timestamptz),
	'issue_long: the row: its own family, generation 0, the digest, no secret');
SELECT row_eq($$ SELECT client_id, token_kind, family_id, request_id, remote_addr
                 FROM token_events WHERE event = 'issued' AND token_id = pg_temp.u('a1') $$,
	ROW(pg_temp.u('c1'), 'long'::text, pg_temp.u('a1'), 'req-a1'::text, '192.0.2.1'::inet),
	'issue_long: one issued event, with request id and address');
SELECT is(pg_temp.valid('a1'), true, 'issue_long: the new token is valid');

SELECT pg_temp.long('a2', 'c1', 'a2', scope => 'admin read read');
SELECT is(pg_temp.r('a2', 'r_scope'), 'read admin', 'issue_long: scope de-duplicated, in the client''s order');
SELECT pg_temp.long('a3', 'c1', 'a3', scope => '');
SELECT is(pg_temp.r('a3', 'outcome') || '/' || pg_temp.r('a3', 'r_scope'), 'ok/',
	'issue_long: "" is the empty scope set');
SELECT pg_temp.long('a4', 'c1', 'a4', scope => 'tokend:rotate');
SELECT is(pg_temp.r('a4', 'r_scope'), 'tokend:rotate', 'issue_long: a reserved scope asked for by name');

SELECT pg_temp.long('a5', 'c1', 'a5', scope => 'read delete');
SELECT is(pg_temp.r('a5', 'outcome'), 'invalid_scope', 'issue_long: scope not granted: invalid_scope');
SELECT isnt(pg_temp.r('a5', 'detail'), NULL, 'issue_long: invalid_scope has a detail');

SELECT pg_temp.long('a6', 'c1', 'a6', ttl => 7201);
SELECT is(pg_temp.r('a6', 'outcome'), 'invalid_request', 'issue_long: ttl above long_ttl_max: invalid_request');
SELECT matches(pg_temp.r('a6', 'detail'), '7200', 'issue_long: the detail names the maximum');
SELECT pg_temp.long('a7', 'c1', 'a7', ttl => 7200);
SELECT is(pg_temp.r('a7', 'r_expires_at'), pg_temp.at(7200), 'issue_long: ttl equal to the maximum is fine');

SELECT pg_temp.long('a8', 'c1', 'a8', key_client => 'c9');
SELECT is(pg_temp.r('a8', 'outcome'), 'invalid_client', 'issue_long: unknown client: invalid_client');
SELECT is(pg_temp.r('a8', 'known_client'), NULL, 'issue_long: unknown client: known_client NULL');
SELECT pg_temp.long('a9', 'c1', 'a9', key => 'wrong key');
SELECT is(pg_temp.r('a9', 'outcome'), 'invalid_client', 'issue_long: wrong key: invalid_client');
SELECT is(pg_temp.r('a9', 'known_client'), pg_temp.u('c1')::text, 'issue_long: wrong key: known_client is the client');
SELECT pg_temp.long('aa', 'c2', 'aa', key_client => 'c1');
SELECT is(pg_temp.r('aa', 'outcome'), 'invalid_client', 'issue_long: c1''s key for client_id c2: invalid_client');
SELECT is(pg_temp.r('aa', 'known_client'), pg_temp.u('c1')::text, 'issue_long: ... known_client is the key''s client');
SELECT pg_temp.long('ab', 'c4', 'ab');
SELECT is(pg_temp.r('ab', 'outcome'), 'invalid_client', 'issue_long: disabled client: invalid_client');
SELECT is(pg_temp.r('ab', 'known_client'), pg_temp.u('c4')::text, 'issue_long: disabled client: known_client');
SELECT pg_temp.long('ac', 'c1', 'ac', key => 'old key c1');
SELECT is(pg_temp.r('ac', 'outcome'), 'ok', 'issue_long: the previous key within its overlap: ok');
SELECT pg_temp.long('ad', 'c3', 'ad', key => 'old key c3');
SELECT is(pg_temp.r('ad', 'outcome'), 'invalid_client', 'issue_long: the previous key after its overlap: invalid_client');
SELECT is((SELECT count(*) FROM tokens WHERE id IN (pg_temp.u('a5'), pg_temp.u('a6'), pg_temp.u('a8'),
                                                   pg_temp.u('a9'), pg_temp.u('aa'), pg_temp.u('ab'),
                                                   pg_temp.u('ad'))), 0::bigint,
	'issue_long: no failed call leaves a token');
SELECT is((SELECT count(*) FROM token_events WHERE request_id IN ('req-a5', 'req-a6', 'req-a8',
                                                                  'req-a9', 'req-aa', 'req-ab', 'req-ad')),
	0::bigint, 'issue_long: nor an event');

SELECT pg_temp.long('ae', 'c5', 'ae');
SELECT is(pg_temp.r('ae', 'r_expires_at'), pg_temp.at(100),
	'issue_long: expiry clamped to family_max_seconds');
SELECT is((pg_temp.tok('ae')).family_expires_at, pg_temp.now_s() + interval '100 s',
	'issue_long: family_expires_at = now + family_max_seconds');

SELECT pg_temp.long('af', 'c1', 'af', scope => 'tokend:revoke read tokend:rotate');
SELECT is(pg_temp.r('af', 'r_scope'), 'read tokend:rotate tokend:revoke', 'issue_long: reserved scopes, in order');

-- ==================================================== tokend_issue_short
SELECT pg_temp.short('51', 'a1', '51');
SELECT is(pg_temp.r('51', 'outcome'), 'ok', 'issue_short: ok');
SELECT is(pg_temp.r('51', 'r_token_id'), pg_temp.u('51')::text, 'issue_short: r_token_id');
SELECT is(pg_temp.r('51', 'r_scope'), 'read write', 'issue_short: scope defaults to the parent''s');
SELECT is(pg_temp.r('51', 'r_expires_in'), '300', 'issue_short: expires_in = short_ttl_default');
SELECT is(pg_temp.r('51', 'r_expires_at'), pg_temp.at(300), 'issue_short: expires_at');
SELECT is(pg_temp.r('51', 'r_long_token_id'), pg_temp.u('a1')::text, 'issue_short: r_long_token_id');
SELECT row_eq($$ SELECT kind, client_id, digest, parent_id, family_id, generation, label,
                        scope, issued_at, expires_at, valid_until
                 FROM tokens WHERE id = pg_temp.u('51') $$,
	ROW('short'::text, pg_temp.u('c1'), pg_temp.d('tok 51'), pg_temp.u('a1'), NULL::uuid,
	    NULL::integer, NULL::text, '{read,write}'::text[], pg_temp.now_s(),
	    pg_temp.now_s() + interval '300 s', pg_temp.now_s() + interval '300 s'),
	'issue_short: the row');
SELECT row_eq($$ SELECT client_id, token_kind, family_id, parent_id, actor_id, request_id
                 FROM token_events WHERE event = 'issued' AND token_id = pg_temp.u('51') $$,
	ROW(pg_temp.u('c1'), 'short'::text, pg_temp.u('a1'), pg_temp.u('a1'), pg_temp.u('a1'), 'req-51'::text),
	'issue_short: one issued event naming the family and the parent');

SELECT pg_temp.short('52', 'af', '52');
SELECT is(pg_temp.r('52', 'r_scope'), 'read', 'issue_short: reserved scopes are not in the default');
SELECT pg_temp.short('53', 'af', '53', scope => 'tokend:rotate read');
SELECT is(pg_temp.r('53', 'r_scope'), 'read tokend:rotate', 'issue_short: ... only when asked for by name');
SELECT pg_temp.short('54', 'a1', '54', scope => 'admin');
SELECT is(pg_temp.r('54', 'outcome'), 'invalid_scope', 'issue_short: scope outside the parent''s: invalid_scope');
SELECT pg_temp.short('55', 'a1', '55', ttl => 601);
SELECT is(pg_temp.r('55', 'outcome'), 'invalid_request', 'issue_short: ttl above short_ttl_max: invalid_request');
SELECT matches(pg_temp.r('55', 'detail'), '600', 'issue_short: the detail names the maximum');
SELECT pg_temp.short('56', 'a1', '56', ttl => 600, audience => 'billing');
SELECT is(pg_temp.r('56', 'r_expires_in'), '600', 'issue_short: ttl equal to the maximum');
SELECT is((pg_temp.tok('56')).audience, 'billing', 'issue_short: audience stored');
SELECT pg_temp.short('57', 'ae', '57');
SELECT is(pg_temp.r('57', 'r_expires_in'), '100', 'issue_short: clamped to the parent''s valid_until');
SELECT is(pg_temp.r('57', 'r_expires_at'), pg_temp.at(100), 'issue_short: expires_at clamped too');
SELECT pg_temp.short('58', 'ff', '58');
SELECT is(pg_temp.r('58', 'outcome'), 'invalid_token', 'issue_short: unknown bearer: invalid_token');
SELECT is(pg_temp.r('58', 'known_client'), NULL, 'issue_short: unknown bearer: known_client NULL');
SELECT pg_temp.short('59', 'a1', '59', digest_of => 'a2');
SELECT is(pg_temp.r('59', 'outcome'), 'invalid_token', 'issue_short: wrong digest: invalid_token');
SELECT is(pg_temp.r('59', 'known_client'), pg_temp.u('c1')::text, 'issue_short: wrong digest: known_client');
SELECT pg_temp.short('5a', '51', '5a');
SELECT is(pg_temp.r('5a', 'outcome'), 'invalid_token', 'issue_short: a short-term token as bearer: invalid_token');
SELECT pg_temp.short('5b', 'ac', '5b');
SELECT is(pg_temp.r('5b', 'outcome'), 'ok', 'issue_short: from ac before its revocation');
INSERT INTO revocations (token_id, reason) VALUES (pg_temp.u('ac'), 'requested');
SELECT pg_temp.short('5c', 'ac', '5c');
SELECT is(pg_temp.r('5c', 'outcome'), 'invalid_token', 'issue_short: revoked bearer: invalid_token');
SELECT is(pg_temp.valid('5b'), false, 'issue_short: and its earlier short-term token is invalid');
SELECT is((SELECT count(*) FROM tokens WHERE id IN (pg_temp.u('54'), pg_temp.u('55'), pg_temp.u('58'),
                                                   pg_temp.u('59'), pg_temp.u('5a'), pg_temp.u('5c'))),
	0::bigint, 'issue_short: no failed call leaves a token');

-- ========================================== tokend_rotate with a client key
SELECT pg_temp.long('d1', 'c1', 'd1', label => 'label d1');
SELECT pg_temp.rotate_key('d2', 'c1', 'd1', 'd2');
SELECT is(pg_temp.r('d2', 'outcome'), 'ok', 'rotate(key): ok');
SELECT is(pg_temp.r('d2', 'r_token_id'), pg_temp.u('d2')::text, 'rotate(key): r_token_id');
SELECT is(pg_temp.r('d2', 'r_rotated_from'), pg_temp.u('d1')::text, 'rotate(key): r_rotated_from');
SELECT is(pg_temp.r('d2', 'r_scope'), 'read write', 'rotate(key): scope defaults to the old token''s');
SELECT is(pg_temp.r('d2', 'r_expires_at'), pg_temp.at(3600), 'rotate(key): ttl defaults to the client''s');
SELECT row_eq($$ SELECT family_id, generation, rotated_from, label, family_expires_at
                 FROM tokens WHERE id = pg_temp.u('d2') $$,
	ROW(pg_temp.u('d1'), 1, pg_temp.u('d1'), 'label d1'::text, (pg_temp.tok('d1')).family_expires_at),
	'rotate(key): the successor: same family, next generation, label kept');
SELECT row_eq($$ SELECT rotated_at, valid_until FROM tokens WHERE id = pg_temp.u('d1') $$,
	ROW(pg_temp.now_s(), pg_temp.now_s() + interval '60 s'),
	'rotate(key): the old token is rotated, valid for the grace (60 s)');
SELECT is(pg_temp.valid('d1'), true, 'rotate(key): the old token stays valid during the overlap');
SELECT row_eq($$ SELECT client_id, token_kind, family_id, parent_id, actor_id, detail
                 FROM token_events WHERE event = 'rotated' AND token_id = pg_temp.u('d2') $$,
	ROW(pg_temp.u('c1'), 'long'::text, pg_temp.u('d1'), pg_temp.u('d1'), NULL::uuid,
	    '{"overlap_seconds": 60}'::jsonb),
	'rotate(key): one rotated event');
SELECT is((SELECT count(*) FROM revocations WHERE token_id IN (pg_temp.u('d1'), pg_temp.u('d2'))),
	0::bigint, 'rotate(key): rotation writes no revocation');

-- A retry within the overlap supersedes the first successor.
SELECT pg_temp.rotate_key('d3', 'c1', 'd1', 'd3', overlap => 120);
SELECT is(pg_temp.r('d3', 'outcome'), 'ok', 'rotate(key): again within the overlap: ok');
SELECT is(pg_temp.reason('d2'), 'superseded', 'rotate(key): the first successor is superseded');
SELECT is(pg_temp.events('superseded', 'd2'), 1::bigint, 'rotate(key): with a superseded event');
SELECT is(pg_temp.valid('d3'), true, 'rotate(key): the new successor is valid');
SELECT is((pg_temp.tok('d1')).valid_until, pg_temp.now_s() + interval '60 s',
	'rotate(key): a retry never lengthens the overlap');
SELECT is((pg_temp.tok('d1')).rotated_at, pg_temp.now_s(), 'rotate(key): rotated_at kept');

SELECT pg_temp.rotate_key('d4', 'c1', 'd3', 'd4', scope => 'read admin');
SELECT is(pg_temp.r('d4', 'outcome'), 'invalid_scope', 'rotate(key): scope wider than the old token''s: invalid_scope');
SELECT pg_temp.rotate_key('d5', 'c1', 'd3', 'd5', overlap => 121);
SELECT is(pg_temp.r('d5', 'outcome'), 'invalid_request', 'rotate(key): overlap above overlap_max: invalid_request');
SELECT pg_temp.rotate_key('d6', 'c1', 'd3', 'd6', ttl => 7201);
SELECT is(pg_temp.r('d6', 'outcome'), 'invalid_request', 'rotate(key): ttl above long_ttl_max: invalid_request');
SELECT is((pg_temp.tok('d3')).rotated_at, NULL, 'rotate(key): a refused rotation leaves the token alone');
SELECT pg_temp.rotate_key('d7', 'c1', 'd3', 'd7', scope => 'write', ttl => 10, overlap => 120, label => 'new');
SELECT is(pg_temp.r('d7', 'outcome') || ' ' || pg_temp.r('d7', 'r_scope') || ' ' || pg_temp.r('d7', 'r_expires_at'),
	'ok write ' || pg_temp.at(10), 'rotate(key): narrower scope and a ttl');
SELECT is((pg_temp.tok('d7')).label, 'new', 'rotate(key): a new label');
SELECT is((pg_temp.tok('d3')).valid_until, pg_temp.now_s() + interval '120 s', 'rotate(key): overlap_seconds honoured');

-- Conflicts: revoked, expired, past the overlap.
SELECT pg_temp.long('e1', 'c1', 'e1');
INSERT INTO revocations (token_id, reason) VALUES (pg_temp.u('e1'), 'requested');
SELECT pg_temp.rotate_key('e2', 'c1', 'e1', 'e2');
SELECT is(pg_temp.r('e2', 'outcome'), 'conflict', 'rotate(key): revoked token: conflict');
INSERT INTO tokens (id, kind, client_id, digest, family_id, generation, family_expires_at,
                    scope, issued_at, expires_at, valid_until)
VALUES (pg_temp.u('e3'), 'long', pg_temp.u('c1'), pg_temp.d('tok e3'), pg_temp.u('e3'), 0,
        now() + interval '1 day', '{read}', now() - interval '2 hours',
        now() - interval '1 hour', now() - interval '1 hour');
SELECT pg_temp.rotate_key('e4', 'c1', 'e3', 'e4');
SELECT is(pg_temp.r('e4', 'outcome'), 'conflict', 'rotate(key): expired token: conflict');
SELECT pg_temp.long('e5', 'c1', 'e5');
SELECT pg_temp.rotate_key('e6', 'c1', 'e5', 'e6', overlap => 0);
SELECT is(pg_temp.r('e6', 'outcome'), 'ok', 'rotate(key): overlap 0: ok');
SELECT is(pg_temp.valid('e5'), false, 'rotate(key): overlap 0: the old token is done at once');
SELECT pg_temp.rotate_key('e7', 'c1', 'e5', 'e7');
SELECT is(pg_temp.r('e7', 'outcome'), 'conflict', 'rotate(key): past the overlap: conflict');
SELECT is((SELECT count(*) FROM revocations WHERE token_id IN (pg_temp.u('e5'), pg_temp.u('e6'))),
	0::bigint, 'rotate(key): naming it under a client key is not reuse');
SELECT is(pg_temp.valid('e6'), true, 'rotate(key): the successor stays valid');

-- Out of reach, unknown, wrong key.
SELECT pg_temp.long('e8', 'c2', 'e8');
SELECT pg_temp.rotate_key('e9', 'c1', 'e8', 'e9');
SELECT is(pg_temp.r('e9', 'outcome'), 'not_found', 'rotate(key): another client''s token: not_found');
SELECT is((pg_temp.tok('e8')).rotated_at, NULL, 'rotate(key): ... left alone');
SELECT pg_temp.rotate_key('ea', 'c1', 'ee', 'ea');
SELECT is(pg_temp.r('ea', 'outcome'), 'not_found', 'rotate(key): unknown token: not_found');
SELECT pg_temp.rotate_key('eb', 'c1', '51', 'eb');
SELECT is(pg_temp.r('eb', 'outcome'), 'not_found', 'rotate(key): a short-term token: not_found');
SELECT pg_temp.rotate_key('ec', 'c1', 'e6', 'ec', key_client => 'c9');
SELECT is(pg_temp.r('ec', 'outcome') || ' ' || coalesce(pg_temp.r('ec', 'known_client'), 'NULL'),
	'invalid_client NULL', 'rotate(key): unknown client: invalid_client, known_client NULL');
SELECT pg_temp.rotate_key('ed', 'c1', 'e6', 'ed', key => 'wrong');
SELECT is(pg_temp.r('ed', 'outcome') || ' ' || pg_temp.r('ed', 'known_client'),
	'invalid_client ' || pg_temp.u('c1'), 'rotate(key): wrong key: invalid_client, known_client c1');
SELECT pg_temp.rotate_key('eg', 'c4', 'ab', 'e0');
SELECT is(pg_temp.r('eg', 'outcome'), 'invalid_client', 'rotate(key): disabled client: invalid_client');
SELECT is((SELECT count(*) FROM tokens WHERE id IN (pg_temp.u('e2'), pg_temp.u('e4'), pg_temp.u('e7'),
                                                   pg_temp.u('e9'), pg_temp.u('ea'), pg_temp.u('eb'),
                                                   pg_temp.u('ec'), pg_temp.u('ed'), pg_temp.u('d4'),
                                                   pg_temp.u('d5'), pg_temp.u('d6'))),
	0::bigint, 'rotate(key): no failed call leaves a token');

-- The family's lifetime bounds its successors.
SELECT pg_temp.rotate_key('ef', 'c5', 'ae', 'ef');
SELECT is(pg_temp.r('ef', 'r_expires_at'), pg_temp.at(100), 'rotate(key): successor clamped to the family''s end');

-- ================================== tokend_rotate by a short-term bearer
SELECT pg_temp.rotate_bearer('f1', 'c1', '51', 'f1');
SELECT is(pg_temp.r('f1', 'outcome'), 'insufficient_scope', 'rotate(bearer): without tokend:rotate: insufficient_scope');
SELECT pg_temp.rotate_bearer('f3', 'c2', '53', 'f3');
SELECT is(pg_temp.r('f3', 'outcome'), 'invalid_request', 'rotate(bearer): client_id of another client: invalid_request');
SELECT pg_temp.rotate_bearer('f4', 'c1', '53', 'f4', token => 'a1');
SELECT is(pg_temp.r('f4', 'outcome'), 'invalid_request', 'rotate(bearer): token_id other than the parent: invalid_request');
SELECT pg_temp.rotate_bearer('f6', 'c1', 'fe', 'f6');
SELECT is(pg_temp.r('f6', 'outcome') || ' ' || coalesce(pg_temp.r('f6', 'known_client'), 'NULL'),
	'invalid_token NULL', 'rotate(bearer): unknown bearer: invalid_token, known_client NULL');
SELECT pg_temp.rotate_bearer('f7', 'c1', '53', 'f7', digest_of => '52');
SELECT is(pg_temp.r('f7', 'outcome') || ' ' || pg_temp.r('f7', 'known_client'),
	'invalid_token ' || pg_temp.u('c1'), 'rotate(bearer): wrong digest: invalid_token, known_client c1');
SELECT pg_temp.rotate_bearer('f8', 'c1', 'a1', 'f8', digest_of => 'a1');
SELECT is(pg_temp.r('f8', 'outcome'), 'invalid_token', 'rotate(bearer): a long-term bearer: invalid_token');
SELECT is((pg_temp.tok('af')).rotated_at, NULL, 'rotate(bearer): refused rotations leave the parent alone');
SELECT pg_temp.rotate_bearer('f2', 'c1', '53', 'f2');
SELECT is(pg_temp.r('f2', 'outcome'), 'ok', 'rotate(bearer): with tokend:rotate: ok');
SELECT is(pg_temp.r('f2', 'r_rotated_from'), pg_temp.u('af')::text, 'rotate(bearer): rotates the bearer''s parent');
SELECT is(pg_temp.r('f2', 'r_scope'), 'read tokend:rotate tokend:revoke', 'rotate(bearer): the parent''s scope');
SELECT is((SELECT actor_id FROM token_events WHERE event = 'rotated' AND token_id = pg_temp.u('f2')),
	pg_temp.u('53'), 'rotate(bearer): the event names the short-term token as actor');
SELECT pg_temp.rotate_bearer('f5', 'c1', '53', 'f5', token => 'af');
SELECT is(pg_temp.r('f5', 'outcome'), 'ok', 'rotate(bearer): token_id equal to the parent, within the overlap: ok');
SELECT is(pg_temp.reason('f2'), 'superseded', 'rotate(bearer): the earlier successor is superseded');
SELECT is((SELECT revoked_by FROM revocations WHERE token_id = pg_temp.u('f2')), pg_temp.u('53'),
	'rotate(bearer): revoked_by is the bearer');

-- ========================================================= tokend_revoke
SELECT pg_temp.revoke('g1', 'long', 'a1', '51');
SELECT is(pg_temp.r('g1', 'outcome'), 'ok', 'revoke: a long-term token revokes a token of its client');
SELECT row_eq($$ SELECT reason, revoked_by, request_id, revoked_at FROM revocations
                 WHERE token_id = pg_temp.u('51') $$,
	ROW('requested'::text, pg_temp.u('a1'), 'req-g1'::text, pg_temp.now_s()),
	'revoke: the revocation row');
SELECT is(pg_temp.valid('51'), false, 'revoke: the token is invalid');
SELECT pg_temp.revoke('g2', 'long', 'a1', '51');
SELECT is(pg_temp.r('g2', 'outcome'), 'ok', 'revoke: again: ok');
SELECT is(pg_temp.events('revoked', '51'), 1::bigint, 'revoke: one revoked event, not two');
SELECT is((SELECT request_id FROM revocations WHERE token_id = pg_temp.u('51')), 'req-g1',
	'revoke: the first revocation row stays');
SELECT pg_temp.revoke('g3', 'long', 'a1', 'e8');
SELECT is(pg_temp.r('g3', 'outcome'), 'not_found', 'revoke: another client''s token: not_found');
SELECT is(pg_temp.reason('e8'), NULL, 'revoke: ... not revoked');
SELECT pg_temp.revoke('g4', 'long', 'a1', 'ee');
SELECT is(pg_temp.r('g4', 'outcome'), 'not_found', 'revoke: unknown token: not_found');
SELECT pg_temp.revoke('g5', 'short', '56', '56');
SELECT is(pg_temp.r('g5', 'outcome'), 'ok', 'revoke: a short-term token revokes itself');
SELECT is(pg_temp.valid('56'), false, 'revoke: ... and is invalid');
SELECT pg_temp.short('5d', 'af', '5d', scope => 'read tokend:revoke');
SELECT pg_temp.revoke('g6', 'short', '52', 'af');
SELECT is(pg_temp.r('g6', 'outcome'), 'not_found', 'revoke: a short-term token without tokend:revoke and its parent: not_found');
SELECT pg_temp.revoke('g7', 'short', '52', '5d');
SELECT is(pg_temp.r('g7', 'outcome'), 'not_found', 'revoke: a short-term token and a sibling: not_found');
SELECT pg_temp.revoke('gd', 'short', '5d', '52');
SELECT is(pg_temp.r('gd', 'outcome'), 'not_found', 'revoke: tokend:revoke does not reach siblings');
SELECT is(pg_temp.valid('52'), true, 'revoke: ... which stay valid');
SELECT pg_temp.revoke('g8', 'short', '5d', 'af');
SELECT is(pg_temp.r('g8', 'outcome'), 'ok', 'revoke: a short-term token with tokend:revoke revokes its parent');
SELECT is(pg_temp.valid('52'), false, 'revoke: the parent''s other short-term tokens are invalid at once');
SELECT is(pg_temp.reason('52'), NULL, 'revoke: ... with no row of their own');
SELECT pg_temp.revoke('g9', 'long', 'fd', 'a1');
SELECT is(pg_temp.r('g9', 'outcome') || ' ' || coalesce(pg_temp.r('g9', 'known_client'), 'NULL'),
	'invalid_token NULL', 'revoke: unknown bearer: invalid_token, known_client NULL');
SELECT pg_temp.revoke('ga', 'short', 'a1', 'a1');
SELECT is(pg_temp.r('ga', 'outcome') || ' ' || pg_temp.r('ga', 'known_client'),
	'invalid_token ' || pg_temp.u('c1'), 'revoke: a long-term token as a short one: invalid_token, known_client c1');
SELECT pg_temp.revoke('gc', 'long', 'a2', 'e3');
SELECT is(pg_temp.r('gc', 'outcome'), 'ok', 'revoke: an expired token still present: ok');
SELECT is(pg_temp.reason('e3'), 'requested', 'revoke: ... and it gets its row');
SELECT pg_temp.revoke('gb', 'long', 'a1', 'a1');
SELECT is(pg_temp.r('gb', 'outcome'), 'ok', 'revoke: a long-term token revokes itself');
SELECT is(pg_temp.valid('a1'), false, 'revoke: ... and is invalid');
SELECT pg_temp.revoke('ge', 'long', 'a1', 'a2');
SELECT is(pg_temp.r('ge', 'outcome'), 'invalid_token', 'revoke: a revoked bearer: invalid_token');

-- ================================================ reuse of a rotated token
SELECT pg_temp.long('b1', 'c1', 'b1');
SELECT pg_temp.rotate_key('b2', 'c1', 'b1', 'b2', overlap => 0);
SELECT pg_temp.short('b3', 'b2', 'b3');
SELECT is(pg_temp.r('b3', 'outcome'), 'ok', 'reuse: the successor issues short-term tokens');
SELECT pg_temp.short('h1', 'b1', '81');
SELECT is(pg_temp.r('h1', 'outcome'), 'invalid_token', 'reuse: the rotated token past its overlap: invalid_token');
SELECT is(pg_temp.r('h1', 'known_client'), pg_temp.u('c1')::text, 'reuse: known_client c1');
SELECT is(pg_temp.reason('b1'), 'reuse_detected', 'reuse: the presented token is revoked, reuse_detected');
SELECT is(pg_temp.reason('b2'), 'reuse_detected', 'reuse: so is every token of the family');
SELECT is(pg_temp.valid('b3'), false, 'reuse: and the successor''s short-term tokens are invalid');
SELECT row_eq($$ SELECT client_id, family_id, reason, request_id, remote_addr FROM token_events
                 WHERE event = 'reuse_detected' AND token_id = pg_temp.u('b1') $$,
	ROW(pg_temp.u('c1'), pg_temp.u('b1'), 'reuse_detected'::text, 'req-h1'::text, '192.0.2.2'::inet),
	'reuse: one reuse_detected event');
SELECT pg_temp.revoke('h2', 'long', 'b1', 'b2');
SELECT is(pg_temp.r('h2', 'outcome'), 'invalid_token', 'reuse: presented again: invalid_token');
SELECT is((SELECT count(*) FROM token_events WHERE event = 'reuse_detected' AND family_id = pg_temp.u('b1')),
	1::bigint, 'reuse: still one event');
SELECT is((SELECT count(*) FROM revocations WHERE reason = 'reuse_detected'), 2::bigint,
	'reuse: no other family touched');

-- ===================================== a read-only transaction (sql/015)
-- Last, since nothing can be written after it (pgTAP's own bookkeeping
-- is in temporary tables): the key is checked without a row lock, so a
-- wrong key is still invalid_client, and a right one fails at the write.
SET LOCAL transaction_read_only = on;
SELECT pg_temp.long('ro1', 'c1', 'e1', key => 'wrong key');
SELECT is(pg_temp.r('ro1', 'outcome'), 'invalid_client', 'read-only: a wrong key is invalid_client, not an error');
SELECT is(pg_temp.r('ro1', 'known_client'), pg_temp.u('c1')::text, 'read-only: ... known_client is the client');
SELECT throws_ok($$ SELECT pg_temp.long('ro2', 'c1', 'e2') $$, '25006', NULL,
	'read-only: the right key reaches the write, which fails with 25006');

SELECT * FROM finish();
ROLLBACK;
