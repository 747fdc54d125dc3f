/*
 * tk_token.h - the token format of tokend, and UUIDs.
 *
 * A token is <prefix><body><check>, 75 characters in all:
 *   prefix  "tkl_" (long-term), "tks_" (short-term) or "tkc_" (client key);
 *   body    the 16 bytes of the token's UUID (for a client key, the
 *           client's id) then 32 random bytes, read as one big-endian
 *           integer and written in base62 (0-9A-Za-z), padded to 65;
 *   check   CRC32 of prefix||body in base62, padded to 6.
 * Every check here is offline: a malformed token never costs a query.
 * Only the SHA-256 of the whole token string is ever stored.
 */
#ifndef TK_TOKEN_H
#define TK_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "tk_err.h"

#define TK_TOKEN_LEN		75
#define TK_TOKEN_BODY_LEN	65
#define TK_TOKEN_CHECK_LEN	6
#define TK_UUID_LEN		16
#define TK_UUID_STR_LEN		36	/* without the NUL */
#define TK_DIGEST_LEN		32

enum tk_token_kind {
	TK_TOKEN_NONE = 0,
	TK_TOKEN_LONG,		/* tkl_ */
	TK_TOKEN_SHORT,		/* tks_ */
	TK_TOKEN_CLIENT,	/* tkc_ */
};

/* A parsed token: its kind and the UUID embedded in its body. */
struct tk_token {
	enum tk_token_kind	kind;
	unsigned char		id[TK_UUID_LEN];
};

/*
 * Mint a token of the given kind for the UUID in id (a client's id for
 * TK_TOKEN_CLIENT).  Writes TK_TOKEN_LEN characters and a NUL to out.
 * Returns TK_EIO when the random generator fails, TK_EINVAL for
 * TK_TOKEN_NONE.
 */
enum tk_err	 tk_token_mint(enum tk_token_kind, const unsigned char id[TK_UUID_LEN],
		    char out[TK_TOKEN_LEN + 1]);

/*
 * Mint a token of the given kind with a fresh random (version 4) UUID,
 * written to id; the UUID and the secret come from one RAND_bytes call.
 * Otherwise as tk_token_mint.
 */
enum tk_err	 tk_token_mint_new(enum tk_token_kind, unsigned char id[TK_UUID_LEN],
		    char out[TK_TOKEN_LEN + 1]);

/*
 * Check prefix, length, alphabet and checksum of the NUL-terminated s.
 * TK_EINVAL on any defect; on success fills *out.
 */
enum tk_err	 tk_token_parse(const char *s, struct tk_token *out);

/* SHA-256 of the NUL-terminated token string. */
void		 tk_token_digest(const char *s, unsigned char out[TK_DIGEST_LEN]);

/* The prefix of a kind ("tkl_"...), or "" for TK_TOKEN_NONE. */
const char	*tk_token_prefix(enum tk_token_kind);

/* A fresh random (version 4) UUID.  TK_EIO when the generator fails. */
enum tk_err	 tk_uuid_new(unsigned char out[TK_UUID_LEN]);

/*
 * Parse the canonical 8-4-4-4-12 hexadecimal form (either case) of the
 * NUL-terminated s.  Nothing else is accepted: no braces, no "urn:".
 */
bool		 tk_uuid_parse(const char *s, unsigned char out[TK_UUID_LEN]);

/* Write the lower-case canonical form and a NUL. */
void		 tk_uuid_format(const unsigned char id[TK_UUID_LEN],
		    char out[TK_UUID_STR_LEN + 1]);

/*
 * Base62 of a big-endian byte string, left-padded with '0' to width
 * characters.  Returns false when the value needs more than width.
 */
bool		 tk_base62_encode(const unsigned char *in, size_t inlen,
		    char *out, size_t width);

/*
 * Decode width base62 characters into outlen big-endian bytes.  Returns
 * false on a character outside the alphabet or a value too large.
 */
bool		 tk_base62_decode(const char *in, size_t width,
		    unsigned char *out, size_t outlen);

#endif /* TK_TOKEN_H */
