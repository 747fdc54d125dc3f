/*
 * test_tk_route.c - routing from REQUEST_URI (CONTRACT §9).
 *
 * One table of URIs that reach an endpoint and one of URIs that must
 * answer 404, each under base_path "/v1" or "" (none).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tk_route.h"

#define UUID	"0f8fad5b-d9cb-469f-a165-70867728950e"

struct route_case {
	const char		*base;
	const char		*uri;
	enum tk_route_id	 id;
	const char		*param;		/* for TK_ROUTE_REVOKE */
};

static const struct route_case valid[] = {
	{ "/v1", "/v1/auth/tokens/long", TK_ROUTE_LONG, NULL },
	{ "/v1", "/v1/auth/tokens/short", TK_ROUTE_SHORT, NULL },
	{ "/v1", "/v1/auth/tokens/" UUID "/revoke", TK_ROUTE_REVOKE, UUID },
	/* The query string is not part of the path. */
	{ "/v1", "/v1/auth/tokens/long?", TK_ROUTE_LONG, NULL },
	{ "/v1", "/v1/auth/tokens/long?a=b&c", TK_ROUTE_LONG, NULL },
	{ "/v1", "/v1/auth/tokens/short?x=/../%2F%00%zz", TK_ROUTE_SHORT, NULL },
	{ "/v1", "/v1/auth/tokens/" UUID "/revoke?x=1", TK_ROUTE_REVOKE, UUID },
	{ "/v1", "/v1/auth/tokens/long?/v2/", TK_ROUTE_LONG, NULL },
	/* No base path. */
	{ "", "/auth/tokens/long", TK_ROUTE_LONG, NULL },
	{ "", "/auth/tokens/short?x", TK_ROUTE_SHORT, NULL },
	{ "", "/auth/tokens/" UUID "/revoke", TK_ROUTE_REVOKE, UUID },
	/* A base path of several segments. */
	{ "/api/v1", "/api/v1/auth/tokens/long", TK_ROUTE_LONG, NULL },
	{ "/x", "/x/auth/tokens/short", TK_ROUTE_SHORT, NULL },
	/* Decoded once: encoded letters, either case of hex digits. */
	{ "/v1", "/v1/auth/tokens/%6Cong", TK_ROUTE_LONG, NULL },
	{ "/v1", "/v1/auth/tokens/%6cong", TK_ROUTE_LONG, NULL },
	{ "/v1", "/v1/auth/tokens/%6C%6F%6e%67", TK_ROUTE_LONG, NULL },
	{ "/v1", "/v1/%61uth/%74okens/shor%74", TK_ROUTE_SHORT, NULL },
	{ "/v1", "/v1/auth/tokens/" UUID "/%72evoke", TK_ROUTE_REVOKE, UUID },
	{ "/v1", "/v1/auth/tokens/0F8FAD5B%2DD9CB-469F-A165-70867728950E/revoke",
	  TK_ROUTE_REVOKE, "0F8FAD5B-D9CB-469F-A165-70867728950E" },
	/* %25 is '%', and the result is not decoded again. */
	{ "/v1", "/v1/auth/tokens/abc%25def/revoke", TK_ROUTE_REVOKE, "abc%def" },
	{ "/v1", "/v1/auth/tokens/%2541/revoke", TK_ROUTE_REVOKE, "%41" },
	{ "/v1", "/v1/auth/tokens/%252F/revoke", TK_ROUTE_REVOKE, "%2F" },
	{ "/v1", "/v1/auth/tokens/%2500/revoke", TK_ROUTE_REVOKE, "%00" },
	{ "/v1", "/v1/auth/tokens/%252E%252E/revoke", TK_ROUTE_REVOKE, "%2E%2E" },
	{ "/v1", "/v1/auth/tokens/%25/revoke", TK_ROUTE_REVOKE, "%" },
	/* The parameter is any non-empty segment: the handler checks it. */
	{ "/v1", "/v1/auth/tokens/a%20b/revoke", TK_ROUTE_REVOKE, "a b" },
	{ "/v1", "/v1/auth/tokens/long/revoke", TK_ROUTE_REVOKE, "long" },
	{ "/v1", "/v1/auth/tokens/x/revoke", TK_ROUTE_REVOKE, "x" },
	{ "/v1", "/v1/auth/tokens/.../revoke", TK_ROUTE_REVOKE, "..." },
	{ "/v1", "/v1/auth/tokens/.x/revoke", TK_ROUTE_REVOKE, ".x" },
	{ "/v1", "/v1/auth/tokens/x../revoke", TK_ROUTE_REVOKE, "x.." },
};

