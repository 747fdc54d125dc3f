/*
 * tk_stats.h - counters of every process of one tokend, for /v1/status.
 *
 * One region of shared memory, mapped by the master before fork(), with
 * a slot per worker.  A worker writes only its own slot, with atomic
 * adds and stores, so no lock is taken on the request path; readers may
 * see counters a moment apart, which a status page can live with.
 */
#ifndef TK_STATS_H
#define TK_STATS_H

#include <stdbool.h>
#include <sys/types.h>
#include <json-c/json.h>

#define TK_STATS_SLOTS	2048

struct tk_stats;

/* Map the region; NULL when out of memory.  listen_queue_known: TCP. */
struct tk_stats	*tk_stats_new(bool listen_queue_known);
void		 tk_stats_free(struct tk_stats *);	/* NULL is fine */

/* Master: a worker started in slot (restart: not one of the first). */
void		 tk_stats_worker_started(struct tk_stats *, unsigned int slot,
		    pid_t pid, unsigned int threads, bool restart);
void		 tk_stats_worker_gone(struct tk_stats *, unsigned int slot);

/* Worker: a thread became busy (+1) or idle (-1). */
void		 tk_stats_busy(struct tk_stats *, unsigned int slot, int delta);
/* Worker: a request was answered with status. */
void		 tk_stats_request(struct tk_stats *, unsigned int slot, int status);
/* Worker: its pool's connections open and lent out now. */
void		 tk_stats_pool(struct tk_stats *, unsigned int slot,
		    unsigned int open, unsigned int busy);
/* Worker: the accept queue held this many connections. */
void		 tk_stats_listen_queue(struct tk_stats *, unsigned int queued);

/* The whole status as JSON (yours: json_object_put).  NULL: no memory. */
struct json_object *tk_stats_json(struct tk_stats *);

/* The same in the Prometheus text format (yours: free).  NULL: no memory. */
char		*tk_stats_prometheus(struct tk_stats *);

#endif /* TK_STATS_H */
