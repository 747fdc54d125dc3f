/*
 * tk_stats.c - shared counters and their two renderings.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "tk_stats.h"

enum { CLASS_2XX, CLASS_3XX, CLASS_4XX, CLASS_5XX, NCLASSES };

static const char *const class_names[NCLASSES] = { "2xx", "3xx", "4xx", "5xx" };

struct slot {
	long		pid;		/* 0: free */
	unsigned long	threads;
	unsigned long	busy;
	unsigned long	accepted;
	unsigned long	by_class[NCLASSES];
	unsigned long	pool_open;
	unsigned long	pool_busy;
	long		started;	/* wall clock, seconds */
};

struct tk_stats {
	long		started;
	bool		queue_known;
	unsigned long	restarts;
	unsigned long	max_listen_queue;
	struct slot	slots[TK_STATS_SLOTS];
};

#define LOAD(p)		__atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define ADD(p, v)	__atomic_fetch_add((p), (v), __ATOMIC_RELAXED)

struct tk_stats *
tk_stats_new(bool listen_queue_known)
{
	struct tk_stats	*st;

	st = mmap(NULL, sizeof(*st), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (st == MAP_FAILED)
		return NULL;
	memset(st, 0, sizeof(*st));
	st->started = (long)time(NULL);
	st->queue_known = listen_queue_known;
	return st;
}

void
tk_stats_free(struct tk_stats *st)
{
	if (st != NULL)
		munmap(st, sizeof(*st));
}

void
tk_stats_worker_started(struct tk_stats *st, unsigned int slot, pid_t pid,
    unsigned int threads, bool restart)
{
	struct slot	*s;

	if (st == NULL || slot >= TK_STATS_SLOTS)
		return;
	s = &st->slots[slot];
	memset(s, 0, sizeof(*s));
	s->threads = threads;
	s->started = (long)time(NULL);
	STORE(&s->pid, (long)pid);
	if (restart)
		ADD(&st->restarts, 1);
}

void
tk_stats_worker_gone(struct tk_stats *st, unsigned int slot)
{
	if (st != NULL && slot < TK_STATS_SLOTS)
		STORE(&st->slots[slot].pid, 0);
}

void
tk_stats_busy(struct tk_stats *st, unsigned int slot, int delta)
{
	if (st == NULL || slot >= TK_STATS_SLOTS)
		return;
	if (delta > 0)
		ADD(&st->slots[slot].busy, 1);
	else
		__atomic_fetch_sub(&st->slots[slot].busy, 1, __ATOMIC_RELAXED);
}

void
tk_stats_request(struct tk_stats *st, unsigned int slot, int status)
{
	int	c = status / 100 - 2;

	if (st == NULL || slot >= TK_STATS_SLOTS)
		return;
	ADD(&st->slots[slot].accepted, 1);
	if (c >= 0 && c < NCLASSES)
		ADD(&st->slots[slot].by_class[c], 1);
}

void
tk_stats_pool(struct tk_stats *st, unsigned int slot, unsigned int open,
    unsigned int busy)
{
	if (st == NULL || slot >= TK_STATS_SLOTS)
		return;
	STORE(&st->slots[slot].pool_open, open);
	STORE(&st->slots[slot].pool_busy, busy);
}

void
tk_stats_listen_queue(struct tk_stats *st, unsigned int queued)
{
	unsigned long	cur;

	if (st == NULL)
		return;
	cur = LOAD(&st->max_listen_queue);
	while (queued > cur && !__atomic_compare_exchange_n(
	    &st->max_listen_queue, &cur, queued, false, __ATOMIC_RELAXED,
	    __ATOMIC_RELAXED))
		;
}

/* A copy of the counters, and their totals over the live workers. */
struct snapshot {
	struct slot	total;
	unsigned long	workers;
};

static void
take(struct tk_stats *st, struct slot *copy, unsigned int i)
{
	struct slot	*s = &st->slots[i];
	int		 c;

	copy->pid = LOAD(&s->pid);
	copy->threads = LOAD(&s->threads);
	copy->busy = LOAD(&s->busy);
	copy->accepted = LOAD(&s->accepted);
	for (c = 0; c < NCLASSES; c++)
		copy->by_class[c] = LOAD(&s->by_class[c]);
	copy->pool_open = LOAD(&s->pool_open);
	copy->pool_busy = LOAD(&s->pool_busy);
	copy->started = s->started;
	/* A thread counted busy before its worker's slot was reset. */
	if (copy->busy > copy->threads)
		copy->busy = copy->threads;
}

static void
add_counters(struct json_object *obj, const struct slot *s)
{
	struct json_object	*req = json_object_new_object();
	int			 c;

	json_object_object_add(obj, "threads", json_object_new_int64((int64_t)s->threads));
	json_object_object_add(obj, "busy", json_object_new_int64((int64_t)s->busy));
	json_object_object_add(obj, "idle",
	    json_object_new_int64((int64_t)(s->threads - s->busy)));
	json_object_object_add(obj, "accepted", json_object_new_int64((int64_t)s->accepted));
	for (c = 0; c < NCLASSES; c++)
		json_object_object_add(req, class_names[c],
		    json_object_new_int64((int64_t)s->by_class[c]));
	json_object_object_add(obj, "requests", req);
	json_object_object_add(obj, "pool_connections_open",
	    json_object_new_int64((int64_t)s->pool_open));
	json_object_object_add(obj, "pool_connections_in_use",
	    json_object_new_int64((int64_t)s->pool_busy));
}

struct json_object *
tk_stats_json(struct tk_stats *st)
{
	struct json_object	*obj, *list;
	struct slot		 s, total;
	unsigned int		 i, n = 0;
	long			 now = (long)time(NULL);
	int			 c;

	if ((obj = json_object_new_object()) == NULL)
		return NULL;
	list = json_object_new_array();
	memset(&total, 0, sizeof(total));
	for (i = 0; i < TK_STATS_SLOTS; i++) {
		struct json_object *w;

		take(st, &s, i);
		if (s.pid == 0)
			continue;
		n++;
		total.threads += s.threads;
		total.busy += s.busy;
		total.accepted += s.accepted;
		for (c = 0; c < NCLASSES; c++)
			total.by_class[c] += s.by_class[c];
		total.pool_open += s.pool_open;
		total.pool_busy += s.pool_busy;
		w = json_object_new_object();
		json_object_object_add(w, "pid", json_object_new_int64(s.pid));
		json_object_object_add(w, "uptime_seconds",
		    json_object_new_int64(now - s.started));
		add_counters(w, &s);
		json_object_array_add(list, w);
	}
	json_object_object_add(obj, "uptime_seconds",
	    json_object_new_int64(now - st->started));
	json_object_object_add(obj, "workers", json_object_new_int64(n));
	json_object_object_add(obj, "restarts",
	    json_object_new_int64((int64_t)LOAD(&st->restarts)));
	json_object_object_add(obj, "max_listen_queue", st->queue_known ?
	    json_object_new_int64((int64_t)LOAD(&st->max_listen_queue)) :
	    json_object_new_string("n/a"));
	add_counters(obj, &total);
	json_object_object_add(obj, "worker", list);
	return obj;
}

/* Append to a growing buffer; false when out of memory. */
static bool
put(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool
put(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return false;
		if ((size_t)n < *cap - *len) {
			*len += (size_t)n;
			return true;
		}
		{
			char *nb = realloc(*buf, *cap * 2 + (size_t)n);

			if (nb == NULL)
				return false;
			*buf = nb;
			*cap = *cap * 2 + (size_t)n;
		}
	}
}

char *
tk_stats_prometheus(struct tk_stats *st)
{
	size_t		 len = 0, cap = 4096;
	char		*buf = malloc(cap);
	struct slot	 s;
	unsigned int	 i;
	long		 now = (long)time(NULL);
	bool		 ok;
	int		 c;

	if (buf == NULL)
		return NULL;
	buf[0] = '\0';
	ok = put(&buf, &len, &cap,
	    "# HELP tokend_uptime_seconds Seconds since the master started.\n"
	    "# TYPE tokend_uptime_seconds gauge\ntokend_uptime_seconds %ld\n"
	    "# HELP tokend_restarts_total Workers started after the first ones.\n"
	    "# TYPE tokend_restarts_total counter\ntokend_restarts_total %lu\n",
	    now - st->started, LOAD(&st->restarts));
	if (ok && st->queue_known)
		ok = put(&buf, &len, &cap,
		    "# HELP tokend_max_listen_queue Longest accept queue seen.\n"
		    "# TYPE tokend_max_listen_queue gauge\n"
		    "tokend_max_listen_queue %lu\n", LOAD(&st->max_listen_queue));
	ok = ok && put(&buf, &len, &cap,
	    "# HELP tokend_threads Request threads, by worker and state.\n"
	    "# TYPE tokend_threads gauge\n");
	for (i = 0; ok && i < TK_STATS_SLOTS; i++) {
		take(st, &s, i);
		if (s.pid == 0)
			continue;
		ok = put(&buf, &len, &cap,
		    "tokend_threads{pid=\"%ld\",state=\"busy\"} %lu\n"
		    "tokend_threads{pid=\"%ld\",state=\"idle\"} %lu\n",
		    s.pid, s.busy, s.pid, s.threads - s.busy);
	}
	ok = ok && put(&buf, &len, &cap,
	    "# HELP tokend_requests_total Requests answered, by worker and status class.\n"
	    "# TYPE tokend_requests_total counter\n");
	for (i = 0; ok && i < TK_STATS_SLOTS; i++) {
		take(st, &s, i);
		if (s.pid == 0)
			continue;
		for (c = 0; ok && c < NCLASSES; c++)
			ok = put(&buf, &len, &cap,
			    "tokend_requests_total{pid=\"%ld\",class=\"%s\"} %lu\n",
			    s.pid, class_names[c], s.by_class[c]);
	}
	ok = ok && put(&buf, &len, &cap,
	    "# HELP tokend_pool_connections Database connections, by worker and state.\n"
	    "# TYPE tokend_pool_connections gauge\n");
	for (i = 0; ok && i < TK_STATS_SLOTS; i++) {
		take(st, &s, i);
		if (s.pid == 0)
			continue;
		ok = put(&buf, &len, &cap,
		    "tokend_pool_connections{pid=\"%ld\",state=\"in_use\"} %lu\n"
		    "tokend_pool_connections{pid=\"%ld\",state=\"open\"} %lu\n",
		    s.pid, s.pool_busy, s.pid, s.pool_open);
	}
	if (!ok) {
		free(buf);
		return NULL;
	}
	return buf;
}
