/*
 * test_tk_config.c - settings from flags, environment, file and
 * defaults (CONTRACT §10).
 *
 * Each test starts with no TOKEND_* variable set and no config file.
 * Values are checked through tk_config_dump() where a table covers many
 * settings, so that one table of (setting, value) drives the tests the
 * way one table drives tk_config.  stderr is captured while loading:
 * it keeps the output clean and lets tests check that a refusal names
 * the setting.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tk_config.h"

extern char **environ;

static char	dir[64];
static char	path_a[128];
static char	path_b[128];

/* ---- fixtures ---- */

static void
clear_tokend_env(void)
{
	for (;;) {
		char	name[256];
		size_t	i, n;
		bool	found = false;

		for (i = 0; environ[i] != NULL; i++) {
			if (strncmp(environ[i], "TOKEND_", 7) != 0)
				continue;
			n = strcspn(environ[i], "=");
			assert_true(n < sizeof(name));
			memcpy(name, environ[i], n);
			name[n] = '\0';
			found = true;
			break;
		}
		if (!found)
			return;
		assert_int_equal(unsetenv(name), 0);
	}
}

static int
group_setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_tk_config.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path_a, sizeof(path_a), "%s/a.conf", dir);
	snprintf(path_b, sizeof(path_b), "%s/b.conf", dir);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	unlink(path_a);
	unlink(path_b);
	return rmdir(dir);
}

static int
setup(void **state)
{
	(void)state;
	clear_tokend_env();
	unlink(path_a);
	unlink(path_b);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	clear_tokend_env();
	return 0;
}

