/*
 * test_tk_http.c - problem bodies, request ids, media types and headers
 * (CONTRACT §8).
 *
 * Problem bodies are parsed back with json-c rather than compared as
 * text, so that member order and escaping are not pinned down.
 * tk_http_read() and tk_http_write() run on FCGX_Streams over memory:
 * the struct is public in fcgiapp.h, and FCGX_GetStr/FCGX_PutStr only
 * call its fill/empty procedures when the buffer runs out.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "tk_http.h"
#include "tk_pool.h"

#define ID_CHARS	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"

struct problem_case {
	const char	*error;
	int		 status;
	const char	*title;
};

/* CONTRACT §8, every error code; titles as tokend publishes them. */
static const struct problem_case problems[] = {
	{ "invalid_request",		400, "Invalid request" },
	{ "invalid_scope",		400, "Invalid scope" },
	{ "unsupported_grant_type",	400, "Unsupported grant type" },
	{ "invalid_client",		401, "Invalid client" },
	{ "invalid_token",		401, "Invalid token" },
	{ "insufficient_scope",		403, "Insufficient scope" },
	{ "not_found",			404, "Not found" },
	{ "method_not_allowed",		405, "Method not allowed" },
	{ "conflict",			409, "Conflict" },
	{ "payload_too_large",		413, "Payload too large" },
	{ "unsupported_media_type",	415, "Unsupported media type" },
	{ "too_many_requests",		429, "Too many requests" },
	{ "server_error",		500, "Internal server error" },
	{ "service_unavailable",	503, "Service unavailable" },
};
#define NPROBLEMS	(sizeof(problems) / sizeof(problems[0]))

static const char *
member_string(struct json_object *obj, const char *name)
{
	struct json_object	*v;

	if (!json_object_object_get_ex(obj, name, &v))
		fail_msg("member \"%s\" missing", name);
	if (!json_object_is_type(v, json_type_string))
		fail_msg("member \"%s\" is not a string", name);
	return json_object_get_string(v);
}

/* Parse the whole body strictly; the caller puts the object. */
static struct json_object *
parse_body(const struct tk_response *resp)
{
	struct json_tokener	*tok = json_tokener_new();
	struct json_object	*obj;

	assert_non_null(tok);
	assert_non_null(resp->body);
	assert_int_equal(strlen(resp->body), resp->body_len);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	obj = json_tokener_parse_ex(tok, resp->body, (int)resp->body_len);
	if (obj == NULL || json_tokener_get_error(tok) != json_tokener_success)
		fail_msg("body is not JSON: %s", resp->body);
	assert_int_equal(json_tokener_get_parse_end(tok), resp->body_len);
	json_tokener_free(tok);
	assert_true(json_object_is_type(obj, json_type_object));
	return obj;
}

/* The six members of CONTRACT §8 and nothing else. */
static void
check_problem(const struct tk_response *resp, const struct problem_case *p,
    const char *detail, const char *request_id)
{
	struct json_object	*obj, *status;
	char			 type[96];

	assert_int_equal(resp->status, p->status);
	assert_non_null(resp->content_type);
	assert_string_equal(resp->content_type, "application/problem+json");
	assert_non_null(resp->error);
	assert_string_equal(resp->error, p->error);
	obj = parse_body(resp);
	assert_int_equal(json_object_object_length(obj), 6);
	snprintf(type, sizeof(type), "urn:tokend:problem:%s", p->error);
	assert_string_equal(member_string(obj, "type"), type);
	assert_string_equal(member_string(obj, "title"), p->title);
	assert_true(json_object_object_get_ex(obj, "status", &status));
	assert_true(json_object_is_type(status, json_type_int));
	assert_int_equal(json_object_get_int(status), p->status);
	if (detail != NULL)
		assert_string_equal(member_string(obj, "detail"), detail);
	else
		assert_true(member_string(obj, "detail")[0] != '\0');
	assert_string_equal(member_string(obj, "error"), p->error);
	assert_string_equal(member_string(obj, "request_id"), request_id);
	json_object_put(obj);
}

static bool
is_hex32(const char *s)
{
	return strlen(s) == 32 && strspn(s, "0123456789abcdef") == 32;
}

