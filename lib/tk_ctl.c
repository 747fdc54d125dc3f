/*
 * tk_ctl.c - the commands of tokenctl.
 *
 * Each command parses its own flags, checks every value before it
 * connects, and makes its change in one statement (the functions of
 * sql/007), so that a change and its audit row commit together.
 */
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "tk_ctl.h"
#include "tk_json.h"
#include "tk_log.h"
#include "tk_migrate.h"
#include "tk_token.h"

#ifndef TOKEND_SQL_DIR
#define TOKEND_SQL_DIR		"/usr/local/share/tokend/sql"
#endif
#ifndef TOKEND_VERSION
#define TOKEND_VERSION		"unknown"
#endif

#define PROGNAME		"tokenctl"
#define PRUNE_BATCH		"1000"
#define TOKEN_INPUT_MAX		4096	/* a token read from stdin */
#define MAX_POSITIONAL		2
#define AUDIT_AHEAD_DEFAULT	3	/* months of partitions ahead */
#define AUDIT_AHEAD_MAX		120
#define ROLE_NAME_MAX		63	/* NAMEDATALEN - 1 */

struct ctl {
	const struct tk_config	*cfg;
	PGconn			*conn;		/* opened by the first query */
};

struct command {
	const char		*noun;
	const char		*verb;		/* NULL: the noun alone */
	const char		*synopsis;	/* the arguments */
	const char		*summary;
	enum tk_ctl_exit	(*run)(struct ctl *, const struct command *,
				    int, char **);
};

/* A flag of a command: --name VALUE, --name=VALUE, or --name alone. */
struct option_spec {
	const char	*name;
	bool		 takes_value;
	const char	*value;		/* NULL: not given; "" for a lone flag */
};

/* Output columns: the SQL returns them in this order. */
enum col_type {
	COL_TEXT,
	COL_INT,
	COL_BOOL,
};

struct column {
	const char	*header;	/* table header; NULL: not in tables */
	const char	*member;	/* JSON member and "show" label; NULL: tables only */
	enum col_type	 type;
};

/* The policy flags of client create and client set, and their minima. */
static const struct {
	const char	*flag;
	long		 min;
} policy_flags[] = {
	{ "long-ttl-default",	1 },
	{ "long-ttl-max",	1 },
	{ "short-ttl-default",	1 },
	{ "short-ttl-max",	1 },
	{ "overlap-max",	0 },
	{ "family-max",		1 },
};
#define NPOLICY	(sizeof(policy_flags) / sizeof(policy_flags[0]))

/* The policy values given, in seconds, as SQL parameters (NULL: not given). */
struct policy {
	char		 text[NPOLICY][16];
	const char	*param[NPOLICY];
};

static const char *const reserved_scopes[] = { "tokend:rotate", "tokend:revoke" };

/* Why a CHECK constraint refused a value, in the words of the flags. */
static const struct {
	const char	*constraint;
	const char	*message;
} constraint_messages[] = {
	{ "clients_name_check", "--name must be 1 to 200 characters" },
	{ "clients_long_ttl_check", "--long-ttl-default must be between 1 second "
	    "and the client's --long-ttl-max" },
	{ "clients_short_ttl_check", "--short-ttl-default must be between 1 "
	    "second and the client's --short-ttl-max" },
	{ "clients_overlap_max_check", "--overlap-max must not be negative" },
	{ "clients_family_max_check", "--family-max must be at least 1 second" },
	{ "clients_default_scopes_check", "--default-scope must be among the "
	    "client's scopes and must not hold tokend:rotate or tokend:revoke" },
	{ "clients_scopes_check", "--scope holds too many scopes" },
};

static void warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static enum tk_ctl_exit make_partitions(struct ctl *, long, bool *);

/* One "tokenctl: ..." line on stderr. */
static void
warnx(const char *fmt, ...)
{
	va_list	ap;

	fputs(PROGNAME ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* An argument fit to quote in a message: no control characters. */
static const char *
quoted(const char *s, char *buf, size_t buflen)
{
	tk_log_escape(s, buf, buflen);
	return buf;
}

static void
command_usage(FILE *fp, const struct command *cmd)
{
	fprintf(fp, "usage: " PROGNAME " %s%s%s%s%s\n", cmd->noun,
	    cmd->verb != NULL ? " " : "", cmd->verb != NULL ? cmd->verb : "",
	    cmd->synopsis[0] != '\0' ? " " : "", cmd->synopsis);
}

/*
 * Parse the arguments of cmd: the flags in opts, and from minpos to
 * maxpos positional arguments into pos.  --help prints the usage of
 * cmd on stdout and sets *done.  TK_CTL_USAGE after saying why.
 */
static enum tk_ctl_exit
parse_args(const struct command *cmd, int argc, char **argv,
    struct option_spec *opts, size_t nopts, const char **pos, size_t minpos,
    size_t maxpos, bool *done)
{
	char	 buf[128];
	size_t	 npos = 0, i;
	bool	 flags = true;
	int	 a;

	*done = false;
	for (i = 0; i < maxpos; i++)
		pos[i] = NULL;
	for (a = 0; a < argc; a++) {
		const char		*arg = argv[a], *eq;
		struct option_spec	*o = NULL;
		size_t			 namelen;

		if (flags && strcmp(arg, "--") == 0) {
			flags = false;
			continue;
		}
		if (!flags || arg[0] != '-' || strcmp(arg, "-") == 0) {
			if (npos == maxpos) {
				warnx("unexpected argument \"%s\"",
				    quoted(arg, buf, sizeof(buf)));
				goto usage;
			}
			pos[npos++] = arg;
			continue;
		}
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			command_usage(stdout, cmd);
			*done = true;
			return TK_CTL_OK;
		}
		eq = strchr(arg, '=');
		namelen = eq != NULL ? (size_t)(eq - arg) - 2 : strlen(arg) - 2;
		for (i = 0; arg[1] == '-' && i < nopts; i++) {
			if (strlen(opts[i].name) == namelen &&
			    strncmp(arg + 2, opts[i].name, namelen) == 0) {
				o = &opts[i];
				break;
			}
		}
		if (o == NULL) {
			warnx("unknown option \"%s\"", quoted(arg, buf, sizeof(buf)));
			goto usage;
		}
		if (!o->takes_value) {
			if (eq != NULL) {
				warnx("option --%s takes no value", o->name);
				goto usage;
			}
			o->value = "";
		} else if (eq != NULL)
			o->value = eq + 1;
		else if (a + 1 < argc)
			o->value = argv[++a];
		else {
			warnx("option --%s needs a value", o->name);
			goto usage;
		}
	}
	if (npos < minpos) {
		warnx("missing argument");
		goto usage;
	}
	return TK_CTL_OK;
usage:
	command_usage(stderr, cmd);
	return TK_CTL_USAGE;
}

static const char *
option(const struct option_spec *opts, size_t nopts, const char *name)
{
	size_t	i;

	for (i = 0; i < nopts; i++)
		if (strcmp(opts[i].name, name) == 0)
			return opts[i].value;
	return NULL;
}

/*
 * A duration: seconds, or a number followed by s, m, h or d, from min
 * to INT_MAX seconds (the columns are integers).
 */
static bool
parse_duration(const char *flag, const char *s, long min, long *out)
{
	char		 buf[64];
	const char	*p = s;
	long long	 v = 0, mult = 1;

	if (*p < '0' || *p > '9')
		goto bad;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (*p - '0');
		if (v > INT_MAX)
			goto range;
	}
	switch (*p) {
	case '\0':	break;
	case 's':	mult = 1; p++; break;
	case 'm':	mult = 60; p++; break;
	case 'h':	mult = 3600; p++; break;
	case 'd':	mult = 86400; p++; break;
	default:	goto bad;
	}
	if (*p != '\0')
		goto bad;
	v *= mult;
	if (v > INT_MAX || v < min)
		goto range;
	*out = (long)v;
	return true;
bad:
	warnx("invalid duration \"%s\" for --%s: give seconds, or a number"
	    " followed by s, m, h or d", quoted(s, buf, sizeof(buf)), flag);
	return false;
range:
	warnx("--%s must be between %ld and %d seconds", flag, min, INT_MAX);
	return false;
}

static bool
parse_policy(const struct option_spec *opts, size_t nopts, struct policy *p,
    bool *any)
{
	const char	*v;
	long		 secs;
	size_t		 i;

	for (i = 0; i < NPOLICY; i++) {
		p->param[i] = NULL;
		if ((v = option(opts, nopts, policy_flags[i].flag)) == NULL)
			continue;
		if (!parse_duration(policy_flags[i].flag, v, policy_flags[i].min,
		    &secs))
			return false;
		snprintf(p->text[i], sizeof(p->text[i]), "%ld", secs);
		p->param[i] = p->text[i];
		*any = true;
	}
	return true;
}

