/*
 * tk_worker.h - one worker process: threads answering FastCGI requests.
 *
 * Each of cfg->threads threads waits in poll() on the listening socket
 * and a wake-up pipe, then takes one connection with FCGX_Accept_r on
 * the non-blocking socket.  Draining (SIGTERM, or max_requests reached)
 * writes to the pipe: idle threads leave at once, busy ones finish
 * their request first.  Signals are blocked in the request threads, so
 * no read or write of a request is ever cut by one.
 */
#ifndef TK_WORKER_H
#define TK_WORKER_H

#include "tk_abuse.h"
#include "tk_config.h"
#include "tk_stats.h"
#include "tk_err.h"

/* What the master hands a worker; the shared regions may be NULL. */
struct tk_worker_env {
	int		 listen_fd;
	struct tk_abuse	*abuse;		/* failed authentications */
	struct tk_stats	*stats;		/* counters for /status */
	unsigned int	 slot;		/* this worker's slot in stats */
};

/*
 * Serve on env->listen_fd until drained.  Call after fork(): it makes
 * the pool, the threads and the random state.  Returns after every
 * thread has finished; TK_ENOMEM or TK_EIO when it could not start.
 */
enum tk_err	tk_worker_run(const struct tk_config *,
		    const struct tk_worker_env *);

#endif /* TK_WORKER_H */
