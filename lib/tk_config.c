/*
 * tk_config.c - the settings table and its four readers: defaults, the
 * file, the environment and the command line.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tk_addr.h"
#include "tk_config.h"
#include "tk_json.h"
#include "tk_log.h"

enum setting_type {
	T_STRING,
	T_UINT,
	T_SECONDS,	/* unsigned, with an optional s/m/h/d suffix */
	T_MODE,		/* octal */
	T_BOOL,
	T_LEVEL,	/* a log level name */
	T_FORMAT,	/* a log format name */
};

struct setting {
	const char		*name;		/* snake_case; flag and variable derive from it */
	enum setting_type	 type;
	size_t			 offset;
	const char		*dflt;		/* NULL: computed in finish() */
	unsigned long		 min, max;	/* for numbers */
	bool			 restart;	/* SIGHUP cannot change it */
	const char		*help;
};

#define OFF(f)	offsetof(struct tk_config, f)
/* A default shared with the module that enforces it, as table text. */
#define STR(x)	#x
#define XSTR(x)	STR(x)

/* The one table: order here is the order of --help. */
static const struct setting settings[] = {
	{ "listen", T_STRING, OFF(listen), "", 0, 0, true,
	  "HOST:PORT or socket PATH to listen on; default: fd 0 from spawn-fcgi" },
	{ "listen_mode", T_MODE, OFF(listen_mode), "0660", 0, 07777, true,
	  "permissions of a unix socket made by --listen" },
	{ "listen_group", T_STRING, OFF(listen_group), "", 0, 0, true,
	  "group of a unix socket made by --listen" },
	{ "database_url", T_STRING, OFF(database_url), "", 0, 0, false,
	  "libpq connection string of tokend; default: libpq's PG* variables" },
	{ "admin_database_url", T_STRING, OFF(admin_database_url), "", 0, 0, false,
	  "connection string of tokenctl; default: database_url" },
	{ "workers", T_UINT, OFF(workers), NULL, 0, 1024, false,
	  "worker processes; 0 serves in the master; default: number of CPUs" },
	{ "threads", T_UINT, OFF(threads), "4", 1, 1024, false,
	  "request threads per worker" },
	{ "pool_size", T_UINT, OFF(pool_size), NULL, 1, 1024, false,
	  "database connections per worker; default: threads" },
	{ "pool_acquire_timeout_ms", T_UINT, OFF(pool_acquire_timeout_ms), "1000", 1, 600000, false,
	  "longest wait for a free connection before 503" },
	{ "statement_timeout_ms", T_UINT, OFF(statement_timeout_ms), "2000", 1, 600000, false,
	  "PostgreSQL statement_timeout of tokend's connections" },
	{ "request_timeout", T_SECONDS, OFF(request_timeout), "5", 1, 3600, false,
	  "longest time a request may take before 503" },
	{ "max_requests", T_UINT, OFF(max_requests), "0", 0, UINT_MAX, false,
	  "requests after which a worker is replaced; 0: never" },
	{ "shutdown_timeout", T_SECONDS, OFF(shutdown_timeout), "30", 1, 3600, false,
	  "longest drain on SIGTERM before workers are killed" },
	{ "base_path", T_STRING, OFF(base_path), "/v1", 0, 0, false,
	  "path prefix of every endpoint" },
	{ "max_body_bytes", T_UINT, OFF(max_body_bytes), "16384", 1, 1048576, false,
	  "largest request body read; more answers 413" },
	{ "max_header_bytes", T_UINT, OFF(max_header_bytes), "16384", 1024, 1048576, false,
	  "largest total of the request's HTTP_* parameters (its headers); "
	  "more answers 400" },
	{ "max_json_depth", T_UINT, OFF(max_json_depth), XSTR(TK_JSON_DEFAULT_DEPTH), 1, 64, false,
	  "deepest nesting of objects and arrays in a body; deeper answers 400" },
	{ "max_json_members", T_UINT, OFF(max_json_members), XSTR(TK_JSON_DEFAULT_MEMBERS), 4, 65536, false,
	  "most members of one JSON object in a body; more answers 400" },
	{ "max_string_bytes", T_UINT, OFF(max_string_bytes), XSTR(TK_JSON_DEFAULT_STRING_BYTES), 128, 1048576, false,
	  "longest JSON string in a body, in raw bytes before decoding; "
	  "longer answers 400" },
	{ "rotation_grace_seconds", T_SECONDS, OFF(rotation_grace_seconds), "60", 0, 31536000, false,
	  "overlap of a rotated token when the request names none" },
	{ "retry_after_seconds", T_SECONDS, OFF(retry_after_seconds), "1", 1, 3600, false,
	  "value of Retry-After on 503 and 429" },
	{ "trusted_addresses", T_STRING, OFF(trusted_addresses), "127.0.0.0/8,::1", 0, 0, false,
	  "front ends (addresses, CIDR blocks) allowed to connect over TCP" },
	{ "log_level", T_LEVEL, OFF(log_level), "info", 0, 0, false,
	  "error, warn, info or debug" },
	{ "log_format", T_FORMAT, OFF(log_format), "logfmt", 0, 0, false,
	  "logfmt or json" },
	{ "log_file", T_STRING, OFF(log_file), "", 0, 0, false,
	  "file to append log lines to (reopened on SIGHUP); default: "
	  "standard error, which spawn-fcgi sends to /dev/null unless -n" },
	{ "rate_limit_window", T_SECONDS, OFF(rate_limit_window), "60", 1, 86400, false,
	  "window of the per-address failure budget" },
	{ "rate_limit_budget", T_UINT, OFF(rate_limit_budget), "20", 1, 1000000, false,
	  "failed authentications per address and window before 429" },
	{ "prepared_statements", T_BOOL, OFF(prepared_statements), "on", 0, 0, false,
	  "use prepared statements (off behind a transaction-mode pooler)" },
	{ "role_owner", T_STRING, OFF(role_owner), "tokend_owner", 0, 0, false,
	  "role owning tokend's tables and functions (tokenctl setup-roles)" },
	{ "role_app", T_STRING, OFF(role_app), "tokend_app", 0, 0, false,
	  "role tokend connects as: the request functions only (tokenctl setup-roles)" },
	{ "role_auditor", T_STRING, OFF(role_auditor), "tokend_auditor", 0, 0, false,
	  "role reading the audit views, never a digest (tokenctl setup-roles)" },
};
#define NSETTINGS	(sizeof(settings) / sizeof(settings[0]))