/* A UUID argument in canonical lower case. */
static bool
parse_id(const char *what, const char *s, char out[TK_UUID_STR_LEN + 1])
{
	unsigned char	id[TK_UUID_LEN];
	char		buf[128];

	if (!tk_uuid_parse(s, id)) {
		warnx("\"%s\" is not a %s id (a UUID)", quoted(s, buf, sizeof(buf)),
		    what);
		return false;
	}
	tk_uuid_format(id, out);
	return true;
}

static bool
is_reserved(const char *scope, size_t len)
{
	size_t	i;

	for (i = 0; i < sizeof(reserved_scopes) / sizeof(reserved_scopes[0]); i++)
		if (strlen(reserved_scopes[i]) == len &&
		    memcmp(reserved_scopes[i], scope, len) == 0)
			return true;
	return false;
}

/* Is the word s[0..len) one of the scopes of the normalised list? */
static bool
scope_has(const char *list, const char *s, size_t len)
{
	const char	*p = list;

	while (*p != '\0') {
		size_t n = strcspn(p, " ");

		if (n == len && memcmp(p, s, len) == 0)
			return true;
		p += n;
		if (*p == ' ')
			p++;
	}
	return false;
}

/*
 * A scope list as given (words separated by blanks), normalised to
 * single spaces without duplicates, in the order given, and validated
 * (RFC 6749 characters, at most 32 scopes of 64 bytes).  *out is yours;
 * "" is the empty set.
 */
static bool
parse_scopes(const char *flag, const char *s, char **out)
{
	char		*list;
	const char	*p = s;
	size_t		 len = 0;

	if ((list = malloc(strlen(s) + 1)) == NULL) {
		warnx("out of memory");
		return false;
	}
	list[0] = '\0';
	for (;;) {
		size_t n;

		p += strspn(p, " \t");
		if (*p == '\0')
			break;
		n = strcspn(p, " \t");
		if (!scope_has(list, p, n)) {
			if (len > 0)
				list[len++] = ' ';
			memcpy(list + len, p, n);
			len += n;
			list[len] = '\0';
		}
		p += n;
	}
	if (!tk_json_scope_is_valid(list)) {
		warnx("invalid --%s: give at most %d scopes of at most %d bytes,"
		    " printable ASCII without '\"' or '\\', separated by spaces",
		    flag, TK_SCOPE_MAX_ITEMS, TK_SCOPE_MAX_BYTES);
		free(list);
		return false;
	}
	*out = list;
	return true;
}

/* A default scope set: no reserved scope, and within scopes if known. */
static bool
check_default_scopes(const char *defaults, const char *scopes)
{
	const char	*p = defaults;

	while (*p != '\0') {
		size_t	n = strcspn(p, " ");
		char	buf[128];

		if (is_reserved(p, n)) {
			warnx("--default-scope must not hold the reserved scope %.*s:"
			    " a token carries it only when asked for by name",
			    (int)n, p);
			return false;
		}
		if (scopes != NULL && !scope_has(scopes, p, n)) {
			snprintf(buf, sizeof(buf), "%.*s", (int)n, p);
			warnx("default scope %s is not in --scope", buf);
			return false;
		}
		p += n;
		if (*p == ' ')
			p++;
	}
	return true;
}

static bool
name_is_valid(const char *name)
{
	long	n = tk_utf8_count(name, strlen(name));

	if (n < 1 || n > 200) {
		warnx("--name must be 1 to 200 characters of UTF-8, without"
		    " control characters");
		return false;
	}
	return true;
}

/* The first lines of a libpq message, without the final newline. */
static void
warn_pq(const char *what, const char *msg)
{
	size_t	n = strlen(msg);

	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		n--;
	if (n == 0)
		warnx("%s", what);
	else
		warnx("%s: %.*s", what, (int)n, msg);
}

static enum tk_ctl_exit
connect_db(struct ctl *ctl)
{
	const char	*keys[] = { "fallback_application_name", "dbname", NULL };
	const char	*values[] = { PROGNAME, "", NULL };
	const char	*url;

	if (ctl->conn != NULL)
		return TK_CTL_OK;
	url = ctl->cfg->admin_database_url;
	if (url == NULL || url[0] == '\0')
		url = ctl->cfg->database_url;
	values[1] = url != NULL ? url : "";	/* "": libpq's PG* variables */
	ctl->conn = PQconnectdbParams(keys, values, 1);
	if (ctl->conn == NULL) {
		warnx("out of memory");
		return TK_CTL_FAILED;
	}
	if (PQstatus(ctl->conn) != CONNECTION_OK) {
		warn_pq("could not connect to database", PQerrorMessage(ctl->conn));
		return TK_CTL_FAILED;
	}
	return TK_CTL_OK;
}

/*
 * Run one statement with parameters (text, except where formats says
 * binary).  On success *out is the result, yours to PQclear.  A CHECK
 * constraint that refuses a value given is a usage error.
 */
static enum tk_ctl_exit
query(struct ctl *ctl, const char *sql, int n, const char *const *values,
    const int *lengths, const int *formats, PGresult **out)
{
	PGresult		*res;
	const char		*state, *constraint, *msg;
	enum tk_ctl_exit	 rc;
	size_t			 i;

	if ((rc = connect_db(ctl)) != TK_CTL_OK)
		return rc;
	res = PQexecParams(ctl->conn, sql, n, NULL, values, lengths, formats, 0);
	switch (PQresultStatus(res)) {
	case PGRES_COMMAND_OK:
	case PGRES_TUPLES_OK:
		*out = res;
		return TK_CTL_OK;
	default:
		break;
	}
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
	msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	rc = TK_CTL_FAILED;
	if (state != NULL && strcmp(state, "23514") == 0 && constraint != NULL) {
		for (i = 0; i < sizeof(constraint_messages) /
		    sizeof(constraint_messages[0]); i++) {
			if (strcmp(constraint, constraint_messages[i].constraint) == 0) {
				warnx("%s", constraint_messages[i].message);
				rc = TK_CTL_USAGE;
				goto out;
			}
		}
	}
	if (state != NULL && strcmp(state, "42883") == 0)
		warnx("%s (has \"" PROGNAME " migrate\" run?)", msg);
	else if (msg != NULL)
		warnx("%s", msg);
	else
		warn_pq("query failed", PQerrorMessage(ctl->conn));
out:
	PQclear(res);
	return rc;
}

/* Display width of a UTF-8 string: its code points. */
static size_t
text_width(const char *s)
{
	size_t	w = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

/* Print s for a terminal: control characters become '?'. */
static void
print_text(const char *s, size_t pad)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		putchar(c < 0x20 || c == 0x7f ? '?' : c);
	}
	while (pad-- > 0)
		putchar(' ');
}

static const char *
cell(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col) || PQgetvalue(res, row, col)[0] == '\0')
		return "-";
	return PQgetvalue(res, row, col);
}

/* The rows of res as a table with a header, columns aligned. */
static void
print_table(const PGresult *res, const struct column *cols, size_t ncols)
{
	size_t	width[32] = { 0 }, i, last = 0;
	int	row;

	for (i = 0; i < ncols && i < 32; i++) {
		if (cols[i].header == NULL)
			continue;
		width[i] = text_width(cols[i].header);
		for (row = 0; row < PQntuples(res); row++) {
			size_t w = text_width(cell(res, row, (int)i));

			if (w > width[i])
				width[i] = w;
		}
		last = i;
	}
	for (row = -1; row < PQntuples(res); row++) {
		bool first = true;

		for (i = 0; i < ncols && i < 32; i++) {
			const char *s;

			if (cols[i].header == NULL)
				continue;
			s = row < 0 ? cols[i].header : cell(res, row, (int)i);
			if (!first)
				fputs("  ", stdout);
			first = false;
			print_text(s, i == last ? 0 : width[i] - text_width(s));
		}
		putchar('\n');
	}
}

/* The first row of res, one "member: value" line per column. */
static void
print_vertical(const PGresult *res, const struct column *cols, size_t ncols)
{
	size_t	width = 0, i;

	for (i = 0; i < ncols; i++)
		if (cols[i].member != NULL && strlen(cols[i].member) > width)
			width = strlen(cols[i].member);
	for (i = 0; i < ncols; i++) {
		if (cols[i].member == NULL)
			continue;
		printf("%s:", cols[i].member);
		print_text("", width - strlen(cols[i].member) + 1);
		print_text(cell(res, 0, (int)i), 0);
		putchar('\n');
	}
}

