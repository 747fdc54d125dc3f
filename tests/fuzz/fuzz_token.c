/*
 * fuzz_token.c - the token decoder (prefix, length, base62 alphabet,
 * CRC32 checksum: tk_token_parse), base62 itself, and UUID text.
 *
 * The input is a candidate token (or UUID), cut at its first NUL.
 * Checks: a token taken is 75 characters of its kind's prefix, and a
 * token minted for the same kind and id is taken back with that id;
 * base62 text that decodes encodes back to itself; a UUID that parses
 * formats back to itself, up to case.
 */
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "tk_token.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		*s = fuzz_strndup(data, size), again[TK_TOKEN_LEN + 1];
	char		 text[128], uuid[TK_UUID_STR_LEN + 1];
	unsigned char	 num[48], id[TK_UUID_LEN], digest[TK_DIGEST_LEN];
	struct tk_token	 t, u;
	size_t		 len = strlen(s);

	FUZZ_CHECK(tk_uuid_new(id) == TK_OK && (id[6] & 0xf0) == 0x40);
	FUZZ_CHECK(tk_token_mint(TK_TOKEN_NONE, id, again) == TK_EINVAL);
	if (tk_token_parse(s, &t) == TK_OK) {
		FUZZ_CHECK(len == TK_TOKEN_LEN);
		FUZZ_CHECK(strncmp(s, tk_token_prefix(t.kind), 4) == 0);
		tk_token_digest(s, digest);
		FUZZ_CHECK(tk_token_mint(t.kind, t.id, again) == TK_OK);
		FUZZ_CHECK(tk_token_parse(again, &u) == TK_OK);
		FUZZ_CHECK(u.kind == t.kind &&
		    memcmp(u.id, t.id, TK_UUID_LEN) == 0);
	}
	/* Any width of 1 to 128 digits, into the 48 bytes of a token's body. */
	if (len >= 1 && len <= sizeof(text) &&
	    tk_base62_decode(s, len, num, sizeof(num))) {
		FUZZ_CHECK(tk_base62_encode(num, sizeof(num), text, len));
		FUZZ_CHECK(memcmp(text, s, len) == 0);
		/* One digit fewer fits only when the first one was a 0. */
		FUZZ_CHECK(len < 2 || tk_base62_encode(num, sizeof(num), text,
		    len - 1) == (s[0] == '0'));
	}
	if (tk_uuid_parse(s, id)) {
		tk_uuid_format(id, uuid);
		FUZZ_CHECK(strcasecmp(uuid, s) == 0);
	}
	free(s);
	return 0;
}
