-- needles.sql - a few tokens, revocations and failures with known answers
-- to every question of sql/README.md, added to generated data (or to an
-- empty database).  Ids are db000000-0000-4000-8000-0000000000NN: clients
-- c1 (needle-client) and c2 (needle-attacked); long-term tokens 01-13
-- (families: 01 = F1, 04 = F2, 05 = F3, 06 = F4, 08 = F6, 11 = F5),
-- short-term 51-56.  tests/dba/queries.py holds the expected answers.
-- Rows as sql/006 and sql/007 write them, dated relative to now.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;

CREATE TEMP TABLE n_t0 AS SELECT date_trunc('second', now()) AS t0;
CREATE FUNCTION pg_temp.n(text) RETURNS uuid LANGUAGE sql IMMUTABLE AS
	$$ SELECT ('db000000-0000-4000-8000-0000000000' || $1)::uuid $$;
CREATE FUNCTION pg_temp.ago(interval) RETURNS timestamptz LANGUAGE sql STABLE AS
	$$ SELECT t0 - $1 FROM n_t0 $$;

INSERT INTO clients (id, name, key_digest, scopes, default_scopes, created_at, updated_at)
VALUES (pg_temp.n('c1'), 'needle-client', sha256('needle-key-1'), '{read,write,tokend:rotate}',
        '{read,write}', pg_temp.ago('100 days'), pg_temp.ago('100 days')),
       (pg_temp.n('c2'), 'needle-attacked', sha256('needle-key-2'), '{read}',
        '{read}', pg_temp.ago('100 days'), pg_temp.ago('100 days'));
INSERT INTO token_events (occurred_at, event, client_id, detail)
SELECT created_at, 'client_created', id, jsonb_build_object('name', name)
FROM clients WHERE id IN (pg_temp.n('c1'), pg_temp.n('c2'));

-- Long-term tokens: (id, family, generation, from, issued, expires, rotated, valid_until, label)
CREATE TEMP TABLE n_long AS
SELECT pg_temp.n(id) AS id, pg_temp.n(fam) AS family_id, gen,
       CASE WHEN rfrom IS NULL THEN NULL ELSE pg_temp.n(rfrom) END AS rotated_from,
       pg_temp.ago(iss) AS issued_at, pg_temp.ago(iss) + interval '30 days' AS expires_at,
       pg_temp.ago(rot) AS rotated_at,
       least(pg_temp.ago(iss) + interval '30 days', pg_temp.ago(rot) + overlap) AS valid_until,
       label, overlap
FROM (VALUES
	-- F1: rotated twice; 03 is live.
	('01', '01', 0, NULL, interval '40 days', interval '20 days', interval '60 seconds', 'needle-holder-a'),
	('02', '01', 1, '01', interval '20 days', interval '1 hour', interval '60 seconds', 'needle-holder-a'),
	('03', '01', 2, '02', interval '1 hour', NULL, interval '60 seconds', 'needle-holder-a'),
	-- F2: live.  F3: revoked by tokenctl.
	('04', '04', 0, NULL, interval '5 days', NULL, interval '60 seconds', 'needle-holder-b'),
	('05', '05', 0, NULL, interval '3 days', NULL, interval '60 seconds', 'needle-holder-c'),
	-- F4: 06 presented two days ago, after its overlap: reuse.
	('06', '06', 0, NULL, interval '35 days', interval '10 days', interval '60 seconds', 'needle-holder-d'),
	('07', '06', 1, '06', interval '10 days', NULL, interval '60 seconds', 'needle-holder-d'),
	-- F6: 08 rotated (09), then rotated again within its hour of overlap
	-- (10): 09 superseded, 10 live.
	('08', '08', 0, NULL, interval '3 hours', interval '2 hours', interval '1 hour', 'needle-holder-e'),
	('09', '08', 1, '08', interval '2 hours', NULL, interval '60 seconds', 'needle-holder-e'),
	('10', '08', 1, '08', interval '90 minutes', NULL, interval '60 seconds', 'needle-holder-e'),
	-- F5: a reuse twenty days ago.
	('11', '11', 0, NULL, interval '50 days', interval '25 days', interval '60 seconds', 'needle-holder-f'),
	('12', '11', 1, '11', interval '25 days', NULL, interval '60 seconds', 'needle-holder-f')
) AS v(id, fam, gen, rfrom, iss, rot, overlap, label);

INSERT INTO tokens (id, kind, client_id, digest, family_id, generation, rotated_from,
                    family_expires_at, scope, label, issued_at, expires_at,
                    rotated_at, valid_until)
SELECT id, 'long', pg_temp.n('c1'), sha256(convert_to(id::text, 'UTF8')), family_id,
       gen, rotated_from, issued_at + interval '365 days', '{read,write}', label,
       issued_at, expires_at, rotated_at, valid_until
FROM n_long ORDER BY gen;

CREATE TEMP TABLE n_short AS
SELECT pg_temp.n(v.id) AS id, pg_temp.n(v.parent) AS parent_id,
       pg_temp.ago(v.iss) AS issued_at,
       least(pg_temp.ago(v.iss) + v.ttl, l.valid_until) AS expires_at, v.aud
