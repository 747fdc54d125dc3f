/*
 * tk_abuse.c - shared failure counts and the per-address budget.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <openssl/crypto.h>

#include "tk_abuse.h"
#include "tk_log.h"
#include "tk_token.h"

#define FAIL_SLOTS	4096
#define RATE_SLOTS	4096
#define PROBES		32
#define ADDR_MAX	64

struct fail_slot {
	bool		used;
	char		addr[ADDR_MAX];
	char		client[TK_UUID_STR_LEN + 1];	/* TK_ABUSE_NO_CLIENT when unknown */
	unsigned int	count;
	time_t		first_at, last_at;
};

struct rate_slot {
	char		addr[ADDR_MAX];
	time_t		window_start;	/* monotonic seconds */
	unsigned int	count;
};

struct tk_abuse {
	pthread_mutex_t		mu;	/* process-shared, robust */
	unsigned int		window, budget;
	unsigned long		dropped;	/* counts lost to a full table */
	struct fail_slot	fail[FAIL_SLOTS];
	struct rate_slot	rate[RATE_SLOTS];
};

/*
 * FNV-1a of addr, then of client's TK_UUID_STR_LEN characters (client
 * NULL: addr only).  The client is taken at its fixed length: the loop
 * runs the same for a known client and for TK_ABUSE_NO_CLIENT.
 */
static uint32_t
hash(const char *addr, const char *client)
{
	uint32_t	h = 2166136261u;
	size_t		i;

	for (; *addr != '\0'; addr++)
		h = (h ^ (unsigned char)*addr) * 16777619u;
	h = (h ^ 0xff) * 16777619u;
	if (client == NULL)
		return h;
	for (i = 0; i < TK_UUID_STR_LEN; i++)
		h = (h ^ (unsigned char)client[i]) * 16777619u;
	return h;
}

static time_t
mono_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* A worker killed while holding the lock must not stop the others. */
static void
lock(struct tk_abuse *ab)
{
	if (pthread_mutex_lock(&ab->mu) == EOWNERDEAD)
		pthread_mutex_consistent(&ab->mu);
}

static void
unlock(struct tk_abuse *ab)
{
	pthread_mutex_unlock(&ab->mu);
}

struct tk_abuse *
tk_abuse_new(unsigned int window, unsigned int budget)
{
	struct tk_abuse		*ab;
	pthread_mutexattr_t	 attr;

	ab = mmap(NULL, sizeof(*ab), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ab == MAP_FAILED)
		return NULL;
	memset(ab, 0, sizeof(*ab));
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&ab->mu, &attr);
	pthread_mutexattr_destroy(&attr);
	ab->window = window;
	ab->budget = budget;
	return ab;
}

void
tk_abuse_free(struct tk_abuse *ab)
{
	if (ab != NULL)
		munmap(ab, sizeof(*ab));
}

void
tk_abuse_set_limits(struct tk_abuse *ab, unsigned int window, unsigned int budget)
{
	lock(ab);
	ab->window = window;
	ab->budget = budget;
	unlock(ab);
}

/* The rate slot of addr, taking a free or expired one; NULL when full. */
static struct rate_slot *
rate_slot(struct tk_abuse *ab, const char *addr, time_t now, bool create)
{
	struct rate_slot	*spare = NULL;
	uint32_t		 h = hash(addr, NULL);
	unsigned int		 i;

	for (i = 0; i < PROBES; i++) {
		struct rate_slot *s = &ab->rate[(h + i) % RATE_SLOTS];

		if (s->addr[0] != '\0' && strcmp(s->addr, addr) == 0) {
			if (now - s->window_start >= (time_t)ab->window) {
				s->window_start = now;
				s->count = 0;
			}
			return s;
		}
		if (spare == NULL && (s->addr[0] == '\0' ||
		    now - s->window_start >= (time_t)ab->window))
			spare = s;
	}
	if (!create || spare == NULL)
		return NULL;
	snprintf(spare->addr, sizeof(spare->addr), "%s", addr);
	spare->window_start = now;
	spare->count = 0;
	return spare;
}

