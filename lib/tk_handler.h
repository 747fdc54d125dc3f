/*
 * tk_handler.h - the token endpoints.
 *
 * Each request costs one database round trip: the credential check,
 * the policy checks, the write and its audit row are one call of a SQL
 * function (sql/006_create_token_functions.sql).  Everything that can be
 * judged without the database - route, method, size, media type, JSON,
 * credential syntax and checksum - is judged here first, in the order of
 * CONTRACT §8, so a malformed request never costs a query.
 */
#ifndef TK_HANDLER_H
#define TK_HANDLER_H

#include <time.h>
#include "tk_abuse.h"
#include "tk_addr.h"
#include "tk_config.h"
#include "tk_http.h"
#include "tk_pool.h"
#include "tk_stats.h"

/* What the handlers share; borrowed from the worker. */
struct tk_handler_ctx {
	const struct tk_config	*cfg;
	struct tk_pool		*pool;
	struct tk_abuse		*abuse;		/* NULL: failures not counted */
	struct tk_stats		*stats;		/* NULL: /status shows nothing */
	const struct tk_addr_list *trusted;	/* who may read /status */
};

/* The statements of the pool, in the order tk_handler uses them. */
extern const struct tk_pool_stmt	tk_handler_stmts[];
extern const unsigned int		tk_handler_nstmts;

/*
 * Answer req in resp, before the monotonic deadline.  Never fails: a
 * fault becomes a 503 or, for a bug, a logged 500.
 */
void	tk_handler_serve(const struct tk_handler_ctx *, const struct tk_request *,
	    const struct timespec *deadline, struct tk_response *);

/*
 * The FastCGI Authorizer role: 200 with Variable-TOKEN_* headers for a
 * valid short-term token meeting the location's TOKEND_REQUIRE_SCOPE and
 * TOKEND_REQUIRE_AUDIENCE, else 401 (or 403 for unmet requirements).
 * No routing: the authorizer answers for whatever location it guards.
 */
void	tk_handler_authorize(const struct tk_handler_ctx *,
	    const struct tk_request *, const struct timespec *deadline,
	    struct tk_response *);

#endif /* TK_HANDLER_H */