static void
test_problem_every_error_code(void **state)
{
	size_t	i;

	(void)state;
	for (i = 0; i < NPROBLEMS; i++) {
		struct tk_response	resp;

		memset(&resp, 0, sizeof(resp));
		assert_int_equal(tk_http_problem(&resp, problems[i].error,
		    "some detail", "req-1"), TK_OK);
		check_problem(&resp, &problems[i], "some detail", "req-1");
		tk_http_response_clear(&resp);
	}
}

/* The title is fixed per error: it never depends on the detail. */
static void
test_problem_title_is_fixed(void **state)
{
	size_t	i;

	(void)state;
	for (i = 0; i < NPROBLEMS; i++) {
		struct tk_response	a, b;
		struct json_object	*oa, *ob;

		memset(&a, 0, sizeof(a));
		memset(&b, 0, sizeof(b));
		assert_int_equal(tk_http_problem(&a, problems[i].error, "one",
		    "r1"), TK_OK);
		assert_int_equal(tk_http_problem(&b, problems[i].error,
		    "another detail", "r2"), TK_OK);
		oa = parse_body(&a);
		ob = parse_body(&b);
		assert_string_equal(member_string(oa, "title"),
		    member_string(ob, "title"));
		assert_string_not_equal(member_string(oa, "title"),
		    member_string(oa, "detail"));
		json_object_put(oa);
		json_object_put(ob);
		tk_http_response_clear(&a);
		tk_http_response_clear(&b);
	}
}

static void
test_problem_unknown_code_is_server_error(void **state)
{
	static const char *const unknown[] = {
		"", "bogus", "Not_Found", "not_found ", "invalid", "server",
		"urn:tokend:problem:not_found",
	};
	static const struct problem_case server_error =
	    { "server_error", 500, "Internal server error" };
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		struct tk_response	 resp;
		struct json_object	*obj;

		memset(&resp, 0, sizeof(resp));
		assert_int_equal(tk_http_problem(&resp, unknown[i],
		    "secret detail", "rid"), TK_EINVAL);
		check_problem(&resp, &server_error, NULL, "rid");
		/* The detail meant for another error is not shown. */
		obj = parse_body(&resp);
		assert_string_not_equal(member_string(obj, "detail"),
		    "secret detail");
		json_object_put(obj);
		tk_http_response_clear(&resp);
	}
}

static void
test_problem_null_detail_is_a_string(void **state)
{
	struct tk_response	 resp;
	struct json_object	*obj;

	(void)state;
	memset(&resp, 0, sizeof(resp));
	assert_int_equal(tk_http_problem(&resp, "not_found", NULL, "r"), TK_OK);
	check_problem(&resp, &problems[6], NULL, "r");
	obj = parse_body(&resp);
	assert_string_equal(member_string(obj, "detail"), "Not found");
	json_object_put(obj);
	tk_http_response_clear(&resp);
}

/* Quotes, backslashes, controls, slashes and UTF-8 survive as JSON. */
static void
test_problem_detail_is_escaped(void **state)
{
	static const char *const details[] = {
		"member \"scope\" is not a string",
		"back\\slash",
		"line\nbreak\ttab\r\x01\x1f",
		"path /v1/auth/tokens/long",
		"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
		"</script>",
		"",
	};
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(details) / sizeof(details[0]); i++) {
		struct tk_response	resp;

		memset(&resp, 0, sizeof(resp));
		assert_int_equal(tk_http_problem(&resp, "invalid_request",
		    details[i], "r"), TK_OK);
		check_problem(&resp, &problems[0], details[i], "r");
		/* One line: a raw control never reaches the body. */
		assert_null(strchr(resp.body, '\n'));
		assert_null(strchr(resp.body, '\t'));
		tk_http_response_clear(&resp);
	}
}

/* A response reused for a second problem keeps only the second. */
static void
test_problem_replaces_earlier_body(void **state)
{
	struct tk_response	 resp;
	struct json_object	*ok;

	(void)state;
	memset(&resp, 0, sizeof(resp));
	ok = json_object_new_object();
	json_object_object_add(ok, "a", json_object_new_int(1));
	assert_int_equal(tk_http_json(&resp, 201, ok), TK_OK);
	json_object_put(ok);
	assert_string_equal(resp.content_type, "application/json");
	assert_int_equal(tk_http_problem(&resp, "conflict", "x", "r1"), TK_OK);
	assert_int_equal(tk_http_problem(&resp, "service_unavailable", "y",
	    "r2"), TK_OK);
	check_problem(&resp, &problems[13], "y", "r2");
	tk_http_response_clear(&resp);
	assert_null(resp.body);
	assert_int_equal(resp.status, 0);
}

