/*
 * test_tk_json.c - the strict scanner and the request decoders.
 *
 * Bodies are byte strings with their length, so that NULs inside and
 * after a document are tested as the FastCGI reader hands them over.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "tk_json.h"

#define B(s)		(s), sizeof(s) - 1

#define CID_UPPER	"0F8FAD5B-D9CB-469F-A165-70867728950E"
#define CID		"0f8fad5b-d9cb-469f-a165-70867728950e"
#define TID		"7c9e6679-7425-40de-944b-e07fc1f90ae7"
#define M_CC		"\"grant_type\":\"client_credentials\""
#define M_ROT		"\"grant_type\":\"rotate\""
#define M_CID		"\"client_id\":\"" CID "\""

struct scan_case {
	const char	*body;
	size_t		 len;
	const char	*detail;	/* in err.detail; NULL: valid */
};

#define VALID(s)	{ B(s), NULL }
#define INVALID(s, d)	{ B(s), d }

static const struct scan_case scan_cases[] = {
	VALID("{}"),
	VALID("[]"),
	VALID("\"x\""),
	VALID("0"),
	VALID("-0"),
	VALID("-12.5e-3"),
	VALID("1E+10"),
	VALID("true"),
	VALID("false"),
	VALID("null"),
	VALID(" \t\r\n{ } \n\t\r "),
	VALID("{\"a\":[1,{\"b\":null},\"\"],\"c\":{}}"),
	VALID("{ \"a\" : [ true , false , null ] , \"b\" : { } }"),
	VALID("[\"\\u00e9\\ud83d\\ude00\\/\\b\\f\\n\\r\\t\\\"\\\\\"]"),
	VALID("[\"\\uD83D\\uDE00\\uDBFF\\uDFFF\"]"),
	/* Escaped controls are for the decoders to refuse. */
	VALID("[\"\\u0001\"]"),
	VALID("[\"\xc3\xa9\xe2\x82\xac\x7f\"]"),
	VALID("[\"\xf4\x8f\xbf\xbf\xef\xbf\xbf\xed\x9f\xbf\xee\x80\x80\"]"),
	VALID("[\"\xf0\x9f\x98\x80\xc2\x80\xdf\xbf\xe0\xa0\x80\"]"),
	VALID("[[[[[[[[]]]]]]]]"),
	VALID("[[[[[[[[1]]]]]]]]"),
	VALID("{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":1}}}}}}}}"),
	VALID("{\"a\":1,\"b\":{\"a\":2}}"),
	VALID("[{\"a\":1},{\"a\":2}]"),
	VALID("{\"a\":{\"x\":1},\"b\":{\"x\":1}}"),
	VALID("{\"a\":1,\"A\":2,\"a \":3}"),
	VALID("{\"\":1}"),
	VALID("{\"a\\u0062\":1,\"ab2\":2,\"abc\":3}"),

	INVALID("", "body is empty"),
	INVALID("  \r\n\t", "body is empty"),
	INVALID("{", "unexpected end of body"),
	INVALID("[", "unexpected end of body"),
	INVALID("{\"a\":1", "unexpected end of body"),
	INVALID("[\"abc", "unexpected end of body"),
	INVALID("\"\\", "unexpected end of body"),
	INVALID("{\"a\":1,}", "unexpected character at offset 7"),
	INVALID("[1,]", "unexpected character at offset 3"),
	INVALID("[1,,2]", "unexpected character at offset 3"),
	INVALID("{,}", "unexpected character at offset 1"),
	INVALID("{\"a\":1,,\"b\":2}", "unexpected character at offset 7"),
	INVALID("[1 2]", "unexpected character at offset 3"),
	INVALID("{\"a\" 1}", "unexpected character at offset 5"),
	INVALID("{\"a\"::1}", "unexpected character at offset 5"),
	INVALID("{\"a\":}", "unexpected character at offset 5"),
	INVALID("{a:1}", "unexpected character at offset 1"),
	INVALID("{'a':1}", "unexpected character at offset 1"),
	INVALID("['a']", "unexpected character at offset 1"),
	INVALID("NaN", "unexpected character at offset 0"),
	INVALID("[nan]", "unexpected character at offset 2"),
	INVALID("[Infinity]", "unexpected character at offset 1"),
	INVALID("[-Infinity]", "invalid number at offset 1"),
	INVALID("[True]", "unexpected character at offset 1"),
	INVALID("[tru]", "unexpected character at offset 4"),
	INVALID("nul", "unexpected end of body"),
	INVALID("[01]", "number with a leading zero at offset 1"),
	INVALID("[-01]", "number with a leading zero at offset 1"),
	INVALID("[1.]", "invalid number at offset 1"),
	INVALID("[.5]", "unexpected character at offset 1"),
	INVALID("[+1]", "unexpected character at offset 1"),
	INVALID("[1e]", "invalid number at offset 1"),
	INVALID("[1e+]", "invalid number at offset 1"),
	INVALID("[-]", "invalid number at offset 1"),
	INVALID("-", "invalid number at offset 0"),
	INVALID("[0x10]", "unexpected character at offset 2"),
	INVALID("{} /* c */", "data after the JSON value at offset 3"),
	INVALID("// c\n{}", "unexpected character at offset 0"),
	INVALID("{\"a\":1 # c\n}", "unexpected character at offset 7"),
	INVALID("{}{}", "data after the JSON value at offset 2"),
	INVALID("{}}", "data after the JSON value at offset 2"),
	INVALID("{} x", "data after the JSON value at offset 3"),
	INVALID("{}\0", "NUL byte at offset 2"),
	INVALID("{} \n\0 ", "NUL byte at offset 4"),
	INVALID("\0{}", "NUL byte at offset 0"),
	INVALID("{\"a\":\"x\0y\"}", "NUL byte at offset 7"),
	INVALID("{\"a\"\0:1}", "NUL byte at offset 4"),
	INVALID("\v{}", "unexpected character at offset 0"),
	INVALID("\f{}", "unexpected character at offset 0"),
	INVALID("\xc2\xa0{}", "unexpected character at offset 0"),
	INVALID("\xef\xbb\xbf{}", "unexpected character at offset 0"),
	INVALID("[\"a\tb\"]", "control character in string at offset 3"),
	INVALID("[\"a\nb\"]", "control character in string at offset 3"),
	INVALID("[\"\x1f\"]", "control character in string at offset 2"),
	INVALID("{\"\x01\":1}", "control character in string at offset 2"),
	INVALID("[\"\\u0000\"]", "\\u0000 escape at offset 2"),
	INVALID("{\"scope\":\"read\",\"scope\\u0000x\":\"admin\"}",
	    "\\u0000 escape at offset 22"),
	INVALID("[\"\\ud800\"]", "unpaired surrogate escape at offset 2"),
	INVALID("[\"\\udc00\"]", "unpaired surrogate escape at offset 2"),
	INVALID("[\"\\uDFFF\\uD800\"]", "unpaired surrogate escape at offset 2"),
	INVALID("[\"\\ud800\\u0041\"]", "unpaired surrogate escape at offset 2"),
	INVALID("[\"\\ud800\\ud800\"]", "unpaired surrogate escape at offset 2"),
	INVALID("[\"\\ud800x\"]", "unpaired surrogate escape at offset 2"),
	INVALID("[\"\\ud800\\", "unpaired surrogate escape at offset 2"),
	INVALID("[\"\\x\"]", "invalid escape at offset 2"),
	INVALID("[\"\\U0041\"]", "invalid escape at offset 2"),
	INVALID("[\"\\'\"]", "invalid escape at offset 2"),
	INVALID("[\"\\u12\"]", "invalid \\u escape at offset 2"),
	INVALID("[\"\\u12g4\"]", "invalid \\u escape at offset 2"),
	INVALID("\"\\u12", "invalid \\u escape at offset 1"),
	INVALID("[\"\xc0\xaf\"]", "invalid UTF-8 at offset 2"),
	INVALID("[\"\xc1\xbf\"]", "invalid UTF-8 at offset 2"),
	INVALID("[\"\xe0\x80\xaf\"]", "invalid UTF-8 at offset 2"),
	INVALID("[\"\xf0\x80\x80\xaf\"]", "invalid UTF-8 at offset 2"),
	INVALID("[\"\xed\xa0\x80\"]", "invalid UTF-8 at offset 2"),
	INVALID("[\"\xed\xbf\xbf\"]", "invalid UTF-8 at offset 2"),
	INVALID("[\"\xf4\x90\x80\x80\"]", "invalid UTF-8 at offset 2"),
	INVALID("[\"\xf5\x80\x80\x80\"]", "invalid UTF-8 at offset 2"),
	INVALID("[\"\xff\"]", "invalid UTF-8 at offset 2"),
	INVALID("[\"\x80\"]", "invalid UTF-8 at offset 2"),
	INVALID("[\"\xc3\"]", "invalid UTF-8 at offset 2"),
	INVALID("[\"ab\xe2\x82\"]", "invalid UTF-8 at offset 4"),
	INVALID("\"\xe2\x82", "invalid UTF-8 at offset 1"),
	INVALID("{\"\xc0\xaf\":1}", "invalid UTF-8 at offset 2"),
	INVALID("[[[[[[[[[]]]]]]]]]", "deeper than 8 levels at offset 8"),
	INVALID("{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{}}}}}}}}}",
	    "deeper than 8 levels at offset 40"),
	INVALID("[[[[[[[[{\"a\":1}]]]]]]]]", "deeper than 8 levels"),
	INVALID("{\"a\":1,\"a\":2}", "duplicate member \"a\""),
	INVALID("{\"a\":1,\"\\u0061\":2}", "duplicate member \"a\""),
	INVALID("{\"\\/\":1,\"/\":2}", "duplicate member \"/\""),
	INVALID("{\"\\ud83d\\ude00\":1,\"\xf0\x9f\x98\x80\":2}",
	    "duplicate member"),
	INVALID("{\"x\":{\"b\":1,\"b\":2}}", "duplicate member \"b\""),
	INVALID("[{\"a\":1,\"b\":2,\"a\":3}]", "duplicate member \"a\""),
	INVALID("{\"b\":1,\"a\":1,\"b\":2,\"a\":2}", "duplicate member \"b\""),
	INVALID("{\"\":1,\"\":2}", "duplicate member \"\""),
	INVALID("{\"a\":{\"c\":1},\"b\":{},\"a\":2}", "duplicate member \"a\""),
};

