-- 03_validity.sql: the validity rule, token_is_valid (sql/005), case by
-- case.  now() is fixed for the whole transaction, so every time below is
-- an exact offset from the clock the rule reads.
BEGIN;
SELECT plan(25);

INSERT INTO clients (id, name, key_digest, scopes) VALUES
	('00000000-0000-4000-8000-0000000000c1', 'enabled', sha256('k1'), '{read}'),
	('00000000-0000-4000-8000-0000000000c2', 'to be disabled', sha256('k2'), '{read}');

-- A long-term token, its own family: issued, expiring, valid until (as
-- offsets from now()) and rotated at (NULL: not rotated).
CREATE FUNCTION pg_temp.long(p_id int, p_client int, p_issued interval,
                             p_expires interval, p_valid interval,
                             p_rotated interval DEFAULT NULL)
RETURNS void LANGUAGE sql AS $$
	INSERT INTO tokens (id, kind, client_id, digest, family_id, generation,
	                    family_expires_at, scope, issued_at, expires_at,
	                    valid_until, rotated_at)
	SELECT u, 'long', c, sha256(u::text::bytea), u, 0, now() + interval '1 year',
	       '{read}', now() + p_issued, now() + p_expires, now() + p_valid,
	       now() + p_rotated
	FROM (SELECT format('00000000-0000-4000-8000-%s', lpad(p_id::text, 12, '0'))::uuid AS u,
	             format('00000000-0000-4000-8000-%s', lpad('c' || p_client, 12, '0'))::uuid AS c) ids
$$;
CREATE FUNCTION pg_temp.short(p_id int, p_parent int, p_issued interval,
                              p_expires interval)
RETURNS void LANGUAGE sql AS $$
	INSERT INTO tokens (id, kind, client_id, digest, parent_id, scope,
	                    issued_at, expires_at, valid_until)
	SELECT u, 'short', p.client_id, sha256(u::text::bytea), p.id, '{read}',
	       now() + p_issued, now() + p_expires, now() + p_expires
	FROM (SELECT format('00000000-0000-4000-8000-%s', lpad(p_id::text, 12, '0'))::uuid AS u) ids,
	     tokens p
	WHERE p.id = format('00000000-0000-4000-8000-%s', lpad(p_parent::text, 12, '0'))::uuid
$$;
-- The rule applied to token N (NULL when there is no such token).
CREATE FUNCTION pg_temp.valid(p_id int) RETURNS boolean LANGUAGE sql AS $$
	SELECT token_is_valid(t) FROM tokens t
	WHERE t.id = format('00000000-0000-4000-8000-%s', lpad(p_id::text, 12, '0'))::uuid
$$;

SELECT pg_temp.long(1, 1, '-10 s', '1 day', '1 day');			-- valid
SELECT pg_temp.long(2, 1, '-2 days', '-1 s', '-1 s');			-- expired
SELECT pg_temp.long(3, 1, '-10 s', '1 day', '1 day');			-- revoked below
SELECT pg_temp.long(4, 2, '-10 s', '1 day', '1 day');			-- client disabled below
SELECT pg_temp.long(5, 1, '-1 hour', '1 day', '50 s', '-10 s');		-- rotated, overlap running
SELECT pg_temp.long(6, 1, '-2 hours', '1 day', '-1 hour', '-1 hour');	-- rotated, overlap over
SELECT pg_temp.long(7, 1, '-1 hour', '1 day', '0 s', '-60 s');		-- overlap ends right now
SELECT pg_temp.long(8, 1, '-1 hour', '0 s', '0 s');			-- expires right now
SELECT pg_temp.long(9, 1, '-1 hour', '1 s', '1 s');			-- expires in a second
SELECT pg_temp.long(10, 1, '-10 s', '1 day', '1 day');			-- revoked later
INSERT INTO revocations (token_id, reason)
VALUES ('00000000-0000-4000-8000-000000000003', 'requested');

