/*
 * tk_log.c - line-oriented logging to stderr.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tk_log.h"

static enum tk_log_level	threshold = TK_LOG_INFO;
static int			as_json;

static const char *const	level_names[] = { "error", "warn", "info", "debug" };

void
tk_log_setup(enum tk_log_level level, const char *format)
{
	threshold = level;
	as_json = format != NULL && strcmp(format, "json") == 0;
}

enum tk_err
tk_log_open_file(const char *path)
{
	int	fd;

	if (path == NULL || path[0] == '\0')
		return TK_OK;
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640)) < 0)
		return TK_EIO;
	if (fd != STDERR_FILENO) {
		/* dup2 clears close-on-exec on the copy: fd 2 stays inherited. */
		if (dup2(fd, STDERR_FILENO) < 0) {
			close(fd);
			return TK_EIO;
		}
		close(fd);
	}
	return TK_OK;
}

int
tk_log_level_parse(const char *s)
{
	size_t	i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(s, level_names[i]) == 0)
			return (int)i;
	return -1;
}

void
tk_log_escape(const char *s, char *out, size_t outlen)
{
	static const char	hex[] = "0123456789abcdef";
	size_t			o = 0;

	if (outlen == 0)
		return;
	for (; s != NULL && *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			if (o + 1 >= outlen)
				break;
			out[o++] = (char)c;
		} else {
			if (o + 4 >= outlen)
				break;
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 0xf];
		}
	}
	out[o] = '\0';
}

static void	vlog(enum tk_log_level, const char *, va_list)
		    __attribute__((format(printf, 2, 0)));

static void
vlog(enum tk_log_level level, const char *fmt, va_list ap)
{
	char		msg[2048], esc[2048 * 2], ts[96];
	struct timespec	now;
	struct tm	tm;

	if (level > threshold)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000);
	/* One write per line, so lines of concurrent threads never mix. */
	if (as_json) {
		/* The message holds only escaped data: quotes need escaping. */
		size_t i, o = 0;

		for (i = 0; msg[i] != '\0' && o + 2 < sizeof(esc); i++) {
			if (msg[i] == '"' || msg[i] == '\\')
				esc[o++] = '\\';
			esc[o++] = msg[i];
		}
		esc[o] = '\0';
		fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"pid\":%ld,"
		    "\"msg\":\"%s\"}\n", ts, level_names[level], (long)getpid(),
		    esc);
	} else {
		fprintf(stderr, "ts=%s level=%s pid=%ld msg=\"%s\"\n", ts,
		    level_names[level], (long)getpid(), msg);
	}
}

#define DEFINE_LOG(name, level)				\
void							\
name(const char *fmt, ...)				\
{							\
	va_list	ap;					\
							\
	va_start(ap, fmt);				\
	vlog(level, fmt, ap);				\
	va_end(ap);					\
}

DEFINE_LOG(tk_log_error, TK_LOG_ERROR)
DEFINE_LOG(tk_log_warn, TK_LOG_WARN)
DEFINE_LOG(tk_log_info, TK_LOG_INFO)
DEFINE_LOG(tk_log_debug, TK_LOG_DEBUG)