static void
test_scan_cases(void **state)
{
	struct tk_json_error	err;
	enum tk_err		e;
	size_t			i;

	(void)state;
	for (i = 0; i < sizeof(scan_cases) / sizeof(scan_cases[0]); i++) {
		const struct scan_case	*c = &scan_cases[i];

		memset(&err, 0x5a, sizeof(err));
		e = tk_json_scan(c->body, c->len, NULL, &err);
		if (c->detail == NULL) {
			if (e != TK_OK)
				fail_msg("case %zu: refused: %s", i,
				    err.detail);
			continue;
		}
		if (e != TK_EINVAL)
			fail_msg("case %zu: got %d, not TK_EINVAL", i, e);
		assert_string_equal(err.error, "invalid_request");
		if (strstr(err.detail, c->detail) == NULL)
			fail_msg("case %zu: detail \"%s\" lacks \"%s\"", i,
			    err.detail, c->detail);
	}
}

static void
test_scan_echoes_only_safe_names(void **state)
{
	struct tk_json_error	err;

	(void)state;
	/* Not printable ASCII once decoded: no name at all. */
	assert_int_equal(tk_json_scan(B("{\"\xc3\xa9\":1,\"\\u00e9\":2}"), NULL,
	    &err), TK_EINVAL);
	assert_string_equal(err.detail, "duplicate member");
	assert_int_equal(tk_json_scan(B("{\"a\\tb\":1,\"a\\tb\":2}"), NULL,
	    &err), TK_EINVAL);
	assert_string_equal(err.detail, "duplicate member");
	assert_int_equal(tk_json_scan(B("{\"a\\\"\":1,\"a\\\"\":2}"), NULL,
	    &err), TK_EINVAL);
	assert_string_equal(err.detail, "duplicate member");
	/* Long names are cut at 40 bytes. */
	assert_int_equal(tk_json_scan(B("{"
	    "\"0123456789012345678901234567890123456789xyz\":1,"
	    "\"0123456789012345678901234567890123456789xyz\":2}"), NULL,
	    &err), TK_EINVAL);
	assert_string_equal(err.detail, "duplicate member "
	    "\"0123456789012345678901234567890123456789...\"");
}

static void
test_scan_details_are_printable(void **state)
{
	struct tk_json_error	err;
	size_t			i;
	const char		*p;

	(void)state;
	for (i = 0; i < sizeof(scan_cases) / sizeof(scan_cases[0]); i++) {
		if (scan_cases[i].detail == NULL)
			continue;
		(void)tk_json_scan(scan_cases[i].body, scan_cases[i].len, NULL,
		    &err);
		assert_true(strlen(err.detail) < sizeof(err.detail));
		for (p = err.detail; *p != '\0'; p++)
			if (*p < 0x20 || *p > 0x7e)
				fail_msg("case %zu: byte %#x in detail", i,
				    (unsigned char)*p);
	}
}

