/*
 * fuzz_cred.c - the credential headers: tk_cred_bearer() on an
 * Authorization value and tk_cred_key() on an X-Client-Key value.
 *
 * The input is "AUTHORIZATION\0X-CLIENT-KEY"; an empty part, or a
 * missing second part, is an absent header (NULL).  Checks: only a
 * present credential can be well formed, and then its id is its
 * token's; "Bearer" alone or followed by more than one token is
 * malformed, never taken.
 */
#include <string.h>

#include "fuzz.h"
#include "tk_cred.h"

static void
check(const struct tk_cred *c)
{
	char	id[TK_UUID_STR_LEN + 1];

	FUZZ_CHECK(c->state == TK_CRED_NONE || c->state == TK_CRED_MALFORMED ||
	    c->state == TK_CRED_PRESENT);
	if (!c->well_formed)
		return;
	FUZZ_CHECK(c->state == TK_CRED_PRESENT);
	FUZZ_CHECK(c->tok.kind == TK_TOKEN_LONG ||
	    c->tok.kind == TK_TOKEN_SHORT || c->tok.kind == TK_TOKEN_CLIENT);
	tk_uuid_format(c->tok.id, id);
	FUZZ_CHECK(strcmp(id, c->id) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		*buf = fuzz_strndup(data, size), *key = NULL;
	const char	*authz = buf;
	struct tk_cred	 c;
	size_t		 len = strlen(buf);

	if (len < size)
		key = buf + len + 1;
	tk_cred_bearer(*authz != '\0' ? authz : NULL, &c);
	check(&c);
	if (c.state == TK_CRED_PRESENT)
		FUZZ_CHECK(strchr(authz, ',') == NULL);
	tk_cred_key(key != NULL && *key != '\0' ? key : NULL, &c);
	check(&c);
	FUZZ_CHECK(c.state != TK_CRED_MALFORMED);
	free(buf);
	return 0;
}
