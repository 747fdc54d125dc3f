/*
 * tk_route.h - from REQUEST_URI to an endpoint.
 *
 * REQUEST_URI is the one variable every front end sends alike
 * (SCRIPT_NAME and PATH_INFO are split differently by lighttpd and
 * Apache).  The query string is dropped; base_path must match on a '/'
 * boundary; a raw %2F or %00 is refused; the rest is percent-decoded
 * once; ".", ".." and empty segments are refused.  Everything refused
 * is TK_ROUTE_NOT_FOUND.
 */
#ifndef TK_ROUTE_H
#define TK_ROUTE_H

#include <stddef.h>

enum tk_route_id {
	TK_ROUTE_NOT_FOUND = 0,
	TK_ROUTE_LONG,		/* POST {base}/auth/tokens/long */
	TK_ROUTE_SHORT,		/* POST {base}/auth/tokens/short */
	TK_ROUTE_REVOKE,	/* POST {base}/auth/tokens/{tokenId}/revoke */
	TK_ROUTE_INTROSPECT,	/* POST {base}/auth/tokens/introspect */
	TK_ROUTE_HEALTHZ,	/* GET {base}/healthz: the process answers */
	TK_ROUTE_READYZ,	/* GET {base}/readyz: the database answers */
	TK_ROUTE_STATUS,	/* GET {base}/status: workers and counters */
};

#define TK_ROUTE_PARAM_MAX	128

struct tk_route {
	enum tk_route_id	 id;
	const char		*allow;		/* the path's one method, for 405 */
	/* {tokenId}, decoded; "" when longer than TK_ROUTE_PARAM_MAX */
	char			 param[TK_ROUTE_PARAM_MAX + 1];
};

/*
 * Match uri against the endpoints under base_path ("" for none).  The
 * method is not checked here: compare it with route->allow.
 */
void	tk_route_match(const char *base_path, const char *uri,
	    struct tk_route *route);

#endif /* TK_ROUTE_H */
