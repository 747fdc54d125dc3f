-- audit.sql - every state change of sql/006, 007 and 008 writes its audit
-- row in its own transaction: run each path once and roll it back (no
-- change, no row), then again and commit (exactly the rows expected, and
-- the change); a path that fails half-way leaves nothing.  Then the
-- invariants of invariants.sql over what the paths left.
--
-- Needs a migrated scratch database of its own (it commits) and a
-- session outside any transaction block (CALL commits and rolls back).
-- Prints TAP-like lines: "ok - ..." / "not ok - ...".
\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only on
SET client_min_messages = warning;

CREATE TEMP TABLE tap (n serial, line text);
CREATE FUNCTION pg_temp.u(text) RETURNS uuid LANGUAGE sql IMMUTABLE AS
	$$ SELECT ('aa000000-0000-4000-8000-0000000000' || $1)::uuid $$;
-- The digest of a test token: that of its id's text.
CREATE FUNCTION pg_temp.d(text) RETURNS bytea LANGUAGE sql IMMUTABLE AS
	$$ SELECT sha256(convert_to(pg_temp.u($1)::text, 'UTF8')) $$;
CREATE FUNCTION pg_temp.state() RETURNS text LANGUAGE sql STABLE AS $$
	SELECT md5(coalesce(string_agg(x, ',' ORDER BY x), ''))
	FROM (SELECT t::text FROM tokens t
	      UNION ALL SELECT r::text FROM revocations r
	      UNION ALL SELECT c::text FROM clients c) s(x)
$$;
CREATE FUNCTION pg_temp.last_event() RETURNS bigint LANGUAGE sql STABLE AS
	$$ SELECT coalesce(max(id), 0) FROM token_events $$;

-- Run p_stmt rolled back, then committed; p_events: the audit rows it
-- must write (event names, any order); p_changes: whether it changes a
-- token, a revocation or a client.
CREATE PROCEDURE pg_temp.step(p_name text, p_stmt text, p_events text[],
                              p_changes boolean)
LANGUAGE plpgsql AS $$
DECLARE
	s0   text := pg_temp.state();
	e0   bigint := pg_temp.last_event();
	s1   text;
	e1   bigint;
	s2   text;
	got  text[];
	want text[] := ARRAY(SELECT x FROM unnest(p_events) x ORDER BY x);
BEGIN
	EXECUTE p_stmt;
	ROLLBACK;
	s1 := pg_temp.state();
	e1 := pg_temp.last_event();
	EXECUTE p_stmt;
	COMMIT;
	s2 := pg_temp.state();
	got := ARRAY(SELECT event FROM token_events WHERE id > e0 ORDER BY event);
	INSERT INTO tap (line) VALUES
		(CASE WHEN s1 = s0 AND e1 = e0 THEN 'ok' ELSE 'not ok' END
		 || ' - ' || p_name || ': rolled back, it changed nothing and wrote no audit row'),
		(CASE WHEN got = want THEN 'ok' ELSE 'not ok' END
		 || ' - ' || p_name || ': committed, audit rows ' || want::text
		 || CASE WHEN got = want THEN '' ELSE E'\n#   got: ' || got::text END),
		(CASE WHEN (s2 <> s0) = p_changes THEN 'ok' ELSE 'not ok' END
		 || ' - ' || p_name || CASE WHEN p_changes THEN ': committed, the change is there'
		                             ELSE ': committed, nothing changed' END);
	COMMIT;
END
$$;

-- A statement that fails after it has written: nothing stays.
CREATE PROCEDURE pg_temp.step_fails(p_name text, p_stmt text)
LANGUAGE plpgsql AS $$
DECLARE
	s0    text := pg_temp.state();
	e0    bigint := pg_temp.last_event();
	state text;
BEGIN
	BEGIN
		EXECUTE p_stmt;
	EXCEPTION WHEN OTHERS THEN
		state := SQLSTATE;
	END;
	COMMIT;
	INSERT INTO tap (line) VALUES
		(CASE WHEN state IS NOT NULL AND pg_temp.state() = s0
		           AND pg_temp.last_event() = e0 THEN 'ok' ELSE 'not ok' END
		 || ' - ' || p_name || ': failed (' || coalesce(state, 'no error')
		 || '), nothing changed and no audit row');
	COMMIT;
END
$$;