/* Where a value came from, so a message can name it. */
struct origin {
	const char	*what;	/* "flag", "environment", "file" */
	const char	*file;
	unsigned int	 line;
};

/* The program whose messages these are: tokend or tokenctl. */
static const char	*progname = "tokend";

static const struct setting *
find_setting(const char *name, size_t len)
{
	size_t	i;

	for (i = 0; i < NSETTINGS; i++)
		if (strlen(settings[i].name) == len &&
		    strncmp(settings[i].name, name, len) == 0)
			return &settings[i];
	return NULL;
}

/* "--pool-size" -> "pool_size"; NULL unless s is a flag. */
static bool
flag_to_name(const char *flag, char *out, size_t outlen)
{
	size_t	i;

	if (strncmp(flag, "--", 2) != 0)
		return false;
	flag += 2;
	for (i = 0; flag[i] != '\0' && flag[i] != '=' && i + 1 < outlen; i++)
		out[i] = flag[i] == '-' ? '_' : flag[i];
	out[i] = '\0';
	return true;
}

static void
env_name(const char *name, char *out, size_t outlen)
{
	size_t	i;

	snprintf(out, outlen, "TOKEND_");
	for (i = 0; name[i] != '\0' && i + 8 < outlen; i++)
		out[7 + i] = (char)toupper((unsigned char)name[i]);
	out[7 + i] = '\0';
}