bool
tk_abuse_is_limited(struct tk_abuse *ab, const char *addr)
{
	struct rate_slot	*s;
	bool			 limited = false;

	if (ab == NULL)
		return false;
	lock(ab);
	if ((s = rate_slot(ab, addr, mono_now(), false)) != NULL)
		limited = s->count >= ab->budget;
	unlock(ab);
	return limited;
}

static void
add_failure(struct tk_abuse *ab, const char *addr, const char *client,
    unsigned int count, time_t first, time_t last)
{
	uint32_t	h = hash(addr, client);
	unsigned int	i;

	for (i = 0; i < PROBES; i++) {
		struct fail_slot *s = &ab->fail[(h + i) % FAIL_SLOTS];

		if (!s->used) {
			s->used = true;
			snprintf(s->addr, sizeof(s->addr), "%s", addr);
			memcpy(s->client, client, TK_UUID_STR_LEN);
			s->client[TK_UUID_STR_LEN] = '\0';
			s->count = count;
			s->first_at = first;
			s->last_at = last;
			return;
		}
		if (strcmp(s->addr, addr) == 0 &&
		    CRYPTO_memcmp(s->client, client, TK_UUID_STR_LEN) == 0) {
			s->count += count;
			if (first < s->first_at)
				s->first_at = first;
			if (last > s->last_at)
				s->last_at = last;
			return;
		}
	}
	ab->dropped += count;
}

void
tk_abuse_fail(struct tk_abuse *ab, const char *addr, const char *client)
{
	struct rate_slot	*s;
	time_t			 now = time(NULL);

	if (ab == NULL)
		return;
	lock(ab);
	add_failure(ab, addr, client != NULL ? client : TK_ABUSE_NO_CLIENT, 1,
	    now, now);
	if ((s = rate_slot(ab, addr, mono_now(), true)) != NULL &&
	    s->count < ab->budget + 1)
		s->count++;
	unlock(ab);
}

unsigned int
tk_abuse_pending(struct tk_abuse *ab)
{
	unsigned int	i, n = 0;

	lock(ab);
	for (i = 0; i < FAIL_SLOTS; i++)
		if (ab->fail[i].used)
			n++;
	unlock(ab);
	return n;
}

/* Append s to a PostgreSQL array literal, quoted; "" becomes NULL. */
static void
append_elem(char *buf, size_t len, size_t *pos, const char *s, bool first)
{
	int	n;

	n = snprintf(buf + *pos, len - *pos, s[0] == '\0' ? "%sNULL" : "%s\"%s\"",
	    first ? "" : ",", s);
	if (n > 0)
		*pos += (size_t)n;
}