-- sql/007: the client.
CALL pg_temp.step('client create', $s$
	SELECT tokend_client_create(pg_temp.u('a1'), 'audit-a', sha256('key-a'),
	    '{read,write,tokend:rotate,tokend:revoke}', NULL, NULL, NULL, NULL, NULL, NULL, NULL)
$s$, '{client_created}', true);
CALL pg_temp.step_fails('client create of an existing id', $s$
	SELECT tokend_client_create(pg_temp.u('a1'), 'audit-a-again', sha256('key-x'),
	    '{read}', NULL, NULL, NULL, NULL, NULL, NULL, NULL)
$s$);
CALL pg_temp.step('client set', $s$
	SELECT tokend_client_set(pg_temp.u('a1'), 'audit-a1', NULL, NULL,
	    NULL, NULL, NULL, NULL, NULL, NULL)
$s$, '{client_changed}', true);
CALL pg_temp.step('client set without a change', $s$
	SELECT tokend_client_set(pg_temp.u('a1'), 'audit-a1', NULL, NULL,
	    NULL, NULL, NULL, NULL, NULL, NULL)
$s$, '{}', false);
CALL pg_temp.step('client rotate-key --overlap', $s$
	SELECT tokend_client_rotate_key(pg_temp.u('a1'), sha256('key-a2'), 3600)
$s$, '{key_rotated}', true);

-- sql/006: the requests.
CALL pg_temp.step('issue long', $s$
	SELECT tokend_issue_long(pg_temp.u('a1'), pg_temp.u('a1'), sha256('key-a2'),
	    pg_temp.u('01'), pg_temp.d('01'), 'read write tokend:rotate', NULL, 'holder',
	    'req-01', '192.0.2.1')
$s$, '{issued}', true);
CALL pg_temp.step('issue long with the old key, in its overlap', $s$
	SELECT tokend_issue_long(pg_temp.u('a1'), pg_temp.u('a1'), sha256('key-a'),
	    pg_temp.u('07'), pg_temp.d('07'), NULL, NULL, NULL, 'req-07', '192.0.2.1')
$s$, '{issued}', true);
CALL pg_temp.step('issue long refused (wrong key)', $s$
	SELECT tokend_issue_long(pg_temp.u('a1'), pg_temp.u('a1'), sha256('key-wrong'),
	    pg_temp.u('08'), pg_temp.d('08'), NULL, NULL, NULL, 'req-08', '192.0.2.1')
$s$, '{}', false);
CALL pg_temp.step('issue long refused (scope)', $s$
	SELECT tokend_issue_long(pg_temp.u('a1'), pg_temp.u('a1'), sha256('key-a2'),
	    pg_temp.u('08'), pg_temp.d('08'), 'admin', NULL, NULL, 'req-08', '192.0.2.1')
$s$, '{}', false);
CALL pg_temp.step_fails('issue long with an id already used', $s$
	SELECT tokend_issue_long(pg_temp.u('a1'), pg_temp.u('a1'), sha256('key-a2'),
	    pg_temp.u('01'), pg_temp.d('01'), NULL, NULL, NULL, 'req-dup', '192.0.2.1')
$s$);
CALL pg_temp.step('issue short', $s$
	SELECT tokend_issue_short(pg_temp.u('01'), pg_temp.d('01'), pg_temp.u('51'),
	    pg_temp.d('51'), NULL, NULL, 'svc', 'req-51', '192.0.2.1')
$s$, '{issued}', true);
CALL pg_temp.step('issue short with tokend:rotate', $s$
	SELECT tokend_issue_short(pg_temp.u('01'), pg_temp.d('01'), pg_temp.u('52'),
	    pg_temp.d('52'), 'read tokend:rotate', NULL, NULL, 'req-52', '192.0.2.1')
$s$, '{issued}', true);
CALL pg_temp.step('rotate by a short-term bearer', $s$
	SELECT tokend_rotate(pg_temp.u('a1'), NULL, NULL, pg_temp.u('52'), pg_temp.d('52'),
	    NULL, pg_temp.u('02'), pg_temp.d('02'), NULL, NULL, 3600, 60, NULL,
	    'req-02', '192.0.2.1')
$s$, '{rotated}', true);
CALL pg_temp.step('rotate again within the overlap (a retry)', $s$
	SELECT tokend_rotate(pg_temp.u('a1'), pg_temp.u('a1'), sha256('key-a2'), NULL, NULL,
	    pg_temp.u('01'), pg_temp.u('03'), pg_temp.d('03'), NULL, NULL, 3600, 60, NULL,
	    'req-03', '192.0.2.1')
$s$, '{superseded,rotated}', true);
CALL pg_temp.step('rotate with no overlap', $s$
	SELECT tokend_rotate(pg_temp.u('a1'), pg_temp.u('a1'), sha256('key-a2'), NULL, NULL,
	    pg_temp.u('03'), pg_temp.u('04'), pg_temp.d('04'), NULL, NULL, 0, 60, NULL,
	    'req-04', '192.0.2.1')
$s$, '{rotated}', true);
CALL pg_temp.step('rotate refused (token rotated, overlap over: 409)', $s$
	SELECT tokend_rotate(pg_temp.u('a1'), pg_temp.u('a1'), sha256('key-a2'), NULL, NULL,
	    pg_temp.u('03'), pg_temp.u('09'), pg_temp.d('09'), NULL, NULL, 0, 60, NULL,
	    'req-09', '192.0.2.1')
$s$, '{}', false);
CALL pg_temp.step('reuse of a rotated token (401, the family revoked)', $s$
	SELECT tokend_issue_short(pg_temp.u('03'), pg_temp.d('03'), pg_temp.u('59'),
	    pg_temp.d('59'), NULL, NULL, NULL, 'req-reuse', '198.51.100.9')
$s$, '{reuse_detected}', true);
CALL pg_temp.step('reuse again (nothing left to revoke)', $s$
	SELECT tokend_issue_short(pg_temp.u('03'), pg_temp.d('03'), pg_temp.u('59'),
	    pg_temp.d('59'), NULL, NULL, NULL, 'req-reuse-2', '198.51.100.9')
$s$, '{}', false);
CALL pg_temp.step('issue long (second family)', $s$
	SELECT tokend_issue_long(pg_temp.u('a1'), pg_temp.u('a1'), sha256('key-a2'),
	    pg_temp.u('05'), pg_temp.d('05'), NULL, NULL, NULL, 'req-05', '192.0.2.1')
$s$, '{issued}', true);
CALL pg_temp.step('issue short (second family)', $s$
	SELECT tokend_issue_short(pg_temp.u('05'), pg_temp.d('05'), pg_temp.u('55'),
	    pg_temp.d('55'), NULL, NULL, NULL, 'req-55', '192.0.2.1')
$s$, '{issued}', true);
CALL pg_temp.step('a short-term token revokes itself', $s$
	SELECT tokend_revoke('short', pg_temp.u('55'), pg_temp.d('55'), pg_temp.u('55'),
	    'req-r55', '192.0.2.1')
$s$, '{revoked}', true);
CALL pg_temp.step('revoke again (204, already revoked)', $s$
	SELECT tokend_revoke('long', pg_temp.u('05'), pg_temp.d('05'), pg_temp.u('55'),
	    'req-r55b', '192.0.2.1')
$s$, '{}', false);
CALL pg_temp.step('revoke refused (out of reach: 404)', $s$
	SELECT tokend_revoke('short', pg_temp.u('51'), pg_temp.d('51'), pg_temp.u('05'),
	    'req-r05x', '192.0.2.1')
$s$, '{}', false);
CALL pg_temp.step('a long-term token revokes itself', $s$
	SELECT tokend_revoke('long', pg_temp.u('05'), pg_temp.d('05'), pg_temp.u('05'),
	    'req-r05', '192.0.2.1')
$s$, '{revoked}', true);
CALL pg_temp.step('tokenctl token revoke', $s$
	SELECT tokend_token_revoke_admin(pg_temp.u('51'))
$s$, '{revoked}', true);
CALL pg_temp.step('tokenctl token revoke again', $s$
	SELECT tokend_token_revoke_admin(pg_temp.u('51'))
$s$, '{}', false);

