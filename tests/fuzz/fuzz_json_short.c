/*
 * fuzz_json_short.c - tk_json_parse_short(), the decoder of the
 * optional body of POST /auth/tokens/short.
 *
 * The input is the body as read, in a buffer of exactly its size.
 * Checks: blanks alone are no body; a request let through holds only
 * what CONTRACT §5 and §7 allow; a refused one is left cleared and says
 * why in printable ASCII.
 */
#include <string.h>

#include "fuzz.h"
#include "tk_json.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tk_short_req	r;
	struct tk_json_error	err;
	size_t			i;
	bool			blank = true;

	for (i = 0; i < size; i++)
		if (strchr(" \t\r\n", data[i]) == NULL || data[i] == '\0')
			blank = false;
	if (tk_json_parse_short((const char *)data, size, NULL, &r, &err) !=
	    TK_OK) {
		FUZZ_CHECK(!blank);
		FUZZ_CHECK(err.error != NULL);
		FUZZ_CHECK(fuzz_is_printable(err.detail, sizeof(err.detail)));
		FUZZ_CHECK(r.scope == NULL && r.audience == NULL && !r.has_ttl);
		return 0;
	}
	FUZZ_CHECK(blank ||
	    tk_json_scan((const char *)data, size, NULL, &err) == TK_OK);
	FUZZ_CHECK(!blank ||
	    (r.scope == NULL && r.audience == NULL && !r.has_ttl));
	FUZZ_CHECK(r.scope == NULL || tk_json_scope_is_valid(r.scope));
	FUZZ_CHECK(!r.has_ttl || (r.ttl_seconds >= 1 &&
	    r.ttl_seconds <= TK_TTL_MAX));
	if (r.audience != NULL) {
		long n = tk_utf8_count(r.audience, strlen(r.audience));

		FUZZ_CHECK(n >= 0 && n <= TK_TEXT_MAX_POINTS);
	}
	tk_short_req_clear(&r);
	return 0;
}