static void
say_bad(const struct setting *s, const struct origin *o, const char *value,
    const char *why)
{
	char	esc[128];

	tk_log_escape(value, esc, sizeof(esc));
	if (o->file != NULL)
		fprintf(stderr, "%s: %s:%u: invalid value \"%s\" for setting "
		    "%s: %s\n", progname, o->file, o->line, esc, s->name, why);
	else
		fprintf(stderr, "%s: invalid value \"%s\" for setting %s "
		    "(%s): %s\n", progname, esc, s->name, o->what, why);
}

static bool
parse_number(const char *value, enum setting_type type, unsigned long *out)
{
	char		*end;
	unsigned long	 v, mult = 1;

	if (!isdigit((unsigned char)value[0]))
		return false;
	errno = 0;
	v = strtoul(value, &end, type == T_MODE ? 8 : 10);
	if (errno != 0)
		return false;
	if (type == T_SECONDS && *end != '\0' && end[1] == '\0') {
		switch (*end++) {
		case 's': mult = 1; break;
		case 'm': mult = 60; break;
		case 'h': mult = 3600; break;
		case 'd': mult = 86400; break;
		default: return false;
		}
	}
	if (*end != '\0' || v > ULONG_MAX / mult)
		return false;
	*out = v * mult;
	return true;
}

