/*
 * fuzz_json_introspect.c - tk_json_parse_introspect(), the decoder of
 * the body of POST /auth/tokens/introspect: {"token": "..."}.
 *
 * The input is the body as read, in a buffer of exactly its size.
 * Checks: a request let through holds one token of UTF-8 text of at
 * most TK_TOKEN_TEXT_MAX characters; a refused one is left cleared and
 * says why in printable ASCII (never echoing the token).
 */
#include <string.h>

#include "fuzz.h"
#include "tk_json.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tk_introspect_req	r;
	struct tk_json_error		err;
	long				n;

	if (tk_json_parse_introspect((const char *)data, size, NULL, &r,
	    &err) != TK_OK) {
		FUZZ_CHECK(err.error != NULL);
		FUZZ_CHECK(fuzz_is_printable(err.detail, sizeof(err.detail)));
		FUZZ_CHECK(r.token == NULL);
		return 0;
	}
	FUZZ_CHECK(tk_json_scan((const char *)data, size, NULL, &err) == TK_OK);
	FUZZ_CHECK(r.token != NULL);
	n = tk_utf8_count(r.token, strlen(r.token));
	FUZZ_CHECK(n >= 0 && n <= TK_TOKEN_TEXT_MAX);
	tk_introspect_req_clear(&r);
	FUZZ_CHECK(r.token == NULL);
	return 0;
}