static void
write_file(const char *path, const char *content)
{
	FILE	*fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(fputs(content, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

/* ---- stderr capture ---- */

static int	saved_stderr = -1;
static FILE	*captured;

static void
capture_begin(void)
{
	fflush(stderr);
	captured = tmpfile();
	assert_non_null(captured);
	saved_stderr = dup(STDERR_FILENO);
	assert_true(saved_stderr >= 0);
	assert_int_equal(dup2(fileno(captured), STDERR_FILENO), STDERR_FILENO);
}

/* Restore stderr and return what was written to it (yours to free). */
static char *
capture_end(void)
{
	char	*text;
	long	 len;

	fflush(stderr);
	assert_int_equal(dup2(saved_stderr, STDERR_FILENO), STDERR_FILENO);
	close(saved_stderr);
	saved_stderr = -1;
	assert_int_equal(fseek(captured, 0, SEEK_END), 0);
	len = ftell(captured);
	rewind(captured);
	text = malloc((size_t)len + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)len, captured), (size_t)len);
	text[len] = '\0';
	fclose(captured);
	captured = NULL;
	return text;
}

/* ---- loading ---- */

#define MAX_ARGS	32

/* argv lives as long as the test: a loaded config borrows it. */
static char	*args[MAX_ARGS];
static int	 nargs;

static enum tk_err
vload(struct tk_config **out, int *rest, char **errs, va_list ap)
{
	char		*a, *text;
	enum tk_err	 err;

	nargs = 0;
	args[nargs++] = "tokend";
	while ((a = va_arg(ap, char *)) != NULL) {
		assert_true(nargs < MAX_ARGS - 1);
		args[nargs++] = a;
	}
	args[nargs] = NULL;
	capture_begin();
	err = tk_config_load(out, nargs, args, rest);
	text = capture_end();
	if (errs != NULL)
		*errs = text;
	else
		free(text);
	return err;
}

/* Load from the arguments after "tokend", a list ending with NULL. */
static enum tk_err
load(struct tk_config **out, char **errs, ...)
{
	va_list		ap;
	enum tk_err	err;

	va_start(ap, errs);
	err = vload(out, NULL, errs, ap);
	va_end(ap);
	return err;
}

static enum tk_err
load_rest(struct tk_config **out, int *rest, char **errs, ...)
{
	va_list		ap;
	enum tk_err	err;

	va_start(ap, errs);
	err = vload(out, rest, errs, ap);
	va_end(ap);
	return err;
}

/* Load what must load; fails the test with the messages otherwise. */
static struct tk_config *
must_load(const char *first, ...)
{
	struct tk_config	*cfg = NULL;
	char			*errs, *a, *text;
	va_list			 ap;
	enum tk_err		 err;

	nargs = 0;
	args[nargs++] = "tokend";
	va_start(ap, first);
	for (a = (char *)(uintptr_t)first; a != NULL; a = va_arg(ap, char *)) {
		assert_true(nargs < MAX_ARGS - 1);
		args[nargs++] = a;
	}
	va_end(ap);
	args[nargs] = NULL;
	capture_begin();
	err = tk_config_load(&cfg, nargs, args, NULL);
	text = capture_end();
	errs = text;
	if (err != TK_OK)
		fail_msg("load refused (%d): %s", err, errs);
	free(errs);
	assert_non_null(cfg);
	return cfg;
}

static char	dumped[16384];

static const char *
dump(const struct tk_config *cfg)
{
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*fp = open_memstream(&buf, &len);

	assert_non_null(fp);
	tk_config_dump(cfg, fp);
	assert_int_equal(fclose(fp), 0);
	assert_true(len < sizeof(dumped) - 1);
	dumped[0] = '\n';
	memcpy(dumped + 1, buf, len + 1);
	free(buf);
	return dumped;
}

/* Is "name = value" a whole line of the dump? */
static bool
dump_has(const struct tk_config *cfg, const char *name, const char *value)
{
	char	want[1024];

	snprintf(want, sizeof(want), "\n%s = %s\n", name, value);
	return strstr(dump(cfg), want) != NULL;
}

static void
assert_setting(const struct tk_config *cfg, const char *name, const char *value,
    const char *how)
{
	if (!dump_has(cfg, name, value))
		fail_msg("%s: expected \"%s = %s\" in:%s", how, name, value,
		    dumped);
}

static void
kebab(const char *name, char *out, size_t outlen)
{
	size_t	i;

	for (i = 0; name[i] != '\0' && i + 1 < outlen; i++)
		out[i] = name[i] == '_' ? '-' : name[i];
	out[i] = '\0';
}

static void
env_of(const char *name, char *out, size_t outlen)
{
	size_t	i;

	snprintf(out, outlen, "TOKEND_");
	for (i = 0; name[i] != '\0' && 7 + i + 1 < outlen; i++)
		out[7 + i] = (char)toupper((unsigned char)name[i]);
	out[7 + i] = '\0';
}

/* ---- every setting of CONTRACT §10, with a valid non-default value ---- */

struct setting_case {
	const char	*name;
	const char	*value;		/* as given */
	const char	*shown;		/* as dumped */
};

static const struct setting_case every[] = {
	{ "listen", "/tmp/tokend.sock", "/tmp/tokend.sock" },
	{ "listen_mode", "0600", "0600" },
	{ "listen_group", "www-data", "www-data" },
	{ "database_url", "host=db dbname=tokend", "host=db dbname=tokend" },
	{ "admin_database_url", "host=admin dbname=tokend",
	  "host=admin dbname=tokend" },
	{ "workers", "3", "3" },
	{ "threads", "7", "7" },
	{ "pool_size", "5", "5" },
	{ "pool_acquire_timeout_ms", "250", "250" },
	{ "statement_timeout_ms", "1500", "1500" },
	{ "request_timeout", "10s", "10" },
	{ "max_requests", "1000", "1000" },
	{ "shutdown_timeout", "2m", "120" },
	{ "base_path", "/api", "/api" },
	{ "max_body_bytes", "4096", "4096" },
	{ "max_header_bytes", "8192", "8192" },
	{ "max_json_depth", "3", "3" },
	{ "max_json_members", "10", "10" },
	{ "max_string_bytes", "512", "512" },
	{ "rotation_grace_seconds", "1h", "3600" },
	{ "retry_after_seconds", "3", "3" },
	{ "trusted_addresses", "10.0.0.0/8", "10.0.0.0/8" },
	{ "log_level", "debug", "debug" },
	{ "log_format", "json", "json" },
	{ "rate_limit_window", "30", "30" },
	{ "rate_limit_budget", "50", "50" },
	{ "prepared_statements", "off", "off" },
};
#define NEVERY	(sizeof(every) / sizeof(every[0]))

/* ---- tests ---- */

static void
test_load_defaults(void **state)
{
	struct tk_config	*cfg = must_load(NULL);
	long			 cpus = sysconf(_SC_NPROCESSORS_ONLN);

	(void)state;
	assert_string_equal(cfg->listen, "");
	assert_int_equal(cfg->listen_mode, 0660);
	assert_string_equal(cfg->listen_group, "");
	assert_string_equal(cfg->database_url, "");
	assert_string_equal(cfg->admin_database_url, "");
	assert_int_equal(cfg->workers, cpus > 0 ? (unsigned int)cpus : 1);
	assert_int_equal(cfg->threads, 4);
	assert_int_equal(cfg->pool_size, 4);
	assert_int_equal(cfg->pool_acquire_timeout_ms, 1000);
	assert_int_equal(cfg->statement_timeout_ms, 2000);
	assert_int_equal(cfg->request_timeout, 5);
	assert_int_equal(cfg->max_requests, 0);
	assert_int_equal(cfg->shutdown_timeout, 30);
	assert_string_equal(cfg->base_path, "/v1");
	assert_int_equal(cfg->max_body_bytes, 16384);
	assert_int_equal(cfg->max_header_bytes, 16384);
	assert_int_equal(cfg->max_json_depth, 8);
	assert_int_equal(cfg->max_json_members, 16);
	assert_int_equal(cfg->max_string_bytes, 4096);
	assert_int_equal(cfg->rotation_grace_seconds, 60);
	assert_int_equal(cfg->retry_after_seconds, 1);
	assert_non_null(strstr(cfg->trusted_addresses, "127.0.0.0/8"));
	assert_non_null(strstr(cfg->trusted_addresses, "::1"));
	assert_string_equal(cfg->log_level, "info");
	assert_string_equal(cfg->log_format, "logfmt");
	assert_int_equal(cfg->rate_limit_window, 60);
	assert_int_equal(cfg->rate_limit_budget, 20);
	assert_true(cfg->prepared_statements);
	assert_null(cfg->config_file);
	assert_false(cfg->help);
	assert_false(cfg->version);
	assert_false(cfg->check_config);
	assert_int_equal(cfg->argc, 1);
	assert_ptr_equal(cfg->argv, args);
	tk_config_free(cfg);
}

/* One table drives all four: every setting from each source. */
static void
test_load_every_setting_from_each_source(void **state)
{
	size_t	i;

	(void)state;
	for (i = 0; i < NEVERY; i++) {
		const struct setting_case	*c = &every[i];
		struct tk_config		*cfg;
		char				 flag[96], env[96], line[256];

		kebab(c->name, flag + 2, sizeof(flag) - 2);
		flag[0] = flag[1] = '-';
		env_of(c->name, env, sizeof(env));

		/* --name value */
		cfg = must_load(flag, c->value, NULL);
		assert_setting(cfg, c->name, c->shown, flag);
		tk_config_free(cfg);

		/* --name=value */
		snprintf(line, sizeof(line), "%s=%s", flag, c->value);
		cfg = must_load(line, NULL);
		assert_setting(cfg, c->name, c->shown, line);
		tk_config_free(cfg);

		/* TOKEND_NAME */
		assert_int_equal(setenv(env, c->value, 1), 0);
		cfg = must_load(NULL);
		assert_setting(cfg, c->name, c->shown, env);
		tk_config_free(cfg);
		assert_int_equal(unsetenv(env), 0);

		/* name = value in the file */
		snprintf(line, sizeof(line), "%s = %s\n", c->name, c->value);
		write_file(path_a, line);
		cfg = must_load("--config", path_a, NULL);
		assert_setting(cfg, c->name, c->shown, "file");
		assert_string_equal(cfg->config_file, path_a);
		tk_config_free(cfg);
	}
}

struct precedence_case {
	const char	*name;
	const char	*dflt;			/* as dumped */
	const char	*file, *file_shown;
	const char	*env, *env_shown;
	const char	*flag, *flag_shown;
};

static const struct precedence_case precedence[] = {
	{ "threads", "4", "2", "2", "3", "3", "5", "5" },
	{ "base_path", "/v1", "/f", "/f", "/e", "/e", "/c", "/c" },
	{ "log_level", "info", "warn", "warn", "error", "error", "debug", "debug" },
	{ "request_timeout", "5", "1m", "60", "2m", "120", "30s", "30" },
	{ "database_url", "", "host=f", "host=f", "host=e", "host=e",
	  "host=c", "host=c" },
	{ "listen_mode", "0660", "0640", "0640", "0600", "0600", "0666", "0666" },
};

/* flag > environment > file > default, for every combination. */
static void
test_load_precedence(void **state)
{
	size_t	i;
	int	mask;

	(void)state;
	for (i = 0; i < sizeof(precedence) / sizeof(precedence[0]); i++) {
		const struct precedence_case	*c = &precedence[i];
		char				 flag[96], env[96], line[256];

		kebab(c->name, flag + 2, sizeof(flag) - 2);
		flag[0] = flag[1] = '-';
		env_of(c->name, env, sizeof(env));
		for (mask = 0; mask < 8; mask++) {
			struct tk_config	*cfg;
			const char		*want = c->dflt;
			char			 how[64];

			snprintf(line, sizeof(line), "# test\n%s = %s\n",
			    c->name, c->file);
			write_file(path_a, line);
			if (mask & 1)
				want = c->file_shown;
			if (mask & 2) {
				assert_int_equal(setenv(env, c->env, 1), 0);
				want = c->env_shown;
			}
			if (mask & 4)
				want = c->flag_shown;
			snprintf(line, sizeof(line), "%s=%s", flag, c->flag);
			if ((mask & 5) == 5)
				cfg = must_load("--config", path_a, line, NULL);
			else if (mask & 1)
				cfg = must_load("--config", path_a, NULL);
			else if (mask & 4)
				cfg = must_load(flag, c->flag, NULL);
			else
				cfg = must_load(NULL);
			snprintf(how, sizeof(how), "%s%s%s",
			    mask & 1 ? "file " : "", mask & 2 ? "env " : "",
			    mask & 4 ? "flag" : "");
			assert_setting(cfg, c->name, want, how);
			tk_config_free(cfg);
			assert_int_equal(unsetenv(env), 0);
		}
	}
}

static void
test_load_flag_value_may_hold_equals(void **state)
{
	struct tk_config	*cfg;

	(void)state;
	cfg = must_load("--database-url=host=db port=5432", NULL);
	assert_string_equal(cfg->database_url, "host=db port=5432");
	tk_config_free(cfg);
	cfg = must_load("--database-url", "host=db port=5432", NULL);
	assert_string_equal(cfg->database_url, "host=db port=5432");
	tk_config_free(cfg);
	/* The value of "--name value" is taken as is, even "--...". */
	cfg = must_load("--listen-group", "--x", NULL);
	assert_string_equal(cfg->listen_group, "--x");
	tk_config_free(cfg);
	/* Later flags win over earlier ones. */
	cfg = must_load("--threads", "2", "--threads=9", NULL);
	assert_int_equal(cfg->threads, 9);
	tk_config_free(cfg);
}

static void
test_load_refuses_bad_command_lines(void **state)
{
	static const struct {
		const char	*args[4];
		const char	*says;	/* in the message */
	} cases[] = {
		{ { "--bogus", NULL }, "--bogus" },
		{ { "--bogus=1", NULL }, "--bogus" },
		{ { "--bogus", "1", NULL }, "--bogus" },
		{ { "--threads-x", "1", NULL }, "--threads-x" },
		{ { "--thread", "1", NULL }, "--thread" },
		{ { "--THREADS", "1", NULL }, "--THREADS" },
		{ { "--=1", NULL }, NULL },
		{ { "-t", "1", NULL }, "-t" },
		{ { "-h", NULL }, "-h" },
		{ { "threads", "1", NULL }, "threads" },
		{ { "--threads", "1", "extra" }, "extra" },
		{ { "--threads", NULL }, "--threads" },
		{ { "--config", NULL }, "--config" },
		{ { "--threads=", NULL }, "threads" },
		{ { "--listen", NULL }, "--listen" },
	};
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tk_config	*cfg = NULL;
		char			*errs;
		enum tk_err		 err;

		err = load(&cfg, &errs, cases[i].args[0], cases[i].args[1],
		    cases[i].args[2], NULL);
		if (err != TK_EINVAL)
			fail_msg("case %zu (%s ...): %d, not TK_EINVAL", i,
			    cases[i].args[0], err);
		assert_null(cfg);
		if (errs[0] == '\0' || (cases[i].says != NULL &&
		    strstr(errs, cases[i].says) == NULL))
			fail_msg("case %zu: message \"%s\" does not name \"%s\"",
			    i, errs, cases[i].says);
		free(errs);
	}
}

