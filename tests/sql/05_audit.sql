-- 05_audit.sql: token_events is append-only (sql/004): a role that is not
-- the table's owner may insert and read but never change or delete a row,
-- even with UPDATE and DELETE granted; the owner (migrations, prune) may.
BEGIN;
SELECT plan(12);

SELECT has_trigger('token_events', 'token_events_append_only',
	'token_events has the append-only trigger');
SELECT trigger_is('token_events', 'token_events_append_only', 'token_events_refuse_change',
	'the trigger calls token_events_refuse_change()');

INSERT INTO token_events (event, client_id, reason)
VALUES ('client_created', '00000000-0000-4000-8000-0000000000c1', 'by the owner');

-- A role with every row privilege but not the owner.  Rolled back with
-- the rest (roles are per cluster: the name is fixed and unlikely).
CREATE ROLE tokend_pgtap_not_owner NOLOGIN;
GRANT INSERT, SELECT, UPDATE, DELETE ON token_events TO tokend_pgtap_not_owner;
SET LOCAL ROLE tokend_pgtap_not_owner;

SELECT lives_ok($$
	INSERT INTO token_events (event, client_id, reason)
	VALUES ('client_changed', '00000000-0000-4000-8000-0000000000c1', 'by another role')
$$, 'another role may append');
SELECT is((SELECT count(*) FROM token_events), 2::bigint, 'another role may read');
SELECT throws_ok($$ UPDATE token_events SET reason = 'rewritten' $$,
	'42501', 'token_events is append-only', 'another role may not UPDATE, even when granted');
SELECT throws_ok($$ DELETE FROM token_events $$,
	'42501', 'token_events is append-only', 'another role may not DELETE, even when granted');
SELECT throws_ok($$ UPDATE token_events SET reason = 'rewritten' WHERE reason = 'by another role' $$,
	'42501', 'token_events is append-only', 'not even its own rows');

RESET ROLE;
SELECT is((SELECT count(*) FROM token_events WHERE reason = 'rewritten'), 0::bigint,
	'nothing was rewritten');
SELECT is((SELECT count(*) FROM token_events), 2::bigint, 'nothing was deleted');

-- The owner may (sql/ migrations, pruning).
SELECT is(current_user, (SELECT pg_get_userbyid(relowner) FROM pg_class
                         WHERE oid = 'token_events'::regclass),
	'the test runs as the owner of token_events');
SELECT lives_ok($$ UPDATE token_events SET reason = 'fixed by the owner' WHERE reason = 'by the owner' $$,
	'the owner may UPDATE');
SELECT lives_ok($$ DELETE FROM token_events WHERE reason = 'by another role' $$,
	'the owner may DELETE');

SELECT * FROM finish();
ROLLBACK;