static void
test_error_status_table(void **state)
{
	size_t	i;

	(void)state;
	for (i = 0; i < NPROBLEMS; i++)
		assert_int_equal(tk_http_error_status(problems[i].error),
		    problems[i].status);
	assert_int_equal(tk_http_error_status(""), 500);
	assert_int_equal(tk_http_error_status("bogus"), 500);
	assert_int_equal(tk_http_error_status("NOT_FOUND"), 500);
}

static void
test_json_serialises_object(void **state)
{
	struct tk_response	 resp;
	struct json_object	*obj, *back, *v;

	(void)state;
	memset(&resp, 0, sizeof(resp));
	obj = json_object_new_object();
	json_object_object_add(obj, "path", json_object_new_string("/a/b"));
	json_object_object_add(obj, "n", json_object_new_int(7));
	assert_int_equal(tk_http_json(&resp, 201, obj), TK_OK);
	json_object_put(obj);		/* serialised, not kept */
	assert_int_equal(resp.status, 201);
	assert_string_equal(resp.content_type, "application/json");
	assert_non_null(strstr(resp.body, "\"/a/b\""));	/* no "\/" */
	assert_null(strchr(resp.body, '\n'));
	back = parse_body(&resp);
	assert_true(json_object_object_get_ex(back, "n", &v));
	assert_int_equal(json_object_get_int(v), 7);
	json_object_put(back);
	tk_http_response_clear(&resp);
}

static void
test_empty_clears_body(void **state)
{
	struct tk_response	 resp;
	struct json_object	*obj;

	(void)state;
	memset(&resp, 0, sizeof(resp));
	obj = json_object_new_object();
	assert_int_equal(tk_http_json(&resp, 200, obj), TK_OK);
	json_object_put(obj);
	tk_http_empty(&resp, 204);
	assert_int_equal(resp.status, 204);
	assert_null(resp.body);
	assert_int_equal(resp.body_len, 0);
	assert_null(resp.content_type);
	tk_http_response_clear(&resp);
}

static void
test_request_id_accepts_valid(void **state)
{
	static const char *const valid[] = {
		"a", "Z", "0", ".", "_", "-", "..", "req-1",
		"abc-DEF_123.xyz",
		"550e8400-e29b-41d4-a716-446655440000",
		ID_CHARS,	/* 65 characters: cut below */
	};
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		char	sent[TK_REQUEST_ID_MAX + 1];
		char	out[TK_REQUEST_ID_MAX + 1];

		snprintf(sent, sizeof(sent), "%s", valid[i]);
		memset(out, 'X', sizeof(out));
		tk_http_request_id(sent, out);
		if (strcmp(out, sent) != 0)
			fail_msg("case %zu \"%s\" replaced by \"%s\"", i, sent,
			    out);
	}
}

static void
test_request_id_accepts_64_characters(void **state)
{
	char	sent[TK_REQUEST_ID_MAX + 1], out[TK_REQUEST_ID_MAX + 1];

	(void)state;
	memset(sent, 'x', TK_REQUEST_ID_MAX);
	sent[TK_REQUEST_ID_MAX] = '\0';
	tk_http_request_id(sent, out);
	assert_string_equal(out, sent);
}

static void
test_request_id_replaces_invalid(void **state)
{
	char	too_long[TK_REQUEST_ID_MAX + 2], huge[4096];
	const char *const invalid[] = {
		NULL,
		"",
		too_long,
		huge,
		"a b",
		" a",
		"a ",
		"a\n",
		"a\r\nX-Injected: 1",
		"\t",
		"a\x7f",
		"caf\xc3\xa9",
		"\xff",
		"a/b",
		"a:b",
		"a+b",
		"a%20b",
		"a\"b",
		"a\\b",
		"a;b",
		"a,b",
		"{a}",
		"<a>",
		"a=b",
	};
	size_t	i;

	(void)state;
	memset(too_long, 'x', TK_REQUEST_ID_MAX + 1);
	too_long[TK_REQUEST_ID_MAX + 1] = '\0';
	memset(huge, 'y', sizeof(huge) - 1);
	huge[sizeof(huge) - 1] = '\0';
	for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		char	out[TK_REQUEST_ID_MAX + 1];

		memset(out, 'X', sizeof(out));
		tk_http_request_id(invalid[i], out);
		if (!is_hex32(out))
			fail_msg("case %zu: \"%.80s\" is not a new id", i, out);
	}
}