struct bad_value {
	const char	*name;
	const char	*value;
};

static const struct bad_value bad_values[] = {
	{ "threads", "0" },
	{ "threads", "abc" },
	{ "threads", "-1" },
	{ "threads", "+4" },
	{ "threads", "1025" },
	{ "threads", "" },
	{ "threads", " 4" },
	{ "threads", "4 " },
	{ "threads", "4.5" },
	{ "threads", "0x10" },
	{ "threads", "1e3" },
	{ "threads", "4k" },
	{ "threads", "4s" },
	{ "threads", "99999999999999999999999" },
	{ "threads", "18446744073709551617" },
	{ "workers", "1025" },
	{ "workers", "-1" },
	{ "workers", "many" },
	{ "pool_size", "0" },
	{ "pool_size", "1025" },
	{ "pool_acquire_timeout_ms", "0" },
	{ "pool_acquire_timeout_ms", "600001" },
	{ "statement_timeout_ms", "0" },
	{ "request_timeout", "0" },
	{ "request_timeout", "0s" },
	{ "request_timeout", "3601" },
	{ "request_timeout", "2h" },
	{ "request_timeout", "5x" },
	{ "request_timeout", "5ms" },
	{ "request_timeout", "5S" },
	{ "request_timeout", "5 s" },
	{ "request_timeout", "s" },
	{ "request_timeout", "-5s" },
	{ "request_timeout", "1.5s" },
	{ "request_timeout", "99999999999999999999d" },
	{ "max_requests", "4294967296" },
	{ "max_requests", "-1" },
	{ "shutdown_timeout", "0" },
	{ "shutdown_timeout", "1d" },
	{ "max_body_bytes", "0" },
	{ "max_body_bytes", "1048577" },
	{ "max_header_bytes", "1023" },
	{ "max_header_bytes", "1048577" },
	{ "max_json_depth", "0" },
	{ "max_json_depth", "65" },
	{ "max_json_members", "3" },
	{ "max_json_members", "65537" },
	{ "max_string_bytes", "127" },
	{ "max_string_bytes", "1048577" },
	{ "rotation_grace_seconds", "366d" },
	{ "rotation_grace_seconds", "-1" },
	{ "retry_after_seconds", "0" },
	{ "retry_after_seconds", "3601" },
	{ "rate_limit_window", "0" },
	{ "rate_limit_window", "2d" },
	{ "rate_limit_budget", "0" },
	{ "rate_limit_budget", "1000001" },
	{ "prepared_statements", "maybe" },
	{ "prepared_statements", "" },
	{ "prepared_statements", "2" },
	{ "prepared_statements", "onn" },
	{ "log_level", "verbose" },
	{ "log_level", "warning" },
	{ "log_level", "trace" },
	{ "log_level", "" },
	{ "log_format", "text" },
	{ "log_format", "xml" },
	{ "log_format", "" },
	{ "listen_mode", "0888" },
	{ "listen_mode", "8" },
	{ "listen_mode", "010000" },
	{ "listen_mode", "rw" },
	{ "listen_mode", "-1" },
	{ "listen_mode", "0x1ff" },
	{ "base_path", "v1" },
	{ "base_path", "/v1/" },
	{ "base_path", "/" },
	{ "base_path", "//" },
	{ "base_path", "v1/" },
	{ "trusted_addresses", "not-an-address" },
	{ "trusted_addresses", "10.0.0.0/33" },
	{ "trusted_addresses", "127.0.0.1,999.1.1.1" },
};

