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
#include "tk_err.h"

/*
 * Serve on listen_fd until drained, counting failed authentications in
 * the shared abuse (NULL: not counted).  Call after fork(): it makes
 * the pool, the threads and the random state.  Returns after every
 * thread has finished; TK_ENOMEM or TK_EIO when it could not start.
 */
enum tk_err	tk_worker_run(const struct tk_config *, int listen_fd,
		    struct tk_abuse *abuse);

#endif /* TK_WORKER_H */