/* The rows of res as JSON lines, one object per row. */
static enum tk_ctl_exit
print_json(const PGresult *res, const struct column *cols, size_t ncols)
{
	struct json_object	*obj = NULL, *v;
	enum tk_ctl_exit	 rc = TK_CTL_FAILED;
	size_t			 i;
	int			 row;

	for (row = 0; row < PQntuples(res); row++) {
		if ((obj = json_object_new_object()) == NULL)
			goto out;
		for (i = 0; i < ncols; i++) {
			const char *s = PQgetvalue(res, row, (int)i);

			if (cols[i].member == NULL)
				continue;
			if (PQgetisnull(res, row, (int)i))
				v = NULL;	/* json-c writes null */
			else if (cols[i].type == COL_INT) {
				if ((v = json_object_new_int64(strtoll(s, NULL, 10))) == NULL)
					goto out;
			} else if (cols[i].type == COL_BOOL) {
				if ((v = json_object_new_boolean(s[0] == 't')) == NULL)
					goto out;
			} else if ((v = json_object_new_string(s)) == NULL)
				goto out;
			if (json_object_object_add(obj, cols[i].member, v) != 0) {
				json_object_put(v);
				goto out;
			}
		}
		puts(json_object_to_json_string_ext(obj,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(obj);
		obj = NULL;
	}
	rc = TK_CTL_OK;
out:
	if (rc != TK_CTL_OK)
		warnx("out of memory");
	json_object_put(obj);
	return rc;
}

static enum tk_ctl_exit
cmd_migrate(struct ctl *ctl, const struct command *cmd, int argc, char **argv)
{
	struct option_spec	 opts[] = { { "sql-dir", true, NULL } };
	struct tk_migrate_error	 e;
	const char		*dir;
	unsigned int		 applied = 0;
	enum tk_ctl_exit	 rc;
	bool			 done, missing;

	if ((rc = parse_args(cmd, argc, argv, opts, 1, NULL, 0, 0, &done)) !=
	    TK_CTL_OK || done)
		return rc;
	if ((dir = option(opts, 1, "sql-dir")) == NULL &&
	    ((dir = getenv("TOKEND_SQL_DIR")) == NULL || dir[0] == '\0'))
		dir = TOKEND_SQL_DIR;
	if ((rc = connect_db(ctl)) != TK_CTL_OK)
		return rc;
	if (tk_migrate_run(ctl->conn, dir, stdout, &applied, &e) != TK_OK) {
		warnx("%s", e.message);
		return TK_CTL_FAILED;
	}
	if (applied == 0)
		printf("database is up to date\n");
	/* The months ahead, as "audit partitions" makes them (sql/011). */
	return make_partitions(ctl, AUDIT_AHEAD_DEFAULT, &missing);
}

/* Print a new client key: once, on stdout, and never anywhere else. */
static enum tk_ctl_exit
print_key(const char *id, const char *key)
{
	printf("client_id: %s\nclient_key: %s\n", id, key);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		warnx("could not write the client key: %s; the client %s has a"
		    " new key nobody knows: run \"" PROGNAME " client rotate-key"
		    " %s\"", strerror(errno), id, id);
		return TK_CTL_FAILED;
	}
	return TK_CTL_OK;
}

#define POLICY_OPTIONS \
	{ "long-ttl-default", true, NULL }, \
	{ "long-ttl-max", true, NULL }, \
	{ "short-ttl-default", true, NULL }, \
	{ "short-ttl-max", true, NULL }, \
	{ "overlap-max", true, NULL }, \
	{ "family-max", true, NULL }

static enum tk_ctl_exit
cmd_client_create(struct ctl *ctl, const struct command *cmd, int argc,
    char **argv)
{
	static const char	 sql[] = "SELECT tokend_client_create($1::uuid, $2,"
	    " $3::bytea, string_to_array($4, ' '), string_to_array($5, ' '),"
	    " $6::integer, $7::integer, $8::integer, $9::integer, $10::integer,"
	    " $11::integer, $12::boolean)";
	struct option_spec	 opts[] = {
		{ "name", true, NULL },
		{ "scope", true, NULL },
		{ "default-scope", true, NULL },
		{ "resource-server", false, NULL },
		POLICY_OPTIONS,
	};
	const size_t		 nopts = sizeof(opts) / sizeof(opts[0]);
	struct policy		 policy;
	unsigned char		 id[TK_UUID_LEN], digest[TK_DIGEST_LEN];
	char			 idtext[TK_UUID_STR_LEN + 1], key[TK_TOKEN_LEN + 1];
	char			*scopes = NULL, *defaults = NULL;
	const char		*name, *values[12];
	int			 lengths[12] = { 0 }, formats[12] = { 0 };
	PGresult		*res = NULL;
	enum tk_ctl_exit	 rc;
	bool			 done, any = false;
	size_t			 i;

	if ((rc = parse_args(cmd, argc, argv, opts, nopts, NULL, 0, 0, &done)) !=
	    TK_CTL_OK || done)
		return rc;
	rc = TK_CTL_USAGE;
	if ((name = option(opts, nopts, "name")) == NULL) {
		warnx("client create needs --name");
		command_usage(stderr, cmd);
		goto out;
	}
	if (!name_is_valid(name) || !parse_policy(opts, nopts, &policy, &any))
		goto out;
	if (option(opts, nopts, "scope") != NULL &&
	    !parse_scopes("scope", option(opts, nopts, "scope"), &scopes))
		goto out;
	if (option(opts, nopts, "default-scope") != NULL &&
	    (!parse_scopes("default-scope", option(opts, nopts, "default-scope"),
	    &defaults) || !check_default_scopes(defaults,
	    scopes != NULL ? scopes : "")))
		goto out;

	rc = TK_CTL_FAILED;
	if (tk_uuid_new(id) != TK_OK ||
	    tk_token_mint(TK_TOKEN_CLIENT, id, key) != TK_OK) {
		warnx("could not generate a client key: random generator failed");
		goto out;
	}
	tk_uuid_format(id, idtext);
	tk_token_digest(key, digest);
	values[0] = idtext;
	values[1] = name;
	values[2] = (const char *)digest;
	lengths[2] = TK_DIGEST_LEN;
	formats[2] = 1;
	values[3] = scopes;
	values[4] = defaults;	/* NULL: the non-reserved scopes */
	for (i = 0; i < NPOLICY; i++)
		values[5 + i] = policy.param[i];
	/* A resource server may call POST /auth/tokens/introspect. */
	values[11] = option(opts, nopts, "resource-server") != NULL ? "t" : "f";
	if ((rc = query(ctl, sql, 12, values, lengths, formats, &res)) != TK_CTL_OK)
		goto out;
	rc = print_key(idtext, key);
out:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(digest, sizeof(digest));
	PQclear(res);
	free(scopes);
	free(defaults);
	return rc;
}

/* The columns of client list and client show, in the order of client_sql. */
static const struct column client_columns[] = {
	{ "ID", "client_id", COL_TEXT },
	{ "NAME", "name", COL_TEXT },
	{ "STATE", "state", COL_TEXT },
	{ "SCOPES", "scopes", COL_TEXT },
	{ "DEFAULT_SCOPES", "default_scopes", COL_TEXT },
	{ NULL, "long_ttl_default", COL_INT },
	{ NULL, "long_ttl_max", COL_INT },
	{ NULL, "short_ttl_default", COL_INT },
	{ NULL, "short_ttl_max", COL_INT },
	{ NULL, "overlap_max", COL_INT },
	{ NULL, "family_max_seconds", COL_INT },
	{ NULL, "prev_key_valid_until", COL_TEXT },
	{ NULL, "disabled_at", COL_TEXT },
	{ "CREATED_AT", "created_at", COL_TEXT },
	{ NULL, "updated_at", COL_TEXT },
	{ NULL, "live_tokens", COL_INT },	/* client show only */
};

#define CLIENT_SELECT \
	"SELECT c.id, c.name," \
	" CASE WHEN c.disabled_at IS NULL THEN 'enabled' ELSE 'disabled' END," \
	" array_to_string(c.scopes, ' '), array_to_string(c.default_scopes, ' ')," \
	" c.long_ttl_default, c.long_ttl_max, c.short_ttl_default," \
	" c.short_ttl_max, c.overlap_max, c.family_max_seconds," \
	" tokend_time_text(c.prev_key_valid_until)," \
	" tokend_time_text(c.disabled_at), tokend_time_text(c.created_at)," \
	" tokend_time_text(c.updated_at)"

static enum tk_ctl_exit
cmd_client_list(struct ctl *ctl, const struct command *cmd, int argc,
    char **argv)
{
	struct option_spec	 opts[] = { { "json", false, NULL } };
	PGresult		*res = NULL;
	enum tk_ctl_exit	 rc;
	bool			 done;
	const size_t		 ncols = sizeof(client_columns) /
				    sizeof(client_columns[0]) - 1;

	if ((rc = parse_args(cmd, argc, argv, opts, 1, NULL, 0, 0, &done)) !=
	    TK_CTL_OK || done)
		return rc;
	if ((rc = query(ctl, CLIENT_SELECT " FROM clients c"
	    " ORDER BY c.created_at, c.id", 0, NULL, NULL, NULL, &res)) !=
	    TK_CTL_OK)
		return rc;
	if (option(opts, 1, "json") != NULL)
		rc = print_json(res, client_columns, ncols);
	else
		print_table(res, client_columns, ncols);
	PQclear(res);
	return rc;
}

static enum tk_ctl_exit
cmd_client_show(struct ctl *ctl, const struct command *cmd, int argc,
    char **argv)
{
	struct option_spec	 opts[] = { { "json", false, NULL } };
	const char		*pos[1], *values[1];
	char			 id[TK_UUID_STR_LEN + 1];
	PGresult		*res = NULL;
	enum tk_ctl_exit	 rc;
	bool			 done;
	const size_t		 ncols = sizeof(client_columns) /
				    sizeof(client_columns[0]);

	if ((rc = parse_args(cmd, argc, argv, opts, 1, pos, 1, 1, &done)) !=
	    TK_CTL_OK || done)
		return rc;
	if (!parse_id("client", pos[0], id))
		return TK_CTL_USAGE;
	values[0] = id;
	if ((rc = query(ctl, CLIENT_SELECT ", (SELECT count(*) FROM tokens t"
	    " WHERE t.client_id = c.id AND token_is_valid(t))"
	    " FROM clients c WHERE c.id = $1::uuid", 1, values, NULL, NULL,
	    &res)) != TK_CTL_OK)
		return rc;
	if (PQntuples(res) == 0) {
		warnx("client %s not found", id);
		rc = TK_CTL_FAILED;
	} else if (option(opts, 1, "json") != NULL)
		rc = print_json(res, client_columns, ncols);
	else
		print_vertical(res, client_columns, ncols);
	PQclear(res);
	return rc;
}

static enum tk_ctl_exit
cmd_client_set(struct ctl *ctl, const struct command *cmd, int argc,
    char **argv)
{
	static const char	 sql[] = "SELECT x.c IS NULL,"
	    " (SELECT string_agg(k, ', ' ORDER BY k) FROM jsonb_object_keys(x.c) k)"
	    " FROM tokend_client_set($1::uuid, $2, string_to_array($3, ' '),"
	    " string_to_array($4, ' '), $5::integer, $6::integer, $7::integer,"
	    " $8::integer, $9::integer, $10::integer) AS x(c)";
	struct option_spec	 opts[] = {
		{ "name", true, NULL },
		{ "scope", true, NULL },
		{ "default-scope", true, NULL },
		POLICY_OPTIONS,
	};
	const size_t		 nopts = sizeof(opts) / sizeof(opts[0]);
	struct policy		 policy;
	char			 id[TK_UUID_STR_LEN + 1];
	char			*scopes = NULL, *defaults = NULL;
	const char		*pos[1], *name, *values[10];
	PGresult		*res = NULL;
	enum tk_ctl_exit	 rc;
	bool			 done, any = false;
	size_t			 i;

	if ((rc = parse_args(cmd, argc, argv, opts, nopts, pos, 1, 1, &done)) !=
	    TK_CTL_OK || done)
		return rc;
	rc = TK_CTL_USAGE;
	if (!parse_id("client", pos[0], id))
		goto out;
	if ((name = option(opts, nopts, "name")) != NULL) {
		if (!name_is_valid(name))
			goto out;
		any = true;
	}
	if (!parse_policy(opts, nopts, &policy, &any))
		goto out;
	if (option(opts, nopts, "scope") != NULL) {
		if (!parse_scopes("scope", option(opts, nopts, "scope"), &scopes))
			goto out;
		any = true;
	}
	/* Without --scope, the database checks against the current scopes. */
	if (option(opts, nopts, "default-scope") != NULL) {
		if (!parse_scopes("default-scope",
		    option(opts, nopts, "default-scope"), &defaults) ||
		    !check_default_scopes(defaults, scopes))
			goto out;
		any = true;
	}
	if (!any) {
		warnx("client set needs something to change");
		command_usage(stderr, cmd);
		goto out;
	}
	values[0] = id;
	values[1] = name;
	values[2] = scopes;
	values[3] = defaults;
	for (i = 0; i < NPOLICY; i++)
		values[4 + i] = policy.param[i];
	if ((rc = query(ctl, sql, 10, values, NULL, NULL, &res)) != TK_CTL_OK)
		goto out;
	if (strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
		warnx("client %s not found", id);
		rc = TK_CTL_FAILED;
	} else if (PQgetisnull(res, 0, 1))
		printf("client %s unchanged\n", id);
	else
		printf("client %s changed: %s\n", id, PQgetvalue(res, 0, 1));
out:
	PQclear(res);
	free(scopes);
	free(defaults);
	return rc;
}

/* Parse "client VERB ID" with no flags. */
static enum tk_ctl_exit
parse_client_id(const struct command *cmd, int argc, char **argv,
    char id[TK_UUID_STR_LEN + 1], bool *done)
{
	const char		*pos[1];
	enum tk_ctl_exit	 rc;

	if ((rc = parse_args(cmd, argc, argv, NULL, 0, pos, 1, 1, done)) !=
	    TK_CTL_OK || *done)
		return rc;
	return parse_id("client", pos[0], id) ? TK_CTL_OK : TK_CTL_USAGE;
}

static enum tk_ctl_exit
cmd_client_disable(struct ctl *ctl, const struct command *cmd, int argc,
    char **argv)
{
	char			 id[TK_UUID_STR_LEN + 1];
	const char		*values[1] = { id };
	PGresult		*res = NULL;
	enum tk_ctl_exit	 rc;
	bool			 done;

	if ((rc = parse_client_id(cmd, argc, argv, id, &done)) != TK_CTL_OK ||
	    done)
		return rc;
	if ((rc = query(ctl, "SELECT known, was_disabled, revoked"
	    " FROM tokend_client_disable($1::uuid)", 1, values, NULL, NULL,
	    &res)) != TK_CTL_OK)
		return rc;
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		warnx("client %s not found", id);
		rc = TK_CTL_FAILED;
	} else {
		const char *n = PQgetvalue(res, 0, 2);

		printf("client %s %sdisabled; %s token%s revoked\n", id,
		    strcmp(PQgetvalue(res, 0, 1), "t") == 0 ? "was already " : "",
		    n, strcmp(n, "1") == 0 ? "" : "s");
	}
	PQclear(res);
	return rc;
}

