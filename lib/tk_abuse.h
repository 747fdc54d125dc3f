/*
 * tk_abuse.h - failed authentications: counted, flushed, limited.
 *
 * Workers count failures in memory shared by every process of one
 * tokend, per (remote address, client id when the credential named an
 * existing client), without a database write per failure.  A flusher
 * process turns the counts into one auth_failed audit row per key per
 * second.  Past rate_limit_budget failures within rate_limit_window, an
 * address gets 429 until the window ends.  Limits are per host.
 */
#ifndef TK_ABUSE_H
#define TK_ABUSE_H

#include <stdbool.h>
#include <libpq-fe.h>
#include "tk_err.h"
#include "tk_token.h"

struct tk_abuse;

/*
 * Map the shared table; call in the master before fork() so every
 * worker sees the same one.  NULL when out of memory.
 */
struct tk_abuse	*tk_abuse_new(unsigned int window, unsigned int budget);
void		 tk_abuse_free(struct tk_abuse *);	/* NULL is fine */

/* Change the window and budget (SIGHUP). */
void		 tk_abuse_set_limits(struct tk_abuse *, unsigned int window,
		    unsigned int budget);

/* Has addr used up its budget of failures in the current window? */
bool		 tk_abuse_is_limited(struct tk_abuse *, const char *addr);

/*
 * The client of a failure whose credential named no existing client
 * (flushed as NULL).  As long as a client id, so that a known and an
 * unknown client cost the same work.
 */
#define TK_ABUSE_NO_CLIENT	"00000000-0000-0000-0000-000000000000"

/*
 * Count one failed authentication from addr.  client is exactly
 * TK_UUID_STR_LEN characters (a NUL after them is not needed): the
 * existing client the credential named, or TK_ABUSE_NO_CLIENT.  It is
 * read, hashed and compared at that fixed length, never by looking for
 * its end, so the work does not tell whether the client exists
 * (tests/timing).  NULL counts as TK_ABUSE_NO_CLIENT.
 */
void		 tk_abuse_fail(struct tk_abuse *, const char *addr,
		    const char *client);

/*
 * Write the pending counts as auth_failed rows with one statement on
 * conn; on failure they stay pending for the next flush.  TK_EUNAVAIL
 * when the database refused.
 */
enum tk_err	 tk_abuse_flush(struct tk_abuse *, PGconn *conn);

/*
 * The flusher process: every second, write the pending counts through
 * its own connection to conninfo; on SIGTERM or SIGINT flush once more
 * and return.  Call in a child forked for it, with no threads.
 */
void		 tk_abuse_flusher_run(struct tk_abuse *, const char *conninfo);

/* Pending keys, for tests and the status page. */
unsigned int	 tk_abuse_pending(struct tk_abuse *);

#endif /* TK_ABUSE_H */
