/*
 * tk_master.c - listening socket, fork, supervision, reload, drain.
 */
#define _GNU_SOURCE	/* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "tk_abuse.h"
#include "tk_log.h"
#include "tk_master.h"
#include "tk_stats.h"
#include "tk_worker.h"

#define MAX_SLOTS		2048
#define QUICK_DEATHS		3	/* replaced at once within DEATH_WINDOW */
#define DEATH_WINDOW		10
#define MAX_BACKOFF		30
#define LISTEN_BACKLOG		1024

struct slot {
	pid_t		pid;
	bool		retiring;	/* asked to drain: its exit is expected */
};

struct master {
	const struct tk_config	*cfg;
	struct tk_config	*own_cfg;	/* after a reload */
	int			 listen_fd;
	char			*unix_path;	/* unlinked at exit */
	struct slot		 slots[MAX_SLOTS];
	time_t			 deaths[QUICK_DEATHS + 8];
	unsigned int		 ndeaths;
	struct timespec		 respawn_at;	/* no spawn before */
	unsigned int		 backoff;
	pid_t			 replacing;	/* old worker draining for SIGHUP */
	struct tk_abuse		*abuse;		/* shared failure counts */
	struct tk_stats		*stats;		/* shared counters for /status */
	unsigned long		 spawned;	/* workers started so far */
	pid_t			 flusher;	/* writes them to the database */
};

static int			sigpipe_fds[2] = { -1, -1 };
static volatile sig_atomic_t	got_term, got_hup, got_chld;

static void
on_signal(int sig)
{
	int	saved = errno;

	if (sig == SIGTERM || sig == SIGINT)
		got_term = 1;
	else if (sig == SIGHUP)
		got_hup = 1;
	else if (sig == SIGCHLD)
		got_chld = 1;
	(void)write(sigpipe_fds[1], "x", 1);
	errno = saved;
}

/* fd 0 from spawn-fcgi, or a socket of our own from --listen. */
static int
open_tcp(const char *spec)
{
	struct addrinfo	 hints, *ai = NULL, *p;
	char		 host[256];
	const char	*colon, *port;
	int		 fd = -1, one = 1, rc;

	if ((colon = strrchr(spec, ':')) == NULL)
		return -1;
	port = colon + 1;
	if (spec[0] == '[' && colon > spec && colon[-1] == ']')
		snprintf(host, sizeof(host), "%.*s", (int)(colon - spec - 2),
		    spec + 1);
	else
		snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai)) != 0) {
		fprintf(stderr, "tokend: invalid value \"%s\" for setting "
		    "listen: %s\n", spec, gai_strerror(rc));
		return -1;
	}
	for (p = ai; p != NULL; p = p->ai_next) {
		if ((fd = socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC,
		    p->ai_protocol)) < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, p->ai_addr, p->ai_addrlen) == 0 &&
		    listen(fd, LISTEN_BACKLOG) == 0)
			break;
		close(fd);
		fd = -1;
	}
	if (fd < 0)
		fprintf(stderr, "tokend: could not listen on %s (setting "
		    "listen): %s\n", spec, strerror(errno));
	freeaddrinfo(ai);
	return fd;
}

static int
open_unix(struct master *m, const char *path)
{
	struct sockaddr_un	sun;
	struct stat		st;
	int			fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "tokend: invalid value \"%s\" for setting "
		    "listen: path too long\n", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	/* A socket left by a previous run; never remove anything else. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 ||
	    listen(fd, LISTEN_BACKLOG) != 0) {
		fprintf(stderr, "tokend: could not listen on %s (setting "
		    "listen): %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	m->unix_path = strdup(path);
	if (chmod(path, m->cfg->listen_mode) != 0)
		tk_log_warn("could not chmod %s: %s", path, strerror(errno));
	if (m->cfg->listen_group[0] != '\0') {
		struct group *gr = getgrnam(m->cfg->listen_group);

		if (gr == NULL || chown(path, (uid_t)-1, gr->gr_gid) != 0) {
			fprintf(stderr, "tokend: could not give %s to group %s "
			    "(setting listen_group)\n", path, m->cfg->listen_group);
			close(fd);
			return -1;
		}
	}
	return fd;
}

static enum tk_err
open_listener(struct master *m)
{
	const char	*spec = m->cfg->listen;
	int		 fd, on = 0;
	socklen_t	 len = sizeof(on);

	if (spec[0] != '\0')
		fd = strchr(spec, '/') != NULL ? open_unix(m, spec) : open_tcp(spec);
	else if (getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 && on)
		fd = 0;
	else {
		fprintf(stderr, "tokend: no listening socket: run under "
		    "spawn-fcgi or pass --listen\n");
		return TK_EINVAL;
	}
	if (fd < 0)
		return TK_EIO;
	/* Threads poll, then accept: losing the race must not block. */
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
		tk_log_error("could not make the socket non-blocking: %s",
		    strerror(errno));
		return TK_EIO;
	}
	m->listen_fd = fd;
	return TK_OK;
}

