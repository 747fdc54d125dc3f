/*
 * fuzz_route.c - the router: FastCGI role, REQUEST_METHOD, REQUEST_URI
 * and base_path to an endpoint (CONTRACT §9), and X-Request-Id.
 *
 * The input is a CGI variable set, one NAME=value per line, as a web
 * server sends it (the first of a repeated name counts, as with
 * FCGX_GetParam); "base_path=..." stands for the setting (default /v1).
 * As the worker does: no FCGI_ROLE is RESPONDER, only a RESPONDER is
 * routed, and the method is compared with the route's.  Checks: an
 * endpoint is found only under base_path on a '/' boundary, with its
 * one method; only a {tokenId} is kept, without '/'; a request id is
 * always acceptable.
 */
#include <string.h>

#include "fuzz.h"
#include "tk_http.h"
#include "tk_route.h"

#define ID_CHARS	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" \
			"0123456789._-"

/* The value of the first line "name=...", or dflt. */
static const char *
var(char **lines, size_t n, const char *name, const char *dflt)
{
	size_t	i, len = strlen(name);

	for (i = 0; i < n; i++)
		if (strncmp(lines[i], name, len) == 0 && lines[i][len] == '=')
			return lines[i] + len + 1;
	return dflt;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		*buf = fuzz_strndup(data, size), *p = buf, *l[64];
	const char	*method, *uri, *base;
	char		 id[TK_REQUEST_ID_MAX + 1];
	struct tk_route	 r;
	size_t		 n = 0;

	while (p != NULL && n < 64)
		l[n++] = strsep(&p, "\n");
	method = var(l, n, "REQUEST_METHOD", "");
	uri = var(l, n, "REQUEST_URI", "");
	base = var(l, n, "base_path", "/v1");
	tk_http_request_id(var(l, n, "HTTP_X_REQUEST_ID", NULL), id);
	FUZZ_CHECK(strlen(id) >= 1 && strspn(id, ID_CHARS) == strlen(id));
	(void)tk_http_is_json(var(l, n, "CONTENT_TYPE", NULL));
	if (strcmp(var(l, n, "FCGI_ROLE", "RESPONDER"), "RESPONDER") != 0)
		goto out;
	tk_route_match(base, uri, &r);
	FUZZ_CHECK(r.id == TK_ROUTE_REVOKE || r.param[0] == '\0');
	FUZZ_CHECK(strchr(r.param, '/') == NULL);
	if (r.id == TK_ROUTE_NOT_FOUND) {
		FUZZ_CHECK(r.allow == NULL);
		goto out;
	}
	FUZZ_CHECK(strncmp(uri, base, strlen(base)) == 0 &&
	    uri[strlen(base)] == '/');
	FUZZ_CHECK(strcmp(r.allow,
	    r.id >= TK_ROUTE_HEALTHZ ? "GET" : "POST") == 0);
	/* Another method: 405 with Allow, as tk_handler_serve answers. */
	if (strcmp(method, r.allow) != 0)
		FUZZ_CHECK(snprintf(id, sizeof(id), "this endpoint accepts %s",
		    r.allow) < (int)sizeof(id));
out:
	free(buf);
	return 0;
}
