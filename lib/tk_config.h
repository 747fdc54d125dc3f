/*
 * tk_config.h - tokend's settings.
 *
 * One table in tk_config.c lists every setting: its flag --kebab-name,
 * its environment variable TOKEND_UPPER_NAME, its "snake_name = value"
 * line in the file named by --config / TOKEND_CONFIG, its default and
 * its help.  Precedence: flag > environment > file > default.  A bad
 * value is refused at load time with a message naming the setting.
 */
#ifndef TK_CONFIG_H
#define TK_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "tk_err.h"

struct tk_config {
	/* Where to listen: empty means fd 0 (spawn-fcgi). */
	char		*listen;
	unsigned int	 listen_mode;		/* unix socket permissions */
	char		*listen_group;
	char		*database_url;		/* empty: libpq's PG* variables */
	char		*admin_database_url;	/* empty: database_url */
	unsigned int	 workers;		/* 0: serve in the master */
	unsigned int	 threads;
	unsigned int	 pool_size;
	unsigned int	 pool_acquire_timeout_ms;
	unsigned int	 statement_timeout_ms;
	unsigned int	 request_timeout;	/* seconds */
	unsigned int	 max_requests;		/* per worker; 0: no limit */
	unsigned int	 shutdown_timeout;	/* seconds */
	char		*base_path;		/* "/v1"; "" for none */
	unsigned int	 max_body_bytes;
	unsigned int	 max_header_bytes;	/* all HTTP_* params together */
	unsigned int	 max_json_depth;
	unsigned int	 max_json_members;	/* per object */
	unsigned int	 max_string_bytes;	/* raw, per JSON string */
	unsigned int	 rotation_grace_seconds;
	unsigned int	 retry_after_seconds;
	char		*trusted_addresses;
	char		*log_level;
	char		*log_format;
	char		*log_file;		/* "" for standard error */
	unsigned int	 rate_limit_window;	/* seconds */
	unsigned int	 rate_limit_budget;
	bool		 prepared_statements;
	char		*role_owner;		/* tokenctl setup-roles */
	char		*role_app;
	char		*role_auditor;

	/* Actions asked for on the command line, not settings. */
	char		*config_file;
	bool		 help;
	bool		 version;
	bool		 check_config;

	/* The command line, kept so that a reload applies it again. */
	int		 argc;
	char		**argv;
};

/*
 * Load the settings from the command line argv[1..argc-1], the
 * environment, the file and the defaults.  When rest is NULL every
 * argument must be a known flag; otherwise parsing stops at the first
 * argument that is not a flag, and its index is stored in *rest (argc
 * when there is none).  TK_EINVAL after printing why on stderr; on
 * success *out is yours (tk_config_free).
 */
enum tk_err	 tk_config_load(struct tk_config **out, int argc, char *argv[],
		    int *rest);

/*
 * Load again from the same command line, environment and the file's
 * current content, for SIGHUP.  Settings that need a restart keep their
 * value in *out and a warning says so.
 */
enum tk_err	 tk_config_reload(const struct tk_config *old,
		    struct tk_config **out);

void		 tk_config_free(struct tk_config *);	/* NULL is fine */

/* Print the usage and every setting, with variable, default and help. */
void		 tk_config_usage(FILE *, const char *progname);

/* Print every setting as "name = value" (secrets in URLs masked). */
void		 tk_config_dump(const struct tk_config *, FILE *);

#endif /* TK_CONFIG_H */