static bool
has_outer_space(const char *s)
{
	size_t	len = strlen(s);

	return len > 0 && (isspace((unsigned char)s[0]) ||
	    isspace((unsigned char)s[len - 1]));
}

/* Refused from any source, with a message naming the setting. */
static void
test_load_refuses_bad_values(void **state)
{
	struct tk_config	 sentinel;
	size_t			 i;
	int			 source;

	(void)state;
	for (i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
		const struct bad_value	*b = &bad_values[i];
		char			 flag[96], env[96], line[256];

		kebab(b->name, flag + 2, sizeof(flag) - 2);
		flag[0] = flag[1] = '-';
		env_of(b->name, env, sizeof(env));
		for (source = 0; source < 4; source++) {
			struct tk_config	*cfg = &sentinel;
			char			*errs;
			enum tk_err		 err;

			switch (source) {
			case 0:
				err = load(&cfg, &errs, flag, b->value, NULL);
				break;
			case 1:
				snprintf(line, sizeof(line), "%s=%s", flag,
				    b->value);
				err = load(&cfg, &errs, line, NULL);
				break;
			case 2:
				assert_int_equal(setenv(env, b->value, 1), 0);
				err = load(&cfg, &errs, NULL);
				assert_int_equal(unsetenv(env), 0);
				break;
			default:
				/* The file trims its values: skip what it would. */
				if (has_outer_space(b->value))
					continue;
				snprintf(line, sizeof(line), "%s = %s\n",
				    b->name, b->value);
				write_file(path_a, line);
				err = load(&cfg, &errs, "--config", path_a, NULL);
				break;
			}
			if (err != TK_EINVAL)
				fail_msg("%s \"%s\" from source %d: %d, not "
				    "TK_EINVAL", b->name, b->value, source, err);
			assert_ptr_equal(cfg, &sentinel);	/* untouched */
			if (strstr(errs, b->name) == NULL)
				fail_msg("%s \"%s\" from source %d: message \"%s\" "
				    "does not name the setting", b->name,
				    b->value, source, errs);
			/* base_path and trusted_addresses are judged whole, later. */
			if (source == 3 && strstr(errs, path_a) == NULL &&
			    strcmp(b->name, "base_path") != 0 &&
			    strcmp(b->name, "trusted_addresses") != 0)
				fail_msg("%s: message \"%s\" does not name the "
				    "file", b->name, errs);
			free(errs);
		}
	}
}

static void
test_load_accepts_good_values(void **state)
{
	static const struct setting_case good[] = {
		{ "threads", "1", "1" },
		{ "threads", "1024", "1024" },
		{ "threads", "007", "7" },
		{ "workers", "0", "0" },
		{ "workers", "1024", "1024" },
		{ "pool_size", "1", "1" },
		{ "pool_size", "1024", "1024" },
		{ "request_timeout", "5s", "5" },
		{ "request_timeout", "2m", "120" },
		{ "request_timeout", "1h", "3600" },
		{ "request_timeout", "3600", "3600" },
		{ "request_timeout", "60m", "3600" },
		{ "shutdown_timeout", "1s", "1" },
		{ "rotation_grace_seconds", "0", "0" },
		{ "rotation_grace_seconds", "0s", "0" },
		{ "rotation_grace_seconds", "1d", "86400" },
		{ "rotation_grace_seconds", "365d", "31536000" },
		{ "rate_limit_window", "1d", "86400" },
		{ "rate_limit_window", "24h", "86400" },
		{ "max_requests", "0", "0" },
		{ "max_requests", "4294967295", "4294967295" },
		{ "max_body_bytes", "1", "1" },
		{ "max_body_bytes", "1048576", "1048576" },
		{ "max_header_bytes", "1024", "1024" },
		{ "max_header_bytes", "1048576", "1048576" },
		{ "max_json_depth", "1", "1" },
		{ "max_json_depth", "64", "64" },
		{ "max_json_members", "4", "4" },
		{ "max_json_members", "65536", "65536" },
		{ "max_string_bytes", "128", "128" },
		{ "max_string_bytes", "1048576", "1048576" },
		{ "prepared_statements", "on", "on" },
		{ "prepared_statements", "off", "off" },
		{ "prepared_statements", "true", "on" },
		{ "prepared_statements", "false", "off" },
		{ "prepared_statements", "yes", "on" },
		{ "prepared_statements", "no", "off" },
		{ "prepared_statements", "1", "on" },
		{ "prepared_statements", "0", "off" },
		{ "prepared_statements", "OFF", "off" },
		{ "prepared_statements", "On", "on" },
		{ "log_level", "error", "error" },
		{ "log_level", "warn", "warn" },
		{ "log_level", "info", "info" },
		{ "log_level", "debug", "debug" },
		{ "log_format", "logfmt", "logfmt" },
		{ "log_format", "json", "json" },
		{ "listen_mode", "0600", "0600" },
		{ "listen_mode", "600", "0600" },
		{ "listen_mode", "0", "0000" },
		{ "listen_mode", "07777", "7777" },
		{ "base_path", "", "" },
		{ "base_path", "/x", "/x" },
		{ "base_path", "/api/v2", "/api/v2" },
		{ "listen", "127.0.0.1:9000", "127.0.0.1:9000" },
		{ "trusted_addresses", "", "" },
		{ "trusted_addresses", "10.0.0.0/8, ::1", "10.0.0.0/8, ::1" },
	};
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct tk_config	*cfg;
		char			 flag[96];

		kebab(good[i].name, flag + 2, sizeof(flag) - 2);
		flag[0] = flag[1] = '-';
		cfg = must_load(flag, good[i].value, NULL);
		assert_setting(cfg, good[i].name, good[i].shown, good[i].value);
		tk_config_free(cfg);
	}
}

