/*
 * test_tk_races.c - concurrent calls of the token functions.
 *
 * Every race runs on NRACERS connections opened beforehand, one per
 * thread, each with the handler's statements prepared.  The threads
 * wait on a barrier and then send the same call at once with the
 * parameter shapes of tk_handler.c (binary bytea digests).  Each counts
 * itself in flight from the moment it has sent until its result is in;
 * a race whose highest count stays under MIN_INFLIGHT did not race: it
 * is run again on fresh tokens, and fails after ATTEMPTS tries.  Every
 * attempt's outcome and rows are checked.  An extra connection samples
 * pg_stat_activity meanwhile.
 * Needs TOKEND_TEST_DATABASE_URL and TOKEND_SQL_DIR (else exit 77).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tk_handler.h"
#include "tk_pool.h"
#include "tk_token.h"
#include "tk_testdb.h"

#define NRACERS		66	/* at least 64 released together */
#define MIN_INFLIGHT	32
#define ATTEMPTS	3	/* a race that did not race is run again */
#define MAX_ROUNDS	8
#define MAX_PARAMS	15
#define REMOTE		"127.0.0.1"

/* The statements of tk_handler_stmts, by index. */
enum { S_ISSUE_LONG, S_ROTATE, S_ISSUE_SHORT, S_REVOKE };

/* Columns every function returns first, then its values. */
enum { C_OUTCOME, C_DETAIL, C_KNOWN, C_TOKEN_ID };

struct tok {
	char		token[TK_TOKEN_LEN + 1];
	char		id[TK_UUID_STR_LEN + 1];
	unsigned char	digest[TK_DIGEST_LEN];
};

/* One call of a racer: what came back and when. */
struct round {
	char	outcome[160];		/* "ok", an error code, or "error: ..." */
	char	token_id[TK_UUID_STR_LEN + 1];
	double	sent_ms, done_ms;
};

struct racer {
	pthread_t	 th;
	PGconn		*pg;
	int		 idx;
	unsigned int	 stmt;
	int		 rounds;
	int		 delay_us;	/* before round 0, after the barrier */
	void		(*fill)(struct racer *, int round);
	const char	*values[MAX_PARAMS];
	int		 lengths[MAX_PARAMS];
	int		 formats[MAX_PARAMS];
	char		 rid[TK_REQUEST_ID_MAX + 1];
	struct tok	 minted;	/* the new token of this round */
	struct round	 r[MAX_ROUNDS];
};

static struct {
	struct tkdb		 db;
	PGconn			*pg;		/* setup and checks */
	PGconn			*sampler_pg;
	PGconn			*revoker_pg;
	struct racer		 racers[NRACERS];
	pthread_barrier_t	 barrier;
	atomic_int		 inflight;
	atomic_int		 max_inflight;
	atomic_bool		 stop;
	long			 max_active;	/* from pg_stat_activity */
	long			 samples;
	/* What the race at hand works on. */
	struct tkdb_client	 c;
	struct tok		 a, b;
	/* The revocation racing the issues of test_race_short_vs_revoke. */
	struct round		 revoke;
	int			 revoke_delay_us;
} R;

static void
mint(enum tk_token_kind kind, struct tok *t)
{
	unsigned char	id[TK_UUID_LEN];

	if (tk_uuid_new(id) != TK_OK || tk_token_mint(kind, id, t->token) != TK_OK)
		abort();	/* in a racer thread: no cmocka assertion */
	tk_uuid_format(id, t->id);
	tk_token_digest(t->token, t->digest);
}

