-- fill.sql - load the tokens made by tests/bench/mint.c into a migrated
-- tokend database (tests/bench/run.sh).
--
--   psql -v clients_copy=DIR/clients.copy -v stage_copy=DIR/stage.copy -f fill.sql
--
-- The clients and every minted token (long-term: a family of their own,
-- issued a day ago, valid 29 days more; short-term: issued a minute ago,
-- valid an hour), all live by the validity rule (counted at the end).  The rows are consistent by construction, so
-- foreign keys are not checked while loading (session_replication_role,
-- as tests/dba/generate.sql does).  bench_stage keeps what pgbench needs
-- to call tokend's functions with real digests.  Ends with VACUUM ANALYZE
-- and a checkpoint, so the timed runs start from a settled database.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
SET maintenance_work_mem = '256MB';
SET session_replication_role = replica;

CREATE TABLE bench_stage (
	pool      text NOT NULL,
	n         integer NOT NULL,
	role      text NOT NULL,	-- tok: the line's token; parent: its Bearer
	id        uuid NOT NULL,
	kind      text NOT NULL,
	client_id uuid NOT NULL,
	digest    bytea NOT NULL,
	parent_id uuid,
	audience  text
);

COPY clients (id, name, key_digest, scopes, default_scopes) FROM :'clients_copy';
COPY bench_stage FROM :'stage_copy';

BEGIN;
CREATE TEMP TABLE bench_now AS SELECT date_trunc('second', now()) AS t;
INSERT INTO tokens (id, kind, client_id, digest, family_id, generation,
                    family_expires_at, scope, issued_at, expires_at, valid_until)
SELECT s.id, 'long', s.client_id, s.digest, s.id, 0,
       t + interval '364 days', '{read,write}',
       t - interval '1 day', t + interval '29 days', t + interval '29 days'
FROM bench_stage s, bench_now
WHERE s.kind = 'long'
ORDER BY s.id;
INSERT INTO tokens (id, kind, client_id, digest, parent_id, scope, audience,
                    issued_at, expires_at, valid_until)
SELECT s.id, 'short', s.client_id, s.digest, s.parent_id, '{read}', s.audience,
       t - interval '1 minute', t + interval '1 hour', t + interval '1 hour'
FROM bench_stage s, bench_now
WHERE s.kind = 'short'
ORDER BY s.id;
COMMIT;

CREATE INDEX bench_stage_pool_n_idx ON bench_stage (pool, n) WHERE role = 'tok';
-- Clients by number, for pgbench's long-term issuance.
CREATE TABLE bench_client AS
SELECT row_number() OVER (ORDER BY id)::integer AS n, id, key_digest FROM clients;
ALTER TABLE bench_client ADD PRIMARY KEY (n);

VACUUM ANALYZE clients;
VACUUM ANALYZE tokens;
VACUUM ANALYZE revocations;
VACUUM ANALYZE bench_stage;
VACUUM ANALYZE bench_client;
CHECKPOINT;

\pset format unaligned
\pset tuples_only on
SELECT format('fill: %s clients, %s tokens (%s long, %s short), %s live',
              (SELECT count(*) FROM clients), count(*),
              count(*) FILTER (WHERE kind = 'long'),
              count(*) FILTER (WHERE kind = 'short'),
              count(*) FILTER (WHERE token_is_valid(t)))
FROM tokens t;