static unsigned int
alive(const struct master *m)
{
	unsigned int	i, n = 0;

	for (i = 0; i < MAX_SLOTS; i++)
		if (m->slots[i].pid > 0)
			n++;
	return n;
}

static unsigned int
serving(const struct master *m)
{
	unsigned int	i, n = 0;

	for (i = 0; i < MAX_SLOTS; i++)
		if (m->slots[i].pid > 0 && !m->slots[i].retiring)
			n++;
	return n;
}

static pid_t
spawn(struct master *m)
{
	unsigned int	i;
	pid_t		pid;

	for (i = 0; i < MAX_SLOTS && m->slots[i].pid > 0; i++)
		;
	if (i == MAX_SLOTS)
		return -1;
	if ((pid = fork()) < 0) {
		tk_log_error("could not fork a worker: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		struct tk_worker_env	env = { m->listen_fd, m->abuse, m->stats, i };
		enum tk_err		err;

		/* The worker: master's signal plumbing is not its own. */
		signal(SIGCHLD, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		close(sigpipe_fds[0]);
		close(sigpipe_fds[1]);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		/* ps and pgrep tell the master, workers and flusher apart. */
		prctl(PR_SET_NAME, "tokend-worker");
		if (getppid() == 1)
			exit(EXIT_SUCCESS);	/* the master is already gone */
		tk_stats_worker_started(m->stats, i, getpid(), m->cfg->threads,
		    m->spawned >= m->cfg->workers);
		err = tk_worker_run(m->cfg, &env);
		tk_stats_worker_gone(m->stats, i);
		/* exit(), not _exit(): sanitizers report at exit. */
		exit(err == TK_OK ? EXIT_SUCCESS : EXIT_FAILURE);
	}
	m->slots[i].pid = pid;
	m->slots[i].retiring = false;
	m->spawned++;
	tk_log_info("worker %ld started", (long)pid);
	return pid;
}

/* The flusher: a child of its own, so no worker thread ever waits on it. */
static pid_t
spawn_flusher(struct master *m)
{
	pid_t	pid;

	if ((pid = fork()) < 0) {
		tk_log_error("could not fork the flusher: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		signal(SIGCHLD, SIG_DFL);
		signal(SIGHUP, SIG_IGN);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		if (sigpipe_fds[0] >= 0) {
			close(sigpipe_fds[0]);
			close(sigpipe_fds[1]);
		}
		if (m->listen_fd > 0)
			close(m->listen_fd);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		prctl(PR_SET_NAME, "tokend-flusher");
		tk_abuse_flusher_run(m->abuse, m->cfg->database_url);
		exit(EXIT_SUCCESS);
	}
	m->flusher = pid;
	return pid;
}

static struct slot *
find_slot(struct master *m, pid_t pid)
{
	unsigned int	i;

	for (i = 0; i < MAX_SLOTS; i++)
		if (m->slots[i].pid == pid)
			return &m->slots[i];
	return NULL;
}

/* A death outside a drain: count it and decide the next spawn time. */
static void
note_death(struct master *m)
{
	time_t		now = time(NULL);
	time_t		prev = m->ndeaths > 0 ? m->deaths[0] : 0;
	unsigned int	i, recent = 0;

	memmove(m->deaths + 1, m->deaths,
	    sizeof(m->deaths) - sizeof(m->deaths[0]));
	m->deaths[0] = now;
	if (m->ndeaths < sizeof(m->deaths) / sizeof(m->deaths[0]))
		m->ndeaths++;
	for (i = 0; i < m->ndeaths; i++)
		if (now - m->deaths[i] < DEATH_WINDOW)
			recent++;
	/*
	 * Once backing off, only a worker that outlived its delay by
	 * DEATH_WINDOW ends the back-off: a worker dying at every start
	 * would otherwise find the window emptied by its own delay, and the
	 * delay would fall back to 0 after 8 s instead of reaching 30.
	 */
	if (recent <= QUICK_DEATHS && (m->backoff == 0 ||
	    now - prev >= (time_t)m->backoff + DEATH_WINDOW)) {
		m->backoff = 0;
		return;
	}
	m->backoff = m->backoff == 0 ? 1 : m->backoff * 2;
	if (m->backoff > MAX_BACKOFF)
		m->backoff = MAX_BACKOFF;
	clock_gettime(CLOCK_MONOTONIC, &m->respawn_at);
	m->respawn_at.tv_sec += m->backoff;
	tk_log_warn("workers are dying: %u deaths within %d s, next start in "
	    "%u s", recent, DEATH_WINDOW, m->backoff);
}

static void
reap(struct master *m)
{
	pid_t	pid;
	int	status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct slot	*s = find_slot(m, pid);
		bool		 expected;

		if (pid == m->flusher) {
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				tk_log_warn("flusher %ld died with status %d",
				    (long)pid, WIFEXITED(status) ?
				    WEXITSTATUS(status) : 128 + WTERMSIG(status));
			m->flusher = 0;
			continue;
		}
		if (s == NULL)
			continue;
		expected = s->retiring || (WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0 && !got_term);
		if (WIFSIGNALED(status))
			tk_log_warn("worker %ld killed by signal %d", (long)pid,
			    WTERMSIG(status));
		else if (WEXITSTATUS(status) != 0)
			tk_log_warn("worker %ld exited with status %d",
			    (long)pid, WEXITSTATUS(status));
		else
			tk_log_info("worker %ld exited with status 0", (long)pid);
		if (pid == m->replacing)
			m->replacing = 0;
		/* A killed worker could not clear its own slot. */
		tk_stats_worker_gone(m->stats, (unsigned int)(s - m->slots));
		s->pid = 0;
		if (!expected)
			note_death(m);
	}
}

static bool
may_spawn(const struct master *m)
{
	struct timespec	now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > m->respawn_at.tv_sec ||
	    (now.tv_sec == m->respawn_at.tv_sec &&
	    now.tv_nsec >= m->respawn_at.tv_nsec);
}

static void
reload(struct master *m)
{
	struct tk_config	*cfg;

	tk_log_info("SIGHUP: reloading settings");
	if (tk_config_reload(m->cfg, &cfg) != TK_OK) {
		tk_log_error("reload failed: keeping the current settings");
		return;
	}
	if (tk_log_open_file(cfg->log_file) != TK_OK)
		tk_log_error("could not open log file \"%s\": %s", cfg->log_file,
		    strerror(errno));
	tk_log_setup((enum tk_log_level)tk_log_level_parse(cfg->log_level),
	    cfg->log_format);
	tk_config_free(m->own_cfg);
	m->own_cfg = cfg;
	tk_abuse_set_limits(m->abuse, cfg->rate_limit_window,
	    cfg->rate_limit_budget);
	m->cfg = cfg;
	m->replacing = 0;
	/* It flushes and exits; the main loop starts it with the new settings. */
	if (m->flusher > 0)
		kill(m->flusher, SIGTERM);
}

/* One step of a rolling replacement: start a new worker, retire an old one. */
static void
replace_step(struct master *m, pid_t *old, unsigned int nold, unsigned int *next)
{
	struct slot	*s;

	while (*next < nold && m->replacing == 0) {
		s = find_slot(m, old[*next]);
		(*next)++;
		if (s == NULL || s->retiring)
			continue;
		if (spawn(m) < 0)
			return;
		s->retiring = true;
		m->replacing = s->pid;
		kill(s->pid, SIGTERM);
	}
}

static void
shutdown_workers(struct master *m)
{
	struct timespec	until, now;
	unsigned int	i;

	for (i = 0; i < MAX_SLOTS; i++)
		if (m->slots[i].pid > 0) {
			m->slots[i].retiring = true;
			kill(m->slots[i].pid, SIGTERM);
		}
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += m->cfg->shutdown_timeout;
	while (alive(m) > 0) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > until.tv_sec || (now.tv_sec == until.tv_sec &&
		    now.tv_nsec >= until.tv_nsec)) {
			tk_log_warn("shutdown_timeout reached: killing %u "
			    "workers", alive(m));
			for (i = 0; i < MAX_SLOTS; i++)
				if (m->slots[i].pid > 0)
					kill(m->slots[i].pid, SIGKILL);
			while (alive(m) > 0) {
				pid_t pid = waitpid(-1, NULL, 0);
				struct slot *s;

				if (pid < 0)
					break;
				if ((s = find_slot(m, pid)) != NULL)
					s->pid = 0;
			}
			break;
		}
		usleep(20000);
		reap(m);
	}
	/* Last, so that the counts of the drained workers are written. */
	if (m->flusher > 0) {
		kill(m->flusher, SIGTERM);
		if (waitpid(m->flusher, NULL, 0) == m->flusher)
			m->flusher = 0;
	}
}

