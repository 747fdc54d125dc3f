/*
 * tk_cred.c - credentials as they arrive in headers, judged offline.
 */
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "tk_cred.h"

void
tk_cred_check(struct tk_cred *c, const char *value, size_t len)
{
	char	buf[TK_TOKEN_LEN + 1];

	c->state = TK_CRED_PRESENT;
	c->well_formed = false;
	if (len != TK_TOKEN_LEN)
		return;
	memcpy(buf, value, len);
	buf[len] = '\0';
	if (tk_token_parse(buf, &c->tok) == TK_OK) {
		c->well_formed = true;
		tk_uuid_format(c->tok.id, c->id);
		tk_token_digest(buf, c->digest);
	}
	OPENSSL_cleanse(buf, sizeof(buf));
}

void
tk_cred_bearer(const char *authz, struct tk_cred *c)
{
	const char	*p;
	size_t		 len;

	memset(c, 0, sizeof(*c));
	c->state = TK_CRED_NONE;
	if (authz == NULL)
		return;
	p = authz;
	while (*p == ' ' || *p == '\t')
		p++;
	if (strncasecmp(p, "Bearer", 6) != 0 ||
	    (p[6] != '\0' && p[6] != ' ' && p[6] != '\t'))
		return;
	p += 6;
	while (*p == ' ' || *p == '\t')
		p++;
	len = strcspn(p, " \t,");
	if (len == 0 || p[len] != '\0') {
		const char *q = p + len;

		while (*q == ' ' || *q == '\t')
			q++;
		if (len == 0 || *q != '\0') {
			c->state = TK_CRED_MALFORMED;
			return;
		}
	}
	tk_cred_check(c, p, len);
}

void
tk_cred_key(const char *value, struct tk_cred *c)
{
	memset(c, 0, sizeof(*c));
	c->state = TK_CRED_NONE;
	if (value == NULL)
		return;
	while (*value == ' ' || *value == '\t')
		value++;
	if (*value == '\0')
		return;
	tk_cred_check(c, value, strcspn(value, " \t"));
	if (value[strcspn(value, " \t")] != '\0')
		c->well_formed = false;
}
