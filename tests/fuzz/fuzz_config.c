/*
 * fuzz_config.c - the settings: the config file parser (read_file,
 * reached through tk_config_load with --config), then flags and
 * environment over it, the usage, the dump and a SIGHUP reload.
 *
 * The input is the file, then optionally a line "%%" and the command
 * line, one argument per line: "+" first asks for tokenctl's mode
 * (options end at the first non-flag), TOKEND_NAME=value sets that
 * variable for this run only (never one already set, nor TOKEND_CONFIG),
 * and --config is dropped (the file is a memfd).  Checks: what loads
 * holds valid values; a reload of the file with lines for
 * restart-only settings added dumps the same settings.
 */
#define _GNU_SOURCE
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "tk_config.h"

#define MAXARGS	32
#define RELOAD	"\nlisten = /fuzz\nlisten_mode = 0\nlisten_group = fuzz\n"

static char *
dump(const struct tk_config *cfg)
{
	char	*s = NULL;
	size_t	 n;
	FILE	*fp;

	if ((fp = open_memstream(&s, &n)) == NULL)
		abort();
	tk_config_dump(cfg, fp);
	fclose(fp);
	return s;
}

/* Load, check, reload; fd holds the file. */
static void
load(int fd, int argc, char *argv[], bool rest_mode)
{
	struct tk_config	*cfg = NULL, *again = NULL;
	FILE			*null;
	char			*d1, *d2;
	int			 rest = 0;
	const char		*base;

	if (tk_config_load(&cfg, argc, argv, rest_mode ? &rest : NULL) != TK_OK)
		return;
	base = cfg->base_path;
	FUZZ_CHECK(!rest_mode || (rest >= 3 && rest <= argc));
	FUZZ_CHECK(base[0] == '\0' ||
	    (base[0] == '/' && base[strlen(base) - 1] != '/'));
	FUZZ_CHECK(cfg->threads >= 1 && cfg->pool_size >= 1);
	if ((null = fopen("/dev/null", "w")) == NULL)
		abort();
	tk_config_usage(null, "tokend");
	fclose(null);
	if (write(fd, RELOAD, strlen(RELOAD)) != (ssize_t)strlen(RELOAD))
		abort();
	FUZZ_CHECK(tk_config_reload(cfg, &again) == TK_OK);
	d1 = dump(cfg);
	d2 = dump(again);
	FUZZ_CHECK(strcmp(d1, d2) == 0);
	free(d1);
	free(d2);
	tk_config_free(again);
	tk_config_free(cfg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*buf = fuzz_strndup(data, size), *args = NULL, *a, *eq;
	char	*argv[MAXARGS + 1], *envs[MAXARGS], path[64];
	int	 argc = 0, nenv = 0, i, fd;
	bool	 rest_mode = false;
	size_t	 flen = size;

	if (strncmp(buf, "%%\n", 3) == 0) {
		flen = 0;
		args = buf + 3;
	} else if ((a = memmem(buf, size, "\n%%\n", 4)) != NULL) {
		flen = (size_t)(a - buf) + 1;
		args = a + 4;
	}
	if ((fd = memfd_create("fuzz-config", MFD_CLOEXEC)) < 0 ||
	    write(fd, buf, flen) != (ssize_t)flen)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	argv[argc++] = "tokend";
	argv[argc++] = "--config";
	argv[argc++] = path;
	if (args != NULL && strncmp(args, "+\n", 2) == 0) {
		rest_mode = true;
		args += 2;
	}
	while (argc < MAXARGS && nenv < MAXARGS &&
	    (a = strsep(&args, "\n")) != NULL) {
		if (*a == '\0' && args == NULL)
			break;		/* after the last newline */
		if (strncmp(a, "TOKEND_", 7) == 0 &&
		    (eq = strchr(a, '=')) != NULL) {
			*eq = '\0';
			if (getenv(a) == NULL &&
			    strcmp(a, "TOKEND_CONFIG") != 0 &&
			    setenv(a, eq + 1, 1) == 0)
				envs[nenv++] = a;
		} else if (strncmp(a, "--config", 8) != 0 ||
		    (a[8] != '\0' && a[8] != '='))
			argv[argc++] = a;
	}
	argv[argc] = NULL;
	load(fd, argc, argv, rest_mode);
	for (i = 0; i < nenv; i++)
		unsetenv(envs[i]);
	close(fd);
	free(buf);
	return 0;
}