static void
test_load_file_syntax(void **state)
{
	struct tk_config	*cfg;

	(void)state;
	write_file(path_a,
	    "# a comment\n"
	    "\n"
	    "   \t\n"
	    "  # an indented comment = with equals\n"
	    "threads=6\n"
	    "  base_path   =   \"/quoted\"  \n"
	    "listen_group = \"\"\n"
	    "log_format\t=\tjson\r\n"
	    "database_url = host=db password=x\n"
	    "threads = 8\n");	/* the last one wins */
	cfg = must_load("--config", path_a, NULL);
	assert_int_equal(cfg->threads, 8);
	assert_string_equal(cfg->base_path, "/quoted");
	assert_string_equal(cfg->listen_group, "");
	assert_string_equal(cfg->log_format, "json");
	assert_string_equal(cfg->database_url, "host=db password=x");
	tk_config_free(cfg);

	/* An empty file, and one without a final newline. */
	write_file(path_a, "");
	cfg = must_load("--config", path_a, NULL);
	assert_int_equal(cfg->threads, 4);
	tk_config_free(cfg);
	write_file(path_a, "threads = 3");
	cfg = must_load("--config", path_a, NULL);
	assert_int_equal(cfg->threads, 3);
	tk_config_free(cfg);
}

static void
test_load_refuses_bad_files(void **state)
{
	static const struct {
		const char	*content;
		const char	*says;
	} cases[] = {
		{ "bogus = 1\n", "bogus" },
		{ "threads = 4\nnot_a_setting = 1\n", ":2:" },
		{ "pool-size = 3\n", "pool-size" },
		{ "TOKEND_THREADS = 3\n", "TOKEND_THREADS" },
		{ "config = other.conf\n", "config" },
		{ "help = on\n", "help" },
		{ "threads\n", ":1:" },
		{ "threads 4\n", ":1:" },
		{ "= 4\n", ":1:" },
		{ "threads =\n", "threads" },
		{ "threads = 4 # four\n", "threads" },
		{ "[tokend]\nthreads = 4\n", ":1:" },
	};
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tk_config	*cfg = NULL;
		char			*errs;

		write_file(path_a, cases[i].content);
		if (load(&cfg, &errs, "--config", path_a, NULL) != TK_EINVAL)
			fail_msg("case %zu accepted", i);
		assert_null(cfg);
		if (strstr(errs, path_a) == NULL ||
		    strstr(errs, cases[i].says) == NULL)
			fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, errs,
			    cases[i].says);
		free(errs);
	}
}

static void
test_load_refuses_missing_file(void **state)
{
	struct tk_config	*cfg = NULL;
	char			*errs;

	(void)state;
	assert_int_equal(load(&cfg, &errs, "--config", path_b, NULL), TK_EINVAL);
	assert_null(cfg);
	assert_non_null(strstr(errs, path_b));
	free(errs);
	assert_int_equal(load(&cfg, &errs, "--config=", NULL), TK_EINVAL);
	free(errs);
	assert_int_equal(setenv("TOKEND_CONFIG", path_b, 1), 0);
	assert_int_equal(load(&cfg, &errs, NULL), TK_EINVAL);
	assert_non_null(strstr(errs, path_b));
	free(errs);
	assert_null(cfg);
}

static void
test_load_config_file_from_env(void **state)
{
	struct tk_config	*cfg;

	(void)state;
	write_file(path_a, "threads = 2\n");
	write_file(path_b, "threads = 3\n");
	assert_int_equal(setenv("TOKEND_CONFIG", path_a, 1), 0);
	cfg = must_load(NULL);
	assert_int_equal(cfg->threads, 2);
	assert_string_equal(cfg->config_file, path_a);
	tk_config_free(cfg);

	/* --config wins over TOKEND_CONFIG, in both forms. */
	cfg = must_load("--config", path_b, NULL);
	assert_int_equal(cfg->threads, 3);
	assert_string_equal(cfg->config_file, path_b);
	tk_config_free(cfg);
	{
		char	arg[160];

		snprintf(arg, sizeof(arg), "--config=%s", path_b);
		cfg = must_load(arg, NULL);
		assert_int_equal(cfg->threads, 3);
		tk_config_free(cfg);
	}

	/* An empty TOKEND_CONFIG names no file. */
	assert_int_equal(setenv("TOKEND_CONFIG", "", 1), 0);
	cfg = must_load(NULL);
	assert_null(cfg->config_file);
	assert_int_equal(cfg->threads, 4);
	tk_config_free(cfg);

	/* --config given after the settings still applies to them. */
	cfg = must_load("--workers", "1", "--config", path_b, NULL);
	assert_int_equal(cfg->threads, 3);
	assert_int_equal(cfg->workers, 1);
	tk_config_free(cfg);
}

static void
test_load_workers_default_is_cpus(void **state)
{
	long			 cpus = sysconf(_SC_NPROCESSORS_ONLN);
	struct tk_config	*cfg;

	(void)state;
	assert_true(cpus > 0);
	cfg = must_load(NULL);
	assert_int_equal(cfg->workers, (unsigned int)cpus);
	tk_config_free(cfg);

	/* Explicit values, 0 included, from every source. */
	cfg = must_load("--workers", "0", NULL);
	assert_int_equal(cfg->workers, 0);
	tk_config_free(cfg);
	cfg = must_load("--workers=0", NULL);
	assert_int_equal(cfg->workers, 0);
	tk_config_free(cfg);
	assert_int_equal(setenv("TOKEND_WORKERS", "0", 1), 0);
	cfg = must_load(NULL);
	assert_int_equal(cfg->workers, 0);
	tk_config_free(cfg);
	assert_int_equal(unsetenv("TOKEND_WORKERS"), 0);
	write_file(path_a, "workers = 0\n");
	cfg = must_load("--config", path_a, NULL);
	assert_int_equal(cfg->workers, 0);
	tk_config_free(cfg);
	/* A commented-out line sets nothing. */
	write_file(path_a, "# workers = 0\n");
	cfg = must_load("--config", path_a, NULL);
	assert_int_equal(cfg->workers, (unsigned int)cpus);
	tk_config_free(cfg);
}

