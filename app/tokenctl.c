/*
 * tokenctl.c - tokend's administration tool: migrations, clients, tokens.
 */
#include <stdlib.h>

#include "tk_config.h"
#include "tk_ctl.h"

int
main(int argc, char *argv[])
{
	struct tk_config	*cfg;
	enum tk_ctl_exit	 rc;
	enum tk_err		 err;
	int			 rest;

	/* Global flags (--config, --admin-database-url...) come first. */
	if ((err = tk_config_load(&cfg, argc, argv, &rest)) != TK_OK)
		return err == TK_EINVAL ? TK_CTL_USAGE : TK_CTL_FAILED;
	rc = tk_ctl_run(cfg, argc - rest, argv + rest);
	tk_config_free(cfg);
	return (int)rc;
}