/*
 * tk_http_json_fields writes what json-c writes for the same object:
 * strings with every control, quote, backslash, slash and UTF-8, null,
 * integers, and no member at all.
 */
static void
test_json_fields_as_json_c(void **state)
{
	static const char	*strings[] = {
		"", "plain", "a\"b\\c/d", "\b\f\n\r\t", "\x01\x1f\x7f",
		"caf\xc3\xa9 \xf0\x9f\x94\x91", "tks_0123456789abcdefABCDEF",
		"2026-11-28T08:00:00Z",
	};
	const long long		 nums[] = { 0, 1, -1, 900, 2147483647LL,
				    -9223372036854775807LL - 1 };
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
		struct tk_http_field	 f[4] = {
			{ "token_id", strings[i], false, 0 },
			{ "k\"ey\n", "v", false, 0 },
			{ "rotated_from", NULL, false, 0 },
			{ "expires_in", NULL, true, nums[i % 6] },
		};
		struct tk_response	 resp;
		struct json_object	*obj = json_object_new_object();

		memset(&resp, 0, sizeof(resp));
		json_object_object_add(obj, f[0].key, json_object_new_string(f[0].str));
		json_object_object_add(obj, f[1].key, json_object_new_string(f[1].str));
		json_object_object_add(obj, f[2].key, NULL);
		json_object_object_add(obj, f[3].key, json_object_new_int64(f[3].num));
		assert_int_equal(tk_http_json_fields(&resp, 201, f, 4), TK_OK);
		assert_int_equal(resp.status, 201);
		assert_string_equal(resp.content_type, "application/json");
		assert_string_equal(resp.body, json_object_to_json_string_ext(obj,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		assert_int_equal(resp.body_len, strlen(resp.body));
		json_object_put(obj);
		tk_http_response_clear(&resp);
	}
	{
		struct tk_response	resp;

		memset(&resp, 0, sizeof(resp));
		assert_int_equal(tk_http_json_fields(&resp, 200, NULL, 0), TK_OK);
		assert_string_equal(resp.body, "{}");
		tk_http_response_clear(&resp);
	}
}

#define IDS_PER_THREAD	2000

static int
cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void *
make_ids(void *arg)
{
	char	(*ids)[TK_REQUEST_ID_MAX + 1] = arg;
	size_t	i;

	for (i = 0; i < IDS_PER_THREAD; i++)
		tk_http_request_id(i % 2 ? NULL : "bad id", ids[i]);
	return NULL;
}

/*
 * New ids come from a random prefix per thread and a counter: every id of
 * four threads differs from every other, and the ids of one thread do not
 * all share their last digits (the counter moves).
 */
static void
test_request_id_unique_across_threads(void **state)
{
	static char	ids[4 * IDS_PER_THREAD][TK_REQUEST_ID_MAX + 1];
	pthread_t	th[4];
	size_t		i;

	(void)state;
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, make_ids,
		    ids[i * IDS_PER_THREAD]), 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	for (i = 0; i < 4 * IDS_PER_THREAD; i++)
		if (!is_hex32(ids[i]))
			fail_msg("id %zu: \"%s\" is not 32 hex digits", i, ids[i]);
	/* Two threads' prefixes (the first 24 digits) differ. */
	assert_memory_not_equal(ids[0], ids[IDS_PER_THREAD], 24);
	assert_string_not_equal(ids[0] + 24, ids[1] + 24);
	qsort(ids, 4 * IDS_PER_THREAD, sizeof(ids[0]), cmp_id);
	for (i = 1; i < 4 * IDS_PER_THREAD; i++)
		if (strcmp(ids[i - 1], ids[i]) == 0)
			fail_msg("id \"%s\" made twice", ids[i]);
}

static void
test_request_id_new_ids_differ(void **state)
{
	char	a[TK_REQUEST_ID_MAX + 1], b[TK_REQUEST_ID_MAX + 1];

	(void)state;
	tk_http_request_id(NULL, a);
	tk_http_request_id(NULL, b);
	assert_true(is_hex32(a));
	assert_true(is_hex32(b));
	assert_string_not_equal(a, b);
}