FROM (VALUES
	('51', '01', interval '32 days', interval '900 seconds', 'needle-aud-1'),
	('52', '02', interval '2 days', interval '900 seconds', 'needle-aud-1'),
	('53', '03', interval '10 minutes', interval '3600 seconds', 'needle-aud-1'),
	('54', '03', interval '5 minutes', interval '3600 seconds', 'needle-aud-2'),
	('55', '04', interval '20 minutes', interval '3600 seconds', 'needle-aud-2'),
	('56', '05', interval '30 minutes', interval '3600 seconds', 'needle-aud-3')
) AS v(id, parent, iss, ttl, aud)
JOIN n_long l ON l.id = pg_temp.n(v.parent);

INSERT INTO tokens (id, kind, client_id, digest, parent_id, scope, audience,
                    issued_at, expires_at, valid_until)
SELECT id, 'short', pg_temp.n('c1'), sha256(convert_to(id::text, 'UTF8')), parent_id,
       '{read}', aud, issued_at, expires_at, expires_at
FROM n_short;

-- Their audit rows, from 203.0.113.10.
INSERT INTO token_events (occurred_at, event, client_id, token_id, token_kind,
                          family_id, parent_id, actor_id, request_id, remote_addr, detail)
SELECT issued_at, CASE WHEN gen > 0 THEN 'rotated' ELSE 'issued' END, pg_temp.n('c1'),
       id, 'long', family_id, rotated_from, NULL, 'needle-req-' || right(id::text, 2),
       '203.0.113.10'::inet, CASE WHEN gen > 0 THEN jsonb_build_object('overlap_seconds', 60) END
FROM n_long
UNION ALL
SELECT s.issued_at, 'issued', pg_temp.n('c1'), s.id, 'short', l.family_id, l.id, l.id,
       'needle-req-' || right(s.id::text, 2), '203.0.113.10', NULL
FROM n_short s JOIN n_long l ON l.id = s.parent_id;

-- 54 revoked itself; 05 revoked by tokenctl; 09 superseded by the
-- second rotation of 08; F4 and F5 revoked on reuse.
INSERT INTO revocations (token_id, revoked_at, reason, revoked_by, request_id) VALUES
	(pg_temp.n('54'), pg_temp.ago('2 minutes'), 'requested', pg_temp.n('54'), 'needle-req-revoke'),
	(pg_temp.n('05'), pg_temp.ago('1 day'), 'requested', NULL, NULL),
	(pg_temp.n('09'), pg_temp.ago('90 minutes'), 'superseded', NULL, 'needle-req-10'),
	(pg_temp.n('06'), pg_temp.ago('2 days'), 'reuse_detected', NULL, 'needle-req-reuse'),
	(pg_temp.n('07'), pg_temp.ago('2 days'), 'reuse_detected', NULL, 'needle-req-reuse'),
	(pg_temp.n('11'), pg_temp.ago('20 days'), 'reuse_detected', NULL, 'needle-req-reuse-old'),
	(pg_temp.n('12'), pg_temp.ago('20 days'), 'reuse_detected', NULL, 'needle-req-reuse-old');
INSERT INTO token_events (occurred_at, event, client_id, token_id, token_kind,
                          family_id, parent_id, actor_id, reason, request_id, remote_addr)
VALUES
	(pg_temp.ago('2 minutes'), 'revoked', pg_temp.n('c1'), pg_temp.n('54'), 'short',
	 NULL, pg_temp.n('03'), pg_temp.n('54'), 'requested', 'needle-req-revoke', '203.0.113.77'),
	(pg_temp.ago('1 day'), 'revoked', pg_temp.n('c1'), pg_temp.n('05'), 'long',
	 pg_temp.n('05'), NULL, NULL, 'requested', NULL, NULL),
	(pg_temp.ago('90 minutes'), 'superseded', pg_temp.n('c1'), pg_temp.n('09'), 'long',
	 pg_temp.n('08'), NULL, NULL, 'superseded', 'needle-req-10', '203.0.113.88'),
	(pg_temp.ago('2 days'), 'reuse_detected', pg_temp.n('c1'), pg_temp.n('06'), 'long',
	 pg_temp.n('06'), NULL, NULL, 'reuse_detected', 'needle-req-reuse', '198.51.100.9'),
	(pg_temp.ago('20 days'), 'reuse_detected', pg_temp.n('c1'), pg_temp.n('11'), 'long',
	 pg_temp.n('11'), NULL, NULL, 'reuse_detected', 'needle-req-reuse-old', '198.51.100.10');

-- Failed authentications: 192.0.2.250 (no client) 50 x 100000 over the
-- last five days; c2 from 192.0.2.251, 30 x 100000; 192.0.2.252 a month
-- ago, 90 x 100000 (outside the week).
INSERT INTO token_events (occurred_at, event, client_id, remote_addr, count, first_at, last_at)
SELECT at, 'auth_failed', c, addr, 100000, at - interval '1 second', at
FROM (SELECT pg_temp.ago(g * interval '2 hours') AS at, NULL::uuid AS c,
             '192.0.2.250'::inet AS addr FROM generate_series(1, 50) g
      UNION ALL
      SELECT pg_temp.ago(g * interval '3 hours'), pg_temp.n('c2'), '192.0.2.251'
      FROM generate_series(1, 30) g
      UNION ALL
      SELECT pg_temp.ago(interval '30 days' + g * interval '1 hour'), NULL, '192.0.2.252'
      FROM generate_series(1, 90) g) x;
COMMIT;