static const struct route_case invalid[] = {
	/* base_path on a '/' boundary, and nothing after it */
	{ "/v1", "", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1?x", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1?/auth/tokens/long", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1#/auth/tokens/long", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1x/auth/tokens/long", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v10/auth/tokens/long", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v2/auth/tokens/long", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/V1/auth/tokens/long", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v/auth/tokens/long", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/auth/tokens/long", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "v1/auth/tokens/long", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "//v1/auth/tokens/long", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/x/v1/auth/tokens/long", TK_ROUTE_NOT_FOUND, NULL },
	/* The base path is compared before decoding: never decoded into place. */
	{ "/v1", "/%761/auth/tokens/long", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1%2Fauth/tokens/long", TK_ROUTE_NOT_FOUND, NULL },
	{ "/api/v1", "/api/auth/tokens/long", TK_ROUTE_NOT_FOUND, NULL },
	{ "/api/v1", "/v1/auth/tokens/long", TK_ROUTE_NOT_FOUND, NULL },
	{ "", "", TK_ROUTE_NOT_FOUND, NULL },
	{ "", "/", TK_ROUTE_NOT_FOUND, NULL },
	{ "", "auth/tokens/long", TK_ROUTE_NOT_FOUND, NULL },
	{ "", "/v1/auth/tokens/long", TK_ROUTE_NOT_FOUND, NULL },
	{ "", "?/auth/tokens/long", TK_ROUTE_NOT_FOUND, NULL },
	/* trailing slash, empty segments */
	{ "/v1", "/v1/auth/tokens/long/", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/short/", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/short/?x", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/" UUID "/revoke/", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1//auth/tokens/long", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth//tokens/long", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens//long", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens//revoke", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/long//", TK_ROUTE_NOT_FOUND, NULL },
	{ "", "//auth/tokens/long", TK_ROUTE_NOT_FOUND, NULL },
	/* dot segments, raw or encoded */
	{ "/v1", "/v1/./auth/tokens/long", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/./tokens/long", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/./long", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/long/.", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/x/../auth/tokens/long", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/x/../tokens/long", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/long/..", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/../revoke", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/./revoke", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/%2E%2E/revoke", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/%2e%2e/revoke", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/.%2E/revoke", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/%2e/revoke", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/x/%2E%2E/auth/tokens/long", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/%2E/auth/tokens/long", TK_ROUTE_NOT_FOUND, NULL },
	/* encoded '/' and NUL */
	{ "/v1", "/v1/auth/tokens/a%2Fb/revoke", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/a%2fb/revoke", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth%2Ftokens/long", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth%2ftokens/long", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens%2Flong", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/%2Fauth/tokens/long", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/long%2F", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/long%00", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/a%00b/revoke", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/" UUID "%00/revoke", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/%00/auth/tokens/long", TK_ROUTE_NOT_FOUND, NULL },
	/* bad escapes */
	{ "/v1", "/v1/auth/tokens/long%", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/long%4", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/long%4?x", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/long%?41", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/%zzlong", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/%4glong", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/%g4long", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/% 4long", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/%%41/revoke", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/a%/revoke", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/a%4/revoke", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/a%-1/revoke", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/a%+1/revoke", TK_ROUTE_NOT_FOUND, NULL },
	/* unknown endpoints, wrong case, wrong count of segments */
	{ "/v1", "/v1/auth", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/other", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/LONG", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/Auth/tokens/long", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/Tokens/short", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/long%3F", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/long;x", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/long/extra", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/" UUID, TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/" UUID "/revok", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/" UUID "/Revoke", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/" UUID "/revoke/x", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/x/auth/tokens/long", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/long/long", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/a/b/c/d/e/f/g/h", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p", TK_ROUTE_NOT_FOUND, NULL },
	{ "/v1", "/v1/auth/tokens/x/revoke/a/b/c/d/e/f", TK_ROUTE_NOT_FOUND, NULL },
};

static void
check(const struct route_case *c, size_t i, const char *table)
{
	struct tk_route	r;

	/* Garbage first: the result must not depend on the caller's zeroing. */
	memset(&r, 0x5a, sizeof(r));
	tk_route_match(c->base, c->uri, &r);
	if (r.id != c->id)
		fail_msg("%s case %zu base \"%s\" uri \"%s\": route %d, not %d",
		    table, i, c->base, c->uri, (int)r.id, (int)c->id);
	if (c->id == TK_ROUTE_NOT_FOUND) {
		if (r.allow != NULL)
			fail_msg("%s case %zu: allow \"%s\" on 404", table, i,
			    r.allow);
		assert_string_equal(r.param, "");
		return;
	}
	if (r.allow == NULL || strcmp(r.allow, "POST") != 0)
		fail_msg("%s case %zu: allow is not POST", table, i);
	if (strcmp(r.param, c->param != NULL ? c->param : "") != 0)
		fail_msg("%s case %zu uri \"%s\": param \"%s\", not \"%s\"",
		    table, i, c->uri, r.param, c->param != NULL ? c->param : "");
}

/* Copy uri to the heap with its exact size: ASan sees any overread. */
static void
check_exact(const struct route_case *c, size_t i, const char *table)
{
	struct route_case	 copy = *c;
	char			*uri = strdup(c->uri);

	assert_non_null(uri);
	copy.uri = uri;
	check(&copy, i, table);
	free(uri);
}

static void
test_match_valid(void **state)
{
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
		check_exact(&valid[i], i, "valid");
}

static void
test_match_invalid(void **state)
{
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
		check_exact(&invalid[i], i, "invalid");
}

/* Every escape of every byte, in the revoke parameter. */
static void
test_match_decodes_every_byte_once(void **state)
{
	int	c;

	(void)state;
	for (c = 0; c < 256; c++) {
		char		uri[64], want[2] = { (char)c, '\0' };
		struct tk_route	r;
		int		upper;

		for (upper = 0; upper < 2; upper++) {
			snprintf(uri, sizeof(uri), upper ?
			    "/v1/auth/tokens/%%%02X/revoke" :
			    "/v1/auth/tokens/%%%02x/revoke", c);
			tk_route_match("/v1", uri, &r);
			if (c == 0 || c == '/' || c == '.') {
				if (r.id != TK_ROUTE_NOT_FOUND)
					fail_msg("%s accepted", uri);
				continue;
			}
			if (r.id != TK_ROUTE_REVOKE)
				fail_msg("%s refused", uri);
			if (strcmp(r.param, want) != 0)
				fail_msg("%s: param is not byte %#x", uri, c);
		}
	}
}

static void
test_match_param_length_limit(void **state)
{
	char		uri[600], param[TK_ROUTE_PARAM_MAX + 2];
	struct tk_route	r;

	(void)state;
	memset(param, 'a', TK_ROUTE_PARAM_MAX);
	param[TK_ROUTE_PARAM_MAX] = '\0';
	snprintf(uri, sizeof(uri), "/v1/auth/tokens/%s/revoke", param);
	tk_route_match("/v1", uri, &r);
	assert_int_equal(r.id, TK_ROUTE_REVOKE);
	assert_string_equal(r.param, param);

	/* One more is not cut: it is left empty, which the handler refuses (400). */
	memset(param, 'a', TK_ROUTE_PARAM_MAX + 1);
	param[TK_ROUTE_PARAM_MAX + 1] = '\0';
	snprintf(uri, sizeof(uri), "/v1/auth/tokens/%s/revoke", param);
	tk_route_match("/v1", uri, &r);
	assert_int_equal(r.id, TK_ROUTE_REVOKE);
	assert_string_equal(r.param, "");

	/* The limit applies to the decoded parameter: 128 escapes fit. */
	{
		char	enc[3 * TK_ROUTE_PARAM_MAX + 1];
		size_t	i;

		for (i = 0; i < TK_ROUTE_PARAM_MAX; i++)
			memcpy(enc + 3 * i, "%41", 3);
		enc[3 * TK_ROUTE_PARAM_MAX] = '\0';
		snprintf(uri, sizeof(uri), "/v1/auth/tokens/%s/revoke", enc);
		tk_route_match("/v1", uri, &r);
		assert_int_equal(r.id, TK_ROUTE_REVOKE);
		memset(param, 'A', TK_ROUTE_PARAM_MAX);
		param[TK_ROUTE_PARAM_MAX] = '\0';
		assert_string_equal(r.param, param);
	}
}

static void
test_match_very_long_paths(void **state)
{
	static const size_t	sizes[] = { 1000, 1019, 1020, 1021, 1024,
					    1025, 1030, 2048, 4096, 65536 };
	size_t			i;

	(void)state;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t		 n = sizes[i];
		char		*uri = malloc(n + 64);
		struct tk_route	 r;

		assert_non_null(uri);
		/* One long segment after the base path. */
		memcpy(uri, "/v1/", 4);
		memset(uri + 4, 'a', n);
		uri[4 + n] = '\0';
		tk_route_match("/v1", uri, &r);
		assert_int_equal(r.id, TK_ROUTE_NOT_FOUND);

		/*
		 * A long revoke parameter: an empty one (400) while the path
		 * fits the router's 1024 bytes, not found beyond.
		 */
		snprintf(uri, n + 64, "/v1/auth/tokens/");
		memset(uri + 16, 'b', n);
		strcpy(uri + 16 + n, "/revoke");
		tk_route_match("/v1", uri, &r);
		if (n + strlen("/auth/tokens//revoke") <= 1024) {
			assert_int_equal(r.id, TK_ROUTE_REVOKE);
			assert_string_equal(r.param, "");
		} else
			assert_int_equal(r.id, TK_ROUTE_NOT_FOUND);

		/* Many short segments. */
		{
			size_t j;

			memcpy(uri, "/v1", 3);
			for (j = 3; j + 2 <= n + 3; j += 2)
				memcpy(uri + j, "/a", 2);
			uri[j] = '\0';
			tk_route_match("/v1", uri, &r);
			assert_int_equal(r.id, TK_ROUTE_NOT_FOUND);
		}

		/* A long query string is not the path's business. */
		snprintf(uri, n + 64, "/v1/auth/tokens/long?");
		memset(uri + 21, 'q', n);
		uri[21 + n] = '\0';
		tk_route_match("/v1", uri, &r);
		assert_int_equal(r.id, TK_ROUTE_LONG);

		free(uri);
	}
}

/* Long encoded paths: bad escapes at the very end of a full buffer. */
static void
test_match_long_path_with_trailing_escape(void **state)
{
	static const char *const tails[] = { "%", "%4", "%41", "%2F", "%00" };
	size_t			 i, n;

	(void)state;
	for (i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		for (n = 1015; n < 1030; n++) {
			char		*uri = malloc(n + 16);
			struct tk_route	 r;

			assert_non_null(uri);
			memcpy(uri, "/v1/", 4);
			memset(uri + 4, 'a', n);
			strcpy(uri + 4 + n, tails[i]);
			tk_route_match("/v1", uri, &r);
			assert_int_equal(r.id, TK_ROUTE_NOT_FOUND);
			free(uri);
		}
	}
}

static void
test_match_too_many_segments(void **state)
{
	static const char *const uris[] = {
		"/v1/auth/tokens/a/b/c/d/e/revoke",
		"/v1/auth/tokens/a/b/c/d/e/f/revoke",
		"/v1/auth/tokens/a/b/c/d/e/f/g/h/i/j/k/revoke",
		"/v1/auth/tokens/long/a/b/c/d/e/f/g/h",
	};
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(uris) / sizeof(uris[0]); i++) {
		struct tk_route	r;

		tk_route_match("/v1", uris[i], &r);
		if (r.id != TK_ROUTE_NOT_FOUND)
			fail_msg("%s accepted", uris[i]);
	}
}

/* A match leaves nothing of an earlier one behind. */
static void
test_match_resets_route(void **state)
{
	struct tk_route	r;

	(void)state;
	tk_route_match("/v1", "/v1/auth/tokens/" UUID "/revoke", &r);
	assert_int_equal(r.id, TK_ROUTE_REVOKE);
	tk_route_match("/v1", "/v1/auth/tokens/long", &r);
	assert_int_equal(r.id, TK_ROUTE_LONG);
	assert_string_equal(r.param, "");
	tk_route_match("/v1", "/v1/nothing", &r);
	assert_int_equal(r.id, TK_ROUTE_NOT_FOUND);
	assert_null(r.allow);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match_valid),
		cmocka_unit_test(test_match_invalid),
		cmocka_unit_test(test_match_decodes_every_byte_once),
		cmocka_unit_test(test_match_param_length_limit),
		cmocka_unit_test(test_match_very_long_paths),
		cmocka_unit_test(test_match_long_path_with_trailing_escape),
		cmocka_unit_test(test_match_too_many_segments),
		cmocka_unit_test(test_match_resets_route),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
