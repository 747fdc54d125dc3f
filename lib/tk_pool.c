/*
 * tk_pool.c - libpq connections shared by the threads of one worker.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tk_log.h"
#include "tk_pool.h"

/*
 * A cancelled query gets this long to give its connection back; a server
 * that cannot answer (stopped, say) costs its connection instead, so a
 * request never overruns request_timeout by more than this.
 */
#define CANCEL_GRACE_MS		300
/* Connection failures are logged at most this often. */
#define ERROR_LOG_INTERVAL	10

struct conn {
	PGconn		*pg;
	bool		 busy;
	unsigned long	 prepared;	/* bit i: statement i is prepared */
};

struct tk_pool {
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	struct tk_pool_settings	 s;
	char			*conninfo;
	char			 options[64];
	struct conn		*conns;
	unsigned int		 busy;
	time_t			 last_error_log;
};

void
tk_deadline_in(struct timespec *ts, unsigned int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

int
tk_deadline_ms_left(const struct timespec *deadline)
{
	struct timespec	now;
	long long	ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(deadline->tv_sec - now.tv_sec) * 1000 +
	    (deadline->tv_nsec - now.tv_nsec) / 1000000;
	if (ms <= 0)
		return 0;
	return ms > 3600000 ? 3600000 : (int)ms;
}

struct tk_pool *
tk_pool_new(const struct tk_pool_settings *s)
{
	struct tk_pool	*pool;

	if (s->nstmts > sizeof(unsigned long) * 8 || s->size == 0)
		return NULL;
	if ((pool = calloc(1, sizeof(*pool))) == NULL)
		return NULL;
	pool->s = *s;
	if ((pool->conninfo = strdup(s->conninfo)) == NULL ||
	    (pool->conns = calloc(s->size, sizeof(*pool->conns))) == NULL) {
		free(pool->conninfo);
		free(pool);
		return NULL;
	}
	pool->s.conninfo = pool->conninfo;
	snprintf(pool->options, sizeof(pool->options),
	    "-c statement_timeout=%u", s->statement_timeout_ms);
	pthread_mutex_init(&pool->mu, NULL);
	pthread_cond_init(&pool->cv, NULL);
	return pool;
}

void
tk_pool_free(struct tk_pool *pool)
{
	unsigned int	i;

	if (pool == NULL)
		return;
	for (i = 0; i < pool->s.size; i++)
		if (pool->conns[i].pg != NULL)
			PQfinish(pool->conns[i].pg);
	pthread_mutex_destroy(&pool->mu);
	pthread_cond_destroy(&pool->cv);
	free(pool->conns);
	free(pool->conninfo);
	free(pool);
}

void
tk_pool_counts(struct tk_pool *pool, unsigned int *open, unsigned int *busy)
{
	unsigned int	i, n = 0;

	pthread_mutex_lock(&pool->mu);
	for (i = 0; i < pool->s.size; i++)
		if (pool->conns[i].pg != NULL)
			n++;
	*open = n;
	*busy = pool->busy;
	pthread_mutex_unlock(&pool->mu);
}

/* Log a connection problem, at most once per interval per worker. */
static void
log_unavailable(struct tk_pool *pool, const char *request_id,
    const char *what, const char *why)
{
	time_t	now = time(NULL);
	bool	say;
	char	esc[256];

	pthread_mutex_lock(&pool->mu);
	say = now - pool->last_error_log >= ERROR_LOG_INTERVAL;
	if (say)
		pool->last_error_log = now;
	pthread_mutex_unlock(&pool->mu);
	if (!say)
		return;
	tk_log_escape(why, esc, sizeof(esc));
	tk_log_error("%s: %s request_id=%s", what, esc, request_id);
}

/* Wait for fd to be ready for events, until the deadline. */
static bool
wait_fd(int fd, short events, const struct timespec *deadline)
{
	struct pollfd	pfd = { .fd = fd, .events = events };
	int		rc;

	do {
		rc = poll(&pfd, 1, tk_deadline_ms_left(deadline));
	} while (rc < 0 && errno == EINTR);
	return rc > 0;
}

static PGconn *
connect_async(struct tk_pool *pool, const struct timespec *deadline,
    const char *request_id)
{
	const char *const	keys[] = { "dbname", "application_name",
	    "keepalives", "keepalives_idle", "keepalives_interval",
	    "keepalives_count", "options", NULL };
	const char *const	values[] = { pool->conninfo, "tokend", "1",
	    "30", "10", "3", pool->options, NULL };
	PGconn			*pg;
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;

	if ((pg = PQconnectStartParams(keys, values, 1)) == NULL)
		return NULL;
	while (PQstatus(pg) != CONNECTION_BAD) {
		if (st == PGRES_POLLING_OK) {
			if (PQsetnonblocking(pg, 1) != 0)
				break;
			return pg;
		}
		if (st == PGRES_POLLING_FAILED)
			break;
		if (!wait_fd(PQsocket(pg), st == PGRES_POLLING_READING ?
		    POLLIN : POLLOUT, deadline)) {
			log_unavailable(pool, request_id,
			    "could not connect to database", "timed out");
			PQfinish(pg);
			return NULL;
		}
		st = PQconnectPoll(pg);
	}
	log_unavailable(pool, request_id, "could not connect to database",
	    PQerrorMessage(pg));
	PQfinish(pg);
	return NULL;
}

static enum tk_err
acquire(struct tk_pool *pool, const struct timespec *deadline,
    struct conn **out)
{
	struct timespec	until, now;
	unsigned int	i;
	int		rc = 0;

	/* Wait no longer than the acquire timeout, nor past the request. */
	tk_deadline_in(&until, pool->s.acquire_timeout_ms);
	if (deadline->tv_sec < until.tv_sec || (deadline->tv_sec ==
	    until.tv_sec && deadline->tv_nsec < until.tv_nsec))
		until = *deadline;
	pthread_mutex_lock(&pool->mu);
	while (pool->busy == pool->s.size && rc == 0) {
		/* The condition variable waits on CLOCK_REALTIME. */
		struct timespec abs;
		int left = tk_deadline_ms_left(&until);

		clock_gettime(CLOCK_REALTIME, &now);
		abs.tv_sec = now.tv_sec + left / 1000;
		abs.tv_nsec = now.tv_nsec + (long)(left % 1000) * 1000000L;
		if (abs.tv_nsec >= 1000000000L) {
			abs.tv_sec++;
			abs.tv_nsec -= 1000000000L;
		}
		rc = pthread_cond_timedwait(&pool->cv, &pool->mu, &abs);
		if (rc == ETIMEDOUT && pool->busy < pool->s.size)
			rc = 0;
	}
	if (pool->busy == pool->s.size) {
		pthread_mutex_unlock(&pool->mu);
		return TK_EUNAVAIL;
	}
	/* Prefer a connection that is already open. */
	for (i = 0; i < pool->s.size; i++)
		if (!pool->conns[i].busy && pool->conns[i].pg != NULL)
			break;
	if (i == pool->s.size)
		for (i = 0; i < pool->s.size; i++)
			if (!pool->conns[i].busy)
				break;
	pool->conns[i].busy = true;
	pool->busy++;
	pthread_mutex_unlock(&pool->mu);
	*out = &pool->conns[i];
	return TK_OK;
}

static void
release(struct tk_pool *pool, struct conn *c, bool broken)
{
	PGconn	*dead = NULL;

	pthread_mutex_lock(&pool->mu);
	if (broken) {
		dead = c->pg;
		c->pg = NULL;
		c->prepared = 0;
	}
	c->busy = false;
	pool->busy--;
	pthread_cond_signal(&pool->cv);
	pthread_mutex_unlock(&pool->mu);
	if (dead != NULL)
		PQfinish(dead);
}

/*
 * Is an idle connection still usable?  A server that restarted or
 * dropped it has left an error or EOF to read: find out before sending,
 * so that a statement is never sent down a dead line.
 */
static bool
is_alive(PGconn *pg)
{
	struct pollfd	pfd = { .fd = PQsocket(pg), .events = POLLIN };

	if (PQstatus(pg) != CONNECTION_OK || pfd.fd < 0)
		return false;
	if (poll(&pfd, 1, 0) > 0) {
		if (PQconsumeInput(pg) == 0)
			return false;
		while (!PQisBusy(pg)) {
			PGresult *r = PQgetResult(pg);

			if (r == NULL)
				break;
			PQclear(r);	/* a notice or FATAL of the server */
		}
	}
	return PQstatus(pg) == CONNECTION_OK;
}

/*
 * Wait for the result of what was sent.  Returns the first result, or
 * the first error that followed it, (or NULL with *timed_out set) after
 * reading every result of the query: only ReadyForQuery says that the
 * implicit transaction committed.
 */
static PGresult *
wait_result(PGconn *pg, const struct timespec *deadline, bool *timed_out)
{
	PGresult	*first = NULL, *r;
	int		 rc;

	*timed_out = false;
	while ((rc = PQflush(pg)) == 1)
		if (!wait_fd(PQsocket(pg), POLLOUT | POLLIN, deadline)) {
			*timed_out = true;
			return NULL;
		}
	if (rc < 0)
		return NULL;
	for (;;) {
		while (PQisBusy(pg)) {
			if (!wait_fd(PQsocket(pg), POLLIN, deadline)) {
				*timed_out = true;
				PQclear(first);
				return NULL;
			}
			if (PQconsumeInput(pg) == 0) {
				PQclear(first);
				return NULL;
			}
		}
		if ((r = PQgetResult(pg)) == NULL)
			break;
		if (first == NULL)
			first = r;
		else if (PQresultStatus(r) == PGRES_FATAL_ERROR &&
		    PQresultStatus(first) != PGRES_FATAL_ERROR) {
			/*
			 * An error after the rows: the implicit transaction
			 * failed at its commit (a deferred constraint, a
			 * serialization failure).  The rows describe a write
			 * that did not happen; the error is the answer.
			 */
			PQclear(first);
			first = r;
		} else
			PQclear(r);
	}
	return first;
}

/* Cancel the running query and drain it; false if the line is lost. */
static bool
cancel(PGconn *pg)
{
	PGcancel	*cn;
	char		 errbuf[256];
	struct timespec	 grace;
	bool		 timed_out;
	PGresult	*r;

	if ((cn = PQgetCancel(pg)) == NULL)
		return false;
	(void)PQcancel(cn, errbuf, sizeof(errbuf));
	PQfreeCancel(cn);
	tk_deadline_in(&grace, CANCEL_GRACE_MS);
	r = wait_result(pg, &grace, &timed_out);
	PQclear(r);
	return !timed_out && PQstatus(pg) == CONNECTION_OK &&
	    PQtransactionStatus(pg) == PQTRANS_IDLE;
}

/* What a failed result means for the caller and the connection. */
static enum tk_err
classify(struct tk_pool *pool, PGconn *pg, const PGresult *res,
    const char *request_id, bool *broken)
{
	const char	*state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char	*msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	char		 esc[256];

	if (PQstatus(pg) != CONNECTION_OK || state == NULL) {
		*broken = true;
		log_unavailable(pool, request_id, "database connection lost",
		    PQerrorMessage(pg));
		return TK_EUNAVAIL;
	}
	/*
	 * Connection, shutdown, resources, read-only, timeouts, lock and
	 * serialization failures are the database's state, not a bug.  A
	 * connection to a read-only server (a standby, or a primary fenced
	 * with default_transaction_read_only) would fail every write: drop
	 * it, so that the next one finds the writable server
	 * (target_session_attrs=read-write).
	 */
	if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 ||
	    strcmp(state, "26000") == 0 || strcmp(state, "25006") == 0) {
		*broken = true;
		log_unavailable(pool, request_id, "database unavailable",
		    msg != NULL ? msg : state);
		return TK_EUNAVAIL;
	}
	if (strncmp(state, "53", 2) == 0 ||
	    strcmp(state, "57014") == 0 || strcmp(state, "55P03") == 0 ||
	    strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
	    strcmp(state, "55000") == 0) {
		log_unavailable(pool, request_id, "database unavailable",
		    msg != NULL ? msg : state);
		return TK_EUNAVAIL;
	}
	tk_log_escape(msg != NULL ? msg : "", esc, sizeof(esc));
	tk_log_error("statement failed: sqlstate=%s %s request_id=%s", state,
	    esc, request_id);
	return TK_EINTERNAL;
}