enum tk_err
tk_abuse_flush(struct tk_abuse *ab, PGconn *conn)
{
	static const char	sql[] =
	    "INSERT INTO token_events (event, client_id, remote_addr, count, "
	    "first_at, last_at) "
	    "SELECT 'auth_failed', c, a, n, to_timestamp(f), to_timestamp(l) "
	    "FROM unnest($1::uuid[], $2::inet[], $3::integer[], $4::bigint[], "
	    "$5::bigint[]) AS u(c, a, n, f, l)";
	struct fail_slot	*batch = NULL;
	char			*arr[5] = { NULL };
	size_t			 pos[5] = { 0 }, cap = FAIL_SLOTS * 80 + 16;
	unsigned int		 i, n = 0;
	unsigned long		 dropped;
	PGresult		*res = NULL;
	enum tk_err		 err = TK_OK;

	if ((batch = malloc(sizeof(*batch) * FAIL_SLOTS)) == NULL)
		return TK_ENOMEM;
	lock(ab);
	for (i = 0; i < FAIL_SLOTS; i++)
		if (ab->fail[i].used) {
			batch[n++] = ab->fail[i];
			ab->fail[i].used = false;
		}
	dropped = ab->dropped;
	ab->dropped = 0;
	unlock(ab);
	if (dropped > 0)
		tk_log_warn("failure table full: %lu failed authentications "
		    "not counted", dropped);
	if (n == 0)
		goto out;
	for (i = 0; i < 5; i++) {
		if ((arr[i] = malloc(cap)) == NULL) {
			err = TK_ENOMEM;
			goto restore;
		}
		arr[i][pos[i]++] = '{';
	}
	for (i = 0; i < n; i++) {
		unsigned char	ip[16];
		char		num[32];
		const char	*addr = batch[i].addr;

		/* Only a real address is stored; anything else is NULL. */
		if (inet_pton(AF_INET, addr, ip) != 1 &&
		    inet_pton(AF_INET6, addr, ip) != 1)
			addr = "";
		/* No client is NULL in the row, not the placeholder. */
		append_elem(arr[0], cap, &pos[0], memcmp(batch[i].client,
		    TK_ABUSE_NO_CLIENT, TK_UUID_STR_LEN) == 0 ? "" :
		    batch[i].client, i == 0);
		append_elem(arr[1], cap, &pos[1], addr, i == 0);
		snprintf(num, sizeof(num), "%u", batch[i].count);
		append_elem(arr[2], cap, &pos[2], num, i == 0);
		snprintf(num, sizeof(num), "%lld", (long long)batch[i].first_at);
		append_elem(arr[3], cap, &pos[3], num, i == 0);
		snprintf(num, sizeof(num), "%lld", (long long)batch[i].last_at);
		append_elem(arr[4], cap, &pos[4], num, i == 0);
	}
	for (i = 0; i < 5; i++) {
		arr[i][pos[i]++] = '}';
		arr[i][pos[i]] = '\0';
	}
	res = PQexecParams(conn, sql, 5, NULL, (const char *const *)arr,
	    NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_COMMAND_OK)
		goto out;
	tk_log_warn("could not write failure counts: %s",
	    PQerrorMessage(conn));
	err = TK_EUNAVAIL;
restore:
	/* Keep them for the next flush. */
	lock(ab);
	for (i = 0; i < n; i++)
		add_failure(ab, batch[i].addr, batch[i].client, batch[i].count,
		    batch[i].first_at, batch[i].last_at);
	unlock(ab);
out:
	PQclear(res);
	for (i = 0; i < 5; i++)
		free(arr[i]);
	free(batch);
	return err;
}

static PGconn *
flusher_connect(const char *conninfo, time_t *last_log)
{
	const char *const	keys[] = { "dbname", "application_name",
	    "connect_timeout", NULL };
	const char *const	values[] = { conninfo, "tokend-flusher", "5", NULL };
	PGconn			*conn;
	char			 esc[256];

	conn = PQconnectdbParams(keys, values, 1);
	if (PQstatus(conn) == CONNECTION_OK)
		return conn;
	if (time(NULL) - *last_log >= 10) {
		*last_log = time(NULL);
		tk_log_escape(PQerrorMessage(conn), esc, sizeof(esc));
		tk_log_error("flusher could not connect to database: %s", esc);
	}
	PQfinish(conn);
	return NULL;
}

void
tk_abuse_flusher_run(struct tk_abuse *ab, const char *conninfo)
{
	PGconn		*conn = NULL;
	sigset_t	 set;
	time_t		 last_log = 0;
	bool		 stop = false;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	while (!stop) {
		struct timespec	second = { 1, 0 };
		int		sig;

		sig = sigtimedwait(&set, NULL, &second);
		if (sig == SIGTERM || sig == SIGINT)
			stop = true;
		if (tk_abuse_pending(ab) == 0)
			continue;
		if (conn != NULL && PQstatus(conn) != CONNECTION_OK) {
			PQfinish(conn);
			conn = NULL;
		}
		if (conn == NULL && (conn = flusher_connect(conninfo,
		    &last_log)) == NULL)
			continue;
		if (tk_abuse_flush(ab, conn) == TK_EUNAVAIL &&
		    PQstatus(conn) != CONNECTION_OK) {
			PQfinish(conn);
			conn = NULL;
		}
	}
	PQfinish(conn);
}