static void
prepare_all(PGconn *pg)
{
	unsigned int	i;
	PGresult	*res;

	for (i = 0; i < tk_handler_nstmts; i++) {
		res = PQprepare(pg, tk_handler_stmts[i].name,
		    tk_handler_stmts[i].sql, tk_handler_stmts[i].nparams, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			fprintf(stderr, "prepare %s: %s", tk_handler_stmts[i].name,
			    PQerrorMessage(pg));
		assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
		PQclear(res);
	}
}

static int
group_teardown(void **state)
{
	int	i;

	(void)state;
	for (i = 0; i < NRACERS; i++) {
		PQfinish(R.racers[i].pg);
		R.racers[i].pg = NULL;
	}
	PQfinish(R.sampler_pg);
	PQfinish(R.revoker_pg);
	PQfinish(R.pg);
	R.sampler_pg = R.revoker_pg = R.pg = NULL;
	tkdb_drop(&R.db);
	return 0;
}

/* The scratch database and every connection, opened before any race. */
static int
group_setup(void **state)
{
	int	i;

	if (!tkdb_create(&R.db, "tk_races") ||
	    (R.pg = tkdb_connect(&R.db)) == NULL ||
	    (R.sampler_pg = tkdb_connect(&R.db)) == NULL ||
	    (R.revoker_pg = tkdb_connect(&R.db)) == NULL)
		goto fail;
	prepare_all(R.revoker_pg);
	for (i = 0; i < NRACERS; i++) {
		if ((R.racers[i].pg = tkdb_connect(&R.db)) == NULL)
			goto fail;
		prepare_all(R.racers[i].pg);
	}
	return 0;
fail:
	group_teardown(state);
	return -1;
}

/*
 * Run a prepared statement on pg and wait for the end of the query
 * (ReadyForQuery: the implicit transaction has committed).  The first
 * result is stored in rd.
 */
static void
send_and_wait(PGconn *pg, unsigned int stmt, const char *const *values,
    const int *lengths, const int *formats, struct round *rd, bool count)
{
	PGresult	*res, *first = NULL;
	int		 n, m;

	rd->sent_ms = tkdb_now_ms();
	if (!PQsendQueryPrepared(pg, tk_handler_stmts[stmt].name,
	    tk_handler_stmts[stmt].nparams, values, lengths, formats, 0)) {
		snprintf(rd->outcome, sizeof(rd->outcome), "error: send: %s",
		    PQerrorMessage(pg));
		return;
	}
	if (count) {
		n = atomic_fetch_add(&R.inflight, 1) + 1;
		m = atomic_load(&R.max_inflight);
		while (n > m && !atomic_compare_exchange_weak(&R.max_inflight,
		    &m, n))
			;
	}
	while ((res = PQgetResult(pg)) != NULL) {
		if (first == NULL)
			first = res;
		else
			PQclear(res);
	}
	if (count)
		atomic_fetch_sub(&R.inflight, 1);
	rd->done_ms = tkdb_now_ms();
	if (PQresultStatus(first) != PGRES_TUPLES_OK || PQntuples(first) != 1)
		snprintf(rd->outcome, sizeof(rd->outcome), "error: %s %s",
		    first != NULL ? PQresStatus(PQresultStatus(first)) : "none",
		    PQerrorMessage(pg));
	else {
		snprintf(rd->outcome, sizeof(rd->outcome), "%s",
		    PQgetvalue(first, 0, C_OUTCOME));
		if (PQnfields(first) > C_TOKEN_ID &&
		    !PQgetisnull(first, 0, C_TOKEN_ID))
			snprintf(rd->token_id, sizeof(rd->token_id), "%s",
			    PQgetvalue(first, 0, C_TOKEN_ID));
	}
	PQclear(first);
}

static void *
racer_main(void *arg)
{
	struct racer	*r = arg;
	int		 k;

	/* Round 0 is ready before the barrier: all fire at once. */
	pthread_barrier_wait(&R.barrier);
	if (r->delay_us > 0)
		usleep((useconds_t)r->delay_us);
	for (k = 0; k < r->rounds; k++) {
		if (k > 0)
			r->fill(r, k);
		send_and_wait(r->pg, r->stmt, r->values, r->lengths, r->formats,
		    &r->r[k], true);
	}
	return NULL;
}

static void *
sampler_main(void *arg)
{
	PGresult	*res;
	long		 n;

	(void)arg;
	while (!atomic_load(&R.stop)) {
		res = PQexec(R.sampler_pg, "SELECT count(*) FROM "
		    "pg_stat_activity WHERE state = 'active' AND query LIKE "
		    "'%tokend_%' AND pid <> pg_backend_pid() AND datname = "
		    "current_database()");
		if (PQresultStatus(res) == PGRES_TUPLES_OK) {
			n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
			if (n > R.max_active)
				R.max_active = n;
			R.samples++;
		}
		PQclear(res);
	}
	return NULL;
}

/* The revocation of R.a by itself, racing the racers. */
static void *
revoker_main(void *arg)
{
	const char	*values[6] = { "long", R.a.id, (const char *)R.a.digest,
	    R.a.id, "race-revoker", REMOTE };
	const int	 lengths[6] = { 0, 0, TK_DIGEST_LEN };
	const int	 formats[6] = { 0, 0, 1 };

	(void)arg;
	pthread_barrier_wait(&R.barrier);
	usleep((useconds_t)R.revoke_delay_us);
	send_and_wait(R.revoker_pg, S_REVOKE, values, lengths, formats,
	    &R.revoke, false);
	return NULL;
}

/*
 * Start the racers (each with round 0 filled), and the revoker when
 * with_revoker; wait for all; print and return the highest in flight.
 */
static int
race(const char *name, unsigned int stmt, int rounds,
    void (*fill)(struct racer *, int), bool with_revoker)
{
	pthread_t	sampler, revoker;
	int		i;

	atomic_store(&R.inflight, 0);
	atomic_store(&R.max_inflight, 0);
	atomic_store(&R.stop, false);
	R.max_active = 0;
	R.samples = 0;
	memset(&R.revoke, 0, sizeof(R.revoke));
	assert_int_equal(pthread_barrier_init(&R.barrier, NULL,
	    NRACERS + (with_revoker ? 1 : 0)), 0);
	for (i = 0; i < NRACERS; i++) {
		struct racer *r = &R.racers[i];

		r->idx = i;
		r->stmt = stmt;
		r->rounds = rounds;
		r->fill = fill;
		r->delay_us = 0;
		memset(r->r, 0, sizeof(r->r));
		fill(r, 0);
	}
	assert_int_equal(pthread_create(&sampler, NULL, sampler_main, NULL), 0);
	if (with_revoker)
		assert_int_equal(pthread_create(&revoker, NULL, revoker_main,
		    NULL), 0);
	for (i = 0; i < NRACERS; i++)
		assert_int_equal(pthread_create(&R.racers[i].th, NULL,
		    racer_main, &R.racers[i]), 0);
	for (i = 0; i < NRACERS; i++)
		pthread_join(R.racers[i].th, NULL);
	if (with_revoker)
		pthread_join(revoker, NULL);
	atomic_store(&R.stop, true);
	pthread_join(sampler, NULL);
	pthread_barrier_destroy(&R.barrier);
	print_message("%s: %d connections, max in flight %d, max active in "
	    "pg_stat_activity %ld (%ld samples)\n", name, NRACERS,
	    atomic_load(&R.max_inflight), R.max_active, R.samples);
	return atomic_load(&R.max_inflight);
}

/* Run one race case until it raced, at most ATTEMPTS times. */
static void
race_until_raced(const char *name, void (*attempt)(int *max_inflight))
{
	int	i, best = 0, n;

	for (i = 0; i < ATTEMPTS && best < MIN_INFLIGHT; i++) {
		n = 0;
		attempt(&n);
		if (n > best)
			best = n;
		if (n < MIN_INFLIGHT)
			print_message("%s: attempt %d had %d in flight, fewer "
			    "than %d\n", name, i + 1, n, MIN_INFLIGHT);
	}
	assert_true(best >= MIN_INFLIGHT);
}

/* Set the parameters of a racer's call; binary digests as tk_handler. */
static void
params(struct racer *r, int n, const char *const *values, const int *binary)
{
	int	i;

	for (i = 0; i < MAX_PARAMS; i++) {
		r->values[i] = i < n ? values[i] : NULL;
		r->lengths[i] = 0;
		r->formats[i] = 0;
	}
	for (i = 0; binary[i] >= 0; i++) {
		r->lengths[binary[i]] = TK_DIGEST_LEN;
		r->formats[binary[i]] = 1;
	}
}

static void
request_id(struct racer *r, const char *what, int round)
{
	snprintf(r->rid, sizeof(r->rid), "race-%s-%d-%d", what, r->idx, round);
}

/* ---- Calls on the checking connection, to set a race up ---- */

static PGresult *
call(unsigned int stmt, const char *const *values, const int *binary)
{
	int		 lengths[MAX_PARAMS] = { 0 }, formats[MAX_PARAMS] = { 0 };
	PGresult	*res;
	int		 i;

	for (i = 0; binary[i] >= 0; i++) {
		lengths[binary[i]] = TK_DIGEST_LEN;
		formats[binary[i]] = 1;
	}
	res = PQexecPrepared(R.revoker_pg, tk_handler_stmts[stmt].name,
	    tk_handler_stmts[stmt].nparams, values, lengths, formats, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fprintf(stderr, "%s: %s", tk_handler_stmts[stmt].name,
		    PQerrorMessage(R.revoker_pg));
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_int_equal(PQntuples(res), 1);
	return res;
}

static void
assert_ok(PGresult *res)
{
	if (strcmp(PQgetvalue(res, 0, C_OUTCOME), "ok") != 0)
		print_error("outcome %s: %s\n", PQgetvalue(res, 0, C_OUTCOME),
		    PQgetvalue(res, 0, C_DETAIL));
	assert_string_equal(PQgetvalue(res, 0, C_OUTCOME), "ok");
	PQclear(res);
}

static void
issue_long(const struct tkdb_client *c, struct tok *t)
{
	const int	 bin[] = { 2, 4, -1 };
	const char	*v[10];

	mint(TK_TOKEN_LONG, t);
	v[0] = c->id;
	v[1] = c->id;
	v[2] = (const char *)c->key_digest;
	v[3] = t->id;
	v[4] = (const char *)t->digest;
	v[5] = NULL;
	v[6] = NULL;
	v[7] = NULL;
	v[8] = "race-setup";
	v[9] = REMOTE;
	assert_ok(call(S_ISSUE_LONG, v, bin));
}

static void
rotate_key(const struct tkdb_client *c, const struct tok *old,
    const char *overlap, struct tok *t)
{
	const int	 bin[] = { 2, 4, 7, -1 };
	const char	*v[15] = { c->id, c->id, (const char *)c->key_digest,
	    NULL, NULL, old->id, NULL, NULL, NULL, NULL, overlap, "60", NULL,
	    "race-setup", REMOTE };

	mint(TK_TOKEN_LONG, t);
	v[6] = t->id;
	v[7] = (const char *)t->digest;
	assert_ok(call(S_ROTATE, v, bin));
}

static void
client_new(const char *scopes)
{
	assert_true(tkdb_client_new(R.pg, scopes, "{read}", &R.c));
}

static long long
q(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static long long
q(const char *fmt, ...)
{
	char	sql[2048];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	return tkdb_int(R.pg, "%s", sql);
}

/* Every round of every racer answered expected; print the first that did not. */
static void
assert_all_outcomes(const char *expected, int rounds)
{
	int	i, k, bad = 0;

	for (i = 0; i < NRACERS; i++)
		for (k = 0; k < rounds; k++)
			if (strcmp(R.racers[i].r[k].outcome, expected) != 0 &&
			    bad++ == 0)
				print_error("racer %d round %d: %s\n", i, k,
				    R.racers[i].r[k].outcome);
	assert_int_equal(bad, 0);
}

/* ---- (a) rotations of one long-term token with the client key ---- */

static void
fill_rotate(struct racer *r, int round)
{
	const int	 bin[] = { 2, 4, 7, -1 };
	const char	*v[15];

	mint(TK_TOKEN_LONG, &r->minted);
	request_id(r, "rotate", round);
	v[0] = R.c.id;
	v[1] = R.c.id;
	v[2] = (const char *)R.c.key_digest;
	v[3] = NULL;
	v[4] = NULL;
	v[5] = R.a.id;
	v[6] = r->minted.id;
	v[7] = (const char *)r->minted.digest;
	v[8] = NULL;
	v[9] = NULL;
	v[10] = NULL;
	v[11] = "60";
	v[12] = NULL;
	v[13] = r->rid;
	v[14] = REMOTE;
	params(r, 15, v, bin);
}

static void
attempt_rotate(int *max_inflight)
{
	char	*last;
	int	 i;

	client_new("{read}");
	issue_long(&R.c, &R.a);
	*max_inflight = race("rotate", S_ROTATE, 1, fill_rotate, false);

	/* Each answers 201: the rotations ran one after another. */
	assert_all_outcomes("ok", 1);
	for (i = 0; i < NRACERS; i++)
		assert_string_equal(R.racers[i].r[0].token_id,
		    R.racers[i].minted.id);

	/* Rotated once; still in its overlap. */
	assert_int_equal(q("SELECT count(*) FROM tokens t WHERE id = '%s' AND "
	    "rotated_at IS NOT NULL AND token_is_valid(t)", R.a.id), 1);
	assert_int_equal(q("SELECT count(*) FROM tokens WHERE family_id = '%s' "
	    "AND generation = 1 AND rotated_from = '%s'", R.a.id, R.a.id),
	    NRACERS);

	/* One live successor: the last to commit; every other superseded. */
	assert_int_equal(q("SELECT count(*) FROM tokens t WHERE family_id = "
	    "'%s' AND generation = 1 AND token_is_valid(t)", R.a.id), 1);
	last = tkdb_text(R.pg, "SELECT token_id FROM token_events WHERE event "
	    "= 'rotated' AND parent_id = '%s' ORDER BY id DESC LIMIT 1", R.a.id);
	assert_non_null(last);
	assert_int_equal(q("SELECT count(*) FROM tokens t WHERE id = '%s' AND "
	    "token_is_valid(t)", last), 1);
	free(last);
	assert_int_equal(q("SELECT count(*) FROM revocations r JOIN tokens t ON "
	    "t.id = r.token_id WHERE t.family_id = '%s'", R.a.id), NRACERS - 1);
	assert_int_equal(q("SELECT count(*) FROM revocations r JOIN tokens t ON "
	    "t.id = r.token_id WHERE t.family_id = '%s' AND r.reason = "
	    "'superseded'", R.a.id), NRACERS - 1);

	/* The audit rows: one per rotation, one per superseded token. */
	assert_int_equal(q("SELECT count(*) FROM token_events WHERE event = "
	    "'rotated' AND parent_id = '%s'", R.a.id), NRACERS);
	assert_int_equal(q("SELECT count(*) FROM token_events WHERE event = "
	    "'rotated' AND parent_id = '%s' AND request_id LIKE "
	    "'race-rotate-%%'", R.a.id), NRACERS);
	assert_int_equal(q("SELECT count(*) FROM token_events WHERE event = "
	    "'superseded' AND family_id = '%s'", R.a.id), NRACERS - 1);
	assert_int_equal(q("SELECT count(DISTINCT e.token_id) FROM token_events "
	    "e JOIN revocations r ON r.token_id = e.token_id WHERE e.event = "
	    "'superseded' AND e.family_id = '%s'", R.a.id), NRACERS - 1);
}

static void
test_race_rotate(void **state)
{
	(void)state;
	race_until_raced("rotate", attempt_rotate);
}

/* ---- (b) revocations of one token ---- */

static void
fill_revoke(struct racer *r, int round)
{
	const int	 bin[] = { 2, -1 };
	const char	*v[6];

	request_id(r, "revoke", round);
	v[0] = "long";
	v[1] = R.a.id;
	v[2] = (const char *)R.a.digest;
	v[3] = R.b.id;
	v[4] = r->rid;
	v[5] = REMOTE;
	params(r, 6, v, bin);
}

static void
attempt_revoke(int *max_inflight)
{
	client_new("{read}");
	issue_long(&R.c, &R.a);		/* the bearer */
	issue_long(&R.c, &R.b);		/* the target */
	*max_inflight = race("revoke", S_REVOKE, 1, fill_revoke, false);

	assert_all_outcomes("ok", 1);
	assert_int_equal(q("SELECT count(*) FROM revocations WHERE token_id = "
	    "'%s' AND reason = 'requested' AND revoked_by = '%s'", R.b.id,
	    R.a.id), 1);
	assert_int_equal(q("SELECT count(*) FROM token_events WHERE event = "
	    "'revoked' AND token_id = '%s'", R.b.id), 1);
	/* The audit row is the revocation row's request. */
	assert_int_equal(q("SELECT count(*) FROM token_events e JOIN "
	    "revocations r ON r.token_id = e.token_id AND r.request_id = "
	    "e.request_id WHERE e.event = 'revoked' AND e.token_id = '%s'",
	    R.b.id), 1);
	assert_int_equal(q("SELECT count(*) FROM tokens t WHERE id = '%s' AND "
	    "token_is_valid(t)", R.a.id), 1);
}

static void
test_race_revoke(void **state)
{
	(void)state;
	race_until_raced("revoke", attempt_revoke);
}

/* ---- (c) reuse of a rotated-out token, presented many times ---- */

static void
fill_short(struct racer *r, int round)
{
	const int	 bin[] = { 1, 3, -1 };
	const char	*v[9];

	mint(TK_TOKEN_SHORT, &r->minted);
	request_id(r, "short", round);
	v[0] = R.a.id;
	v[1] = (const char *)R.a.digest;
	v[2] = r->minted.id;
	v[3] = (const char *)r->minted.digest;
	v[4] = NULL;
	v[5] = NULL;
	v[6] = NULL;
	v[7] = r->rid;
	v[8] = REMOTE;
	params(r, 9, v, bin);
}

static void
attempt_reuse(int *max_inflight)
{
	struct tok	l1, l2, old;
	long long	events;

	client_new("{read}");
	issue_long(&R.c, &old);
	rotate_key(&R.c, &old, "0", &l1);
	rotate_key(&R.c, &l1, "0", &l2);
	R.a = old;			/* presented: rotated out */
	assert_int_equal(q("SELECT count(*) FROM tokens WHERE family_id = '%s'",
	    old.id), 3);
	*max_inflight = race("reuse", S_ISSUE_SHORT, 1, fill_short, false);

	assert_all_outcomes("invalid_token", 1);
	/* Every token of the family: exactly one row, reuse_detected. */
	assert_int_equal(q("SELECT count(*) FROM tokens t WHERE family_id = '%s' "
	    "AND (SELECT count(*) FROM revocations r WHERE r.token_id = t.id "
	    "AND r.reason = 'reuse_detected') = 1", old.id), 3);
	assert_int_equal(q("SELECT count(*) FROM revocations r JOIN tokens t ON "
	    "t.id = r.token_id WHERE t.family_id = '%s'", old.id), 3);
	assert_int_equal(q("SELECT count(*) FROM tokens t WHERE family_id = '%s' "
	    "AND token_is_valid(t)", old.id), 0);
	/* Nothing was issued. */
	assert_int_equal(q("SELECT count(*) FROM tokens WHERE client_id = '%s' "
	    "AND kind = 'short'", R.c.id), 0);
	/*
	 * One reuse, one audit row: like a revocation's, it belongs to the
	 * transaction that wrote the revocation rows, not to every
	 * concurrent presentation that found them written.
	 */
	events = q("SELECT count(*) FROM token_events WHERE event = "
	    "'reuse_detected' AND family_id = '%s'", old.id);
	print_message("reuse: %lld reuse_detected audit rows for %d concurrent "
	    "presentations\n", events, NRACERS);
	assert_int_equal(events, 1);
}

static void
test_race_reuse(void **state)
{
	(void)state;
	race_until_raced("reuse", attempt_reuse);
}

/* ---- (d) short-term tokens issued while the long-term one is revoked ---- */

static void
attempt_short_vs_revoke(int *max_inflight)
{
	const int	 rounds = 6;
	int		 i, k, before = 0, after = 0, ok = 0;
	double		 committed;

	client_new("{read}");
	issue_long(&R.c, &R.a);
	R.revoke_delay_us = 3000;
	*max_inflight = race("issue_short vs revoke", S_ISSUE_SHORT, rounds,
	    fill_short, true);

	if (strcmp(R.revoke.outcome, "ok") != 0)
		print_error("revocation: %s\n", R.revoke.outcome);
	assert_string_equal(R.revoke.outcome, "ok");
	committed = R.revoke.done_ms;
	for (i = 0; i < NRACERS; i++)
		for (k = 0; k < rounds; k++) {
			struct round *rd = &R.racers[i].r[k];

			if (strcmp(rd->outcome, "ok") != 0 &&
			    strcmp(rd->outcome, "invalid_token") != 0)
				print_error("racer %d round %d: %s\n", i, k,
				    rd->outcome);
			assert_true(strcmp(rd->outcome, "ok") == 0 ||
			    strcmp(rd->outcome, "invalid_token") == 0);
			if (strcmp(rd->outcome, "ok") == 0) {
				ok++;
				assert_int_equal(q("SELECT count(*) FROM tokens "
				    "WHERE id = '%s' AND parent_id = '%s'",
				    rd->token_id, R.a.id), 1);
			}
			/* Sent after the revocation committed: refused. */
			if (rd->sent_ms > committed) {
				after++;
				if (strcmp(rd->outcome, "ok") == 0)
					print_error("racer %d round %d sent %.2f "
					    "ms after the revocation committed "
					    "got a token\n", i, k,
					    rd->sent_ms - committed);
				assert_string_equal(rd->outcome,
				    "invalid_token");
			} else
				before++;
		}
	print_message("issue_short vs revoke: %d calls sent before the "
	    "revocation committed (%d issued), %d after (all refused)\n",
	    before, ok, after);
	assert_true(after > 0);

	/* Whatever was issued around it is invalid now, by the rule. */
	assert_int_equal(q("SELECT count(*) FROM tokens t WHERE parent_id = "
	    "'%s' AND token_is_valid(t)", R.a.id), 0);
	assert_int_equal(q("SELECT count(*) FROM tokens WHERE parent_id = '%s'",
	    R.a.id), ok);
	assert_int_equal(q("SELECT count(*) FROM token_events WHERE event = "
	    "'issued' AND parent_id = '%s'", R.a.id), ok);
	assert_int_equal(q("SELECT count(*) FROM revocations WHERE token_id = "
	    "'%s'", R.a.id), 1);
}

static void
test_race_short_vs_revoke(void **state)
{
	(void)state;
	race_until_raced("issue_short vs revoke", attempt_short_vs_revoke);
}

/*
 * ---- (e) a retried rotation of an older token racing a rotation of
 * its successor ----
 *
 * L0 was rotated to L1.  One session rotates L1 (issuing L2) and has not
 * committed yet; meanwhile the client retries the rotation of L0, which
 * must supersede everything issued after L0 - L1 and L2 alike, since L2
 * is committed before the retry's own commit.  The interleaving is made
 * exact: the retry is let go only once it waits on the first session's
 * row lock.
 */
static void
send_rotate(PGconn *pg, const struct tok *old, struct tok *t, const char *rid)
{
	const char	*v[15] = { R.c.id, R.c.id, (const char *)R.c.key_digest,
	    NULL, NULL, old->id, NULL, NULL, NULL, NULL, NULL, "60", NULL, rid,
	    REMOTE };
	int		 lengths[15] = { 0 }, formats[15] = { 0 };

	mint(TK_TOKEN_LONG, t);
	v[6] = t->id;
	v[7] = (const char *)t->digest;
	lengths[2] = lengths[7] = TK_DIGEST_LEN;
	formats[2] = formats[4] = formats[7] = 1;
	assert_int_equal(PQsendQueryPrepared(pg, tk_handler_stmts[S_ROTATE].name,
	    tk_handler_stmts[S_ROTATE].nparams, v, lengths, formats, 0), 1);
}

/* Wait until the backend of pg waits on a lock; false after 5 s. */
static bool
waits_on_lock(PGconn *pg)
{
	double	until = tkdb_now_ms() + 5000;

	while (tkdb_now_ms() < until) {
		if (q("SELECT count(*) FROM pg_stat_activity WHERE pid = %d AND "
		    "wait_event_type = 'Lock'", PQbackendPID(pg)) == 1)
			return true;
		usleep(2000);
	}
	return false;
}

static void
finish(PGconn *pg, struct round *rd)
{
	PGresult	*res, *first = NULL;

	while ((res = PQgetResult(pg)) != NULL) {
		if (first == NULL)
			first = res;
		else
			PQclear(res);
	}
	if (PQresultStatus(first) != PGRES_TUPLES_OK)
		snprintf(rd->outcome, sizeof(rd->outcome), "error: %s",
		    PQerrorMessage(pg));
	else
		snprintf(rd->outcome, sizeof(rd->outcome), "%s",
		    PQgetvalue(first, 0, C_OUTCOME));
	PQclear(first);
}

static void
test_race_rotate_retry_vs_successor(void **state)
{
	PGconn		*x = R.racers[0].pg, *y = R.racers[1].pg;
	struct tok	 l0, l1, l2, l1b;
	struct round	 rx, ry;
	long long	 live;

	(void)state;
	memset(&rx, 0, sizeof(rx));
	memset(&ry, 0, sizeof(ry));
	client_new("{read}");
	issue_long(&R.c, &l0);
	rotate_key(&R.c, &l0, "60", &l1);

	/* X rotates L1 to L2 and keeps its transaction open. */
	assert_true(tkdb_exec(x, "BEGIN"));
	send_rotate(x, &l1, &l2, "race-successor");
	finish(x, &rx);
	assert_string_equal(rx.outcome, "ok");

	/* Y retries the rotation of L0 and waits on X's lock of L1. */
	send_rotate(y, &l0, &l1b, "race-retry");
	if (!waits_on_lock(y))
		print_message("retry: did not wait on a lock\n");
	assert_true(tkdb_exec(x, "COMMIT"));
	finish(y, &ry);
	assert_string_equal(ry.outcome, "ok");

	/* The retry's successor is the only live one. */
	live = q("SELECT count(*) FROM tokens t WHERE family_id = '%s' AND "
	    "generation > 0 AND token_is_valid(t)", l0.id);
	print_message("retry vs successor: %lld live successors (L2 %s)\n",
	    live, q("SELECT count(*) FROM tokens t WHERE id = '%s' AND "
	    "token_is_valid(t)", l2.id) == 1 ? "live" : "superseded");
	assert_int_equal(q("SELECT count(*) FROM tokens t WHERE id = '%s' AND "
	    "token_is_valid(t)", l1b.id), 1);
	assert_int_equal(q("SELECT count(*) FROM revocations WHERE token_id = "
	    "'%s' AND reason = 'superseded'", l2.id), 1);
	assert_int_equal(live, 1);
}

/*
 * ---- (f) reuse detected while a successor is being issued ----
 *
 * L0 was rotated out (overlap 0) to L1.  One session rotates L1 to L2
 * and has not committed; meanwhile L0 is presented: reuse.  Every
 * token of the family must end revoked - L2 too, committed before the
 * reuse's own commit - so that no token of a reused family lives on.
 */
static void
test_race_reuse_vs_rotation(void **state)
{
	PGconn		*x = R.racers[0].pg, *y = R.racers[1].pg;
	const int	 bin[] = { 1, 3, -1 };
	const char	*v[9];
	int		 lengths[9] = { 0 }, formats[9] = { 0 }, i;
	struct tok	 l0, l1, l2, s;
	struct round	 rx, ry;

	(void)state;
	memset(&rx, 0, sizeof(rx));
	memset(&ry, 0, sizeof(ry));
	client_new("{read}");
	issue_long(&R.c, &l0);
	rotate_key(&R.c, &l0, "0", &l1);

	assert_true(tkdb_exec(x, "BEGIN"));
	send_rotate(x, &l1, &l2, "race-successor");
	finish(x, &rx);
	assert_string_equal(rx.outcome, "ok");

	/* L0 presented on /short while X is open. */
	mint(TK_TOKEN_SHORT, &s);
	v[0] = l0.id;
	v[1] = (const char *)l0.digest;
	v[2] = s.id;
	v[3] = (const char *)s.digest;
	v[4] = v[5] = v[6] = NULL;
	v[7] = "race-reuse";
	v[8] = REMOTE;
	for (i = 0; bin[i] >= 0; i++) {
		lengths[bin[i]] = TK_DIGEST_LEN;
		formats[bin[i]] = 1;
	}
	assert_int_equal(PQsendQueryPrepared(y,
	    tk_handler_stmts[S_ISSUE_SHORT].name,
	    tk_handler_stmts[S_ISSUE_SHORT].nparams, v, lengths, formats, 0), 1);
	if (!waits_on_lock(y))
		print_message("reuse: did not wait on a lock\n");
	assert_true(tkdb_exec(x, "COMMIT"));
	finish(y, &ry);
	assert_string_equal(ry.outcome, "invalid_token");

	print_message("reuse vs rotation: %lld of 3 family tokens revoked, "
	    "%lld valid\n", q("SELECT count(*) FROM revocations r JOIN tokens "
	    "t ON t.id = r.token_id WHERE t.family_id = '%s'", l0.id),
	    q("SELECT count(*) FROM tokens t WHERE family_id = '%s' AND "
	    "token_is_valid(t)", l0.id));
	assert_int_equal(q("SELECT count(*) FROM tokens t WHERE family_id = '%s' "
	    "AND token_is_valid(t)", l0.id), 0);
	assert_int_equal(q("SELECT count(*) FROM revocations WHERE token_id = "
	    "'%s' AND reason = 'reuse_detected'", l2.id), 1);
}

/*
 * ---- (g) one family: rotations, short-term issues and revocations
 * released together ----
 *
 * Every sixth racer revokes A with A itself, 2 ms after the others are
 * let go, so that calls land on both sides of the revocation; the rest
 * rotate A with the client key or issue short-term tokens from it.
 */
enum { ROLE_ROTATE, ROLE_SHORT, ROLE_REVOKE };

static int
mixed_role(int idx)
{
	switch (idx % 6) {
	case 1:
	case 3:
		return ROLE_SHORT;
	case 5:
		return ROLE_REVOKE;
	default:
		return ROLE_ROTATE;
	}
}

static void
fill_mixed(struct racer *r, int round)
{
	switch (mixed_role(r->idx)) {
	case ROLE_ROTATE:
		r->stmt = S_ROTATE;
		fill_rotate(r, round);
		break;
	case ROLE_SHORT:
		r->stmt = S_ISSUE_SHORT;
		fill_short(r, round);
		break;
	default:
		r->stmt = S_REVOKE;
		r->delay_us = 2000;
		fill_revoke(r, round);
		break;
	}
}

/* The outcome of an issue_short with bearer t. */
static char *
short_outcome(const struct tok *t)
{
	static struct racer probe;	/* not a racer: theirs stay as they were */
	struct racer	*r = &probe;
	const int	 bin[] = { 1, 3, -1 };
	struct tok	 saved = R.a;
	PGresult	*res;
	char		*out;

	R.a = *t;		/* fill_short points at R.a's fields */
	fill_short(r, 99);
	res = call(S_ISSUE_SHORT, r->values, bin);
	R.a = saved;
	out = strdup(PQgetvalue(res, 0, C_OUTCOME));
	PQclear(res);
	return out;
}

static void
attempt_mixed(int *max_inflight)
{
	int		 i, n[3] = { 0 }, ok[3] = { 0 }, live_idx = -1;
	char		*succ, *out;
	const char	*allowed[3][2] = { { "ok", "conflict" },
	    { "ok", "invalid_token" }, { "ok", "invalid_token" } };

	client_new("{read}");
	issue_long(&R.c, &R.a);
	R.b = R.a;		/* fill_revoke: A revokes itself */
	*max_inflight = race("one family", S_ROTATE, 1, fill_mixed, false);

	/* Every answer is one the contract allows: none is an error. */
	for (i = 0; i < NRACERS; i++) {
		int		 role = mixed_role(i);
		const char	*o = R.racers[i].r[0].outcome;

		n[role]++;
		if (strcmp(o, "ok") == 0)
			ok[role]++;
		if (strcmp(o, allowed[role][0]) != 0 &&
		    strcmp(o, allowed[role][1]) != 0)
			print_error("racer %d (role %d): %s\n", i, role, o);
		assert_true(strcmp(o, allowed[role][0]) == 0 ||
		    strcmp(o, allowed[role][1]) == 0);
	}
	print_message("one family: %d/%d rotations, %d/%d short-term issues, "
	    "%d/%d revocations answered ok\n", ok[ROLE_ROTATE], n[ROLE_ROTATE],
	    ok[ROLE_SHORT], n[ROLE_SHORT], ok[ROLE_REVOKE], n[ROLE_REVOKE]);
	assert_true(ok[ROLE_REVOKE] >= 1);
	assert_int_equal(q("SELECT count(*) FROM revocations WHERE token_id = "
	    "'%s' AND reason = 'requested'", R.a.id), 1);
	assert_int_equal(q("SELECT count(*) FROM token_events WHERE event = "
	    "'revoked' AND token_id = '%s'", R.a.id), 1);

	/* The revoked token issues nothing; none of its children works. */
	out = short_outcome(&R.a);
	assert_string_equal(out, "invalid_token");
	free(out);
	assert_int_equal(q("SELECT count(*) FROM tokens WHERE parent_id = '%s'",
	    R.a.id), ok[ROLE_SHORT]);
	assert_int_equal(q("SELECT count(*) FROM token_events WHERE event = "
	    "'issued' AND parent_id = '%s'", R.a.id), ok[ROLE_SHORT]);
	assert_int_equal(q("SELECT count(*) FROM tokens t WHERE parent_id = "
	    "'%s' AND token_is_valid(t)", R.a.id), 0);
	for (i = 0; i < NRACERS; i++)
		if (mixed_role(i) != ROLE_REVOKE &&
		    strcmp(R.racers[i].r[0].outcome, "ok") == 0)
			assert_int_equal(q("SELECT count(*) FROM tokens WHERE "
			    "id = '%s'", R.racers[i].minted.id), 1);

	/* Exactly one live successor when A was rotated at all. */
	assert_int_equal(q("SELECT count(*) FROM tokens WHERE rotated_from = "
	    "'%s'", R.a.id), ok[ROLE_ROTATE]);
	assert_int_equal(q("SELECT count(*) FROM token_events WHERE event = "
	    "'rotated' AND parent_id = '%s'", R.a.id), ok[ROLE_ROTATE]);
	assert_int_equal(q("SELECT count(*) FROM tokens t WHERE rotated_from = "
	    "'%s' AND token_is_valid(t)", R.a.id), ok[ROLE_ROTATE] > 0 ? 1 : 0);
	if (ok[ROLE_ROTATE] == 0)
		return;

	/* Revoke that successor too: then the family issues nothing. */
	succ = tkdb_text(R.pg, "SELECT id FROM tokens t WHERE rotated_from = "
	    "'%s' AND token_is_valid(t)", R.a.id);
	assert_non_null(succ);
	for (i = 0; i < NRACERS; i++)
		if (mixed_role(i) == ROLE_ROTATE &&
		    strcmp(R.racers[i].minted.id, succ) == 0)
			live_idx = i;
	free(succ);
	assert_true(live_idx >= 0);
	{
		const int	 bin[] = { 2, -1 };
		struct tok	*l = &R.racers[live_idx].minted;
		const char	*v[6] = { "long", l->id, (const char *)l->digest,
		    l->id, "race-family-end", REMOTE };

		assert_ok(call(S_REVOKE, v, bin));
		out = short_outcome(l);
		assert_string_equal(out, "invalid_token");
		free(out);
	}
	assert_int_equal(q("SELECT count(*) FROM tokens t WHERE family_id = '%s' "
	    "AND token_is_valid(t)", R.a.id), 0);
}

static void
test_race_one_family(void **state)
{
	(void)state;
	race_until_raced("one family", attempt_mixed);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_race_rotate),
		cmocka_unit_test(test_race_revoke),
		cmocka_unit_test(test_race_reuse),
		cmocka_unit_test(test_race_short_vs_revoke),
		cmocka_unit_test(test_race_rotate_retry_vs_successor),
		cmocka_unit_test(test_race_reuse_vs_rotation),
		cmocka_unit_test(test_race_one_family),
	};

	tkdb_require_env(&R.db);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