static enum tk_ctl_exit
cmd_client_enable(struct ctl *ctl, const struct command *cmd, int argc,
    char **argv)
{
	char			 id[TK_UUID_STR_LEN + 1];
	const char		*values[1] = { id };
	PGresult		*res = NULL;
	enum tk_ctl_exit	 rc;
	bool			 done;

	if ((rc = parse_client_id(cmd, argc, argv, id, &done)) != TK_CTL_OK ||
	    done)
		return rc;
	if ((rc = query(ctl, "SELECT known, was_enabled"
	    " FROM tokend_client_enable($1::uuid)", 1, values, NULL, NULL,
	    &res)) != TK_CTL_OK)
		return rc;
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		warnx("client %s not found", id);
		rc = TK_CTL_FAILED;
	} else if (strcmp(PQgetvalue(res, 0, 1), "t") == 0)
		printf("client %s was already enabled\n", id);
	else
		printf("client %s enabled; tokens revoked when it was disabled"
		    " stay revoked\n", id);
	PQclear(res);
	return rc;
}

static enum tk_ctl_exit
cmd_client_rotate_key(struct ctl *ctl, const struct command *cmd, int argc,
    char **argv)
{
	struct option_spec	 opts[] = { { "overlap", true, NULL } };
	unsigned char		 uuid[TK_UUID_LEN], digest[TK_DIGEST_LEN];
	char			 id[TK_UUID_STR_LEN + 1], key[TK_TOKEN_LEN + 1];
	char			 overlap[16] = "0";
	const char		*pos[1], *values[3];
	int			 lengths[3] = { 0 }, formats[3] = { 0 };
	PGresult		*res = NULL;
	enum tk_ctl_exit	 rc;
	long			 secs;
	bool			 done;

	memset(key, 0, sizeof(key));
	memset(digest, 0, sizeof(digest));
	if ((rc = parse_args(cmd, argc, argv, opts, 1, pos, 1, 1, &done)) !=
	    TK_CTL_OK || done)
		return rc;
	if (!parse_id("client", pos[0], id))
		return TK_CTL_USAGE;
	if (option(opts, 1, "overlap") != NULL) {
		if (!parse_duration("overlap", option(opts, 1, "overlap"), 0, &secs))
			return TK_CTL_USAGE;
		snprintf(overlap, sizeof(overlap), "%ld", secs);
	}
	rc = TK_CTL_FAILED;
	if (!tk_uuid_parse(id, uuid) ||
	    tk_token_mint(TK_TOKEN_CLIENT, uuid, key) != TK_OK) {
		warnx("could not generate a client key: random generator failed");
		goto out;
	}
	tk_token_digest(key, digest);
	values[0] = id;
	values[1] = (const char *)digest;
	lengths[1] = TK_DIGEST_LEN;
	formats[1] = 1;
	values[2] = overlap;
	if ((rc = query(ctl, "SELECT known, prev_key_valid_until"
	    " FROM tokend_client_rotate_key($1::uuid, $2::bytea, $3::integer)",
	    3, values, lengths, formats, &res)) != TK_CTL_OK)
		goto out;
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		warnx("client %s not found", id);
		rc = TK_CTL_FAILED;
		goto out;
	}
	if ((rc = print_key(id, key)) != TK_CTL_OK)
		goto out;
	if (!PQgetisnull(res, 0, 1))
		warnx("the previous key stays valid until %s", PQgetvalue(res, 0, 1));
out:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(digest, sizeof(digest));
	PQclear(res);
	return rc;
}

static const struct column token_columns[] = {
	{ "ID", "token_id", COL_TEXT },
	{ "KIND", "kind", COL_TEXT },
	{ "CLIENT", "client_id", COL_TEXT },
	{ "PARENT/FAMILY", NULL, COL_TEXT },
	{ NULL, "parent_id", COL_TEXT },
	{ NULL, "family_id", COL_TEXT },
	{ NULL, "generation", COL_INT },
	{ "SCOPE", "scope", COL_TEXT },
	{ NULL, "label", COL_TEXT },
	{ NULL, "audience", COL_TEXT },
	{ "ISSUED_AT", "issued_at", COL_TEXT },
	{ "EXPIRES_AT", "expires_at", COL_TEXT },
	{ "VALID_UNTIL", "valid_until", COL_TEXT },
	{ NULL, "rotated_at", COL_TEXT },
	{ NULL, "revoked_at", COL_TEXT },
	{ "STATE", "state", COL_TEXT },
};

/*
 * state: valid, overlap (rotated, still valid), expired, rotated (its
 * overlap over), revoked:<reason>, client_disabled, parent_invalid.
 */
static enum tk_ctl_exit
cmd_token_list(struct ctl *ctl, const struct command *cmd, int argc,
    char **argv)
{
	static const char	 sql[] =
	    "SELECT t.id, t.kind, t.client_id, coalesce(t.parent_id, t.family_id),"
	    " t.parent_id, t.family_id, t.generation, array_to_string(t.scope, ' '),"
	    " t.label, t.audience, tokend_time_text(t.issued_at),"
	    " tokend_time_text(t.expires_at), tokend_time_text(t.valid_until),"
	    " tokend_time_text(t.rotated_at), tokend_time_text(r.revoked_at),"
	    " CASE WHEN r.reason IS NOT NULL THEN 'revoked:' || r.reason"
	    "  WHEN c.disabled_at IS NOT NULL THEN 'client_disabled'"
	    "  WHEN now() >= t.valid_until THEN"
	    "   CASE WHEN t.rotated_at IS NULL THEN 'expired' ELSE 'rotated' END"
	    "  WHEN NOT token_is_valid(t) THEN 'parent_invalid'"
	    "  WHEN t.rotated_at IS NOT NULL THEN 'overlap'"
	    "  ELSE 'valid' END"
	    " FROM tokens t JOIN clients c ON c.id = t.client_id"
	    " LEFT JOIN revocations r ON r.token_id = t.id"
	    " WHERE ($1::uuid IS NULL OR t.client_id = $1::uuid)"
	    " AND ($2::boolean OR token_is_valid(t))"
	    " ORDER BY t.issued_at, t.id";
	struct option_spec	 opts[] = {
		{ "client", true, NULL },
		{ "all", false, NULL },
		{ "json", false, NULL },
	};
	char			 id[TK_UUID_STR_LEN + 1];
	const char		*values[2] = { NULL, "false" };
	PGresult		*res = NULL;
	enum tk_ctl_exit	 rc;
	bool			 done;

	if ((rc = parse_args(cmd, argc, argv, opts, 3, NULL, 0, 0, &done)) !=
	    TK_CTL_OK || done)
		return rc;
	if (option(opts, 3, "client") != NULL) {
		if (!parse_id("client", option(opts, 3, "client"), id))
			return TK_CTL_USAGE;
		values[0] = id;
	}
	if (option(opts, 3, "all") != NULL)
		values[1] = "true";
	if ((rc = query(ctl, sql, 2, values, NULL, NULL, &res)) != TK_CTL_OK)
		return rc;
	if (option(opts, 3, "json") != NULL)
		rc = print_json(res, token_columns,
		    sizeof(token_columns) / sizeof(token_columns[0]));
	else
		print_table(res, token_columns,
		    sizeof(token_columns) / sizeof(token_columns[0]));
	PQclear(res);
	return rc;
}

static enum tk_ctl_exit
cmd_token_revoke(struct ctl *ctl, const struct command *cmd, int argc,
    char **argv)
{
	char			 id[TK_UUID_STR_LEN + 1];
	const char		*pos[1], *values[1] = { id };
	PGresult		*res = NULL;
	enum tk_ctl_exit	 rc;
	bool			 done;

	if ((rc = parse_args(cmd, argc, argv, NULL, 0, pos, 1, 1, &done)) !=
	    TK_CTL_OK || done)
		return rc;
	if (!parse_id("token", pos[0], id))
		return TK_CTL_USAGE;
	if ((rc = query(ctl, "SELECT known, was_revoked, reason"
	    " FROM tokend_token_revoke_admin($1::uuid)", 1, values, NULL, NULL,
	    &res)) != TK_CTL_OK)
		return rc;
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		warnx("token %s not found", id);
		rc = TK_CTL_FAILED;
	} else if (strcmp(PQgetvalue(res, 0, 1), "t") == 0)
		printf("token %s was already revoked (%s)\n", id,
		    PQgetvalue(res, 0, 2));
	else
		printf("token %s revoked\n", id);
	PQclear(res);
	return rc;
}

/* Read one token from stdin: at most TOKEN_INPUT_MAX bytes, blanks trimmed. */
static bool
read_token(char *buf, size_t buflen)
{
	size_t	len = 0, got, start;

	while (len < buflen - 1 &&
	    (got = fread(buf + len, 1, buflen - 1 - len, stdin)) > 0)
		len += got;
	if (ferror(stdin)) {
		warnx("could not read the token from stdin: %s", strerror(errno));
		return false;
	}
	buf[len] = '\0';
	while (len > 0 && strchr(" \t\r\n", buf[len - 1]) != NULL)
		buf[--len] = '\0';
	start = strspn(buf, " \t\r\n");
	memmove(buf, buf + start, len - start + 1);
	return true;
}

