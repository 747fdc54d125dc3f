/*
 * fuzz_json_long.c - tk_json_parse_long(), the decoder of the body of
 * POST /auth/tokens/long (client_credentials and rotate).
 *
 * The input is the body as read, in a buffer of exactly its size.
 * Checks: a request let through holds only what CONTRACT §5 and §7
 * allow; a refused one is left cleared and says why in printable ASCII.
 */
#include <string.h>

#include "fuzz.h"
#include "tk_json.h"

static bool
is_lower_uuid(const char *s)
{
	unsigned char	id[TK_UUID_LEN];

	return strlen(s) == TK_UUID_STR_LEN && tk_uuid_parse(s, id) &&
	    strspn(s, "0123456789abcdef-") == TK_UUID_STR_LEN;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tk_long_req	r;
	struct tk_json_error	err;

	if (tk_json_parse_long((const char *)data, size, NULL, &r, &err) !=
	    TK_OK) {
		FUZZ_CHECK(err.error != NULL);
		FUZZ_CHECK(fuzz_is_printable(err.detail, sizeof(err.detail)));
		FUZZ_CHECK(r.scope == NULL && r.label == NULL && r.grant == 0);
		return 0;
	}
	FUZZ_CHECK(tk_json_scan((const char *)data, size, NULL, &err) == TK_OK);
	FUZZ_CHECK(r.grant == TK_GRANT_CLIENT_CREDENTIALS ||
	    r.grant == TK_GRANT_ROTATE);
	FUZZ_CHECK(is_lower_uuid(r.client_id));
	FUZZ_CHECK(!r.has_token_id || is_lower_uuid(r.token_id));
	FUZZ_CHECK(r.grant == TK_GRANT_ROTATE ||
	    (!r.has_token_id && !r.has_overlap));
	FUZZ_CHECK(r.scope == NULL || tk_json_scope_is_valid(r.scope));
	FUZZ_CHECK(!r.has_ttl || (r.ttl_seconds >= 1 &&
	    r.ttl_seconds <= TK_TTL_MAX));
	FUZZ_CHECK(!r.has_overlap || (r.overlap_seconds >= 0 &&
	    r.overlap_seconds <= TK_TTL_MAX));
	if (r.label != NULL) {
		long n = tk_utf8_count(r.label, strlen(r.label));

		FUZZ_CHECK(n >= 0 && n <= TK_TEXT_MAX_POINTS);
	}
	tk_long_req_clear(&r);
	return 0;
}