static void
test_load_pool_size_defaults_to_threads(void **state)
{
	struct tk_config	*cfg;

	(void)state;
	cfg = must_load("--threads", "8", NULL);
	assert_int_equal(cfg->pool_size, 8);
	tk_config_free(cfg);
	assert_int_equal(setenv("TOKEND_THREADS", "9", 1), 0);
	cfg = must_load(NULL);
	assert_int_equal(cfg->pool_size, 9);
	tk_config_free(cfg);
	assert_int_equal(unsetenv("TOKEND_THREADS"), 0);
	write_file(path_a, "threads = 10\n");
	cfg = must_load("--config", path_a, NULL);
	assert_int_equal(cfg->pool_size, 10);
	tk_config_free(cfg);
	/* The final threads counts, whatever set it. */
	cfg = must_load("--config", path_a, "--threads", "11", NULL);
	assert_int_equal(cfg->pool_size, 11);
	tk_config_free(cfg);
}

static void
test_load_pool_size_explicit_is_kept(void **state)
{
	struct tk_config	*cfg;

	(void)state;
	cfg = must_load("--threads", "8", "--pool-size", "2", NULL);
	assert_int_equal(cfg->threads, 8);
	assert_int_equal(cfg->pool_size, 2);
	tk_config_free(cfg);
	cfg = must_load("--pool-size=4", "--threads=8", NULL);
	assert_int_equal(cfg->pool_size, 4);	/* equal to the default: kept */
	tk_config_free(cfg);
	assert_int_equal(setenv("TOKEND_POOL_SIZE", "3", 1), 0);
	cfg = must_load("--threads", "8", NULL);
	assert_int_equal(cfg->pool_size, 3);
	tk_config_free(cfg);
	assert_int_equal(unsetenv("TOKEND_POOL_SIZE"), 0);
	write_file(path_a, "pool_size = 5\nthreads = 12\n");
	cfg = must_load("--config", path_a, NULL);
	assert_int_equal(cfg->pool_size, 5);
	assert_int_equal(cfg->threads, 12);
	tk_config_free(cfg);
}

static void
test_load_rest_stops_at_first_non_flag(void **state)
{
	static const struct {
		const char	*args[6];
		int		 rest;
		unsigned int	 threads;
	} cases[] = {
		{ { NULL }, 1, 4 },
		{ { "client", "list", NULL }, 1, 4 },
		{ { "--threads", "2", NULL }, 3, 2 },
		{ { "--threads", "2", "client", "list", NULL }, 3, 2 },
		{ { "--threads=2", "client", "--threads", "9", NULL }, 2, 2 },
		{ { "client", "--threads", "9", NULL }, 1, 4 },
		{ { "--", "client", NULL }, 2, 4 },
		{ { "--threads", "2", "--", "--threads", "9", NULL }, 4, 2 },
		{ { "--", NULL }, 2, 4 },
		{ { "--help", "client", NULL }, 2, 4 },
	};
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tk_config	*cfg = NULL;
		int			 rest = -1, want = cases[i].rest;
		const char *const	*a = cases[i].args;

		if (load_rest(&cfg, &rest, NULL, a[0], a[1], a[2], a[3], a[4],
		    NULL) != TK_OK)
			fail_msg("case %zu refused", i);
		if (rest != want)
			fail_msg("case %zu: rest %d, not %d", i, rest, want);
		assert_int_equal(cfg->threads, cases[i].threads);
		tk_config_free(cfg);
	}
}

static void
test_load_rest_refuses_unknown_flag(void **state)
{
	struct tk_config	*cfg = NULL;
	char			*errs;
	int			 rest = -1;

	(void)state;
	assert_int_equal(load_rest(&cfg, &rest, &errs, "--bogus", "client",
	    NULL), TK_EINVAL);
	assert_null(cfg);
	assert_non_null(strstr(errs, "--bogus"));
	free(errs);
	assert_int_equal(load_rest(&cfg, &rest, &errs, "--threads", "x",
	    "client", NULL), TK_EINVAL);
	assert_null(cfg);
	free(errs);
}

/*
 * Without rest every argument must be a known flag (tk_config.h), "--"
 * or not.  Fails: read_flags() breaks at "--" and returns TK_OK, so
 * "tokend -- anything" silently ignores "anything".
 */
static void
test_load_refuses_arguments_after_double_dash(void **state)
{
	struct tk_config	*cfg = NULL;
	char			*errs;
	enum tk_err		 err;

	(void)state;
	err = load(&cfg, &errs, "--", "--threads", "9", NULL);
	free(errs);
	tk_config_free(cfg);
	assert_int_equal(err, TK_EINVAL);
}

static void
test_load_actions_set_their_flags(void **state)
{
	struct tk_config	*cfg;

	(void)state;
	cfg = must_load("--help", NULL);
	assert_true(cfg->help);
	assert_false(cfg->check_config);
	assert_false(cfg->version);
	tk_config_free(cfg);

	cfg = must_load("--check-config", NULL);
	assert_true(cfg->check_config);
	assert_false(cfg->help);
	tk_config_free(cfg);

	cfg = must_load("--version", NULL);
	assert_true(cfg->version);
	tk_config_free(cfg);

	/* An action takes no value: the next flag is read as a flag. */
	cfg = must_load("--check-config", "--threads", "3", "--help", NULL);
	assert_true(cfg->check_config);
	assert_true(cfg->help);
	assert_int_equal(cfg->threads, 3);
	tk_config_free(cfg);

	/* --check-config still validates: a bad value is refused. */
	{
		struct tk_config	*bad = NULL;
		char			*errs;

		assert_int_equal(load(&bad, &errs, "--check-config",
		    "--threads", "0", NULL), TK_EINVAL);
		assert_null(bad);
		assert_non_null(strstr(errs, "threads"));
		free(errs);
	}
}