static enum tk_ctl_exit
cmd_token_check(struct ctl *ctl, const struct command *cmd, int argc,
    char **argv)
{
	static const char *const kinds[] = {
		[TK_TOKEN_NONE] = "none",
		[TK_TOKEN_LONG] = "long",
		[TK_TOKEN_SHORT] = "short",
		[TK_TOKEN_CLIENT] = "client",
	};
	struct tk_token		 t;
	char			 buf[TOKEN_INPUT_MAX + 1], id[TK_UUID_STR_LEN + 1];
	const char		*pos[1], *s;
	enum tk_ctl_exit	 rc;
	bool			 done;

	(void)ctl;	/* offline: no database */
	if ((rc = parse_args(cmd, argc, argv, NULL, 0, pos, 1, 1, &done)) !=
	    TK_CTL_OK || done)
		return rc;
	s = pos[0];
	if (strcmp(s, "-") == 0) {
		if (!read_token(buf, sizeof(buf))) {
			rc = TK_CTL_FAILED;
			goto out;
		}
		s = buf;
	}
	/* Say what is wrong, never the token itself. */
	rc = TK_CTL_FAILED;
	if (strlen(s) != TK_TOKEN_LEN)
		warnx("invalid token: %zu characters, a token has %d",
		    strlen(s), TK_TOKEN_LEN);
	else if (strncmp(s, "tkl_", 4) != 0 && strncmp(s, "tks_", 4) != 0 &&
	    strncmp(s, "tkc_", 4) != 0)
		warnx("invalid token: the prefix is not tkl_, tks_ or tkc_");
	else if (tk_token_parse(s, &t) != TK_OK)
		warnx("invalid token: wrong characters or checksum");
	else {
		tk_uuid_format(t.id, id);
		printf("kind: %s\nid: %s\n", kinds[t.kind], id);
		rc = TK_CTL_OK;
	}
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

static enum tk_ctl_exit
cmd_token_prune(struct ctl *ctl, const struct command *cmd, int argc,
    char **argv)
{
	/* Batches keep each transaction and its locks short. */
	static const char	 sql[] = "DELETE FROM tokens WHERE id IN ("
	    "SELECT id FROM tokens"
	    " WHERE expires_at < now() - make_interval(secs => $1::integer)"
	    " ORDER BY expires_at LIMIT " PRUNE_BATCH " FOR UPDATE SKIP LOCKED)";
	struct option_spec	 opts[] = { { "expired-for", true, NULL } };
	char			 secs_text[16];
	const char		*values[1] = { secs_text };
	PGresult		*res = NULL;
	enum tk_ctl_exit	 rc;
	long long		 total = 0, n;
	long			 secs;
	bool			 done;

	if ((rc = parse_args(cmd, argc, argv, opts, 1, NULL, 0, 0, &done)) !=
	    TK_CTL_OK || done)
		return rc;
	if (option(opts, 1, "expired-for") == NULL) {
		warnx("token prune needs --expired-for");
		command_usage(stderr, cmd);
		return TK_CTL_USAGE;
	}
	if (!parse_duration("expired-for", option(opts, 1, "expired-for"), 0,
	    &secs))
		return TK_CTL_USAGE;
	snprintf(secs_text, sizeof(secs_text), "%ld", secs);
	do {
		if ((rc = query(ctl, sql, 1, values, NULL, NULL, &res)) !=
		    TK_CTL_OK) {
			if (total > 0)
				warnx("%lld tokens were pruned before the failure",
				    total);
			return rc;
		}
		n = strtoll(PQcmdTuples(res), NULL, 10);
		total += n;
		PQclear(res);
		res = NULL;
	} while (n > 0);
	printf("pruned %lld token%s\n", total, total == 1 ? "" : "s");
	return TK_CTL_OK;
}

/*
 * The DBA's side: roles, the partitions of the audit trail, retention
 * (sql/010-012).  setup-roles must work on a database that has seen no
 * migration yet, so its SQL lives here, as a function of the session,
 * rather than in sql/; it keeps tokend_roles as sql/010 defines it.
 */

static const char setup_roles_fn[] =
    "CREATE FUNCTION pg_temp.tokend_setup_roles(p_owner text, p_app text,\n"
    "\tp_auditor text) RETURNS SETOF text\n"
    "LANGUAGE plpgsql AS $f$\n"
    "DECLARE\n"
    "\tkinds text[] := ARRAY['owner', 'app', 'auditor'];\n"
    "\tnames text[] := ARRAY[p_owner, p_app, p_auditor];\n"
    "\tsch   text := current_schema();\n"
    "\tme    text := current_user;\n"
    "\tdb    text := current_database();\n"
    "\tnsp   oid := (SELECT oid FROM pg_namespace WHERE nspname = current_schema());\n"
    "\towner_oid oid;\n"
    "\to     record;\n"
    "\tn     integer := 0;\n"
    "BEGIN\n"
    "\tIF NOT (SELECT rolsuper OR rolcreaterole FROM pg_roles\n"
    "\t        WHERE rolname = me) THEN\n"
    "\t\tRAISE EXCEPTION 'setup-roles needs the CREATEROLE privilege, which % has not', me\n"
    "\t\t      USING ERRCODE = 'insufficient_privilege';\n"
    "\tEND IF;\n"
    "\tIF sch IS NULL THEN\n"
    "\t\tRAISE EXCEPTION 'no schema for tokend: search_path names none that exists';\n"
    "\tEND IF;\n"
    "\t-- Names once recorded stay: every grant and owner follows them.\n"
    "\tIF to_regclass('tokend_roles') IS NOT NULL THEN\n"
    "\t\tFOR o IN SELECT r.role, r.name FROM tokend_roles r\n"
    "\t\t         WHERE r.name <> names[array_position(kinds, r.role)] LOOP\n"
    "\t\t\tRAISE EXCEPTION 'the % role of database % is %, not %: setup-roles does not rename roles',\n"
    "\t\t\t      o.role, db, o.name, names[array_position(kinds, o.role)];\n"
    "\t\tEND LOOP;\n"
    "\tEND IF;\n"
    "\tFOR i IN 1 .. 3 LOOP\n"
    "\t\tSELECT rolsuper, rolbypassrls INTO o FROM pg_roles\n"
    "\t\tWHERE rolname = names[i];\n"
    "\t\tIF NOT FOUND THEN\n"
    "\t\t\tEXECUTE format('CREATE ROLE %I LOGIN', names[i]);\n"
    "\t\t\tRETURN NEXT format('created role %s (%s; set its password or pg_hba.conf entry)',\n"
    "\t\t\t                   names[i], kinds[i]);\n"
    "\t\tELSIF i > 1 AND (o.rolsuper OR o.rolbypassrls) THEN\n"
    "\t\t\tRAISE EXCEPTION 'role % is a superuser or bypasses row security: the % role must hold only what tokend grants it',\n"
    "\t\t\t      names[i], kinds[i];\n"
    "\t\tELSE\n"
    "\t\t\tRETURN NEXT format('role %s exists (%s)', names[i], kinds[i]);\n"
    "\t\tEND IF;\n"
    "\tEND LOOP;\n"
    "\towner_oid := (SELECT oid FROM pg_roles WHERE rolname = p_owner);\n"
    "\t-- Giving objects to the owner takes membership in it.\n"
    "\tIF NOT pg_has_role(me, p_owner, 'MEMBER') THEN\n"
    "\t\tEXECUTE format('GRANT %I TO %I', p_owner, me);\n"
    "\t\tRETURN NEXT format('granted role %s to %s', p_owner, me);\n"
    "\tEND IF;\n"
    "\n"
    "\tIF to_regclass('tokend_roles') IS NULL THEN\n"
    "\t\tCREATE TABLE tokend_roles (\n"
    "\t\t\trole   text PRIMARY KEY\n"
    "\t\t\t       CONSTRAINT tokend_roles_role_check\n"
    "\t\t\t       CHECK (role IN ('owner', 'app', 'auditor')),\n"
    "\t\t\tname   text NOT NULL CONSTRAINT tokend_roles_name_key UNIQUE,\n"
    "\t\t\tset_at timestamptz NOT NULL DEFAULT date_trunc('second', now())\n"
    "\t\t);\n"
    "\tEND IF;\n"
    "\tINSERT INTO tokend_roles (role, name)\n"
    "\tSELECT k, v FROM unnest(kinds, names) AS u(k, v)\n"
    "\tON CONFLICT (role) DO NOTHING;\n"
    "\n"
    "\tIF NOT has_schema_privilege(p_owner, sch, 'CREATE') THEN\n"
    "\t\tEXECUTE format('GRANT USAGE, CREATE ON SCHEMA %I TO %I', sch, p_owner);\n"
    "\tEND IF;\n"
    "\tIF NOT has_schema_privilege(p_app, sch, 'USAGE')\n"
    "\t   OR NOT has_schema_privilege(p_auditor, sch, 'USAGE') THEN\n"
    "\t\tEXECUTE format('GRANT USAGE ON SCHEMA %I TO %I, %I', sch, p_app, p_auditor);\n"
    "\tEND IF;\n"
    "\tIF has_database_privilege(me, db, 'CONNECT WITH GRANT OPTION') THEN\n"
    "\t\tEXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I', db, p_owner);\n"
    "\t\tEXECUTE format('GRANT CONNECT ON DATABASE %I TO %I, %I', db, p_app, p_auditor);\n"
    "\tELSE\n"
    "\t\tRETURN NEXT format('CONNECT on database %s not granted (%s does not own it): PUBLIC''s applies',\n"
    "\t\t                   db, me);\n"
    "\tEND IF;\n"
    "\n"
    "\t-- Everything of the schema (an extension's aside) goes to the owner.\n"
    "\tFOR o IN\n"
    "\t\tSELECT c.oid::regclass AS obj,\n"
    "\t\t       CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'\n"
    "\t\t            WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END AS what\n"
    "\t\tFROM pg_class c\n"
    "\t\tWHERE c.relnamespace = nsp\n"
    "\t\t  AND c.relkind IN ('r', 'p', 'v', 'm', 'S')\n"
    "\t\t  AND c.relowner <> owner_oid\n"
    "\t\t  AND NOT EXISTS (SELECT 1 FROM pg_depend d\n"
    "\t\t                  WHERE d.classid = 'pg_class'::regclass\n"
    "\t\t                    AND d.objid = c.oid\n"
    "\t\t                    AND (d.deptype = 'e'\n"
    "\t\t                         OR (c.relkind = 'S' AND d.deptype IN ('i', 'a'))))\n"
    "\tLOOP\n"
    "\t\tEXECUTE format('ALTER %s %s OWNER TO %I', o.what, o.obj, p_owner);\n"
    "\t\tn := n + 1;\n"
    "\tEND LOOP;\n"
    "\tFOR o IN\n"
    "\t\tSELECT p.oid::regprocedure AS obj FROM pg_proc p\n"
    "\t\tWHERE p.pronamespace = nsp\n"
    "\t\t  AND p.proowner <> owner_oid\n"
    "\t\t  AND NOT EXISTS (SELECT 1 FROM pg_depend d\n"
    "\t\t                  WHERE d.classid = 'pg_proc'::regclass\n"
    "\t\t                    AND d.objid = p.oid AND d.deptype = 'e')\n"
    "\tLOOP\n"
    "\t\tEXECUTE format('ALTER ROUTINE %s OWNER TO %I', o.obj, p_owner);\n"
    "\t\tn := n + 1;\n"
    "\tEND LOOP;\n"
    "\tIF n > 0 THEN\n"
    "\t\tRETURN NEXT format('%s object%s of schema %s now belong%s to %s', n,\n"
    "\t\t                   CASE WHEN n = 1 THEN '' ELSE 's' END, sch,\n"
    "\t\t                   CASE WHEN n = 1 THEN 's' ELSE '' END, p_owner);\n"
    "\tEND IF;\n"
    "\t-- Functions the owner makes later are not PUBLIC's to run.\n"
    "\tEXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC',\n"
    "\t               p_owner);\n"
    "\tIF to_regprocedure('tokend_apply_grants()') IS NOT NULL THEN\n"
    "\t\tPERFORM tokend_apply_grants();\n"
    "\t\tRETURN NEXT format('granted to %s and %s what tokend_grants lists', p_app, p_auditor);\n"
    "\tELSE\n"
    "\t\tRETURN NEXT 'no migration applied yet: \"tokenctl migrate\", run as the owner, grants the rest';\n"
    "\tEND IF;\n"
    "\tRETURN NEXT format('database %s: owner %s, app %s, auditor %s (recorded in tokend_roles)',\n"
    "\t                   db, p_owner, p_app, p_auditor);\n"
    "END\n"
    "$f$\n";

/* A role name of the settings: 1 to 63 bytes, no control characters. */
static bool
role_name_is_valid(const char *setting, const char *name)
{
	const unsigned char	*p;

	if (name == NULL || name[0] == '\0' || strlen(name) > ROLE_NAME_MAX) {
		warnx("setting %s must be a role name of 1 to %d bytes", setting,
		    ROLE_NAME_MAX);
		return false;
	}
	for (p = (const unsigned char *)name; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			warnx("setting %s must not hold control characters",
			    setting);
			return false;
		}
	}
	return true;
}