static void
test_is_json_table(void **state)
{
	static const struct {
		const char	*ct;
		bool		 json;
	} cases[] = {
		{ "application/json", true },
		{ "APPLICATION/JSON", true },
		{ "Application/Json", true },
		{ "application/json; charset=utf-8", true },
		{ "Application/JSON; charset=utf-8", true },
		{ "application/json;charset=UTF-8", true },
		{ "application/json ; charset=utf-8", true },
		{ "application/json;", true },
		{ " application/json", true },
		{ "\tapplication/json", true },
		{ "application/json ", true },
		{ NULL, false },
		{ "", false },
		{ " ", false },
		{ "application/jsonx", false },
		{ "application/json-patch+json", false },
		{ "application/json+x", false },
		{ "application/json5", false },
		{ "application/json,text/plain", false },
		{ "application/json x", false },
		{ "application/problem+json", false },
		{ "application/merge-patch+json", false },
		{ "text/json", false },
		{ "text/plain", false },
		{ "application/x-www-form-urlencoded", false },
		{ "multipart/form-data; boundary=x", false },
		{ "application", false },
		{ "application/", false },
		{ "application/js", false },
		{ "json", false },
		{ "*/*", false },
		{ "application/*", false },
	};
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (tk_http_is_json(cases[i].ct) != cases[i].json)
			fail_msg("case %zu \"%s\": %s", i,
			    cases[i].ct != NULL ? cases[i].ct : "(null)",
			    cases[i].json ? "refused" : "accepted");
}

static void
test_add_header_appends_lines(void **state)
{
	struct tk_response	resp;

	(void)state;
	memset(&resp, 0, sizeof(resp));
	tk_http_add_header(&resp, "Allow", "POST");
	tk_http_add_header(&resp, "Retry-After", "1");
	assert_string_equal(resp.headers, "Allow: POST\r\nRetry-After: 1\r\n");
	assert_int_equal(resp.headers_len, strlen(resp.headers));
}

/*
 * A full buffer drops what does not fit, whole: no partial line, the
 * text stays NUL-terminated within the array, and the length agrees.
 */
static void
test_add_header_overflow_is_safe(void **state)
{
	struct tk_response	 resp;
	char			*big;
	size_t			 i, before;

	(void)state;
	memset(&resp, 0, sizeof(resp));
	for (i = 0; i < 200; i++) {
		tk_http_add_header(&resp, "X-Filler", "0123456789");
		assert_true(resp.headers_len < sizeof(resp.headers));
		assert_int_equal(strlen(resp.headers), resp.headers_len);
	}
	assert_true(resp.headers_len > sizeof(resp.headers) - 30);
	assert_int_equal(resp.headers_len % strlen("X-Filler: 0123456789\r\n"),
	    0);
	assert_memory_equal(resp.headers + resp.headers_len - 2, "\r\n", 2);

	/* A value larger than the whole buffer is dropped. */
	memset(&resp, 0, sizeof(resp));
	big = malloc(4096);
	assert_non_null(big);
	memset(big, 'v', 4095);
	big[4095] = '\0';
	tk_http_add_header(&resp, "Allow", "POST");
	before = resp.headers_len;
	tk_http_add_header(&resp, "X-Big", big);
	assert_int_equal(resp.headers_len, before);
	assert_string_equal(resp.headers, "Allow: POST\r\n");
	/* A small one still fits afterwards. */
	tk_http_add_header(&resp, "Retry-After", "1");
	assert_string_equal(resp.headers, "Allow: POST\r\nRetry-After: 1\r\n");
	free(big);
}

/* Exactly full: the last byte of the array is the NUL. */
static void
test_add_header_exact_fit(void **state)
{
	struct tk_response	 resp;
	char			 value[sizeof(resp.headers)];
	size_t			 vlen;

	(void)state;
	memset(&resp, 0, sizeof(resp));
	/* "X: " + value + "\r\n" = sizeof - 1 */
	vlen = sizeof(resp.headers) - 1 - 5;
	memset(value, 'v', vlen);
	value[vlen] = '\0';
	tk_http_add_header(&resp, "X", value);
	assert_int_equal(resp.headers_len, sizeof(resp.headers) - 1);
	assert_int_equal(resp.headers[sizeof(resp.headers) - 1], '\0');
	tk_http_add_header(&resp, "Y", "");
	assert_int_equal(resp.headers_len, sizeof(resp.headers) - 1);

	/* One more byte does not fit: dropped. */
	memset(&resp, 0, sizeof(resp));
	value[vlen] = 'v';
	value[vlen + 1] = '\0';
	tk_http_add_header(&resp, "X", value);
	assert_int_equal(resp.headers_len, 0);
	assert_string_equal(resp.headers, "");
}

