/*
 * tk_log.h - one line per event on stderr, as logfmt or JSON.
 *
 * Lines carry ts, level, pid and msg; callers add key=value pairs in
 * the message itself (request_id=...).  Never log a token, key, digest
 * or Authorization value: log ids.  tk_log_escape() makes request data
 * safe to print.  Safe to call from several threads.
 */
#ifndef TK_LOG_H
#define TK_LOG_H

#include <stddef.h>
#include "tk_err.h"

enum tk_log_level {
	TK_LOG_ERROR = 0,
	TK_LOG_WARN,
	TK_LOG_INFO,
	TK_LOG_DEBUG,
};

/* Set the threshold and format ("logfmt" or "json"); defaults: info, logfmt. */
void	tk_log_setup(enum tk_log_level, const char *format);

/*
 * Send standard error to path (appending, created 0640) so that log lines
 * and sanitizer reports land there; "" keeps standard error.  Called
 * again after SIGHUP it reopens the file, for log rotation.  TK_EIO
 * with errno when it cannot be opened.
 */
enum tk_err	tk_log_open_file(const char *path);

/* Parse "error", "warn", "info" or "debug"; -1 when unknown. */
int	tk_log_level_parse(const char *);

void	tk_log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	tk_log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	tk_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	tk_log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Copy at most outlen - 1 bytes of s to out, replacing control
 * characters, quotes, backslashes and non-ASCII bytes by \xNN, so that
 * request data can never forge a log line.  Always NUL-terminates.
 */
void	tk_log_escape(const char *s, char *out, size_t outlen);

#endif /* TK_LOG_H */
