/*
 * tk_ctl.h - the commands of tokenctl, tokend's administration tool.
 *
 *   tokenctl migrate
 *   tokenctl client {create,list,show,set,disable,enable,rotate-key}
 *   tokenctl token {list,revoke,check,prune}
 *   tokenctl setup-roles
 *   tokenctl audit {partitions,prune}
 *
 * Commands that need the database connect with admin_database_url,
 * else database_url, else libpq's PG* variables, and make each change
 * one statement with its audit row (sql/007).  setup-roles, run once by
 * a DBA, makes the roles of sql/010; the audit commands keep the monthly
 * partitions of token_events (sql/011).  Results go to stdout,
 * errors to stderr as one "tokenctl: ..." line.  A client key is
 * printed once, on stdout, and nowhere else; only its SHA-256 is kept.
 */
#ifndef TK_CTL_H
#define TK_CTL_H

#include <stdio.h>
#include "tk_config.h"

/* The exit status of tokenctl (CONTRACT §13). */
enum tk_ctl_exit {
	TK_CTL_OK = 0,		/* done */
	TK_CTL_FAILED = 1,	/* the operation failed: database, unknown id... */
	TK_CTL_USAGE = 2,	/* unknown command or flag, missing or bad argument */
};

/*
 * Run the command in argv[0..argc-1], the arguments left after the
 * global flags that tk_config_load() took; argv[0] is the noun
 * ("migrate", "client", "token").  cfg->help and cfg->version are
 * answered first.  argv is only read.
 */
enum tk_ctl_exit	 tk_ctl_run(const struct tk_config *cfg, int argc, char *argv[]);

/* Print the usage of every command. */
void			 tk_ctl_usage(FILE *);

#endif /* TK_CTL_H */