enum tk_err
tk_master_run(const struct tk_config *cfg)
{
	struct master		 m;
	struct sigaction	 sa;
	pid_t			 old[MAX_SLOTS];
	unsigned int		 nold = 0, next = 0, i;
	enum tk_err		 err;

	memset(&m, 0, sizeof(m));
	m.cfg = cfg;
	m.listen_fd = -1;
	if ((err = open_listener(&m)) != TK_OK)
		return err;
	if (FCGX_Init() != 0) {
		tk_log_error("could not initialise libfcgi");
		return TK_EIO;
	}
	if ((m.abuse = tk_abuse_new(cfg->rate_limit_window,
	    cfg->rate_limit_budget)) == NULL) {
		tk_log_error("could not map shared memory: %s", strerror(errno));
		err = TK_ENOMEM;
		goto out;
	}
	{
		struct sockaddr_storage	ss;
		socklen_t		len = sizeof(ss);
		bool			tcp;

		tcp = getsockname(m.listen_fd, (struct sockaddr *)&ss, &len) == 0 &&
		    ss.ss_family != AF_UNIX;
		if ((m.stats = tk_stats_new(tcp)) == NULL) {
			tk_log_error("could not map shared memory: %s",
			    strerror(errno));
			err = TK_ENOMEM;
			goto out;
		}
	}
	if (cfg->workers == 0) {
		struct tk_worker_env env = { m.listen_fd, m.abuse, m.stats, 0 };

		tk_log_info("serving in the master process (workers 0)");
		spawn_flusher(&m);
		tk_stats_worker_started(m.stats, 0, getpid(), cfg->threads, false);
		err = tk_worker_run(cfg, &env);
		if (m.flusher > 0) {
			kill(m.flusher, SIGTERM);
			waitpid(m.flusher, NULL, 0);
		}
		goto out;
	}
	if (pipe2(sigpipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) {
		tk_log_error("pipe: %s", strerror(errno));
		err = TK_EIO;
		goto out;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	tk_log_info("tokend %s master started: workers=%u threads=%u",
	    TOKEND_VERSION, cfg->workers, cfg->threads);

	while (!got_term) {
		struct pollfd	pfd = { .fd = sigpipe_fds[0], .events = POLLIN };
		char		buf[64];

		if (got_chld) {
			got_chld = 0;
			reap(&m);
		}
		if (got_hup) {
			got_hup = 0;
			reload(&m);
			nold = 0;
			next = 0;
			for (i = 0; i < MAX_SLOTS; i++)
				if (m.slots[i].pid > 0 && !m.slots[i].retiring)
					old[nold++] = m.slots[i].pid;
		}
		replace_step(&m, old, nold, &next);
		if (m.flusher == 0 && may_spawn(&m))
			spawn_flusher(&m);
		while (serving(&m) < m.cfg->workers && may_spawn(&m))
			if (spawn(&m) < 0)
				break;
		/* Wake at least every 100 ms, for back-off and reaping. */
		if (poll(&pfd, 1, 100) > 0)
			while (read(sigpipe_fds[0], buf, sizeof(buf)) > 0)
				;
	}
	tk_log_info("SIGTERM: draining %u workers", alive(&m));
	shutdown_workers(&m);
	err = TK_OK;
out:
	if (m.listen_fd > 0)
		close(m.listen_fd);
	if (m.unix_path != NULL) {
		unlink(m.unix_path);
		free(m.unix_path);
	}
	tk_config_free(m.own_cfg);
	tk_abuse_free(m.abuse);
	tk_stats_free(m.stats);
	tk_log_info("tokend stopped");
	return err;
}
