/*
 * tk_cred.h - the credentials of a request, read from its headers.
 *
 * "Authorization: Bearer <token>" and "X-Client-Key: <key>" are parsed
 * and their token checked for prefix, length, alphabet and checksum
 * here, without the database: a malformed credential never costs a
 * query.  Which kind is acceptable where is the handlers' business.
 */
#ifndef TK_CRED_H
#define TK_CRED_H

#include <stdbool.h>
#include <stddef.h>
#include "tk_token.h"

enum tk_cred_state {
	TK_CRED_NONE,		/* absent, or another scheme */
	TK_CRED_MALFORMED,	/* empty or repeated Bearer: 400 */
	TK_CRED_PRESENT,
};

struct tk_cred {
	enum tk_cred_state	 state;
	bool			 well_formed;	/* prefix, length, alphabet, checksum */
	struct tk_token		 tok;		/* when well_formed */
	char			 id[TK_UUID_STR_LEN + 1];
	unsigned char		 digest[TK_DIGEST_LEN];	/* SHA-256 of the token */
};

/*
 * Read an Authorization value (NULL when absent).  Another scheme than
 * Bearer (any case) is no credential; "Bearer" with nothing, or with
 * more than one token (a repeated header joined by the web server with
 * ", "), is malformed.
 */
void	tk_cred_bearer(const char *authz, struct tk_cred *);

/* Read an X-Client-Key value (NULL or blank: no credential). */
void	tk_cred_key(const char *value, struct tk_cred *);

/* Judge the len bytes of value as one token: sets state PRESENT. */
void	tk_cred_check(struct tk_cred *, const char *value, size_t len);

#endif /* TK_CRED_H */