SELECT pg_temp.short(101, 1, '-5 s', '10 min');		-- of a valid parent
SELECT pg_temp.short(102, 3, '-5 s', '10 min');		-- of a revoked parent
SELECT pg_temp.short(103, 2, '-1 day', '10 min');	-- of an expired parent (longer-lived itself)
SELECT pg_temp.short(104, 6, '-90 min', '10 min');	-- of a parent rotated past its overlap
SELECT pg_temp.short(105, 5, '-5 s', '10 min');		-- of a parent within its overlap
SELECT pg_temp.short(106, 1, '-20 min', '-1 s');	-- expired itself
SELECT pg_temp.short(107, 1, '-5 s', '10 min');		-- revoked itself
SELECT pg_temp.short(108, 4, '-5 s', '10 min');		-- client disabled
SELECT pg_temp.short(109, 10, '-5 s', '10 min');	-- parent revoked later
INSERT INTO revocations (token_id, reason)
VALUES ('00000000-0000-4000-8000-000000000107', 'requested');
UPDATE clients SET disabled_at = now() WHERE id = '00000000-0000-4000-8000-0000000000c2';

-- Long-term tokens.
SELECT is(pg_temp.valid(1), true, 'long: valid');
SELECT is(pg_temp.valid(2), false, 'long: expired');
SELECT is(pg_temp.valid(3), false, 'long: revoked');
SELECT is(pg_temp.valid(4), false, 'long: client disabled');
SELECT is(pg_temp.valid(5), true, 'long: rotated, within its overlap');
SELECT is(pg_temp.valid(6), false, 'long: rotated, past its overlap');
SELECT is(pg_temp.valid(7), false, 'long: rotated, overlap ending at now() (now() < valid_until is strict)');
SELECT is(pg_temp.valid(8), false, 'long: expiring at now()');
SELECT is(pg_temp.valid(9), true, 'long: expiring a second from now');

-- Short-term tokens.
SELECT is(pg_temp.valid(101), true, 'short: valid, valid parent');
SELECT is(pg_temp.valid(102), false, 'short: revoked parent');
SELECT is(pg_temp.valid(103), false, 'short: expired parent');
SELECT is(pg_temp.valid(104), false, 'short: parent rotated past its overlap');
SELECT is(pg_temp.valid(105), true, 'short: parent rotated, within its overlap');
SELECT is(pg_temp.valid(106), false, 'short: expired');
SELECT is(pg_temp.valid(107), false, 'short: revoked');
SELECT is(pg_temp.valid(108), false, 'short: client disabled');
SELECT is(pg_temp.valid(109), true, 'short: valid before its parent is revoked');
INSERT INTO revocations (token_id, reason)
VALUES ('00000000-0000-4000-8000-000000000010', 'requested');
SELECT is(pg_temp.valid(109), false, 'short: invalid at once when its parent is revoked, with no row of its own');
SELECT is((SELECT count(*) FROM revocations
           WHERE token_id = '00000000-0000-4000-8000-000000000109'), 0::bigint,
	'short: no revocation row of its own');

-- A disabled client, enabled again without revocation rows: the rule
-- alone brings the tokens back (tokend_client_disable writes the rows
-- that keep them revoked; 07_admin.sql).
UPDATE clients SET disabled_at = NULL WHERE id = '00000000-0000-4000-8000-0000000000c2';
SELECT is(pg_temp.valid(4), true, 'long: client enabled again, no revocation row');

-- No token at all.
SELECT is(token_is_valid(NULL::tokens), false, 'no token: not valid');
SELECT is(pg_temp.valid(999), NULL, 'unknown id: no row');

-- The rule is the one that every function calls.
SELECT is(provolatile, 's', 'token_is_valid is STABLE (reads now())')
FROM pg_proc WHERE oid = 'token_is_valid(tokens)'::regprocedure;
-- Its plan is kept per connection (sql/013): made with sequential scans
-- off, so that a plan made while revocations was empty still finds a
-- revocation row by its key once the table has grown (sql/014).
SELECT is(proconfig, '{enable_seqscan=off}',
	'token_is_valid plans its lookups as index scans')
FROM pg_proc WHERE oid = 'token_is_valid(tokens)'::regprocedure;

SELECT * FROM finish();
ROLLBACK;