static void
test_scan_accepts_many_members(void **state)
{
	/* One more than the members below: the duplicate is the last. */
	const struct tk_json_limits lim = { 8, 20001, 4096 };
	struct tk_json_error	err;
	char			*body;
	size_t			 len = 0, i, cap = 20000 * 16 + 32;

	(void)state;
	body = malloc(cap);
	assert_non_null(body);
	body[len++] = '{';
	for (i = 0; i < 20000; i++)
		len += (size_t)snprintf(body + len, cap - len, "%s\"k%zu\":%zu",
		    i == 0 ? "" : ",", i, i);
	body[len++] = '}';
	assert_int_equal(tk_json_scan(body, len, &lim, &err), TK_OK);
	/* The last member repeats the first. */
	len--;
	len += (size_t)snprintf(body + len, cap - len, ",\"k0\":1}");
	assert_int_equal(tk_json_scan(body, len, &lim, &err), TK_EINVAL);
	assert_string_equal(err.detail, "duplicate member \"k0\"");
	free(body);
}

/* "{"k0":0,...}" with n members, in a buffer of the caller's. */
static size_t
members_body(char *buf, size_t cap, unsigned int n)
{
	size_t		len = 0;
	unsigned int	i;

	buf[len++] = '{';
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%s\"k%u\":%u",
		    i == 0 ? "" : ",", i, i);
	buf[len++] = '}';
	buf[len] = '\0';
	return len;
}

/* "[...]" nested n deep. */
static size_t
nested_body(char *buf, unsigned int n)
{
	unsigned int	i;

	for (i = 0; i < n; i++) {
		buf[i] = '[';
		buf[2 * n - 1 - i] = ']';
	}
	buf[2 * n] = '\0';
	return 2 * n;
}

/* {"s":"<n bytes of unit, repeated>"}; unit of 1 or more raw bytes. */
static size_t
string_body(char *buf, size_t cap, const char *unit, unsigned int times,
    const char *tail)
{
	size_t		len, ul = strlen(unit);
	unsigned int	i;

	len = (size_t)snprintf(buf, cap, "{\"s\":\"");
	for (i = 0; i < times; i++, len += ul)
		memcpy(buf + len, unit, ul);
	len += (size_t)snprintf(buf + len, cap - len, "%s\"}", tail);
	return len;
}

static void
expect_refusal(const char *body, size_t len, const struct tk_json_limits *lim,
    const char *detail)
{
	struct tk_json_error	err;

	if (tk_json_scan(body, len, lim, &err) != TK_EINVAL)
		fail_msg("accepted over the limit: %.60s", body);
	assert_string_equal(err.error, "invalid_request");
	if (strstr(err.detail, detail) == NULL)
		fail_msg("detail \"%s\" lacks \"%s\"", err.detail, detail);
}

static void
expect_accepted(const char *body, size_t len, const struct tk_json_limits *lim)
{
	struct tk_json_error	err;

	if (tk_json_scan(body, len, lim, &err) != TK_OK)
		fail_msg("refused at the limit: %s", err.detail);
}

/* Each default: the limit passes, one more is refused naming the setting. */
static void
test_scan_default_limits_at_boundary(void **state)
{
	static char	buf[16384];
	size_t		len;

	(void)state;
	len = nested_body(buf, TK_JSON_DEFAULT_DEPTH);
	expect_accepted(buf, len, NULL);
	len = nested_body(buf, TK_JSON_DEFAULT_DEPTH + 1);
	expect_refusal(buf, len, NULL,
	    "deeper than 8 levels at offset 8 (max_json_depth)");

	len = members_body(buf, sizeof(buf), TK_JSON_DEFAULT_MEMBERS);
	expect_accepted(buf, len, NULL);
	len = members_body(buf, sizeof(buf), TK_JSON_DEFAULT_MEMBERS + 1);
	expect_refusal(buf, len, NULL,
	    "an object has more than 16 members at offset 0 (max_json_members)");

	len = string_body(buf, sizeof(buf), "x", TK_JSON_DEFAULT_STRING_BYTES, "");
	expect_accepted(buf, len, NULL);
	len = string_body(buf, sizeof(buf), "x",
	    TK_JSON_DEFAULT_STRING_BYTES + 1, "");
	expect_refusal(buf, len, NULL, "a string is longer than 4096 bytes "
	    "at offset 5 (max_string_bytes)");
}

/* Limits given by the caller, as the settings give them. */
static void
test_scan_limits_from_settings(void **state)
{
	const struct tk_json_limits lim = { 3, 4, 128 };
	static char	buf[4096];
	size_t		len;
	char		name[200];

	(void)state;
	len = nested_body(buf, 3);
	expect_accepted(buf, len, &lim);
	len = nested_body(buf, 4);
	expect_refusal(buf, len, &lim, "deeper than 3 levels at offset 3 (max_json_depth)");
	/* Objects count as levels as arrays do. */
	expect_accepted(B("{\"a\":{\"b\":[1]}}"), &lim);
	expect_refusal(B("{\"a\":{\"b\":[{}]}}"), &lim, "deeper than 3 levels");

	len = members_body(buf, sizeof(buf), 4);
	expect_accepted(buf, len, &lim);
	len = members_body(buf, sizeof(buf), 5);
	expect_refusal(buf, len, &lim, "more than 4 members");
	/* Per object, not per body: 4 + 4 inner members pass. */
	expect_accepted(B("{\"a\":{\"1\":1,\"2\":2,\"3\":3,\"4\":4},"
	    "\"b\":2,\"c\":3,\"d\":4}"), &lim);
	expect_refusal(B("{\"a\":{\"1\":1,\"2\":2,\"3\":3,\"4\":4,"
	    "\"5\":5}}"), &lim, "more than 4 members at offset 5");
	/* Arrays hold elements, not members: no limit but the body's size. */
	expect_accepted(B("[1,2,3,4,5,6,7,8,9,10]"), &lim);

	len = string_body(buf, sizeof(buf), "x", 128, "");
	expect_accepted(buf, len, &lim);
	len = string_body(buf, sizeof(buf), "x", 129, "");
	expect_refusal(buf, len, &lim,
	    "longer than 128 bytes at offset 5 (max_string_bytes)");
	/* Raw bytes, before decoding: 21 escapes are 126 bytes, 22 are 132. */
	len = string_body(buf, sizeof(buf), "\\u00e9", 21, "xx");
	expect_accepted(buf, len, &lim);
	len = string_body(buf, sizeof(buf), "\\u00e9", 21, "xxx");
	expect_refusal(buf, len, &lim, "longer than 128 bytes");
	len = string_body(buf, sizeof(buf), "\xc3\xa9", 64, "");
	expect_accepted(buf, len, &lim);
	len = string_body(buf, sizeof(buf), "\xc3\xa9", 64, "x");
	expect_refusal(buf, len, &lim, "longer than 128 bytes");
	/* Member names are strings too. */
	memset(name, 'n', 129);
	len = (size_t)snprintf(buf, sizeof(buf), "{\"%.128s\":1}", name);
	expect_accepted(buf, len, &lim);
	len = (size_t)snprintf(buf, sizeof(buf), "{\"%.129s\":1}", name);
	expect_refusal(buf, len, &lim, "longer than 128 bytes at offset 1");
	/* A string cut off past the limit answers the limit, not EOF. */
	len = string_body(buf, sizeof(buf), "x", 200, "");
	expect_refusal(buf, len - 2, &lim, "max_string_bytes");
}

