/*
 * tk_worker.c - the threads of a worker process.
 */
#define _GNU_SOURCE	/* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "tk_addr.h"
#include "tk_handler.h"
#include "tk_http.h"
#include "tk_log.h"
#include "tk_pool.h"
#include "tk_worker.h"

struct worker {
	const struct tk_config	*cfg;
	const struct tk_worker_env *env;
	int			 listen_fd;
	bool			 tcp;		/* the accept queue can be read */
	int			 wake[2];	/* written once to drain; never read */
	struct tk_handler_ctx	 ctx;
	struct tk_addr_list	*trusted;	/* front ends allowed over TCP */
	pthread_mutex_t		 mu;
	unsigned long		 served;
	bool			 draining;
};

/* Stop taking requests: every thread polling the pipe wakes up. */
static void
drain(struct worker *w, const char *why)
{
	bool	first;

	pthread_mutex_lock(&w->mu);
	first = !w->draining;
	w->draining = true;
	pthread_mutex_unlock(&w->mu);
	if (first) {
		tk_log_info("worker draining: %s", why);
		if (write(w->wake[1], "x", 1) < 0)
			tk_log_error("could not wake threads: %s", strerror(errno));
	}
}

static long
ms_since(const struct timespec *start)
{
	struct timespec	now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(now.tv_sec - start->tv_sec) * 1000 +
	    (now.tv_nsec - start->tv_nsec) / 1000000;
}

/* Serve one request; true when its body was cut off by request_timeout. */
static bool
handle(struct worker *w, FCGX_Request *fcgx)
{
	struct tk_request	 req;
	struct tk_response	 resp;
	struct timespec		 start, deadline;
	char			 path[256], method[16], addr[64];
	enum tk_err		 err;

	clock_gettime(CLOCK_MONOTONIC, &start);
	tk_deadline_in(&deadline, w->cfg->request_timeout * 1000);
	memset(&resp, 0, sizeof(resp));
	if ((err = tk_http_read(fcgx, w->cfg->max_body_bytes, true,
	    &deadline, &req)) == TK_ETIMEDOUT) {
		/* Nobody may be left to read it, but the log says what happened. */
		tk_log_warn("request body cut off: it did not arrive within "
		    "request_timeout (%u s) after %zu bytes request_id=%s",
		    w->cfg->request_timeout, req.body_len, req.request_id);
		tk_http_problem(&resp, "invalid_request", "the request body did "
		    "not arrive within request_timeout", req.request_id);
	} else if (err != TK_OK) {
		tk_log_error("could not read request: out of memory");
		tk_http_problem(&resp, "server_error", "out of memory",
		    req.request_id);
	} else if (strcmp(req.role, "AUTHORIZER") == 0) {
		/* Chosen before any routing: the authorizer has no route. */
		tk_handler_authorize(&w->ctx, &req, &deadline, &resp);
	} else if (strcmp(req.role, "RESPONDER") != 0) {
		char role[64];

		tk_log_escape(req.role, role, sizeof(role));
		tk_log_error("FastCGI role %s is not served here request_id=%s",
		    role, req.request_id);
		tk_http_problem(&resp, "server_error", "this FastCGI role is "
		    "not served", req.request_id);
	} else {
		tk_handler_serve(&w->ctx, &req, &deadline, &resp);
	}
	tk_stats_request(w->env->stats, w->env->slot, resp.status);
	if (tk_http_write(fcgx->out, &resp, req.request_id) != TK_OK)
		tk_log_warn("could not write response: front end went away "
		    "request_id=%s", req.request_id);
	/* Never the query string: it is the client's and may hold secrets. */
	{
		char raw[256];
		size_t n = strcspn(req.uri, "?");

		if (n >= sizeof(raw))
			n = sizeof(raw) - 1;
		memcpy(raw, req.uri, n);
		raw[n] = '\0';
		tk_log_escape(raw, path, sizeof(path));
		tk_log_escape(req.method, method, sizeof(method));
		tk_log_escape(req.remote_addr, addr, sizeof(addr));
	}
	tk_log_info("request_id=%s method=%s path=%s status=%d%s%s%s%s%s%s "
	    "duration_ms=%ld remote_addr=%s", req.request_id, method, path,
	    resp.status, resp.error != NULL ? " error=" : "",
	    resp.error != NULL ? resp.error : "",
	    resp.client_id[0] != '\0' ? " client_id=" : "", resp.client_id,
	    resp.token_id[0] != '\0' ? " token_id=" : "", resp.token_id,
	    ms_since(&start), addr);
	tk_http_response_clear(&resp);
	tk_http_request_clear(&req);
	return err == TK_ETIMEDOUT;
}