-- sql/008: checks write nothing.
CALL pg_temp.step('issue long (third family)', $s$
	SELECT tokend_issue_long(pg_temp.u('a1'), pg_temp.u('a1'), sha256('key-a2'),
	    pg_temp.u('06'), pg_temp.d('06'), NULL, NULL, NULL, 'req-06', '192.0.2.1')
$s$, '{issued}', true);
CALL pg_temp.step('issue short (third family)', $s$
	SELECT tokend_issue_short(pg_temp.u('06'), pg_temp.d('06'), pg_temp.u('56'),
	    pg_temp.d('56'), NULL, NULL, NULL, 'req-56', '192.0.2.1')
$s$, '{issued}', true);
CALL pg_temp.step('authorizer check', $s$
	SELECT tokend_check_short(pg_temp.u('56'), pg_temp.d('56'))
$s$, '{}', false);
CALL pg_temp.step('introspection', $s$
	SELECT tokend_introspect(pg_temp.u('a1'), sha256('key-a2'), pg_temp.u('56'),
	    pg_temp.d('56'))
$s$, '{}', false);

-- sql/007: disable and enable.
CALL pg_temp.step('client disable', $s$
	SELECT tokend_client_disable(pg_temp.u('a1'))
$s$, '{client_disabled}', true);
CALL pg_temp.step('client disable again', $s$
	SELECT tokend_client_disable(pg_temp.u('a1'))
$s$, '{}', false);
CALL pg_temp.step('client enable', $s$
	SELECT tokend_client_enable(pg_temp.u('a1'))
$s$, '{client_enabled}', true);
CALL pg_temp.step('client enable again', $s$
	SELECT tokend_client_enable(pg_temp.u('a1'))
$s$, '{}', false);

SELECT line FROM tap ORDER BY n;