/* The decoders pass the limits on, json-c's depth included. */
static void
test_parse_uses_limits(void **state)
{
	const struct tk_json_limits one = { 1, 4, 128 };
	struct tk_json_error	err;
	struct tk_long_req	lr;
	struct tk_short_req	sr;
	struct tk_introspect_req ir;

	(void)state;
	assert_int_equal(tk_json_parse_long(B("{" M_CC "," M_CID
	    ",\"label\":\"a\",\"scope\":\"read\"}"), &one, &lr, &err), TK_OK);
	tk_long_req_clear(&lr);
	assert_int_equal(tk_json_parse_long(B("{" M_CC "," M_CID
	    ",\"label\":\"a\",\"scope\":\"read\",\"ttl_seconds\":60}"), &one,
	    &lr, &err), TK_EINVAL);
	assert_string_equal(err.detail, "an object has more than 4 members at "
	    "offset 0 (max_json_members)");
	assert_int_equal(tk_json_parse_short(B("{\"scope\":[\"read\"]}"), &one,
	    &sr, &err), TK_EINVAL);
	assert_string_equal(err.detail, "body nests deeper than 1 levels at "
	    "offset 9 (max_json_depth)");
	assert_int_equal(tk_json_parse_short(B("{\"audience\":\"a\"}"), &one,
	    &sr, &err), TK_OK);
	tk_short_req_clear(&sr);
	assert_int_equal(tk_json_parse_introspect(B("{\"token\":\""
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "x\"}"), &one, &ir, &err), TK_EINVAL);
	assert_string_equal(err.detail, "a string is longer than 128 bytes at "
	    "offset 9 (max_string_bytes)");
}

/*
 * Mutate valid bodies at random (a fixed seed, so a failure repeats):
 * the scanner must never fault, and whatever it accepts json-c must
 * parse too, to the last byte.
 */
