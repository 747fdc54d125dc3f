/*
 * tk_route.c - the routing table.
 */
#include <stdbool.h>
#include <string.h>

#include "tk_route.h"

#define PATH_MAX_LEN	1024
#define MAX_SEGMENTS	8

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decode path (len bytes) once into out.  False on a bad escape, an
 * encoded '/' or NUL (they would change what a segment is), or a
 * result too long.
 */
static bool
decode(const char *path, size_t len, char *out, size_t outlen)
{
	size_t	i, o = 0;

	for (i = 0; i < len; i++) {
		char c = path[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return false;
			if ((hi = hexval(path[i + 1])) < 0 ||
			    (lo = hexval(path[i + 2])) < 0)
				return false;
			c = (char)(hi << 4 | lo);
			if (c == '/' || c == '\0')
				return false;
			i += 2;
		}
		if (o + 1 >= outlen)
			return false;
		out[o++] = c;
	}
	out[o] = '\0';
	return true;
}

void
tk_route_match(const char *base_path, const char *uri, struct tk_route *route)
{
	char		 path[PATH_MAX_LEN + 1];
	char		*seg[MAX_SEGMENTS];
	size_t		 len, blen = strlen(base_path), n = 0;
	char		*p;

	memset(route, 0, sizeof(*route));
	route->id = TK_ROUTE_NOT_FOUND;
	len = strcspn(uri, "?#");
	/* base_path on a '/' boundary: "/v1x/..." is not under "/v1". */
	if (len < blen || strncmp(uri, base_path, blen) != 0 ||
	    uri[blen] != '/')
		return;
	uri += blen;
	len -= blen;
	if (!decode(uri, len, path, sizeof(path)))
		return;
	/* Split "/a/b/c"; an empty, "." or ".." segment is refused. */
	for (p = path + 1;; ) {
		char *slash = strchr(p, '/');

		if (n == MAX_SEGMENTS)
			return;
		seg[n++] = p;
		if (slash != NULL)
			*slash = '\0';
		if (*p == '\0' || strcmp(p, ".") == 0 || strcmp(p, "..") == 0)
			return;
		if (slash == NULL)
			break;
		p = slash + 1;
	}
	if (n == 1) {
		if (strcmp(seg[0], "healthz") == 0)
			route->id = TK_ROUTE_HEALTHZ;
		else if (strcmp(seg[0], "readyz") == 0)
			route->id = TK_ROUTE_READYZ;
		else if (strcmp(seg[0], "status") == 0)
			route->id = TK_ROUTE_STATUS;
		if (route->id != TK_ROUTE_NOT_FOUND)
			route->allow = "GET";
		return;
	}
	if (n < 3 || strcmp(seg[0], "auth") != 0 || strcmp(seg[1], "tokens") != 0)
		return;
	if (n == 3 && strcmp(seg[2], "long") == 0)
		route->id = TK_ROUTE_LONG;
	else if (n == 3 && strcmp(seg[2], "short") == 0)
		route->id = TK_ROUTE_SHORT;
	else if (n == 3 && strcmp(seg[2], "introspect") == 0)
		route->id = TK_ROUTE_INTROSPECT;
	else if (n == 4 && strcmp(seg[3], "revoke") == 0) {
		/* Too long to be an id: left empty, so it answers 400 as one. */
		route->id = TK_ROUTE_REVOKE;
		if (strlen(seg[2]) <= TK_ROUTE_PARAM_MAX)
			strcpy(route->param, seg[2]);
	}
	if (route->id != TK_ROUTE_NOT_FOUND)
		route->allow = "POST";
}