/* Is the peer of a new connection one of the trusted front ends? */
static bool
is_trusted(struct worker *w, int fd)
{
	struct sockaddr_storage	ss;
	socklen_t		len = sizeof(ss);
	char			host[64];

	if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
		return false;
	if (tk_addr_list_match(w->trusted, (struct sockaddr *)&ss, len))
		return true;
	if (getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), NULL,
	    0, NI_NUMERICHOST) != 0)
		strcpy(host, "?");
	tk_log_warn("refused a FastCGI connection from %s: not in "
	    "trusted_addresses", host);
	return false;
}

/*
 * No read or write of a request may wait longer than request_timeout:
 * a front end that stops sending (a body that never comes) or stops
 * reading must not hold a thread for ever.  libfcgi sees the timeout as
 * an error of the stream.
 */
static void
bound_io(struct worker *w, int fd)
{
	struct timeval	tv = { .tv_sec = w->cfg->request_timeout };

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0)
		tk_log_warn("could not bound socket timeouts: %s",
		    strerror(errno));
}

/* The accept queue of a TCP listener, for max_listen_queue. */
static void
note_queue(struct worker *w)
{
	struct tcp_info	ti;
	socklen_t	len = sizeof(ti);

	/* On a listening socket, tcpi_unacked is the queue's length. */
	if (getsockopt(w->listen_fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0)
		tk_stats_listen_queue(w->env->stats, ti.tcpi_unacked);
}

static void *
thread_main(void *arg)
{
	struct worker	*w = arg;
	FCGX_Request	 fcgx;

	if (FCGX_InitRequest(&fcgx, w->listen_fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0)
		return NULL;
	for (;;) {
		struct pollfd	pfd[2] = {
			{ .fd = w->listen_fd, .events = POLLIN },
			{ .fd = w->wake[0], .events = POLLIN },
		};
		int		rc;
		bool		last;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			tk_log_error("poll: %s", strerror(errno));
			break;
		}
		if (pfd[1].revents != 0)
			break;
		if (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
			tk_log_error("listening socket failed");
			usleep(100000);
			continue;
		}
		if (w->tcp)
			note_queue(w);
		/* Non-blocking: another thread or process may have won it. */
		if ((rc = FCGX_Accept_r(&fcgx)) < 0) {
			if (rc != -EAGAIN && rc != -EWOULDBLOCK && rc != -EINTR) {
				tk_log_warn("accept failed: %s", strerror(-rc));
				usleep(10000);
			}
			continue;
		}
		if (!is_trusted(w, fcgx.ipcFd)) {
			FCGX_Finish_r(&fcgx);
			continue;
		}
		bound_io(w, fcgx.ipcFd);
		tk_stats_busy(w->env->stats, w->env->slot, +1);
		/*
		 * libfcgi closes a connection by shutdown(), then waits up
		 * to 2 s for the peer to close first, reading what it sends.
		 * After a cut-off the peer has gone quiet: that wait would
		 * hold the thread for 2 s more than request_timeout.  A
		 * "detached" request is closed at once; nothing is unread,
		 * so the peer gets a plain FIN after the response.
		 */
		if (handle(w, &fcgx))
			fcgx.detached = 1;
		FCGX_Finish_r(&fcgx);
		tk_stats_busy(w->env->stats, w->env->slot, -1);
		{
			unsigned int open, busy;

			tk_pool_counts(w->ctx.pool, &open, &busy);
			tk_stats_pool(w->env->stats, w->env->slot, open, busy);
		}
		pthread_mutex_lock(&w->mu);
		w->served++;
		last = w->cfg->max_requests != 0 &&
		    w->served >= w->cfg->max_requests;
		pthread_mutex_unlock(&w->mu);
		if (last)
			drain(w, "max_requests reached");
	}
	FCGX_Free(&fcgx, 0);
	return NULL;
}

enum tk_err
tk_worker_run(const struct tk_config *cfg, const struct tk_worker_env *env)
{
	struct worker		 w;
	struct tk_pool_settings	 ps;
	pthread_t		*threads = NULL;
	sigset_t		 set;
	unsigned int		 i, started = 0;
	int			 sfd = -1;
	char			 bad[64];
	enum tk_err		 err = TK_OK;

	memset(&w, 0, sizeof(w));
	w.cfg = cfg;
	w.env = env;
	w.listen_fd = env->listen_fd;
	{
		struct sockaddr_storage	ss;
		socklen_t		len = sizeof(ss);

		w.tcp = getsockname(w.listen_fd, (struct sockaddr *)&ss,
		    &len) == 0 && ss.ss_family != AF_UNIX;
	}
	w.wake[0] = w.wake[1] = -1;
	pthread_mutex_init(&w.mu, NULL);

	/* Threads inherit this mask: only the main thread takes signals. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((sfd = signalfd(-1, &set, SFD_CLOEXEC)) < 0 ||
	    pipe2(w.wake, O_CLOEXEC) != 0) {
		tk_log_error("could not set up worker: %s", strerror(errno));
		err = TK_EIO;
		goto out;
	}
	memset(&ps, 0, sizeof(ps));
	ps.conninfo = cfg->database_url;
	ps.size = cfg->pool_size;
	ps.acquire_timeout_ms = cfg->pool_acquire_timeout_ms;
	ps.statement_timeout_ms = cfg->statement_timeout_ms;
	ps.prepared = cfg->prepared_statements;
	ps.stmts = tk_handler_stmts;
	ps.nstmts = tk_handler_nstmts;
	if (tk_addr_list_parse(cfg->trusted_addresses, &w.trusted, bad,
	    sizeof(bad)) != TK_OK) {
		err = TK_EINVAL;
		goto out;
	}
	if ((w.ctx.pool = tk_pool_new(&ps)) == NULL ||
	    (threads = calloc(cfg->threads, sizeof(*threads))) == NULL) {
		err = TK_ENOMEM;
		goto out;
	}
	w.ctx.cfg = cfg;
	w.ctx.abuse = env->abuse;
	w.ctx.stats = env->stats;
	w.ctx.trusted = w.trusted;
	for (i = 0; i < cfg->threads; i++) {
		if (pthread_create(&threads[i], NULL, thread_main, &w) != 0) {
			tk_log_error("could not start thread: %s", strerror(errno));
			err = TK_EIO;
			drain(&w, "start-up failed");
			break;
		}
		started++;
	}
	tk_log_info("worker ready: threads=%u pool_size=%u", started,
	    cfg->pool_size);

	/* Wait for a signal or for the threads to drain by themselves. */
	for (;;) {
		struct pollfd	pfd[2] = {
			{ .fd = sfd, .events = POLLIN },
			{ .fd = w.wake[0], .events = POLLIN },
		};
		struct signalfd_siginfo	si;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents != 0)
			break;
		if (read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGHUP) {
			tk_log_info("SIGHUP ignored in a worker: send it to "
			    "the master");
			continue;
		}
		drain(&w, si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
	}
	for (i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	tk_log_info("worker finished: requests=%lu", w.served);
out:
	free(threads);
	tk_pool_free(w.ctx.pool);
	tk_addr_list_free(w.trusted);
	if (sfd >= 0)
		close(sfd);
	if (w.wake[0] >= 0)
		close(w.wake[0]);
	if (w.wake[1] >= 0)
		close(w.wake[1]);
	pthread_mutex_destroy(&w.mu);
	return err;
}