/*
 * tokenctl setup-roles: create the owner, app and auditor roles named by
 * the settings role_owner, role_app and role_auditor (those missing),
 * record them in tokend_roles, give the owner every object of the
 * schema and apply tokend_grants.  One transaction; harmless to repeat
 * with the same names, refused with others.
 */
static enum tk_ctl_exit
cmd_setup_roles(struct ctl *ctl, const struct command *cmd, int argc,
    char **argv)
{
	const struct tk_config	*cfg = ctl->cfg;
	const char		*values[3];
	PGresult		*res = NULL;
	enum tk_ctl_exit	 rc;
	bool			 done;
	int			 row;

	if ((rc = parse_args(cmd, argc, argv, NULL, 0, NULL, 0, 0, &done)) !=
	    TK_CTL_OK || done)
		return rc;
	if (!role_name_is_valid("role_owner", cfg->role_owner) ||
	    !role_name_is_valid("role_app", cfg->role_app) ||
	    !role_name_is_valid("role_auditor", cfg->role_auditor))
		return TK_CTL_USAGE;
	if (strcmp(cfg->role_owner, cfg->role_app) == 0 ||
	    strcmp(cfg->role_owner, cfg->role_auditor) == 0 ||
	    strcmp(cfg->role_app, cfg->role_auditor) == 0) {
		warnx("role_owner, role_app and role_auditor must be three"
		    " different roles");
		return TK_CTL_USAGE;
	}
	values[0] = cfg->role_owner;
	values[1] = cfg->role_app;
	values[2] = cfg->role_auditor;
	if ((rc = query(ctl, "BEGIN", 0, NULL, NULL, NULL, &res)) != TK_CTL_OK)
		return rc;
	PQclear(res);
	if ((rc = query(ctl, setup_roles_fn, 0, NULL, NULL, NULL, &res)) !=
	    TK_CTL_OK)
		return rc;	/* PQfinish rolls back */
	PQclear(res);
	if ((rc = query(ctl, "SELECT * FROM pg_temp.tokend_setup_roles($1, $2,"
	    " $3)", 3, values, NULL, NULL, &res)) != TK_CTL_OK)
		return rc;
	for (row = 0; row < PQntuples(res); row++) {
		print_text(PQgetvalue(res, row, 0), 0);
		putchar('\n');
	}
	PQclear(res);
	if ((rc = query(ctl, "COMMIT", 0, NULL, NULL, NULL, &res)) != TK_CTL_OK)
		return rc;
	PQclear(res);
	return TK_CTL_OK;
}

/*
 * Make the partitions of token_events for the current month and the
 * ahead next ones (sql/011), printing each one made.  *missing is set
 * when the database has no tokend_audit_partitions() yet (NULL: then it
 * is an error).
 */
static enum tk_ctl_exit
make_partitions(struct ctl *ctl, long ahead, bool *missing)
{
	char			 text[24];
	const char		*values[1] = { text };
	PGresult		*res = NULL;
	enum tk_ctl_exit	 rc;
	int			 row;

	if (missing != NULL) {
		*missing = false;
		if ((rc = query(ctl, "SELECT to_regprocedure("
		    "'tokend_audit_partitions(integer)') IS NULL", 0, NULL, NULL,
		    NULL, &res)) != TK_CTL_OK)
			return rc;
		*missing = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
		PQclear(res);
		if (*missing)
			return TK_CTL_OK;
	}
	snprintf(text, sizeof(text), "%ld", ahead);
	if ((rc = query(ctl, "SELECT * FROM tokend_audit_partitions($1::integer)",
	    1, values, NULL, NULL, &res)) != TK_CTL_OK)
		return rc;
	for (row = 0; row < PQntuples(res); row++)
		printf("created partition %s\n", PQgetvalue(res, row, 0));
	PQclear(res);
	return TK_CTL_OK;
}

/* tokenctl audit partitions [--ahead N] */
static enum tk_ctl_exit
cmd_audit_partitions(struct ctl *ctl, const struct command *cmd, int argc,
    char **argv)
{
	struct option_spec	 opts[] = { { "ahead", true, NULL } };
	const char		*v, *p;
	PGresult		*res = NULL;
	enum tk_ctl_exit	 rc;
	long			 ahead = AUDIT_AHEAD_DEFAULT;
	bool			 done;
	char			 buf[128];

	if ((rc = parse_args(cmd, argc, argv, opts, 1, NULL, 0, 0, &done)) !=
	    TK_CTL_OK || done)
		return rc;
	if ((v = option(opts, 1, "ahead")) != NULL) {
		for (p = v; *p >= '0' && *p <= '9'; p++)
			;
		if (*v == '\0' || *p != '\0' || p - v > 3 ||
		    (ahead = strtol(v, NULL, 10)) > AUDIT_AHEAD_MAX) {
			warnx("invalid --ahead \"%s\": give a number of months"
			    " from 0 to %d", quoted(v, buf, sizeof(buf)),
			    AUDIT_AHEAD_MAX);
			return TK_CTL_USAGE;
		}
	}
	if ((rc = make_partitions(ctl, ahead, NULL)) != TK_CTL_OK)
		return rc;
	if ((rc = query(ctl, "SELECT to_char(max(range_to) AT TIME ZONE 'UTC',"
	    " 'YYYY-MM-DD'), tokend_partition_ok()"
	    " FROM tokend_audit_partition_list()", 0, NULL, NULL, NULL, &res)) !=
	    TK_CTL_OK)
		return rc;
	printf("token_events has partitions until %s (UTC)%s\n",
	    cell(res, 0, 0), strcmp(PQgetvalue(res, 0, 1), "t") == 0 ? "" :
	    "; the current or next month is not covered");
	PQclear(res);
	return TK_CTL_OK;
}

/* A DATE argument: YYYY-MM-DD (the database checks that the day exists). */
static bool
parse_date(const char *flag, const char *s)
{
	static const char	 shape[] = "dddd-dd-dd";
	char			 buf[128];
	size_t			 i;

	for (i = 0; shape[i] != '\0'; i++) {
		if (shape[i] == 'd' ? s[i] < '0' || s[i] > '9' : s[i] != shape[i])
			break;
	}
	if (shape[i] != '\0' || s[i] != '\0') {
		warnx("invalid date \"%s\" for --%s: give YYYY-MM-DD",
		    quoted(s, buf, sizeof(buf)), flag);
		return false;
	}
	return true;
}

/*
 * tokenctl audit prune --before DATE: detach and drop the partitions of
 * token_events that end on or before DATE (midnight UTC), never later
 * than now; rows are never deleted one by one.
 */