/* The variables of a request, without a body (no stream is read). */
static void
test_read_takes_variables(void **state)
{
	char		*env[] = {
		"FCGI_ROLE=RESPONDER",
		"REQUEST_METHOD=POST",
		"REQUEST_URI=/v1/auth/tokens/long?x=1",
		"CONTENT_TYPE=application/json",
		"HTTP_AUTHORIZATION=Bearer abc",
		"HTTP_X_CLIENT_KEY=tkc_x",
		"REMOTE_ADDR=127.0.0.1",
		"HTTP_X_REQUEST_ID=req-42",
		NULL,
	};
	FCGX_Request	 fcgx;
	struct tk_request req;

	(void)state;
	memset(&fcgx, 0, sizeof(fcgx));
	fcgx.envp = env;
	assert_int_equal(tk_http_read(&fcgx, 100, false, NULL, &req), TK_OK);
	assert_string_equal(req.role, "RESPONDER");
	assert_string_equal(req.method, "POST");
	assert_string_equal(req.uri, "/v1/auth/tokens/long?x=1");
	assert_string_equal(req.content_type, "application/json");
	assert_string_equal(req.authorization, "Bearer abc");
	assert_string_equal(req.client_key, "tkc_x");
	assert_string_equal(req.remote_addr, "127.0.0.1");
	assert_string_equal(req.request_id, "req-42");
	assert_null(req.body);
	assert_false(req.body_too_large);
	tk_http_request_clear(&req);
}

static void
test_read_defaults_missing_variables(void **state)
{
	char		*env[] = { "HTTP_X_REQUEST_ID=bad id", NULL };
	FCGX_Request	 fcgx;
	struct tk_request req;

	(void)state;
	memset(&fcgx, 0, sizeof(fcgx));
	fcgx.envp = env;
	assert_int_equal(tk_http_read(&fcgx, 100, false, NULL, &req), TK_OK);
	assert_string_equal(req.role, "RESPONDER");
	assert_string_equal(req.method, "");
	assert_string_equal(req.uri, "");
	assert_string_equal(req.remote_addr, "");
	assert_null(req.content_type);
	assert_null(req.authorization);
	assert_null(req.client_key);
	assert_true(is_hex32(req.request_id));
	tk_http_request_clear(&req);
	tk_http_request_clear(&req);	/* twice is fine */
}

/* A reader handing over src in chunks of chunk bytes, then end of file. */
struct feeder {
	FCGX_Stream	 s;
	const char	*src;
	size_t		 len, pos, chunk;
	unsigned int	 delay_ms;	/* a slow client: wait before each chunk */
	unsigned char	 buf[4096];
};

static void
feed(FCGX_Stream *s)
{
	struct feeder	*f = s->data;
	size_t		 n = f->len - f->pos;

	if (n == 0) {
		s->isClosed = 1;
		return;
	}
	if (n > f->chunk)
		n = f->chunk;
	if (f->delay_ms > 0) {
		struct timespec	d = { 0, (long)f->delay_ms * 1000000 };

		nanosleep(&d, NULL);
	}
	memcpy(f->buf, f->src + f->pos, n);
	f->pos += n;
	s->rdNext = s->stopUnget = f->buf;
	s->stop = f->buf + n;
}

static void
feeder_init(struct feeder *f, const char *src, size_t len, size_t chunk)
{
	memset(f, 0, sizeof(*f));
	f->src = src;
	f->len = len;
	f->chunk = chunk;
	f->s.rdNext = f->s.stop = f->s.stopUnget = f->buf;
	f->s.isReader = 1;
	f->s.fillBuffProc = feed;
	f->s.data = f;
}

