/*
 * tk_master.h - the prefork master: the listening socket and its workers.
 *
 * The master opens (--listen) or inherits (fd 0, from spawn-fcgi) the
 * listening socket, forks cfg->workers workers and replaces any that
 * dies: at once for the first 3 deaths within 10 s, then after a delay
 * doubling up to 30 s.  SIGHUP re-reads the settings and replaces the
 * workers one by one; SIGTERM drains them and returns.  Nothing that
 * would be shared by accident - a database connection, a thread, the
 * random state - exists before fork().
 */
#ifndef TK_MASTER_H
#define TK_MASTER_H

#include "tk_config.h"
#include "tk_err.h"

/*
 * Run until SIGTERM or SIGINT.  TK_EINVAL when there is no listening
 * socket (the message says so); TK_EIO when the socket cannot be made.
 * cfg stays the caller's; reloaded settings are the master's own.
 */
enum tk_err	tk_master_run(const struct tk_config *cfg);

#endif /* TK_MASTER_H */