static void
test_scan_agrees_with_json_c(void **state)
{
	static const char	*seeds[] = {
		"{\"grant_type\":\"rotate\",\"scope\":\"a b\",\"ttl_seconds\":60}",
		"[1,-2.5e+3,true,false,null,{\"a\":[{}]},\"\\u00e9\\ud83d\\ude00\"]",
		"{\"a\":{\"b\":{\"c\":[0,\"\\n\\\\\\\"\"]}},\"d\":\"\xc3\xa9\"}",
	};
	static const char	 alphabet[] = "{}[]\",:0123456789-+.eE "
	    "\t\n\\u/abdfnrtlsDC\x00\x01\x7f\x80\xbf\xc0\xc3\xed\xf0\xf4\xff";
	struct tk_json_error	 err;
	struct json_tokener	*tok;
	struct json_object	*obj;
	char			 buf[256];
	uint32_t		 rnd = 12345;
	size_t			 len, i, n, at;
	int			 round, accepted = 0;

	(void)state;
	for (round = 0; round < 100000; round++) {
		const char	*seed = seeds[round % 3];

		len = strlen(seed);
		memcpy(buf, seed, len);
		n = 1 + round % 4;
		for (i = 0; i < n; i++) {
			rnd = rnd * 1103515245 + 12345;
			at = (rnd >> 8) % (len + 1);
			rnd = rnd * 1103515245 + 12345;
			switch ((rnd >> 8) % 3) {
			case 0:		/* replace */
				if (at < len)
					buf[at] = alphabet[(rnd >> 12) %
					    (sizeof(alphabet) - 1)];
				break;
			case 1:		/* insert */
				if (len + 1 < sizeof(buf)) {
					memmove(buf + at + 1, buf + at,
					    len - at);
					buf[at] = alphabet[(rnd >> 12) %
					    (sizeof(alphabet) - 1)];
					len++;
				}
				break;
			default:	/* delete */
				if (at < len) {
					memmove(buf + at, buf + at + 1,
					    len - at - 1);
					len--;
				}
				break;
			}
		}
		if (tk_json_scan(buf, len, NULL, &err) != TK_OK) {
			assert_non_null(err.error);
			continue;
		}
		accepted++;
		tok = json_tokener_new_ex(TK_JSON_DEFAULT_DEPTH + 1);
		assert_non_null(tok);
		json_tokener_set_flags(tok,
		    JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
		obj = json_tokener_parse_ex(tok, buf, (int)len);
		/* json-c waits for more after a lone number or null. */
		if (json_tokener_get_error(tok) == json_tokener_continue) {
			assert_int_equal(json_tokener_get_parse_end(tok), len);
			obj = json_tokener_parse_ex(tok, " ", 1);
		} else if (json_tokener_get_error(tok) == json_tokener_success)
			assert_int_equal(json_tokener_get_parse_end(tok), len);
		if (json_tokener_get_error(tok) != json_tokener_success)
			fail_msg("round %d: json-c refused what the scanner "
			    "accepted: %.*s", round, (int)len, buf);
		json_object_put(obj);
		json_tokener_free(tok);
	}
	/* Make sure the agreement was tested, not just the refusals. */
	assert_true(accepted > 1000);
}

struct bad_case {
	const char	*body;
	size_t		 len;
	const char	*error;
	const char	*detail;	/* a substring of err.detail */
};

#define BAD(s, e, d)	{ B(s), e, d }
#define BADREQ(s, d)	BAD(s, "invalid_request", d)

static const struct bad_case long_bad[] = {
	BADREQ("", "body is empty"),
	BADREQ(" \n", "body is empty"),
	BADREQ("[]", "body must be a JSON object"),
	BADREQ("null", "body must be a JSON object"),
	BADREQ("123", "body must be a JSON object"),
	BADREQ("\"x\"", "body must be a JSON object"),
	BADREQ("{", "body is not valid JSON"),
	BADREQ("{}", "missing member \"grant_type\""),
	BADREQ("{" M_CID "}", "missing member \"grant_type\""),
	BADREQ("{" M_CC "}", "missing member \"client_id\""),
	BADREQ("{" M_ROT ",\"token_id\":\"" TID "\"}",
	    "missing member \"client_id\""),
	BAD("{\"grant_type\":\"password\"," M_CID "}",
	    "unsupported_grant_type", "grant_type must be"),
	BAD("{\"grant_type\":\"\"," M_CID "}",
	    "unsupported_grant_type", "grant_type must be"),
	BAD("{\"grant_type\":\"Rotate\"," M_CID "}",
	    "unsupported_grant_type", "grant_type must be"),
	BAD("{\"grant_type\":\"rotate \"," M_CID "}",
	    "unsupported_grant_type", "grant_type must be"),
	BAD("{\"grant_type\":\"password\"}",
	    "unsupported_grant_type", "grant_type must be"),
	BADREQ("{\"grant_type\":null," M_CID "}",
	    "grant_type must be a string"),
	BADREQ("{\"grant_type\":1," M_CID "}", "grant_type must be a string"),
	BADREQ("{\"grant_type\":[\"rotate\"]," M_CID "}",
	    "grant_type must be a string"),
	BADREQ("{" M_CC ",\"client_id\":\"not-a-uuid\"}",
	    "client_id must be a UUID"),
	BADREQ("{" M_CC ",\"client_id\":\"{" CID "}\"}",
	    "client_id must be a UUID"),
	BADREQ("{" M_CC ",\"client_id\":\"urn:uuid:" CID "\"}",
	    "client_id must be a UUID"),
	BADREQ("{" M_CC ",\"client_id\":\"0f8fad5bd9cb469fa16570867728950e\"}",
	    "client_id must be a UUID"),
	BADREQ("{" M_CC ",\"client_id\":\"" CID " \"}",
	    "client_id must be a UUID"),
	BADREQ("{" M_CC ",\"client_id\":\"\"}", "client_id must be a UUID"),
	BADREQ("{" M_CC ",\"client_id\":123}", "client_id must be a string"),
	BADREQ("{" M_CC ",\"client_id\":null}", "client_id must be a string"),
	BADREQ("{" M_ROT "," M_CID ",\"token_id\":\"x\"}",
	    "token_id must be a UUID"),
	BADREQ("{" M_ROT "," M_CID ",\"token_id\":null}",
	    "token_id must be a string"),
	BADREQ("{" M_CC "," M_CID ",\"scope\":\"a  b\"}", "scope must be"),
	BADREQ("{" M_CC "," M_CID ",\"scope\":\" a\"}", "scope must be"),
	BADREQ("{" M_CC "," M_CID ",\"scope\":\"a\\u0001\"}", "scope must be"),
	BADREQ("{" M_CC "," M_CID ",\"scope\":\"caf\xc3\xa9\"}",
	    "scope must be"),
	BADREQ("{" M_CC "," M_CID ",\"scope\":5}", "scope must be a string"),
	BADREQ("{" M_CC "," M_CID ",\"scope\":null}", "scope must be a string"),
	BADREQ("{" M_CC "," M_CID ",\"scope\":[\"a\"]}",
	    "scope must be a string"),
	BADREQ("{" M_CC "," M_CID ",\"ttl_seconds\":0}",
	    "ttl_seconds must be between 1 and 2147483647"),
	BADREQ("{" M_CC "," M_CID ",\"ttl_seconds\":-1}",
	    "ttl_seconds must be between 1 and 2147483647"),
	BADREQ("{" M_CC "," M_CID ",\"ttl_seconds\":2147483648}",
	    "ttl_seconds must be between 1 and 2147483647"),
	BADREQ("{" M_CC "," M_CID ",\"ttl_seconds\":9223372036854775808}",
	    "ttl_seconds must be between 1 and 2147483647"),
	BADREQ("{" M_CC "," M_CID ",\"ttl_seconds\":99999999999999999999999}",
	    "ttl_seconds must be between 1 and 2147483647"),
	BADREQ("{" M_CC "," M_CID ",\"ttl_seconds\":-99999999999999999999999}",
	    "ttl_seconds must be between 1 and 2147483647"),
	BADREQ("{" M_CC "," M_CID ",\"ttl_seconds\":1.0}",
	    "ttl_seconds must be an integer"),
	BADREQ("{" M_CC "," M_CID ",\"ttl_seconds\":1e3}",
	    "ttl_seconds must be an integer"),
	BADREQ("{" M_CC "," M_CID ",\"ttl_seconds\":6E+1}",
	    "ttl_seconds must be an integer"),
	BADREQ("{" M_CC "," M_CID ",\"ttl_seconds\":0.5e1}",
	    "ttl_seconds must be an integer"),
	/* Type before range. */
	BADREQ("{" M_CC "," M_CID ",\"ttl_seconds\":1e400}",
	    "ttl_seconds must be an integer"),
	BADREQ("{" M_CC "," M_CID ",\"ttl_seconds\":-0.0}",
	    "ttl_seconds must be an integer"),
	BADREQ("{" M_CC "," M_CID ",\"ttl_seconds\":\"60\"}",
	    "ttl_seconds must be an integer"),
	BADREQ("{" M_CC "," M_CID ",\"ttl_seconds\":null}",
	    "ttl_seconds must be an integer"),
	BADREQ("{" M_CC "," M_CID ",\"ttl_seconds\":true}",
	    "ttl_seconds must be an integer"),
	BADREQ("{" M_CC "," M_CID ",\"ttl_seconds\":NaN}",
	    "unexpected character"),
	BADREQ("{" M_CC "," M_CID ",\"ttl_seconds\":060}",
	    "leading zero"),
	BADREQ("{" M_ROT "," M_CID ",\"overlap_seconds\":-1}",
	    "overlap_seconds must be between 0 and 2147483647"),
	BADREQ("{" M_ROT "," M_CID ",\"overlap_seconds\":2147483648}",
	    "overlap_seconds must be between 0 and 2147483647"),
	BADREQ("{" M_ROT "," M_CID ",\"overlap_seconds\":1.0}",
	    "overlap_seconds must be an integer"),
	BADREQ("{" M_ROT "," M_CID ",\"overlap_seconds\":null}",
	    "overlap_seconds must be an integer"),
	BADREQ("{" M_CC "," M_CID ",\"overlap_seconds\":60}",
	    "overlap_seconds is only for grant_type rotate"),
	BADREQ("{" M_CC "," M_CID ",\"token_id\":\"" TID "\"}",
	    "token_id is only for grant_type rotate"),
	BADREQ("{" M_CC "," M_CID ",\"label\":7}", "label must be a string"),
	BADREQ("{" M_CC "," M_CID ",\"label\":null}", "label must be a string"),
	BADREQ("{" M_CC "," M_CID ",\"label\":\"a\\u0001\"}",
	    "label must be UTF-8 text without control characters"),
	BADREQ("{" M_CC "," M_CID ",\"label\":\"a\\nb\"}",
	    "label must be UTF-8 text without control characters"),
	BADREQ("{" M_CC "," M_CID ",\"label\":\"a\\u001f\"}",
	    "label must be UTF-8 text without control characters"),
	BADREQ("{" M_CC "," M_CID ",\"label\":\"a\\u0000\"}",
	    "\\u0000 escape"),
	BADREQ("{" M_CC "," M_CID ",\"label\":\"\\ud800\"}",
	    "unpaired surrogate escape"),
	BADREQ("{" M_CC "," M_CID ",\"label\":\"\xed\xa0\x80\"}",
	    "invalid UTF-8"),
	BADREQ("{" M_CC "," M_CID ",\"foo\":1}", "unknown member \"foo\""),
	BADREQ("{" M_CC "," M_CID ",\"audience\":\"x\"}",
	    "unknown member \"audience\""),
	BADREQ("{" M_CC "," M_CID ",\"Scope\":\"x\"}",
	    "unknown member \"Scope\""),
	BADREQ("{" M_CC "," M_CID ",\"\":1}", "unknown member \"\""),
	BADREQ("{" M_CC "," M_CID ",\"ab\\u0001\":1}", "unknown member"),
	BADREQ("{" M_CC "," M_CID ",\"scope\":\"read\","
	    "\"scope\\u0000x\":\"admin\"}", "\\u0000 escape"),
	BADREQ("{" M_CC "," M_CID ",\"scope\":\"read\",\"scope\":\"admin\"}",
	    "duplicate member \"scope\""),
	BADREQ("{" M_CC "," M_CID ",\"scope\":\"read\","
	    "\"\\u0073cope\":\"admin\"}", "duplicate member \"scope\""),
	BADREQ("{" M_CC "," M_CID "} x", "data after the JSON value"),
	BADREQ("{" M_CC "," M_CID "}\0", "NUL byte"),
	BADREQ("{" M_CC "," M_CID ",}", "unexpected character"),
	BADREQ("{" M_CC "," M_CID ",'label':\"x\"}", "unexpected character"),
	BADREQ("{\"ttl_seconds\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":"
	    "{\"a\":{}}}}}}}}}," M_CC "," M_CID "}", "deeper than 8 levels"),
	BADREQ("{\"ttl_seconds\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":"
	    "{\"a\":1}}}}}}}," M_CC "," M_CID "}",
	    "ttl_seconds must be an integer"),
	/* Members are checked in body order; the first defect answers. */
	BADREQ("{\"foo\":1,\"ttl_seconds\":0}", "unknown member \"foo\""),
	BADREQ("{\"ttl_seconds\":0,\"foo\":1}", "ttl_seconds must be between"),
	BADREQ("{\"client_id\":\"x\",\"grant_type\":\"password\"}",
	    "client_id must be a UUID"),
};

static void
run_bad_cases(const struct bad_case *cases, size_t n, bool is_long)
{
	struct tk_json_error	err;
	struct tk_long_req	lr;
	struct tk_short_req	sr;
	enum tk_err		e;
	size_t			i;

	for (i = 0; i < n; i++) {
		const struct bad_case	*c = &cases[i];

		memset(&err, 0x5a, sizeof(err));
		if (is_long) {
			memset(&lr, 0x5a, sizeof(lr));
			e = tk_json_parse_long(c->body, c->len, NULL, &lr, &err);
			/* Left cleared: nothing to free, nothing stale. */
			assert_null(lr.scope);
			assert_null(lr.label);
			assert_int_equal(lr.grant, 0);
			assert_false(lr.has_ttl);
		} else {
			memset(&sr, 0x5a, sizeof(sr));
			e = tk_json_parse_short(c->body, c->len, NULL, &sr, &err);
			assert_null(sr.scope);
			assert_null(sr.audience);
			assert_false(sr.has_ttl);
		}
		if (e != TK_EINVAL)
			fail_msg("case %zu: got %d, not TK_EINVAL", i, e);
		if (strcmp(err.error, c->error) != 0 ||
		    strstr(err.detail, c->detail) == NULL)
			fail_msg("case %zu: got %s \"%s\", not %s \"%s\"", i,
			    err.error, err.detail, c->error, c->detail);
	}
}

static void
test_parse_long_refuses(void **state)
{
	(void)state;
	run_bad_cases(long_bad, sizeof(long_bad) / sizeof(long_bad[0]), true);
}

static void
test_parse_long_minimal(void **state)
{
	struct tk_json_error	err;
	struct tk_long_req	r;

	(void)state;
	assert_int_equal(tk_json_parse_long(B("{" M_CC ",\"client_id\":\""
	    CID_UPPER "\"}"), NULL, &r, &err), TK_OK);
	assert_int_equal(r.grant, TK_GRANT_CLIENT_CREDENTIALS);
	assert_string_equal(r.client_id, CID);
	assert_false(r.has_token_id);
	assert_null(r.scope);
	assert_false(r.has_ttl);
	assert_false(r.has_overlap);
	assert_null(r.label);
	tk_long_req_clear(&r);
}

static void
test_parse_long_all_members(void **state)
{
	struct tk_json_error	err;
	struct tk_long_req	r;

	(void)state;
	assert_int_equal(tk_json_parse_long(B(" \r\n{ \"label\" : "
	    "\"caf\\u00e9 \xe2\x82\xac \\ud83d\\ude00\", \"ttl_seconds\":"
	    "2147483647,\"overlap_seconds\" : -0, \"scope\":\"read "
	    "tokend:rotate read\",\"token_id\":\"7C9E6679-7425-40DE-944B-"
	    "E07FC1F90AE7\"," M_CID "," M_ROT "}\n\t "), NULL, &r, &err), TK_OK);
	assert_int_equal(r.grant, TK_GRANT_ROTATE);
	assert_string_equal(r.client_id, CID);
	assert_true(r.has_token_id);
	assert_string_equal(r.token_id, TID);
	assert_string_equal(r.scope, "read tokend:rotate read");
	assert_true(r.has_ttl);
	assert_int_equal(r.ttl_seconds, 2147483647);
	assert_true(r.has_overlap);
	assert_int_equal(r.overlap_seconds, 0);
	assert_string_equal(r.label, "caf\xc3\xa9 \xe2\x82\xac "
	    "\xf0\x9f\x98\x80");
	tk_long_req_clear(&r);
	assert_null(r.scope);
	assert_null(r.label);
	tk_long_req_clear(&r);
}

static void
test_parse_long_edges(void **state)
{
	struct tk_json_error	err;
	struct tk_long_req	r;

	(void)state;
	/* "" is the empty scope set, not an omitted scope. */
	assert_int_equal(tk_json_parse_long(B("{" M_CC "," M_CID
	    ",\"scope\":\"\",\"label\":\"\",\"ttl_seconds\":1}"), NULL, &r, &err),
	    TK_OK);
	assert_non_null(r.scope);
	assert_string_equal(r.scope, "");
	assert_string_equal(r.label, "");
	assert_int_equal(r.ttl_seconds, 1);
	tk_long_req_clear(&r);
	/* Whether rotate needs token_id depends on the credential. */
	assert_int_equal(tk_json_parse_long(B("{" M_ROT "," M_CID
	    ",\"overlap_seconds\":2147483647}"), NULL, &r, &err), TK_OK);
	assert_int_equal(r.grant, TK_GRANT_ROTATE);
	assert_false(r.has_token_id);
	assert_int_equal(r.overlap_seconds, 2147483647);
	tk_long_req_clear(&r);
}

/* A label of n copies of the UTF-8 character ch. */
static char *
make_text_body(const char *member, const char *ch, size_t n, bool is_long,
    size_t *len)
{
	size_t	cap = 256 + n * strlen(ch), i;
	char	*b = malloc(cap);

	assert_non_null(b);
	*len = (size_t)snprintf(b, cap, "{%s\"%s\":\"",
	    is_long ? M_CC "," M_CID "," : "", member);
	for (i = 0; i < n; i++)
		*len += (size_t)snprintf(b + *len, cap - *len, "%s", ch);
	*len += (size_t)snprintf(b + *len, cap - *len, "\"}");
	return b;
}

static void
test_parse_text_counts_code_points(void **state)
{
	struct tk_json_error	err;
	struct tk_long_req	lr;
	struct tk_short_req	sr;
	char			*b;
	size_t			 len;

	(void)state;
	b = make_text_body("label", "\xc3\xa9", 200, true, &len);
	assert_int_equal(tk_json_parse_long(b, len, NULL, &lr, &err), TK_OK);
	assert_int_equal(strlen(lr.label), 400);
	tk_long_req_clear(&lr);
	free(b);
	b = make_text_body("label", "x", 201, true, &len);
	assert_int_equal(tk_json_parse_long(b, len, NULL, &lr, &err), TK_EINVAL);
	assert_string_equal(err.detail, "label must be at most 200 characters");
	free(b);
	b = make_text_body("audience", "\\ud83d\\ude00", 200, false, &len);
	assert_int_equal(tk_json_parse_short(b, len, NULL, &sr, &err), TK_OK);
	assert_int_equal(strlen(sr.audience), 800);
	tk_short_req_clear(&sr);
	free(b);
	b = make_text_body("audience", "\xe2\x82\xac", 201, false, &len);
	assert_int_equal(tk_json_parse_short(b, len, NULL, &sr, &err), TK_EINVAL);
	assert_string_equal(err.detail,
	    "audience must be at most 200 characters");
	free(b);
}

static const struct bad_case short_bad[] = {
	BADREQ("null", "body must be a JSON object"),
	BADREQ("[]", "body must be a JSON object"),
	BADREQ(" 0 ", "body must be a JSON object"),
	BADREQ("\"\"", "body must be a JSON object"),
	BADREQ("\0", "NUL byte at offset 0"),
	BADREQ(" \0", "NUL byte at offset 1"),
	BADREQ("{}\0", "NUL byte at offset 2"),
	BADREQ("{}x", "data after the JSON value"),
	BADREQ("{\"a\":1,}", "unexpected character"),
	BADREQ("{\"grant_type\":\"rotate\"}", "unknown member \"grant_type\""),
	BADREQ("{\"label\":\"x\"}", "unknown member \"label\""),
	BADREQ("{\"ttl_seconds\":0}",
	    "ttl_seconds must be between 1 and 2147483647"),
	BADREQ("{\"ttl_seconds\":3.0}", "ttl_seconds must be an integer"),
	BADREQ("{\"ttl_seconds\":\"60\"}", "ttl_seconds must be an integer"),
	BADREQ("{\"scope\":null}", "scope must be a string"),
	BADREQ("{\"scope\":\"a \"}", "scope must be"),
	BADREQ("{\"audience\":null}", "audience must be a string"),
	BADREQ("{\"audience\":1}", "audience must be a string"),
	BADREQ("{\"audience\":\"a\\tb\"}",
	    "audience must be UTF-8 text without control characters"),
	BADREQ("{\"audience\":\"\\udc00\"}", "unpaired surrogate escape"),
	BADREQ("{\"audience\":\"\xc0\xaf\"}", "invalid UTF-8"),
	BADREQ("{\"scope\":\"a\",\"scope\":\"b\"}",
	    "duplicate member \"scope\""),
	BADREQ("{\"scope\":\"read\",\"scope\\u0000x\":\"admin\"}",
	    "\\u0000 escape"),
};

static void
test_parse_short_refuses(void **state)
{
	(void)state;
	run_bad_cases(short_bad, sizeof(short_bad) / sizeof(short_bad[0]),
	    false);
}

static void
test_parse_short_empty_is_all_omitted(void **state)
{
	static const char	*blank[] = { "", " ", "\r\n", " \t\r\n " };
	struct tk_json_error	 err;
	struct tk_short_req	 r;
	size_t			 i;

	(void)state;
	assert_int_equal(tk_json_parse_short(NULL, 0, NULL, &r, &err), TK_OK);
	assert_null(r.scope);
	for (i = 0; i < sizeof(blank) / sizeof(blank[0]); i++) {
		memset(&r, 0x5a, sizeof(r));
		assert_int_equal(tk_json_parse_short(blank[i],
		    strlen(blank[i]), NULL, &r, &err), TK_OK);
		assert_null(r.scope);
		assert_false(r.has_ttl);
		assert_null(r.audience);
	}
	assert_int_equal(tk_json_parse_short(B(" {} "), NULL, &r, &err), TK_OK);
	assert_null(r.scope);
	assert_false(r.has_ttl);
	assert_null(r.audience);
	tk_short_req_clear(&r);
}

static void
test_parse_short_all_members(void **state)
{
	struct tk_json_error	err;
	struct tk_short_req	r;

	(void)state;
	assert_int_equal(tk_json_parse_short(B("{\"audience\":"
	    "\"https://api.example/\",\"ttl_seconds\":60,\"scope\":\"\"}"), NULL,
	    &r, &err), TK_OK);
	assert_string_equal(r.audience, "https://api.example/");
	assert_true(r.has_ttl);
	assert_int_equal(r.ttl_seconds, 60);
	assert_non_null(r.scope);
	assert_string_equal(r.scope, "");
	tk_short_req_clear(&r);
	tk_short_req_clear(&r);
	assert_null(r.audience);
}

static void
test_req_clear_zeroed_is_safe(void **state)
{
	struct tk_long_req	lr;
	struct tk_short_req	sr;

	(void)state;
	memset(&lr, 0, sizeof(lr));
	memset(&sr, 0, sizeof(sr));
	tk_long_req_clear(&lr);
	tk_long_req_clear(&lr);
	tk_short_req_clear(&sr);
	tk_short_req_clear(&sr);
	assert_null(lr.scope);
	assert_null(sr.scope);
}

static void
test_scope_is_valid(void **state)
{
	static const char	*valid[] = {
		"", "a", "read write", "tokend:rotate tokend:revoke",
		"!#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}~", "a a",
	};
	static const char	*invalid[] = {
		" ", " a", "a ", "a  b", "a\tb", "a\nb", "a\"b", "a\\b",
		"caf\xc3\xa9", "a\x7f", "a\x01",
	};
	char			 buf[TK_SCOPE_MAX_BYTES + 2];
	char			 many[TK_SCOPE_MAX_ITEMS * 2 + 4];
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
		if (!tk_json_scope_is_valid(valid[i]))
			fail_msg("valid case %zu refused", i);
	for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
		if (tk_json_scope_is_valid(invalid[i]))
			fail_msg("invalid case %zu accepted", i);
	assert_false(tk_json_scope_is_valid(NULL));

	memset(buf, 'x', TK_SCOPE_MAX_BYTES);
	buf[TK_SCOPE_MAX_BYTES] = '\0';
	assert_true(tk_json_scope_is_valid(buf));
	buf[TK_SCOPE_MAX_BYTES] = 'x';
	buf[TK_SCOPE_MAX_BYTES + 1] = '\0';
	assert_false(tk_json_scope_is_valid(buf));

	for (i = 0; i < TK_SCOPE_MAX_ITEMS; i++) {
		many[2 * i] = 'a';
		many[2 * i + 1] = ' ';
	}
	many[2 * TK_SCOPE_MAX_ITEMS - 1] = '\0';
	assert_true(tk_json_scope_is_valid(many));
	many[2 * TK_SCOPE_MAX_ITEMS - 1] = ' ';
	many[2 * TK_SCOPE_MAX_ITEMS] = 'b';
	many[2 * TK_SCOPE_MAX_ITEMS + 1] = '\0';
	assert_false(tk_json_scope_is_valid(many));
}

static void
test_utf8_count(void **state)
{
	static const struct {
		const char	*s;
		size_t		 len;
		long		 n;
	} cases[] = {
		{ B(""), 0 },
		{ B("abc"), 3 },
		{ "abc", 2, 2 },
		{ B("\x7f~ "), 3 },
		{ B("caf\xc3\xa9"), 4 },
		{ B("\xe2\x82\xac\xf0\x9f\x98\x80"), 2 },
		{ B("\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf"), 4 },
		{ B("\xed\x9f\xbf\xee\x80\x80\xf4\x8f\xbf\xbf"), 3 },
		{ B("a\0b"), -1 },
		{ B("\x01"), -1 },
		{ B("a\x1f"), -1 },
		{ B("\t"), -1 },
		{ B("\xc0\xaf"), -1 },
		{ B("\xc1\xbf"), -1 },
		{ B("\xe0\x9f\xbf"), -1 },
		{ B("\xf0\x8f\xbf\xbf"), -1 },
		{ B("\xed\xa0\x80"), -1 },
		{ B("\xed\xbf\xbf"), -1 },
		{ B("\xf4\x90\x80\x80"), -1 },
		{ B("\xf8\x88\x80\x80\x80"), -1 },
		{ B("\xff"), -1 },
		{ B("\x80"), -1 },
		{ B("\xe2\x82"), -1 },
		{ "\xe2\x82\xac", 2, -1 },
		{ B("\xc3\xa9\xc3"), -1 },
	};
	size_t	i;

	(void)state;
	assert_int_equal(tk_utf8_count(NULL, 0), 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (tk_utf8_count(cases[i].s, cases[i].len) != cases[i].n)
			fail_msg("case %zu: %ld, not %ld", i,
			    tk_utf8_count(cases[i].s, cases[i].len),
			    cases[i].n);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scan_cases),
		cmocka_unit_test(test_scan_echoes_only_safe_names),
		cmocka_unit_test(test_scan_details_are_printable),
		cmocka_unit_test(test_scan_accepts_many_members),
		cmocka_unit_test(test_scan_default_limits_at_boundary),
		cmocka_unit_test(test_scan_limits_from_settings),
		cmocka_unit_test(test_parse_uses_limits),
		cmocka_unit_test(test_scan_agrees_with_json_c),
		cmocka_unit_test(test_parse_long_refuses),
		cmocka_unit_test(test_parse_long_minimal),
		cmocka_unit_test(test_parse_long_all_members),
		cmocka_unit_test(test_parse_long_edges),
		cmocka_unit_test(test_parse_text_counts_code_points),
		cmocka_unit_test(test_parse_short_refuses),
		cmocka_unit_test(test_parse_short_empty_is_all_omitted),
		cmocka_unit_test(test_parse_short_all_members),
		cmocka_unit_test(test_req_clear_zeroed_is_safe),
		cmocka_unit_test(test_scope_is_valid),
		cmocka_unit_test(test_utf8_count),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
