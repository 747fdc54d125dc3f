-- generate.sql - fill a migrated tokend database with realistic data for
-- the DBA's queries (sql/README.md): :tokens tokens and about :events
-- audit rows, over the last 365 days.
--
--   psql -v tokens=1000000 -v events=3000000 -f tests/dba/generate.sql
--
-- Skew: a few large clients and many small (a family picks client
-- 1 + C * random()^3), a few addresses behind most failed
-- authentications; about 90% of the tokens expired or revoked.  Every
-- token has its audit row ('issued' or 'rotated', at its issued_at),
-- every revocation its row ('revoked', 'reuse_detected',
-- 'client_disabled'), as the functions of sql/006 and sql/007 write
-- them; failed authentications fill the rest.  Runs as a superuser: the
-- rows are consistent by construction, so foreign keys are not checked
-- while loading (session_replication_role), and the secondary indexes
-- of tokens and token_events are dropped for the load and built again
-- (the same definitions, read from the catalog).  Ends with ANALYZE.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
SET maintenance_work_mem = '256MB';
SET session_replication_role = replica;
\o /dev/null
SELECT setseed(0.4242);

CREATE TEMP TABLE g_param AS
SELECT :tokens::integer AS n,
       :events::integer AS e,
       greatest(50, :tokens / 500) AS c,			-- clients
       greatest(100, :tokens / 20) AS f,			-- families
       date_trunc('second', now()) AS t0;			-- "now" of the data

-- The months of the data, as tokenctl makes them, and the next three.
SELECT count(tokend_audit_partition_create(m::date))
FROM generate_series(date_trunc('month', (SELECT t0 FROM g_param) - interval '367 days'),
                     (SELECT t0 FROM g_param) + interval '3 months',
                     interval '1 month') AS m;
\o

-- Secondary indexes go for the load and come back after it.
CREATE TEMP TABLE g_index AS
SELECT i.indexrelid::regclass::text AS name,
       replace(pg_get_indexdef(i.indexrelid), ' ON ONLY ', ' ON ') AS def
FROM pg_index i
JOIN pg_class t ON t.oid = i.indrelid
WHERE t.relname IN ('tokens', 'token_events')
  AND t.relnamespace = current_schema()::regnamespace
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid);
\o /dev/null
SELECT format('DROP INDEX %s', name) FROM g_index \gexec
\o

-- Clients: created a year ago; 1 in 97 disabled two days ago.
INSERT INTO clients (id, name, key_digest, scopes, default_scopes,
                     created_at, updated_at, disabled_at)
SELECT md5('gen-client-' || i)::uuid, 'gen-client-' || i,
       sha256(convert_to('gen-key-' || i, 'UTF8')),
       '{read,write,tokend:rotate,tokend:revoke}', '{read,write}',
       p.t0 - interval '366 days', p.t0 - interval '366 days',
       CASE WHEN i % 97 = 13 THEN p.t0 - interval '2 days' END
FROM g_param p, generate_series(1, p.c) AS i;

CREATE TEMP TABLE g_client AS
SELECT i AS client_no, md5('gen-client-' || i)::uuid AS client_id,
       coalesce(c.disabled_at, p.t0) AS cutoff, c.disabled_at
FROM g_param p, generate_series(1, p.c) AS i
JOIN clients c ON c.id = md5('gen-client-' || i)::uuid;
CREATE INDEX ON g_client (client_no);

-- Families: each rotates every 20 days, planned for 1 to 8 generations;
-- 1 in 200 (of two generations or more) ends in reuse detection.
CREATE TEMP TABLE g_family AS
SELECT fno, md5('gen-family-' || fno)::uuid AS family_id, client_no,
       started, planned, random() < 0.005 AND planned >= 2 AS reused
FROM (SELECT fno, 1 + floor(p.c * random() ^ 3)::integer AS client_no,
             date_trunc('second', p.t0 - random() * interval '365 days') AS started,
             1 + floor(random() * 8)::integer AS planned
      FROM g_param p, generate_series(1, p.f) AS fno) x;

CREATE TEMP TABLE g_long AS
SELECT x.*,
       next_issued IS NULL AS last,
       next_issued AS rotated_at,
       least(issued_at + interval '30 days', family_expires_at) AS expires_at,
       least(issued_at + interval '30 days', family_expires_at,
             next_issued + interval '60 seconds') AS valid_until,
       NULL::timestamptz AS reuse_at,
       (row_number() OVER ())::integer AS rn