/* Load from a command line the test keeps, for reloading. */
static enum tk_err
load_argv_quiet(struct tk_config **out, int argc, char *argv[])
{
	enum tk_err	err;

	capture_begin();
	err = tk_config_load(out, argc, argv, NULL);
	free(capture_end());
	return err;
}

/* The warning goes through tk_log: capture it as well. */
static enum tk_err
reload_quiet(const struct tk_config *old, struct tk_config **out, char **errs)
{
	enum tk_err	err;

	capture_begin();
	err = tk_config_reload(old, out);
	*errs = capture_end();
	return err;
}

static void
test_reload_keeps_restart_settings(void **state)
{
	char			*argv[] = { "tokend", "--config", path_a, NULL };
	struct tk_config	*old, *cfg = NULL;
	char			*errs;

	(void)state;
	write_file(path_a,
	    "listen = /tmp/a.sock\n"
	    "listen_mode = 0600\n"
	    "listen_group = one\n"
	    "threads = 2\n"
	    "log_level = warn\n"
	    "base_path = /v1\n");
	assert_int_equal(load_argv_quiet(&old, 3, argv), TK_OK);
	assert_int_equal(old->pool_size, 2);

	write_file(path_a,
	    "listen = /tmp/b.sock\n"
	    "listen_mode = 0666\n"
	    "listen_group = two\n"
	    "threads = 6\n"
	    "log_level = debug\n"
	    "base_path = /v2\n"
	    "database_url = host=new\n");
	assert_int_equal(reload_quiet(old, &cfg, &errs), TK_OK);
	assert_non_null(cfg);
	/* restart: kept, and said so */
	assert_string_equal(cfg->listen, "/tmp/a.sock");
	assert_int_equal(cfg->listen_mode, 0600);
	assert_string_equal(cfg->listen_group, "one");
	if (strstr(errs, "listen") == NULL)
		fail_msg("no warning about listen: \"%s\"", errs);
	assert_non_null(strstr(errs, "listen_mode"));
	assert_non_null(strstr(errs, "listen_group"));
	/* the rest: taken from the file as it is now */
	assert_int_equal(cfg->threads, 6);
	assert_int_equal(cfg->pool_size, 6);
	assert_string_equal(cfg->log_level, "debug");
	assert_string_equal(cfg->base_path, "/v2");
	assert_string_equal(cfg->database_url, "host=new");
	/* the old settings are untouched */
	assert_string_equal(old->listen, "/tmp/a.sock");
	assert_int_equal(old->threads, 2);
	free(errs);
	tk_config_free(cfg);
	tk_config_free(old);
}

/* The request limits take a new value on SIGHUP, without a restart. */
static void
test_reload_takes_new_limits(void **state)
{
	char			*argv[] = { "tokend", "--config", path_a, NULL };
	struct tk_config	*old, *cfg = NULL;
	char			*errs;

	(void)state;
	write_file(path_a, "max_header_bytes = 4096\nmax_json_depth = 4\n"
	    "max_json_members = 8\nmax_string_bytes = 256\n");
	assert_int_equal(load_argv_quiet(&old, 3, argv), TK_OK);
	write_file(path_a, "max_header_bytes = 32768\nmax_json_depth = 2\n"
	    "max_json_members = 5\nmax_string_bytes = 300\n");
	assert_int_equal(reload_quiet(old, &cfg, &errs), TK_OK);
	assert_int_equal(cfg->max_header_bytes, 32768);
	assert_int_equal(cfg->max_json_depth, 2);
	assert_int_equal(cfg->max_json_members, 5);
	assert_int_equal(cfg->max_string_bytes, 300);
	assert_null(strstr(errs, "restart"));
	free(errs);
	tk_config_free(cfg);
	tk_config_free(old);
}

static void
test_reload_unchanged_file_says_nothing(void **state)
{
	char			*argv[] = { "tokend", "--config", path_a, NULL };
	struct tk_config	*old, *cfg = NULL;
	char			*errs;

	(void)state;
	write_file(path_a, "listen = /tmp/a.sock\nthreads = 2\n");
	assert_int_equal(load_argv_quiet(&old, 3, argv), TK_OK);
	assert_int_equal(reload_quiet(old, &cfg, &errs), TK_OK);
	assert_string_equal(cfg->listen, "/tmp/a.sock");
	assert_int_equal(cfg->threads, 2);
	assert_null(strstr(errs, "restart"));
	free(errs);
	tk_config_free(cfg);
	tk_config_free(old);
}

static void
test_reload_flags_and_env_still_win(void **state)
{
	char			*argv[] = { "tokend", "--config", path_a,
				    "--threads", "3", NULL };
	struct tk_config	*old, *cfg = NULL;
	char			*errs;

	(void)state;
	write_file(path_a, "threads = 2\nrate_limit_budget = 7\n"
	    "max_requests = 1\n");
	assert_int_equal(setenv("TOKEND_RATE_LIMIT_BUDGET", "8", 1), 0);
	assert_int_equal(load_argv_quiet(&old, 5, argv), TK_OK);
	assert_int_equal(old->threads, 3);
	assert_int_equal(old->rate_limit_budget, 8);

	write_file(path_a, "threads = 6\nrate_limit_budget = 9\n"
	    "max_requests = 100\n");
	assert_int_equal(reload_quiet(old, &cfg, &errs), TK_OK);
	assert_int_equal(cfg->threads, 3);
	assert_int_equal(cfg->rate_limit_budget, 8);
	assert_int_equal(cfg->max_requests, 100);
	free(errs);
	tk_config_free(cfg);
	tk_config_free(old);
}

static void
test_reload_refuses_bad_file(void **state)
{
	char			*argv[] = { "tokend", "--config", path_a, NULL };
	struct tk_config	*old, *cfg = NULL;
	char			*errs;

	(void)state;
	write_file(path_a, "threads = 2\n");
	assert_int_equal(load_argv_quiet(&old, 3, argv), TK_OK);
	write_file(path_a, "threads = 0\n");
	assert_int_equal(reload_quiet(old, &cfg, &errs), TK_EINVAL);
	assert_null(cfg);
	assert_non_null(strstr(errs, "threads"));
	free(errs);
	write_file(path_a, "nonsense\n");
	assert_int_equal(reload_quiet(old, &cfg, &errs), TK_EINVAL);
	assert_null(cfg);
	free(errs);
	assert_int_equal(old->threads, 2);
	tk_config_free(old);
}