static void
test_read_body_is_cut_at_max_plus_one(void **state)
{
	static const struct {
		size_t	len;		/* of the body sent */
		size_t	want;		/* bytes kept */
		bool	too_large;
	} cases[] = {
		{ 0, 0, false },
		{ 1, 1, false },
		{ 9, 9, false },
		{ 10, 10, false },
		{ 11, 11, true },
		{ 12, 11, true },
		{ 5000, 11, true },
	};
	static const size_t	chunks[] = { 1, 3, 10, 11, 4096 };
	char			*src;
	size_t			 i, c, k;

	(void)state;
	src = malloc(5000);
	assert_non_null(src);
	for (k = 0; k < 5000; k++)
		src[k] = (char)(k % 7 == 3 ? 0 : 'a' + k % 26);	/* NULs too */
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (c = 0; c < 2 * sizeof(chunks) / sizeof(chunks[0]); c++) {
			char		*env[] = { NULL };
			struct feeder	 f;
			FCGX_Request	 fcgx;
			struct tk_request req;
			struct timespec	 deadline;
			/* Each case with no deadline, then with one far off. */
			bool		 bounded = c >= sizeof(chunks) / sizeof(chunks[0]);

			tk_deadline_in(&deadline, 60000);
			feeder_init(&f, src, cases[i].len,
			    chunks[c % (sizeof(chunks) / sizeof(chunks[0]))]);
			memset(&fcgx, 0, sizeof(fcgx));
			fcgx.ipcFd = -1;
			fcgx.envp = env;
			fcgx.in = &f.s;
			assert_int_equal(tk_http_read(&fcgx, 10, true,
			    bounded ? &deadline : NULL, &req), TK_OK);
			if (req.body_len != cases[i].want ||
			    req.body_too_large != cases[i].too_large)
				fail_msg("case %zu chunk %zu: %zu bytes, %s", i,
				    chunks[c], req.body_len,
				    req.body_too_large ? "too large" : "fits");
			assert_non_null(req.body);
			assert_memory_equal(req.body, src, req.body_len);
			assert_int_equal(req.body[req.body_len], '\0');
			tk_http_request_clear(&req);
			assert_null(req.body);
		}
	}
	free(src);
}

/* A writer into buf; when it is full the peer has gone away. */
struct sink {
	FCGX_Stream	 s;
	unsigned char	 buf[8192];
};

static void
gone(FCGX_Stream *s, int do_close)
{
	(void)do_close;
	s->isClosed = 1;
	s->FCGI_errno = EPIPE;
}

static void
sink_init(struct sink *k, size_t size)
{
	memset(k, 0, sizeof(*k));
	k->s.wrNext = k->buf;
	k->s.stop = k->buf + size;
	k->s.emptyBuffProc = gone;
	k->s.data = k;
}

/* What was written, as a NUL-terminated string. */
static const char *
sink_text(struct sink *k)
{
	size_t	n = (size_t)(k->s.wrNext - k->buf);

	assert_true(n < sizeof(k->buf));
	k->buf[n] = '\0';
	return (const char *)k->buf;
}

/*
 * A body trickled in past the deadline is cut off there, however little
 * each chunk waits: the deadline bounds the whole body, not each read.
 */
static void
test_read_body_stops_at_deadline(void **state)
{
	char		*env[] = { NULL };
	char		 src[1000];
	struct feeder	 f;
	FCGX_Request	 fcgx;
	struct tk_request req;
	struct timespec	 deadline;

	(void)state;
	memset(src, 'a', sizeof(src));
	/* 1000 chunks of one byte, 10 ms apart: 10 s against 100 ms. */
	feeder_init(&f, src, sizeof(src), 1);
	f.delay_ms = 10;
	memset(&fcgx, 0, sizeof(fcgx));
	fcgx.ipcFd = -1;
	fcgx.envp = env;
	fcgx.in = &f.s;
	tk_deadline_in(&deadline, 100);
	assert_int_equal(tk_http_read(&fcgx, 2000, true, &deadline, &req),
	    TK_ETIMEDOUT);
	assert_true(req.body_len < sizeof(src));
	assert_non_null(req.body);
	assert_memory_equal(req.body, src, req.body_len);
	tk_http_request_clear(&req);
}