FROM (SELECT f.fno, f.family_id, f.client_no, gc.client_id, gc.cutoff, f.reused, g,
             CASE WHEN g = 0 THEN f.family_id
                  ELSE md5('gen-long-' || f.fno || '-' || g)::uuid END AS id,
             CASE WHEN g = 0 THEN NULL
                  WHEN g = 1 THEN f.family_id
                  ELSE md5('gen-long-' || f.fno || '-' || (g - 1))::uuid END AS rotated_from,
             f.started + g * interval '20 days' AS issued_at,
             f.started + interval '365 days' AS family_expires_at,
             lead(f.started + g * interval '20 days')
                 OVER (PARTITION BY f.fno ORDER BY g) AS next_issued
      FROM g_family f
      JOIN g_client gc USING (client_no)
      CROSS JOIN LATERAL generate_series(0, f.planned - 1) AS g
      WHERE f.started + g * interval '20 days' < gc.cutoff) x;

-- Reuse: the token before the last is presented after its overlap; the
-- family ends there.
UPDATE g_long l SET reuse_at = r.at
FROM (SELECT fno, date_trunc('second', issued_at + interval '61 seconds' + random() *
             greatest(interval '0', least(valid_until, cutoff) - issued_at
                                    - interval '61 seconds')) AS at
      FROM g_long WHERE last AND reused AND g >= 1) r
WHERE l.fno = r.fno;
CREATE INDEX ON g_long (rn);
CREATE INDEX ON g_long (id);
ANALYZE g_long;

-- The long-term tokens still usable now: the parents of the recent
-- short-term tokens.
CREATE TEMP TABLE g_live AS
SELECT row_number() OVER (ORDER BY id) AS lrn, id
FROM g_long WHERE valid_until > (SELECT t0 FROM g_param) AND reuse_at IS NULL
  AND cutoff = (SELECT t0 FROM g_param);
CREATE INDEX ON g_live (lrn);

-- Short-term tokens: 7% of all tokens issued in the last 50 minutes for an
-- hour from a live long-term token; the rest, 15 minutes each, at any
-- time a random long-term token was usable.
CREATE TEMP TABLE g_short AS
WITH pick AS (
	SELECT i, 1 + floor(random() * (SELECT count(*) FROM g_live))::bigint AS lrn
	FROM generate_series(1, (SELECT (n * 0.07)::integer FROM g_param)) AS i
	WHERE EXISTS (SELECT 1 FROM g_live)
)
SELECT md5('gen-short-r-' || k.i)::uuid AS id, l.id AS parent_id, l.family_id,
       l.client_id,
       greatest(l.issued_at, date_trunc('second', p.t0 - random() * interval '50 minutes'))
           AS issued_at,
       interval '3600 seconds' AS ttl, l.valid_until AS parent_until
FROM pick k JOIN g_live v USING (lrn) JOIN g_long l ON l.id = v.id, g_param p;

INSERT INTO g_short
WITH pick AS (
	SELECT i, 1 + floor(random() * (SELECT count(*) FROM g_long))::integer AS rn
	FROM generate_series(1, (SELECT n FROM g_param) - (SELECT count(*) FROM g_long)
	                        - (SELECT count(*) FROM g_short)) AS i
)
SELECT md5('gen-short-' || k.i)::uuid, l.id, l.family_id, l.client_id,
       date_trunc('second', l.issued_at + random() *
                  (least(l.valid_until, l.cutoff, l.reuse_at, p.t0) - l.issued_at)),
       interval '900 seconds', l.valid_until
FROM pick k JOIN g_long l USING (rn), g_param p;

INSERT INTO tokens (id, kind, client_id, digest, family_id, generation,
                    rotated_from, family_expires_at, scope, label, issued_at,
                    expires_at, rotated_at, valid_until)
SELECT id, 'long', client_id, sha256(convert_to(id::text, 'UTF8')), family_id, g,
       rotated_from, family_expires_at, '{read,write,tokend:rotate}',
       'gen-holder-' || (fno % 1000), issued_at, expires_at, rotated_at, valid_until
FROM g_long;

INSERT INTO tokens (id, kind, client_id, digest, parent_id, scope, audience,
                    issued_at, expires_at, valid_until)
SELECT id, 'short', client_id, sha256(convert_to(id::text, 'UTF8')), parent_id,
       '{read}', 'gen-service-' || (hashtext(parent_id::text) & 15),
       issued_at, least(issued_at + ttl, parent_until),
       least(issued_at + ttl, parent_until)
FROM g_short
WHERE least(issued_at + ttl, parent_until) > issued_at;

-- Revocations: 3% of the tokens on request (by the token itself, its
-- parent, or tokenctl), the families of a reuse, and what a disabled
-- client still had.
CREATE TEMP TABLE g_rev AS
SELECT t.id AS token_id, t.kind, t.client_id, t.family_id, t.parent_id,
       date_trunc('second', t.issued_at + random() *
                  (least(t.valid_until, c.cutoff, (SELECT t0 FROM g_param)) - t.issued_at))
           AS revoked_at,
       'requested'::text AS reason,
       CASE WHEN random() < 0.3 THEN NULL
            WHEN t.kind = 'short' AND random() < 0.5 THEN t.parent_id
            ELSE t.id END AS revoked_by