static enum tk_ctl_exit
cmd_audit_prune(struct ctl *ctl, const struct command *cmd, int argc,
    char **argv)
{
	struct option_spec	 opts[] = { { "before", true, NULL } };
	const char		*values[1];
	PGresult		*res = NULL;
	enum tk_ctl_exit	 rc;
	bool			 done;
	int			 row;

	if ((rc = parse_args(cmd, argc, argv, opts, 1, NULL, 0, 0, &done)) !=
	    TK_CTL_OK || done)
		return rc;
	if ((values[0] = option(opts, 1, "before")) == NULL) {
		warnx("audit prune needs --before");
		command_usage(stderr, cmd);
		return TK_CTL_USAGE;
	}
	if (!parse_date("before", values[0]))
		return TK_CTL_USAGE;
	if ((rc = query(ctl, "SELECT partition, events FROM tokend_audit_prune("
	    "$1::date::timestamp AT TIME ZONE 'UTC')", 1, values, NULL, NULL,
	    &res)) != TK_CTL_OK)
		return rc;
	for (row = 0; row < PQntuples(res); row++)
		printf("dropped partition %s (%s events)\n",
		    PQgetvalue(res, row, 0), PQgetvalue(res, row, 1));
	if (PQntuples(res) == 0)
		printf("no partition of token_events ends on or before %s\n",
		    values[0]);
	else
		printf("dropped %d partition%s\n", PQntuples(res),
		    PQntuples(res) == 1 ? "" : "s");
	PQclear(res);
	return TK_CTL_OK;
}

static const struct command commands[] = {
	{ "migrate", NULL, "[--sql-dir DIR]",
	    "apply the pending NNN_*.sql files (DIR: --sql-dir, TOKEND_SQL_DIR,"
	    " or " TOKEND_SQL_DIR ")", cmd_migrate },
	{ "client", "create", "--name NAME [--scope SCOPES]"
	    " [--default-scope SCOPES] [--resource-server] [POLICY]",
	    "register a client; prints client_id and client_key (shown once);"
	    " a resource server may introspect tokens",
	    cmd_client_create },
	{ "client", "list", "[--json]", "list the clients", cmd_client_list },
	{ "client", "show", "ID [--json]", "show a client's settings",
	    cmd_client_show },
	{ "client", "set", "ID [--name NAME] [--scope SCOPES]"
	    " [--default-scope SCOPES] [POLICY]", "change a client",
	    cmd_client_set },
	{ "client", "disable", "ID",
	    "refuse the client's key and revoke all its tokens", cmd_client_disable },
	{ "client", "enable", "ID",
	    "accept the client's key again (revoked tokens stay revoked)",
	    cmd_client_enable },
	{ "client", "rotate-key", "ID [--overlap DURATION]",
	    "give the client a new key; the old one stays valid for the overlap"
	    " (default 0)", cmd_client_rotate_key },
	{ "token", "list", "[--client ID] [--all] [--json]",
	    "list valid tokens (--all: every token and its state)", cmd_token_list },
	{ "token", "revoke", "ID", "revoke a token (reason: requested)",
	    cmd_token_revoke },
	{ "token", "check", "TOKEN|-",
	    "check a token's prefix, length and checksum offline (-: read stdin)",
	    cmd_token_check },
	{ "token", "prune", "--expired-for DURATION",
	    "delete tokens expired for longer than DURATION (audit rows stay)",
	    cmd_token_prune },
	{ "setup-roles", NULL, "",
	    "create the owner, app and auditor roles (settings role_owner,"
	    " role_app,\n      role_auditor) and grant them; once, by a DBA"
	    " with CREATEROLE", cmd_setup_roles },
	{ "audit", "partitions", "[--ahead N]",
	    "make the monthly partitions of token_events for this month and the"
	    " N next\n      (default 3); run monthly", cmd_audit_partitions },
	{ "audit", "prune", "--before DATE",
	    "drop the partitions of token_events that end on or before DATE"
	    " (YYYY-MM-DD, UTC)", cmd_audit_prune },
};
#define NCOMMANDS	(sizeof(commands) / sizeof(commands[0]))

/* The usage lines of every command of noun (all commands when NULL). */
static void
noun_usage(FILE *fp, const char *noun)
{
	size_t	i;

	for (i = 0; i < NCOMMANDS; i++)
		if (noun == NULL || strcmp(noun, commands[i].noun) == 0)
			fprintf(fp, "  %s%s%s%s%s\n      %s\n", commands[i].noun,
			    commands[i].verb != NULL ? " " : "",
			    commands[i].verb != NULL ? commands[i].verb : "",
			    commands[i].synopsis[0] != '\0' ? " " : "",
			    commands[i].synopsis, commands[i].summary);
}

void
tk_ctl_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: " PROGNAME " [--config FILE] [--admin-database-url URL]"
	    " [--database-url URL] COMMAND [ARGS]\n"
	    "       " PROGNAME " --help | --version\n\ncommands:\n");
	noun_usage(fp, NULL);
	fprintf(fp,
	    "\nSCOPES: scopes separated by spaces, e.g. \"read write"
	    " tokend:rotate\".  The reserved\n"
	    "scopes tokend:rotate and tokend:revoke may be granted but are never"
	    " default;\n"
	    "--default-scope defaults to the other scopes of --scope.\n"
	    "POLICY: --long-ttl-default, --long-ttl-max, --short-ttl-default,"
	    " --short-ttl-max,\n"
	    "--overlap-max, --family-max, each a DURATION (defaults 30d, 90d,"
	    " 900s, 3600s,\n"
	    "7d, 365d; a default not given is lowered to a maximum that is).\n"
	    "DURATION: seconds, or a number followed by s, m, h or d.\n"
	    "DATE: YYYY-MM-DD, midnight UTC.  ID: a UUID.\n"
	    "Roles: setup-roles reads the settings role_owner, role_app and"
	    " role_auditor\n"
	    "(defaults tokend_owner, tokend_app, tokend_auditor).  Then tokend"
	    " connects as\n"
	    "the app role (database_url) and tokenctl as the owner"
	    " (admin_database_url).\n\n"
	    "The database: admin_database_url, else database_url, else libpq's"
	    " PG* variables;\n"
	    "each setting also comes from TOKEND_ADMIN_DATABASE_URL,"
	    " TOKEND_DATABASE_URL or\n"
	    "the file named by --config or TOKEND_CONFIG (see tokend --help).\n"
	    "Exit status: 0 done, 1 the operation failed, 2 usage.\n");
}

enum tk_ctl_exit
tk_ctl_run(const struct tk_config *cfg, int argc, char *argv[])
{
	struct ctl		 ctl = { cfg, NULL };
	const struct command	*cmd = NULL;
	enum tk_ctl_exit	 rc;
	char			 buf[128];
	size_t			 i;
	int			 used;
	bool			 noun_known = false;

	if (cfg->help) {
		tk_ctl_usage(stdout);
		return TK_CTL_OK;
	}
	if (cfg->version) {
		printf(PROGNAME " %s\n", TOKEND_VERSION);
		return TK_CTL_OK;
	}
	if (argc < 1) {
		warnx("no command given");
		tk_ctl_usage(stderr);
		return TK_CTL_USAGE;
	}
	if (strcmp(argv[0], "help") == 0) {
		tk_ctl_usage(stdout);
		return TK_CTL_OK;
	}
	for (i = 0; i < NCOMMANDS && cmd == NULL; i++) {
		if (strcmp(argv[0], commands[i].noun) != 0)
			continue;
		noun_known = true;
		if (commands[i].verb == NULL ||
		    (argc > 1 && strcmp(argv[1], commands[i].verb) == 0))
			cmd = &commands[i];
	}
	if (cmd == NULL) {
		if (!noun_known) {
			warnx("unknown command \"%s\"",
			    quoted(argv[0], buf, sizeof(buf)));
			tk_ctl_usage(stderr);
			return TK_CTL_USAGE;
		}
		if (argc > 1 && (strcmp(argv[1], "--help") == 0 ||
		    strcmp(argv[1], "-h") == 0)) {
			fprintf(stdout, "commands:\n");
			noun_usage(stdout, argv[0]);
			return TK_CTL_OK;
		}
		if (argc > 1)
			warnx("unknown command \"%s %s\"", argv[0],
			    quoted(argv[1], buf, sizeof(buf)));
		else
			warnx("\"%s\" needs a subcommand", argv[0]);
		fprintf(stderr, "commands:\n");
		noun_usage(stderr, argv[0]);
		return TK_CTL_USAGE;
	}
	used = cmd->verb != NULL ? 2 : 1;
	rc = cmd->run(&ctl, cmd, argc - used, argv + used);
	PQfinish(ctl.conn);
	if (fflush(stdout) != 0 && rc == TK_CTL_OK) {
		warnx("could not write the output: %s", strerror(errno));
		rc = TK_CTL_FAILED;
	}
	return rc;
}