static void
test_write_problem_response(void **state)
{
	struct tk_response	 resp;
	struct sink		 k;
	char			 want[2048];

	(void)state;
	memset(&resp, 0, sizeof(resp));
	assert_int_equal(tk_http_problem(&resp, "method_not_allowed", "use POST",
	    "rid-1"), TK_OK);
	tk_http_add_header(&resp, "Allow", "POST");
	sink_init(&k, sizeof(k.buf) - 1);
	assert_int_equal(tk_http_write(&k.s, &resp, "rid-1"), TK_OK);
	snprintf(want, sizeof(want), "Status: 405 Method Not Allowed\r\n"
	    "X-Request-Id: rid-1\r\n"
	    "Allow: POST\r\n"
	    "Content-Type: application/problem+json\r\n"
	    "Content-Length: %zu\r\n"
	    "\r\n%s", resp.body_len, resp.body);
	assert_string_equal(sink_text(&k), want);
	tk_http_response_clear(&resp);
}

static void
test_write_empty_response(void **state)
{
	struct tk_response	resp;
	struct sink		k;

	(void)state;
	memset(&resp, 0, sizeof(resp));
	tk_http_empty(&resp, 204);
	sink_init(&k, sizeof(k.buf) - 1);
	assert_int_equal(tk_http_write(&k.s, &resp, "abc"), TK_OK);
	assert_string_equal(sink_text(&k),
	    "Status: 204 No Content\r\nX-Request-Id: abc\r\n\r\n");
	tk_http_response_clear(&resp);
}

static void
test_write_status_lines(void **state)
{
	size_t	i;

	(void)state;
	for (i = 0; i < NPROBLEMS; i++) {
		struct tk_response	resp;
		struct sink		k;
		char			want[64];

		memset(&resp, 0, sizeof(resp));
		assert_int_equal(tk_http_problem(&resp, problems[i].error, "d",
		    "r"), TK_OK);
		sink_init(&k, sizeof(k.buf) - 1);
		assert_int_equal(tk_http_write(&k.s, &resp, "r"), TK_OK);
		snprintf(want, sizeof(want), "Status: %d ", problems[i].status);
		assert_memory_equal(sink_text(&k), want, strlen(want));
		/* Exactly one blank line, then the body. */
		assert_string_equal(strstr(sink_text(&k), "\r\n\r\n") + 4,
		    resp.body);
		tk_http_response_clear(&resp);
	}
}

static void
test_write_reports_closed_stream(void **state)
{
	struct tk_response	resp;
	struct sink		k;

	(void)state;
	memset(&resp, 0, sizeof(resp));
	assert_int_equal(tk_http_problem(&resp, "not_found", "x", "r"), TK_OK);
	sink_init(&k, 16);
	assert_int_equal(tk_http_write(&k.s, &resp, "r"), TK_EIO);
	tk_http_response_clear(&resp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_problem_every_error_code),
		cmocka_unit_test(test_problem_title_is_fixed),
		cmocka_unit_test(test_problem_unknown_code_is_server_error),
		cmocka_unit_test(test_problem_null_detail_is_a_string),
		cmocka_unit_test(test_problem_detail_is_escaped),
		cmocka_unit_test(test_problem_replaces_earlier_body),
		cmocka_unit_test(test_error_status_table),
		cmocka_unit_test(test_json_serialises_object),
		cmocka_unit_test(test_empty_clears_body),
		cmocka_unit_test(test_request_id_accepts_valid),
		cmocka_unit_test(test_request_id_accepts_64_characters),
		cmocka_unit_test(test_request_id_replaces_invalid),
		cmocka_unit_test(test_request_id_new_ids_differ),
		cmocka_unit_test(test_request_id_unique_across_threads),
		cmocka_unit_test(test_json_fields_as_json_c),
		cmocka_unit_test(test_is_json_table),
		cmocka_unit_test(test_add_header_appends_lines),
		cmocka_unit_test(test_add_header_overflow_is_safe),
		cmocka_unit_test(test_add_header_exact_fit),
		cmocka_unit_test(test_read_takes_variables),
		cmocka_unit_test(test_read_defaults_missing_variables),
		cmocka_unit_test(test_read_body_is_cut_at_max_plus_one),
		cmocka_unit_test(test_read_body_stops_at_deadline),
		cmocka_unit_test(test_write_problem_response),
		cmocka_unit_test(test_write_empty_response),
		cmocka_unit_test(test_write_status_lines),
		cmocka_unit_test(test_write_reports_closed_stream),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