FROM tokens t JOIN g_client c USING (client_id)
WHERE random() < 0.03;
DELETE FROM g_rev r USING g_long l
WHERE l.id = r.token_id AND l.reuse_at IS NOT NULL;
INSERT INTO g_rev
SELECT id, 'long', client_id, family_id, NULL, reuse_at, 'reuse_detected', NULL
FROM g_long WHERE reuse_at IS NOT NULL AND issued_at <= reuse_at;
INSERT INTO g_rev
SELECT t.id, t.kind, t.client_id, t.family_id, t.parent_id, c.disabled_at,
       'client_disabled', NULL
FROM tokens t JOIN g_client c USING (client_id)
WHERE c.disabled_at IS NOT NULL AND t.valid_until > c.disabled_at
  AND NOT EXISTS (SELECT 1 FROM g_rev r WHERE r.token_id = t.id);

INSERT INTO revocations (token_id, revoked_at, reason, revoked_by, request_id)
SELECT token_id, revoked_at, reason, revoked_by,
       CASE WHEN reason = 'reuse_detected' THEN 'gen-reuse-' || family_id
            WHEN reason = 'requested' AND revoked_by IS NOT NULL
            THEN 'gen-rev-' || token_id END
FROM g_rev;

-- The audit trail of all that, as sql/006 and sql/007 write it.  A
-- client calls from one of four addresses of its own.
INSERT INTO token_events (occurred_at, event, client_id, detail)
SELECT c.created_at, 'client_created', c.id,
       jsonb_build_object('name', c.name)
FROM clients c;
INSERT INTO token_events (occurred_at, event, client_id, reason, detail)
SELECT c.disabled_at, 'client_disabled', c.id, 'client_disabled',
       jsonb_build_object('revoked_tokens',
           (SELECT count(*) FROM g_rev r WHERE r.client_id = c.id
                                           AND r.reason = 'client_disabled'))
FROM clients c WHERE c.disabled_at IS NOT NULL;

INSERT INTO token_events (occurred_at, event, client_id, token_id, token_kind,
                          family_id, parent_id, actor_id, request_id,
                          remote_addr, detail)
SELECT t.issued_at,
       CASE WHEN t.generation > 0 THEN 'rotated' ELSE 'issued' END,
       t.client_id, t.id, t.kind, coalesce(t.family_id, p.family_id),
       coalesce(t.rotated_from, t.parent_id),
       CASE WHEN t.kind = 'short' THEN t.parent_id END,
       'gen-' || t.id,
       '10.0.0.0'::inet + (hashtext(t.client_id::text) & 65535) * 4
           + (hashtext(t.id::text) & 3),
       CASE WHEN t.generation > 0 THEN '{"overlap_seconds": 60}'::jsonb END
FROM tokens t LEFT JOIN tokens p ON p.id = t.parent_id;

INSERT INTO token_events (occurred_at, event, client_id, token_id, token_kind,
                          family_id, parent_id, actor_id, reason, request_id,
                          remote_addr)
SELECT r.revoked_at, 'revoked', r.client_id, r.token_id, r.kind, r.family_id,
       r.parent_id, r.revoked_by, 'requested', rv.request_id,
       CASE WHEN rv.request_id IS NOT NULL THEN
            '10.0.0.0'::inet + (hashtext(r.client_id::text) & 65535) * 4 END
FROM g_rev r JOIN revocations rv USING (token_id)
WHERE r.reason = 'requested';

INSERT INTO token_events (occurred_at, event, client_id, token_id, token_kind,
                          family_id, reason, request_id, remote_addr)
SELECT l.reuse_at, 'reuse_detected', l.client_id, l.rotated_from, 'long',
       l.family_id, 'reuse_detected', 'gen-reuse-' || l.family_id,
       '192.168.0.0'::inet + (hashtext(l.family_id::text) & 65535)
FROM g_long l WHERE l.last AND l.reuse_at IS NOT NULL;

-- Failed authentications, flushed counts, up to :events rows in all:
-- recent days weigh more; a few addresses fail most; 30% name a client.
INSERT INTO token_events (occurred_at, event, client_id, remote_addr, count,
                          first_at, last_at)
SELECT at, 'auth_failed', client_id, addr, n,
       at - make_interval(secs => floor(random() * least(n, 59))), at
FROM (SELECT date_trunc('second', p.t0 - random() ^ 1.5 * interval '365 days') AS at,
             CASE WHEN random() < 0.3 THEN
                  md5('gen-client-' || (1 + floor(p.c * random() ^ 3)::integer))::uuid
             END AS client_id,
             '172.16.0.0'::inet + floor(greatest(1000, p.e / 60) * random() ^ 4)::bigint AS addr,
             1 + floor(random() ^ 3 * 40)::integer AS n
      FROM g_param p,
           generate_series(1, greatest(0, p.e - (SELECT count(*) FROM token_events)::integer))) x;

SET session_replication_role = DEFAULT;
\o /dev/null
SELECT def FROM g_index \gexec
\o
ANALYZE;