static bool
parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "on", "true", "yes", "1" };
	static const char *const no[] = { "off", "false", "no", "0" };
	size_t	i;

	for (i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

static enum tk_err
apply(struct tk_config *cfg, const struct setting *s, const char *value,
    const struct origin *o)
{
	char		*field = (char *)cfg + s->offset;
	unsigned long	 n;
	bool		 b;
	char		*copy;

	switch (s->type) {
	case T_STRING:
	case T_LEVEL:
	case T_FORMAT:
		if (s->type == T_LEVEL && tk_log_level_parse(value) < 0) {
			say_bad(s, o, value, "expected error, warn, info or debug");
			return TK_EINVAL;
		}
		if (s->type == T_FORMAT && strcmp(value, "logfmt") != 0 &&
		    strcmp(value, "json") != 0) {
			say_bad(s, o, value, "expected logfmt or json");
			return TK_EINVAL;
		}
		if ((copy = strdup(value)) == NULL)
			return TK_ENOMEM;
		free(*(char **)(void *)field);
		*(char **)(void *)field = copy;
		return TK_OK;
	case T_UINT:
	case T_SECONDS:
	case T_MODE:
		if (!parse_number(value, s->type, &n)) {
			say_bad(s, o, value, s->type == T_SECONDS ?
			    "expected seconds, optionally with s, m, h or d" :
			    s->type == T_MODE ? "expected an octal mode" :
			    "expected a non-negative integer");
			return TK_EINVAL;
		}
		if (n < s->min || n > s->max) {
			char why[96];

			snprintf(why, sizeof(why), "must be between %lu and %lu",
			    s->min, s->max);
			say_bad(s, o, value, why);
			return TK_EINVAL;
		}
		*(unsigned int *)(void *)field = (unsigned int)n;
		return TK_OK;
	case T_BOOL:
		if (!parse_bool(value, &b)) {
			say_bad(s, o, value, "expected on or off");
			return TK_EINVAL;
		}
		*(bool *)(void *)field = b;
		return TK_OK;
	}
	return TK_EINTERNAL;
}

static char *
trim(char *s)
{
	char	*end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* Read "name = value" lines; '#' starts a comment line. */
static enum tk_err
read_file(struct tk_config *cfg, const char *path)
{
	FILE			*fp;
	char			 line[4096];
	struct origin		 o = { "file", path, 0 };
	enum tk_err		 err = TK_OK;

	if ((fp = fopen(path, "r")) == NULL) {
		fprintf(stderr, "%s: could not open config file \"%s\": %s\n",
		    progname, path, strerror(errno));
		return TK_EINVAL;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		const struct setting	*s;
		char			*key, *value, *eq;
		size_t			 vlen;

		o.line++;
		key = trim(line);
		if (*key == '\0' || *key == '#')
			continue;
		if ((eq = strchr(key, '=')) == NULL) {
			fprintf(stderr, "%s: %s:%u: expected \"name = value\"\n",
			    progname, path, o.line);
			err = TK_EINVAL;
			break;
		}
		*eq = '\0';
		key = trim(key);
		value = trim(eq + 1);
		vlen = strlen(value);
		if (vlen >= 2 && value[0] == '"' && value[vlen - 1] == '"') {
			value[vlen - 1] = '\0';
			value++;
		}
		if ((s = find_setting(key, strlen(key))) == NULL) {
			fprintf(stderr, "%s: %s:%u: unknown setting \"%s\"\n",
			    progname, path, o.line, key);
			err = TK_EINVAL;
			break;
		}
		if ((err = apply(cfg, s, value, &o)) != TK_OK)
			break;
	}
	fclose(fp);
	return err;
}

/* The value of a flag: "--name=value" or "--name value". */
static const char *
flag_value(int argc, char *argv[], int *i)
{
	const char	*eq = strchr(argv[*i], '=');

	if (eq != NULL)
		return eq + 1;
	if (*i + 1 < argc)
		return argv[++*i];
	return NULL;
}

static bool
is_action(const char *name)
{
	return strcmp(name, "help") == 0 || strcmp(name, "version") == 0 ||
	    strcmp(name, "check_config") == 0;
}

/*
 * One pass over the command line: with settings_too false it only finds
 * --config and the actions; with true it applies settings.
 */
static enum tk_err
read_flags(struct tk_config *cfg, int argc, char *argv[], int *rest,
    bool settings_too)
{
	struct origin	o = { "flag", NULL, 0 };
	char		name[64];
	int		i;
	enum tk_err	err;

	for (i = 1; i < argc; i++) {
		const struct setting	*s;
		const char		*value;

		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		if (!flag_to_name(argv[i], name, sizeof(name))) {
			if (rest != NULL)
				break;
			fprintf(stderr, "%s: unexpected argument \"%s\"; "
			    "see --help\n", progname, argv[i]);
			return TK_EINVAL;
		}
		if (is_action(name)) {
			if (!settings_too) {
				if (strcmp(name, "help") == 0)
					cfg->help = true;
				else if (strcmp(name, "version") == 0)
					cfg->version = true;
				else
					cfg->check_config = true;
			}
			continue;
		}
		if (strcmp(name, "config") == 0) {
			if ((value = flag_value(argc, argv, &i)) == NULL)
				goto missing;
			if (!settings_too) {
				free(cfg->config_file);
				if ((cfg->config_file = strdup(value)) == NULL)
					return TK_ENOMEM;
			}
			continue;
		}
		if ((s = find_setting(name, strlen(name))) == NULL) {
			if (rest != NULL && !settings_too)
				continue;	/* the caller may know it */
			fprintf(stderr, "%s: unknown option \"%s\"; see --help\n",
			    progname, argv[i]);
			return TK_EINVAL;
		}
		if ((value = flag_value(argc, argv, &i)) == NULL)
			goto missing;
		if (settings_too && (err = apply(cfg, s, value, &o)) != TK_OK)
			return err;
	}
	if (rest != NULL)
		*rest = i;
	else if (i < argc) {
		fprintf(stderr, "%s: unexpected argument \"%s\"; see --help\n",
		    progname, argv[i]);
		return TK_EINVAL;
	}
	return TK_OK;
missing:
	fprintf(stderr, "%s: option \"%s\" needs a value\n", progname, argv[i]);
	return TK_EINVAL;
}

/*
 * Defaults that depend on others: workers = CPUs, pool_size = threads.
 * Both start as UNSET, a value no source can give (their maximum is
 * 1024), so "not given anywhere" needs no second look at the sources.
 */
#define UNSET	UINT_MAX

static void
finish(struct tk_config *cfg)
{
	if (cfg->workers == UNSET) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		cfg->workers = n > 0 && n < 1024 ? (unsigned int)n : 1024;
	}
	if (cfg->pool_size == UNSET)
		cfg->pool_size = cfg->threads;
}

enum tk_err
tk_config_load(struct tk_config **out, int argc, char *argv[], int *rest)
{
	struct tk_config	*cfg;
	struct origin		 o = { "default", NULL, 0 };
	const char		*v;
	char			 env[64];
	size_t			 i;
	enum tk_err		 err;

	if (argc > 0 && argv[0] != NULL) {
		const char *slash = strrchr(argv[0], '/');

		progname = slash != NULL ? slash + 1 : argv[0];
	}
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
		return TK_ENOMEM;
	cfg->argc = argc;
	cfg->argv = argv;
	cfg->workers = cfg->pool_size = UNSET;
	for (i = 0; i < NSETTINGS; i++)
		if (settings[i].dflt != NULL &&
		    (err = apply(cfg, &settings[i], settings[i].dflt, &o)) != TK_OK)
			goto fail;
	if ((err = read_flags(cfg, argc, argv, rest, false)) != TK_OK)
		goto fail;
	if (cfg->config_file == NULL && (v = getenv("TOKEND_CONFIG")) != NULL &&
	    *v != '\0' && (cfg->config_file = strdup(v)) == NULL) {
		err = TK_ENOMEM;
		goto fail;
	}
	if (cfg->config_file != NULL &&
	    (err = read_file(cfg, cfg->config_file)) != TK_OK)
		goto fail;
	o.what = "environment";
	for (i = 0; i < NSETTINGS; i++) {
		env_name(settings[i].name, env, sizeof(env));
		if ((v = getenv(env)) != NULL &&
		    (err = apply(cfg, &settings[i], v, &o)) != TK_OK)
			goto fail;
	}
	if ((err = read_flags(cfg, argc, argv, rest, true)) != TK_OK)
		goto fail;
	finish(cfg);
	if (cfg->base_path[0] != '\0' && (cfg->base_path[0] != '/' ||
	    cfg->base_path[strlen(cfg->base_path) - 1] == '/')) {
		fprintf(stderr, "%s: invalid value \"%s\" for setting "
		    "base_path: must start with / and not end with /\n", progname,
		    cfg->base_path);
		err = TK_EINVAL;
		goto fail;
	}
	{
		struct tk_addr_list	*list;
		char			 bad[64];

		if ((err = tk_addr_list_parse(cfg->trusted_addresses, &list, bad,
		    sizeof(bad))) != TK_OK) {
			fprintf(stderr, "%s: invalid value \"%s\" for setting "
			    "trusted_addresses: expected addresses or CIDR "
			    "blocks\n", progname, bad);
			goto fail;
		}
		tk_addr_list_free(list);
	}
	*out = cfg;
	return TK_OK;
fail:
	tk_config_free(cfg);
	return err;
}

enum tk_err
tk_config_reload(const struct tk_config *old, struct tk_config **out)
{
	struct tk_config	*cfg;
	size_t			 i;
	enum tk_err		 err;
	int			 rest;

	if ((err = tk_config_load(&cfg, old->argc, old->argv, &rest)) != TK_OK)
		return err;
	for (i = 0; i < NSETTINGS; i++) {
		const struct setting	*s = &settings[i];
		char			*nf = (char *)cfg + s->offset;
		const char		*of = (const char *)old + s->offset;

		if (!s->restart)
			continue;
		if (s->type == T_STRING) {
			char **np = (char **)(void *)nf;
			char *const *op = (char *const *)(const void *)of;

			if (strcmp(*np, *op) == 0)
				continue;
			tk_log_warn("setting %s needs a restart: keeping its "
			    "value", s->name);
			free(*np);
			if ((*np = strdup(*op)) == NULL) {
				tk_config_free(cfg);
				return TK_ENOMEM;
			}
		} else if (memcmp(nf, of, sizeof(unsigned int)) != 0) {
			tk_log_warn("setting %s needs a restart: keeping its "
			    "value", s->name);
			memcpy(nf, of, sizeof(unsigned int));
		}
	}
	*out = cfg;
	return TK_OK;
}

void
tk_config_free(struct tk_config *cfg)
{
	size_t	i;

	if (cfg == NULL)
		return;
	for (i = 0; i < NSETTINGS; i++)
		if (settings[i].type == T_STRING || settings[i].type == T_LEVEL ||
		    settings[i].type == T_FORMAT)
			free(*(char **)(void *)((char *)cfg + settings[i].offset));
	free(cfg->config_file);
	free(cfg);
}

void
tk_config_usage(FILE *fp, const char *prog)
{
	char	env[64], flag[64];
	size_t	i, j;

	fprintf(fp,
	    "usage: %s [--config FILE] [--check-config] [--help] [--version] "
	    "[--SETTING VALUE ...]\n\n"
	    "Every setting has a flag, an environment variable and a line "
	    "\"name = value\"\nin the file named by --config or TOKEND_CONFIG. "
	    "Precedence: flag > environment\n> file > default. SIGHUP re-reads "
	    "the file; settings marked (restart) keep\ntheir value until "
	    "tokend restarts.\n\nsettings:\n", prog);
	for (i = 0; i < NSETTINGS; i++) {
		const struct setting *s = &settings[i];

		for (j = 0; s->name[j] != '\0' && j + 1 < sizeof(flag); j++)
			flag[j] = s->name[j] == '_' ? '-' : s->name[j];
		flag[j] = '\0';
		env_name(s->name, env, sizeof(env));
		fprintf(fp, "  --%-26s %s%s\n  %-28s %s, default: %s\n", flag,
		    s->help, s->restart ? " (restart)" : "", "", env,
		    s->dflt == NULL ? "see above" :
		    s->dflt[0] == '\0' ? "none" : s->dflt);
	}
}

/*
 * The "password" keyword of a conninfo string or URL query, which libpq
 * allows with blanks before the '=' ("password = x"); NULL if none.
 */
static const char *
find_password(const char *value)
{
	const char	*p, *q;

	for (p = value; (p = strstr(p, "password")) != NULL; p++) {
		for (q = p + strlen("password"); *q == ' ' || *q == '\t'; q++)
			continue;
		if (*q == '=')
			return p;
	}
	return NULL;
}

/* Mask a password in a URL or conninfo so the dump can be shared. */
static void
print_masked(FILE *fp, const char *name, const char *value)
{
	const char	*pw;

	if (strstr(name, "url") != NULL &&
	    ((pw = find_password(value)) != NULL)) {
		fprintf(fp, "%s = %.*spassword=***\n", name,
		    (int)(pw - value), value);
		return;
	}
	if (strstr(name, "url") != NULL && strstr(value, "://") != NULL &&
	    strchr(value, '@') != NULL) {
		const char *at = strchr(value, '@');
		const char *colon = strchr(strstr(value, "://") + 3, ':');

		if (colon != NULL && colon < at) {
			fprintf(fp, "%s = %.*s:***%s\n", name,
			    (int)(colon - value), value, at);
			return;
		}
	}
	fprintf(fp, "%s = %s\n", name, value);
}

void
tk_config_dump(const struct tk_config *cfg, FILE *fp)
{
	size_t	i;

	for (i = 0; i < NSETTINGS; i++) {
		const struct setting	*s = &settings[i];
		const char		*field = (const char *)cfg + s->offset;

		switch (s->type) {
		case T_STRING:
		case T_LEVEL:
		case T_FORMAT:
			print_masked(fp, s->name,
			    *(char *const *)(const void *)field);
			break;
		case T_MODE:
			fprintf(fp, "%s = %04o\n", s->name,
			    *(const unsigned int *)(const void *)field);
			break;
		case T_BOOL:
			fprintf(fp, "%s = %s\n", s->name,
			    *(const bool *)(const void *)field ? "on" : "off");
			break;
		default:
			fprintf(fp, "%s = %u\n", s->name,
			    *(const unsigned int *)(const void *)field);
			break;
		}
	}
}