static enum tk_err
prepare(struct tk_pool *pool, struct conn *c, unsigned int stmt,
    const struct timespec *deadline, const char *request_id, bool *broken)
{
	const struct tk_pool_stmt	*st = &pool->s.stmts[stmt];
	PGresult			*res;
	bool				 timed_out;
	enum tk_err			 err = TK_OK;

	if (!PQsendPrepare(c->pg, st->name, st->sql, st->nparams, NULL)) {
		*broken = true;
		return TK_EUNAVAIL;
	}
	res = wait_result(c->pg, deadline, &timed_out);
	if (timed_out) {
		*broken = !cancel(c->pg);
		return TK_ETIMEDOUT;
	}
	if (res == NULL) {
		*broken = true;
		err = TK_EUNAVAIL;
	} else if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		err = classify(pool, c->pg, res, request_id, broken);
	} else {
		c->prepared |= 1UL << stmt;
	}
	PQclear(res);
	return err;
}

enum tk_err
tk_pool_exec(struct tk_pool *pool, unsigned int stmt,
    const char *const *values, const int *lengths, const int *formats,
    const struct timespec *deadline, const char *request_id, PGresult **out)
{
	const struct tk_pool_stmt	*st = &pool->s.stmts[stmt];
	struct conn			*c = NULL;
	PGresult			*res = NULL;
	bool				 broken = false, timed_out, sent;
	enum tk_err			 err;

	if ((err = acquire(pool, deadline, &c)) != TK_OK) {
		log_unavailable(pool, request_id, "no database connection free",
		    "pool exhausted");
		return err;
	}
	if (c->pg != NULL && !is_alive(c->pg)) {
		PQfinish(c->pg);
		c->pg = NULL;
		c->prepared = 0;
	}
	if (c->pg == NULL) {
		c->prepared = 0;
		if ((c->pg = connect_async(pool, deadline, request_id)) == NULL) {
			err = tk_deadline_ms_left(deadline) == 0 ?
			    TK_ETIMEDOUT : TK_EUNAVAIL;
			goto out;
		}
	}
	if (pool->s.prepared && (c->prepared & (1UL << stmt)) == 0 &&
	    (err = prepare(pool, c, stmt, deadline, request_id, &broken)) != TK_OK)
		goto out;
	if (pool->s.prepared)
		sent = PQsendQueryPrepared(c->pg, st->name, st->nparams, values,
		    lengths, formats, 0);
	else
		sent = PQsendQueryParams(c->pg, st->sql, st->nparams, NULL,
		    values, lengths, formats, 0);
	if (!sent) {
		broken = true;
		log_unavailable(pool, request_id, "could not send statement",
		    PQerrorMessage(c->pg));
		err = TK_EUNAVAIL;
		goto out;
	}
	res = wait_result(c->pg, deadline, &timed_out);
	if (timed_out) {
		tk_log_warn("statement %s cancelled: request timed out "
		    "request_id=%s", st->name, request_id);
		broken = !cancel(c->pg);
		err = TK_ETIMEDOUT;
		goto out;
	}
	if (res == NULL) {
		broken = true;
		log_unavailable(pool, request_id, "database connection lost",
		    PQerrorMessage(c->pg));
		err = TK_EUNAVAIL;
		goto out;
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		err = classify(pool, c->pg, res, request_id, &broken);
		goto out;
	}
	*out = res;
	res = NULL;
	err = TK_OK;
out:
	PQclear(res);
	release(pool, c, broken);
	return err;
}
