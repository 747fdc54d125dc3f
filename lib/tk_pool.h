/*
 * tk_pool.h - per-worker pool of libpq connections.
 *
 * Connections open lazily and asynchronously; a broken one is reset,
 * never handed out again.  Each statement runs with libpq's asynchronous
 * API against a deadline: past it the query is cancelled and the caller
 * gets TK_ETIMEDOUT, with the connection reset if it cannot be drained.
 * One pool per worker process, shared by its threads; create it after
 * fork(), never before.
 */
#ifndef TK_POOL_H
#define TK_POOL_H

#include <stdbool.h>
#include <time.h>
#include <libpq-fe.h>
#include "tk_err.h"

/* A statement the pool prepares on each connection before first use. */
struct tk_pool_stmt {
	const char	*name;
	const char	*sql;
	int		 nparams;
};

struct tk_pool_settings {
	const char	*conninfo;		/* "" for libpq's PG* variables */
	unsigned int	 size;
	unsigned int	 acquire_timeout_ms;
	unsigned int	 statement_timeout_ms;
	bool		 prepared;		/* prepare, or send the text each time */
	const struct tk_pool_stmt *stmts;	/* borrowed for the pool's life */
	unsigned int	 nstmts;
};

struct tk_pool;

/* A new pool; connects nothing yet.  NULL when out of memory. */
struct tk_pool	*tk_pool_new(const struct tk_pool_settings *);
void		 tk_pool_free(struct tk_pool *);	/* NULL is fine */

/*
 * Run statement stmt (an index into the settings' table) with text
 * parameters (NULL for SQL NULL; binary where lengths/formats say so)
 * before the monotonic deadline.  On TK_OK *res holds the single tuples
 * result (yours: PQclear).  TK_EUNAVAIL: no connection (database down,
 * pool exhausted) or a fault of the server (read-only, shut down,
 * statement timeout); TK_ETIMEDOUT: the deadline passed; TK_EINTERNAL:
 * the statement failed for another reason (logged with request_id).
 */
enum tk_err	 tk_pool_exec(struct tk_pool *, unsigned int stmt,
		    const char *const *values, const int *lengths,
		    const int *formats, const struct timespec *deadline,
		    const char *request_id, PGresult **res);

/* Connections open now and connections lent out now. */
void		 tk_pool_counts(struct tk_pool *, unsigned int *open,
		    unsigned int *busy);

/* The monotonic time ms milliseconds from now. */
void		 tk_deadline_in(struct timespec *, unsigned int ms);

/* Milliseconds left until a deadline of tk_deadline_in: 0 when passed,
 * at most an hour. */
int		 tk_deadline_ms_left(const struct timespec *);

#endif /* TK_POOL_H */
