/*
 * tk_json.h - decoding of request bodies.
 *
 * json-c alone accepts too much (NaN, single quotes, raw controls,
 * overlong UTF-8, surrogates, keys cut at \u0000, the last of duplicate
 * keys, clamped integers, trailing bytes), so every body first goes
 * through tk_json_scan(), tokend's own strict scanner of the raw bytes,
 * and only then through json-c, whose parse must consume the whole body.
 *
 * The decoders check syntax and types only (the "400 before 401" part
 * of the check order).  Policy - maxima from the client's settings,
 * scope subsets - is for the handlers, after the credential.
 */
#ifndef TK_JSON_H
#define TK_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "tk_err.h"
#include "tk_token.h"

#define TK_SCOPE_MAX_ITEMS	32
#define TK_SCOPE_MAX_BYTES	64
#define TK_TEXT_MAX_POINTS	200	/* label, audience */
#define TK_TTL_MAX		2147483647LL

/*
 * The shape limits of a body, from the settings max_json_depth,
 * max_json_members and max_string_bytes.  The scanner enforces them
 * before json-c sees a byte, so a hostile body costs bounded time and
 * memory.  They bound the document; the per-field limits of the
 * contract (scope, label, audience) are fixed and checked after.
 */
struct tk_json_limits {
	unsigned int	max_depth;	  /* open objects and arrays */
	unsigned int	max_members;	  /* members of any one object */
	unsigned int	max_string_bytes; /* raw bytes between a string's quotes */
};

#define TK_JSON_DEFAULT_DEPTH		8
#define TK_JSON_DEFAULT_MEMBERS		16
#define TK_JSON_DEFAULT_STRING_BYTES	4096

/* Why a body was refused: an error code of CONTRACT §8 and a detail. */
struct tk_json_error {
	const char	*error;		/* "invalid_request" or "unsupported_grant_type";
					   "server_error" with TK_ENOMEM */
	char		 detail[160];	/* safe to show; never holds a secret */
};

enum tk_grant {
	TK_GRANT_CLIENT_CREDENTIALS = 1,
	TK_GRANT_ROTATE,
};

/* LongTokenRequest.  Strings are owned; release with tk_long_req_clear. */
struct tk_long_req {
	enum tk_grant	 grant;
	char		 client_id[TK_UUID_STR_LEN + 1];	/* lower case */
	bool		 has_token_id;
	char		 token_id[TK_UUID_STR_LEN + 1];		/* lower case */
	char		*scope;		/* NULL: omitted; else validated, may be "" */
	bool		 has_ttl;
	int64_t		 ttl_seconds;	/* 1 .. TK_TTL_MAX */
	bool		 has_overlap;
	int64_t		 overlap_seconds; /* 0 .. TK_TTL_MAX */
	char		*label;		/* NULL: omitted */
};

/* ShortTokenRequest.  Strings are owned; release with tk_short_req_clear. */
struct tk_short_req {
	char		*scope;		/* NULL: omitted; else validated, may be "" */
	bool		 has_ttl;
	int64_t		 ttl_seconds;	/* 1 .. TK_TTL_MAX */
	char		*audience;	/* NULL: omitted */
};

/*
 * Scan len raw bytes (which may hold NULs) as one strict JSON document:
 * RFC 8259 grammar only, UTF-8 without overlong forms, surrogates or
 * values above U+10FFFF, no raw control characters, no \u0000 escape,
 * no duplicate member names in any object, nothing but whitespace after
 * the value, and within *lim (NULL: the defaults above): depth, members
 * per object, raw bytes per string (names too), each refusal naming its
 * setting.  TK_EINVAL with err filled on the first defect; TK_ENOMEM
 * when out of memory.
 */
enum tk_err	 tk_json_scan(const char *body, size_t len,
		    const struct tk_json_limits *lim, struct tk_json_error *err);

/*
 * Decode a LongTokenRequest: the scan within *lim (NULL: the
 * defaults), then json-c, then members and types.  An empty body is an error.  On success *out is filled and
 * owns its strings; on failure *out is left cleared.  *out is
 * overwritten, not cleared first.  TK_EINVAL with err filled (the first
 * bad member, in body order, answers), or TK_ENOMEM.  client_credentials
 * with token_id or overlap_seconds is refused; rotate without token_id
 * is not (that depends on the credential).
 */
enum tk_err	 tk_json_parse_long(const char *body, size_t len,
		    const struct tk_json_limits *lim, struct tk_long_req *out,
		    struct tk_json_error *err);
void		 tk_long_req_clear(struct tk_long_req *);

/*
 * Decode a ShortTokenRequest.  An empty body (len 0, or only
 * whitespace) means every member omitted.  Otherwise as
 * tk_json_parse_long.
 */
enum tk_err	 tk_json_parse_short(const char *body, size_t len,
		    const struct tk_json_limits *lim, struct tk_short_req *out,
		    struct tk_json_error *err);
void		 tk_short_req_clear(struct tk_short_req *);

/* The body of POST /auth/tokens/introspect.  Owned; tk_introspect_req_clear. */
struct tk_introspect_req {
	char		*token;		/* any text: a malformed token is inactive */
};

#define TK_TOKEN_TEXT_MAX	200	/* longer than any token, bounded */

/*
 * Decode {"token": "..."}: one required string member of at most
 * TK_TOKEN_TEXT_MAX characters.  The token is a secret: clearing wipes it.
 */
enum tk_err	 tk_json_parse_introspect(const char *body, size_t len,
		    const struct tk_json_limits *lim, struct tk_introspect_req *out,
		    struct tk_json_error *err);
void		 tk_introspect_req_clear(struct tk_introspect_req *);

/*
 * Is s a valid scope string: RFC 6749 scope-tokens (%x21 / %x23-5B /
 * %x5D-7E) separated by single spaces, at most TK_SCOPE_MAX_ITEMS
 * items of at most TK_SCOPE_MAX_BYTES bytes.  "" is valid (the empty
 * set).  Duplicates are allowed here; responses de-duplicate.  NULL is
 * not valid.
 */
bool		 tk_json_scope_is_valid(const char *s);

/*
 * Count the code points of the valid UTF-8 string s; -1 when s is
 * not valid UTF-8 or holds a NUL or C0 control within len bytes.
 */
long		 tk_utf8_count(const char *s, size_t len);

#endif /* TK_JSON_H */