static void
test_usage_lists_every_setting(void **state)
{
	char	*text = NULL;
	size_t	 len = 0, i;
	FILE	*fp = open_memstream(&text, &len);

	(void)state;
	assert_non_null(fp);
	tk_config_usage(fp, "tokend-test");
	assert_int_equal(fclose(fp), 0);
	assert_non_null(strstr(text, "tokend-test"));
	assert_non_null(strstr(text, "--config"));
	assert_non_null(strstr(text, "TOKEND_CONFIG"));
	assert_non_null(strstr(text, "--check-config"));
	assert_non_null(strstr(text, "--help"));
	for (i = 0; i < NEVERY; i++) {
		char	flag[96], env[96];
		char	*at, *next;

		flag[0] = flag[1] = '-';
		kebab(every[i].name, flag + 2, sizeof(flag) - 2);
		env_of(every[i].name, env, sizeof(env));
		/* A whole word: "--listen" must not be found in "--listen-mode". */
		for (at = strstr(text, flag); at != NULL;
		    at = strstr(at + 1, flag))
			if (!isalnum((unsigned char)at[strlen(flag)]) &&
			    at[strlen(flag)] != '-' && at[strlen(flag)] != '_')
				break;
		if (at == NULL)
			fail_msg("usage lacks %s", flag);
		/* Its variable comes with it, before the next setting. */
		next = strstr(at + 1, "\n  --");
		for (at = strstr(at, env); at != NULL; at = strstr(at + 1, env))
			if (at[strlen(env)] != '_' &&
			    !isalnum((unsigned char)at[strlen(env)]))
				break;
		if (at == NULL || (next != NULL && at > next))
			fail_msg("usage lacks %s with %s", env, flag);
	}
	assert_non_null(strstr(text, "default: 16384"));
	assert_non_null(strstr(text, "default: /v1"));
	/* listen needs a restart, and says so on its line. */
	{
		const char	*l = strstr(text, "--listen ");
		const char	*eol;

		assert_non_null(l);
		eol = strchr(l, '\n');
		assert_non_null(eol);
		assert_true(strstr(l, "(restart)") != NULL &&
		    strstr(l, "(restart)") < eol);
	}
	free(text);
}

static void
test_dump_lists_every_setting(void **state)
{
	struct tk_config	*cfg = must_load(NULL);
	const char		*text = dump(cfg);
	size_t			 i;

	(void)state;
	for (i = 0; i < NEVERY; i++) {
		char	want[96];

		snprintf(want, sizeof(want), "\n%s = ", every[i].name);
		if (strstr(text, want) == NULL)
			fail_msg("dump lacks %s", every[i].name);
	}
	assert_setting(cfg, "base_path", "/v1", "default");
	assert_setting(cfg, "listen_mode", "0660", "default");
	assert_setting(cfg, "prepared_statements", "on", "default");
	tk_config_free(cfg);
}

static void
test_dump_masks_passwords(void **state)
{
	static const struct {
		const char	*url;
		const char	*secret;
	} cases[] = {
		{ "postgresql://tokend:s3cret@db:5432/tokend", "s3cret" },
		{ "postgres://u:hunter2@db/tokend?sslmode=require", "hunter2" },
		{ "postgresql://db/tokend?password=hunter3", "hunter3" },
		{ "host=db password=hunter4 dbname=tokend", "hunter4" },
		{ "password=hunter5", "hunter5" },
		{ "host=db password='hunter6' dbname=tokend", "hunter6" },
	};
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tk_config	*cfg;
		char			 arg[256];

		snprintf(arg, sizeof(arg), "--database-url=%s", cases[i].url);
		cfg = must_load(arg, "--admin-database-url", cases[i].url, NULL);
		if (strstr(dump(cfg), cases[i].secret) != NULL)
			fail_msg("case %zu: \"%s\" shown:%s", i, cases[i].secret,
			    dumped);
		assert_non_null(strstr(dumped, "\ndatabase_url = "));
		assert_non_null(strstr(dumped, "\nadmin_database_url = "));
		tk_config_free(cfg);
	}
	/* Without a password the value is shown as is. */
	{
		struct tk_config *cfg = must_load("--database-url",
		    "postgresql://tokend@db:5432/tokend", NULL);

		assert_setting(cfg, "database_url",
		    "postgresql://tokend@db:5432/tokend", "no password");
		tk_config_free(cfg);
	}
}

/*
 * libpq allows spaces around '=' in a conninfo string ("password = x").
 * Fails: print_masked() only looks for "password=", so the dump shows
 * the password.
 */
static void
test_dump_masks_password_with_spaces(void **state)
{
	struct tk_config	*cfg;

	(void)state;
	cfg = must_load("--database-url", "host=db password = hunter7", NULL);
	if (strstr(dump(cfg), "hunter7") != NULL) {
		tk_config_free(cfg);
		fail_msg("password shown:%s", dumped);
	}
	tk_config_free(cfg);
}

static void
test_free_null_is_fine(void **state)
{
	(void)state;
	tk_config_free(NULL);
}

int
main(void)
{
#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_load_defaults),
		T(test_load_every_setting_from_each_source),
		T(test_load_precedence),
		T(test_load_flag_value_may_hold_equals),
		T(test_load_refuses_bad_command_lines),
		T(test_load_refuses_bad_values),
		T(test_load_accepts_good_values),
		T(test_load_file_syntax),
		T(test_load_refuses_bad_files),
		T(test_load_refuses_missing_file),
		T(test_load_config_file_from_env),
		T(test_load_workers_default_is_cpus),
		T(test_load_pool_size_defaults_to_threads),
		T(test_load_pool_size_explicit_is_kept),
		T(test_load_rest_stops_at_first_non_flag),
		T(test_load_rest_refuses_unknown_flag),
		T(test_load_refuses_arguments_after_double_dash),
		T(test_load_actions_set_their_flags),
		T(test_reload_keeps_restart_settings),
		T(test_reload_takes_new_limits),
		T(test_reload_unchanged_file_says_nothing),
		T(test_reload_flags_and_env_still_win),
		T(test_reload_refuses_bad_file),
		T(test_usage_lists_every_setting),
		T(test_dump_lists_every_setting),
		T(test_dump_masks_passwords),
		T(test_dump_masks_password_with_spaces),
		T(test_free_null_is_fine),
	};
#undef T
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
