/*
 * tokend - the token service, a FastCGI responder.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "tk_config.h"
#include "tk_log.h"
#include "tk_master.h"

int
main(int argc, char *argv[])
{
	struct tk_config	*cfg;
	enum tk_err		 err;

	if (tk_config_load(&cfg, argc, argv, NULL) != TK_OK)
		return 2;	/* tk_config said why */
	if (cfg->help) {
		tk_config_usage(stdout, "tokend");
		tk_config_free(cfg);
		return EXIT_SUCCESS;
	}
	if (cfg->version) {
		printf("tokend %s\n", TOKEND_VERSION);
		tk_config_free(cfg);
		return EXIT_SUCCESS;
	}
	if (cfg->check_config) {
		tk_config_dump(cfg, stdout);
		tk_config_free(cfg);
		return EXIT_SUCCESS;
	}
	if (tk_log_open_file(cfg->log_file) != TK_OK) {
		fprintf(stderr, "tokend: could not open log file \"%s\" (setting "
		    "log_file): %s\n", cfg->log_file, strerror(errno));
		tk_config_free(cfg);
		return EXIT_FAILURE;
	}
	tk_log_setup((enum tk_log_level)tk_log_level_parse(cfg->log_level),
	    cfg->log_format);
	err = tk_master_run(cfg);	/* returns after SIGTERM */
	tk_config_free(cfg);
	if (err == TK_EINVAL)
		return 2;
	return err == TK_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}
