/*
 * tk_json.c - decoding of request bodies: a strict scanner, then json-c.
 *
 * The scanner is the gate.  json-c only ever sees a body the scanner
 * accepted, and the decoders only ever see what json-c built from the
 * whole of that body, so json-c's leniencies (tk_json.h) never reach a
 * handler.  The scanner reads untrusted bytes of any length: every read
 * is bounds-checked, its recursion is bounded by max_json_depth, and
 * max_json_members and max_string_bytes bound the work of one object
 * (the duplicate check sorts its names) and of one string.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "tk_json.h"
#include "tk_token.h"

/* Longest member name echoed in a detail; longer ones are cut. */
#define NAME_ECHO_MAX	40

/* A member name of an open object, decoded, for the duplicate check. */
struct member {
	const char	*name;	/* in scanner.names; no NUL */
	size_t		 len;
	size_t		 off;	/* of its opening quote in the body */
};

/*
 * names and members are stacks: an object pushes its members' names
 * and pops them when it closes, so they hold the open objects only.
 */
struct scanner {
	const unsigned char	*p;
	size_t			 len;
	size_t			 pos;
	char			*names;	/* decoded, as long as the body */
	size_t			 nameslen;
	struct member		*members;
	size_t			 nmembers;
	size_t			 capmembers;
	const struct tk_json_limits *lim;
	struct tk_json_error	*err;
};

static const struct tk_json_limits default_limits = {
	TK_JSON_DEFAULT_DEPTH, TK_JSON_DEFAULT_MEMBERS,
	TK_JSON_DEFAULT_STRING_BYTES,
};

static enum tk_err	 refuse(struct tk_json_error *, const char *, ...)
			    __attribute__((format(printf, 2, 3)));
static enum tk_err	 scan_value(struct scanner *, int);

static enum tk_err
refuse(struct tk_json_error *err, const char *fmt, ...)
{
	va_list	ap;

	err->error = "invalid_request";
	va_start(ap, fmt);
	vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
	va_end(ap);
	return TK_EINVAL;
}

static enum tk_err
nomem(struct tk_json_error *err)
{
	err->error = "server_error";
	snprintf(err->detail, sizeof(err->detail), "out of memory");
	return TK_ENOMEM;
}

/*
 * Copy the member name into buf for a detail, cut at NAME_ECHO_MAX
 * bytes with "...".  Only printable ASCII other than quote and
 * backslash is echoed: the detail goes to clients and logs, and must
 * neither carry control bytes nor read ambiguously.  Returns false,
 * with buf untouched, when the name cannot be shown.
 */
static bool
echo_name(const char *name, size_t len, char buf[NAME_ECHO_MAX + 4])
{
	size_t		i, n;
	unsigned char	c;

	n = len > NAME_ECHO_MAX ? NAME_ECHO_MAX : len;
	for (i = 0; i < n; i++) {
		c = (unsigned char)name[i];
		if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
			return false;
	}
	memcpy(buf, name, n);
	if (n < len)
		memcpy(buf + n, "...", 4);
	else
		buf[n] = '\0';
	return true;
}

static bool
is_blank(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* Offset of the first non-blank byte at or after pos, or len. */
static size_t
skip_blank(const char *s, size_t len, size_t pos)
{
	while (pos < len && is_blank((unsigned char)s[pos]))
		pos++;
	return pos;
}

/*
 * Length of the well-formed UTF-8 sequence at s, of which n > 0 bytes
 * are readable, or 0.  The second-byte ranges of Unicode table 3-7 shut
 * out overlong forms (C0, C1, E0 80-9F, F0 80-8F), surrogates (ED A0-BF)
 * and values above U+10FFFF (F4 90-BF, F5-FF).
 */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char	lo = 0x80, hi = 0xbf;
	size_t		need, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		need = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		need = 3;
		if (s[0] == 0xe0)
			lo = 0xa0;
		else if (s[0] == 0xed)
			hi = 0x9f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		need = 4;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (n < need || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < need; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return need;
}

static size_t
utf8_put(char *d, uint32_t cp)
{
	if (cp < 0x80) {
		d[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		d[0] = (char)(0xc0 | cp >> 6);
		d[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		d[0] = (char)(0xe0 | cp >> 12);
		d[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		d[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	d[0] = (char)(0xf0 | cp >> 18);
	d[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	d[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	d[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

static enum tk_err
bad_json(struct scanner *sc, const char *what, size_t off)
{
	return refuse(sc->err, "body is not valid JSON: %s at offset %zu",
	    what, off);
}

/* The byte at sc->pos, or the end of the body, was not expected. */
static enum tk_err
unexpected(struct scanner *sc)
{
	if (sc->pos >= sc->len)
		return refuse(sc->err,
		    "body is not valid JSON: unexpected end of body");
	if (sc->p[sc->pos] == '\0')
		return bad_json(sc, "NUL byte", sc->pos);
	return bad_json(sc, "unexpected character", sc->pos);
}

static void
scan_blank(struct scanner *sc)
{
	while (sc->pos < sc->len && is_blank(sc->p[sc->pos]))
		sc->pos++;
}

/* Read the four hex digits at off into *out; false if there are none. */
static bool
scan_hex4(const struct scanner *sc, size_t off, uint32_t *out)
{
	uint32_t	v = 0;
	size_t		i;
	unsigned char	c;

	if (sc->len - off < 4)
		return false;
	for (i = 0; i < 4; i++) {
		c = sc->p[off + i];
		if (is_digit(c))
			v = v << 4 | (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v = v << 4 | (uint32_t)(c - 'A' + 10);
		else
			return false;
	}
	*out = v;
	return true;
}

/*
 * The escape whose backslash is at sc->pos.  When d is not NULL, the
 * decoded bytes go to d + *n and *n grows by their count.
 */
static enum tk_err
scan_escape(struct scanner *sc, char *d, size_t *n)
{
	size_t		at = sc->pos;
	uint32_t	cp, lo;

	if (at + 1 >= sc->len) {
		sc->pos = sc->len;
		return unexpected(sc);
	}
	switch (sc->p[at + 1]) {
	case '"':
	case '\\':
	case '/':
		cp = sc->p[at + 1];
		break;
	case 'b':
		cp = '\b';
		break;
	case 'f':
		cp = '\f';
		break;
	case 'n':
		cp = '\n';
		break;
	case 'r':
		cp = '\r';
		break;
	case 't':
		cp = '\t';
		break;
	case 'u':
		if (!scan_hex4(sc, at + 2, &cp))
			return bad_json(sc, "invalid \\u escape", at);
		/* json-c would cut a string, a member name too, here. */
		if (cp == 0)
			return bad_json(sc, "\\u0000 escape", at);
		if (cp >= 0xdc00 && cp <= 0xdfff)
			return bad_json(sc, "unpaired surrogate escape", at);
		if (cp >= 0xd800 && cp <= 0xdbff) {
			if (sc->len - at < 12 || sc->p[at + 6] != '\\' ||
			    sc->p[at + 7] != 'u' ||
			    !scan_hex4(sc, at + 8, &lo) ||
			    lo < 0xdc00 || lo > 0xdfff)
				return bad_json(sc,
				    "unpaired surrogate escape", at);
			cp = 0x10000 + ((cp - 0xd800) << 10 | (lo - 0xdc00));
			sc->pos += 6;
		}
		sc->pos += 4;
		break;
	default:
		return bad_json(sc, "invalid escape", at);
	}
	sc->pos += 2;
	if (d != NULL)
		*n += utf8_put(d + *n, cp);
	return TK_OK;
}

/*
 * The string whose opening quote is at sc->pos.  For a member name,
 * key is not NULL: the decoded name goes on top of sc->names (never
 * longer than its raw form, so sc->names, as long as the body, holds
 * every name at once) and into *key.
 */
static enum tk_err
scan_string(struct scanner *sc, struct member *key)
{
	char		*d = NULL;
	size_t		 n = 0, k, start = sc->pos;
	unsigned char	 c;
	enum tk_err	 e;

	if (key != NULL) {
		key->off = sc->pos;
		d = sc->names + sc->nameslen;
	}
	sc->pos++;
	for (;;) {
		/* Raw bytes, escapes undecoded: what the client made us read. */
		if (sc->pos - start - 1 > sc->lim->max_string_bytes)
			return refuse(sc->err, "a string is longer than %u bytes "
			    "at offset %zu (max_string_bytes)",
			    sc->lim->max_string_bytes, start);
		if (sc->pos >= sc->len)
			return unexpected(sc);
		c = sc->p[sc->pos];
		if (c == '"')
			break;
		if (c == '\\') {
			if ((e = scan_escape(sc, d, &n)) != TK_OK)
				return e;
			continue;
		}
		if (c == '\0')
			return bad_json(sc, "NUL byte", sc->pos);
		if (c < 0x20)
			return bad_json(sc, "control character in string",
			    sc->pos);
		if ((k = utf8_seq(sc->p + sc->pos, sc->len - sc->pos)) == 0)
			return bad_json(sc, "invalid UTF-8", sc->pos);
		if (d != NULL)
			memcpy(d + n, sc->p + sc->pos, k);
		n += k;
		sc->pos += k;
	}
	sc->pos++;
	if (key != NULL) {
		key->name = d;
		key->len = n;
		sc->nameslen += n;
	}
	return TK_OK;
}

static enum tk_err
scan_number(struct scanner *sc)
{
	size_t	start = sc->pos;

	if (sc->p[sc->pos] == '-')
		sc->pos++;
	if (sc->pos >= sc->len || !is_digit(sc->p[sc->pos]))
		return bad_json(sc, "invalid number", start);
	if (sc->p[sc->pos] == '0') {
		sc->pos++;
		if (sc->pos < sc->len && is_digit(sc->p[sc->pos]))
			return bad_json(sc, "number with a leading zero",
			    start);
	} else
		while (sc->pos < sc->len && is_digit(sc->p[sc->pos]))
			sc->pos++;
	if (sc->pos < sc->len && sc->p[sc->pos] == '.') {
		sc->pos++;
		if (sc->pos >= sc->len || !is_digit(sc->p[sc->pos]))
			return bad_json(sc, "invalid number", start);
		while (sc->pos < sc->len && is_digit(sc->p[sc->pos]))
			sc->pos++;
	}
	if (sc->pos < sc->len &&
	    (sc->p[sc->pos] == 'e' || sc->p[sc->pos] == 'E')) {
		sc->pos++;
		if (sc->pos < sc->len &&
		    (sc->p[sc->pos] == '+' || sc->p[sc->pos] == '-'))
			sc->pos++;
		if (sc->pos >= sc->len || !is_digit(sc->p[sc->pos]))
			return bad_json(sc, "invalid number", start);
		while (sc->pos < sc->len && is_digit(sc->p[sc->pos]))
			sc->pos++;
	}
	return TK_OK;
}

static enum tk_err
scan_literal(struct scanner *sc, const char *lit)
{
	for (; *lit != '\0'; lit++, sc->pos++)
		if (sc->pos >= sc->len || sc->p[sc->pos] != (unsigned char)*lit)
			return unexpected(sc);
	return TK_OK;
}

static int
member_cmp(const void *a, const void *b)
{
	const struct member	*x = a, *y = b;
	size_t			 n;
	int			 c;

	n = x->len < y->len ? x->len : y->len;
	if (n > 0 && (c = memcmp(x->name, y->name, n)) != 0)
		return c;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return x->off < y->off ? -1 : x->off > y->off;
}

/*
 * Refuse a name used twice among the members from index first up.
 * Sorting keeps an object of n members at O(n log n), whatever a
 * hostile body holds; the duplicate named is the one that comes first
 * in the body.
 */
static enum tk_err
check_duplicates(struct scanner *sc, size_t first)
{
	struct member	*m = sc->members + first;
	const struct member *dup = NULL;
	size_t		 n = sc->nmembers - first, i;
	char		 buf[NAME_ECHO_MAX + 4];

	if (n < 2)
		return TK_OK;
	qsort(m, n, sizeof(*m), member_cmp);
	for (i = 1; i < n; i++)
		if (m[i].len == m[i - 1].len &&
		    (m[i].len == 0 ||
		    memcmp(m[i].name, m[i - 1].name, m[i].len) == 0) &&
		    (dup == NULL || m[i].off < dup->off))
			dup = &m[i];
	if (dup == NULL)
		return TK_OK;
	if (echo_name(dup->name, dup->len, buf))
		return refuse(sc->err, "duplicate member \"%s\"", buf);
	return refuse(sc->err, "duplicate member");
}

/* The object whose '{' is at sc->pos, at nesting level depth. */
static enum tk_err
scan_object(struct scanner *sc, int depth)
{
	struct member	*grown;
	size_t		 first = sc->nmembers, nameslen = sc->nameslen;
	size_t		 cap, start = sc->pos;
	enum tk_err	 e;

	if ((unsigned int)depth > sc->lim->max_depth)
		return refuse(sc->err, "body nests deeper than %u levels "
		    "at offset %zu (max_json_depth)", sc->lim->max_depth,
		    sc->pos);
	sc->pos++;
	scan_blank(sc);
	if (sc->pos < sc->len && sc->p[sc->pos] == '}') {
		sc->pos++;
		return TK_OK;
	}
	for (;;) {
		scan_blank(sc);
		if (sc->pos >= sc->len || sc->p[sc->pos] != '"')
			return unexpected(sc);
		if (sc->nmembers - first >= sc->lim->max_members)
			return refuse(sc->err, "an object has more than %u "
			    "members at offset %zu (max_json_members)",
			    sc->lim->max_members, start);
		if (sc->nmembers == sc->capmembers) {
			cap = sc->capmembers == 0 ? 16 : sc->capmembers * 2;
			grown = reallocarray(sc->members, cap, sizeof(*grown));
			if (grown == NULL)
				return nomem(sc->err);
			sc->members = grown;
			sc->capmembers = cap;
		}
		if ((e = scan_string(sc, &sc->members[sc->nmembers])) != TK_OK)
			return e;
		sc->nmembers++;
		scan_blank(sc);
		if (sc->pos >= sc->len || sc->p[sc->pos] != ':')
			return unexpected(sc);
		sc->pos++;
		if ((e = scan_value(sc, depth)) != TK_OK)
			return e;
		scan_blank(sc);
		if (sc->pos < sc->len && sc->p[sc->pos] == ',') {
			sc->pos++;
			continue;
		}
		if (sc->pos < sc->len && sc->p[sc->pos] == '}')
			break;
		return unexpected(sc);
	}
	sc->pos++;
	e = check_duplicates(sc, first);
	/* The names of a closed object can no longer clash: drop them. */
	sc->nmembers = first;
	sc->nameslen = nameslen;
	return e;
}

/* The array whose '[' is at sc->pos, at nesting level depth. */
static enum tk_err
scan_array(struct scanner *sc, int depth)
{
	enum tk_err	e;

	if ((unsigned int)depth > sc->lim->max_depth)
		return refuse(sc->err, "body nests deeper than %u levels "
		    "at offset %zu (max_json_depth)", sc->lim->max_depth,
		    sc->pos);
	sc->pos++;
	scan_blank(sc);
	if (sc->pos < sc->len && sc->p[sc->pos] == ']') {
		sc->pos++;
		return TK_OK;
	}
	for (;;) {
		if ((e = scan_value(sc, depth)) != TK_OK)
			return e;
		scan_blank(sc);
		if (sc->pos < sc->len && sc->p[sc->pos] == ',') {
			sc->pos++;
			continue;
		}
		if (sc->pos < sc->len && sc->p[sc->pos] == ']')
			break;
		return unexpected(sc);
	}
	sc->pos++;
	return TK_OK;
}

/* A value after optional blanks, inside depth open containers. */
static enum tk_err
scan_value(struct scanner *sc, int depth)
{
	scan_blank(sc);
	if (sc->pos >= sc->len)
		return unexpected(sc);
	switch (sc->p[sc->pos]) {
	case '{':
		return scan_object(sc, depth + 1);
	case '[':
		return scan_array(sc, depth + 1);
	case '"':
		return scan_string(sc, NULL);
	case 't':
		return scan_literal(sc, "true");
	case 'f':
		return scan_literal(sc, "false");
	case 'n':
		return scan_literal(sc, "null");
	case '-':
	case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		return scan_number(sc);
	default:
		return unexpected(sc);
	}
}

enum tk_err
tk_json_scan(const char *body, size_t len, const struct tk_json_limits *lim,
    struct tk_json_error *err)
{
	struct scanner	sc;
	enum tk_err	e;

	err->error = NULL;
	err->detail[0] = '\0';
	memset(&sc, 0, sizeof(sc));
	sc.p = (const unsigned char *)body;
	sc.len = len;
	sc.lim = lim != NULL ? lim : &default_limits;
	sc.err = err;
	scan_blank(&sc);
	if (sc.pos == len)
		return refuse(err, "body is empty");
	if ((sc.names = malloc(len)) == NULL)
		return nomem(err);
	if ((e = scan_value(&sc, 0)) != TK_OK)
		goto out;
	scan_blank(&sc);
	if (sc.pos < len) {
		if (sc.p[sc.pos] == '\0')
			e = bad_json(&sc, "NUL byte", sc.pos);
		else
			e = bad_json(&sc, "data after the JSON value", sc.pos);
		goto out;
	}
	e = TK_OK;
out:
	free(sc.members);
	free(sc.names);
	return e;
}

long
tk_utf8_count(const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i = 0, k;
	long			 n = 0;

	while (i < len) {
		if (p[i] < 0x20)
			return -1;
		if ((k = utf8_seq(p + i, len - i)) == 0)
			return -1;
		i += k;
		n++;
	}
	return n;
}

static bool
is_scope_char(unsigned char c)
{
	return c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
	    (c >= 0x5d && c <= 0x7e);
}

bool
tk_json_scope_is_valid(const char *s)
{
	const unsigned char	*p;
	size_t			 items = 0, bytes = 0;

	if (s == NULL)
		return false;
	if (*s == '\0')
		return true;
	for (p = (const unsigned char *)s; ; p++) {
		if (*p == ' ' || *p == '\0') {
			/* An empty item: a leading, doubled or final space. */
			if (bytes == 0 || ++items > TK_SCOPE_MAX_ITEMS)
				return false;
			if (*p == '\0')
				return true;
			bytes = 0;
		} else if (!is_scope_char(*p) || ++bytes > TK_SCOPE_MAX_BYTES)
			return false;
	}
}

/*
 * Scan, then parse with json-c, a body that must hold one object.  On
 * success *out is a new reference for the caller to put.
 */
static enum tk_err
decode_object(const char *body, size_t len, const struct tk_json_limits *lim,
    struct json_object **out, struct tk_json_error *err)
{
	struct json_tokener	*tok = NULL;
	struct json_object	*obj = NULL;
	size_t			 end;
	enum tk_err		 e;

	if (lim == NULL)
		lim = &default_limits;
	if ((e = tk_json_scan(body, len, lim, err)) != TK_OK)
		return e;
	/*
	 * Decided on the raw byte: json-c answers "continue", not a
	 * value, to a lone number, and NULL to a lone null.
	 */
	if (body[skip_blank(body, len, 0)] != '{')
		return refuse(err, "body must be a JSON object");
	if (len > INT_MAX)
		return refuse(err, "body is too large");
	/* json-c counts a scalar inside the deepest container as a level. */
	if ((tok = json_tokener_new_ex((int)lim->max_depth + 1)) == NULL)
		return nomem(err);
	json_tokener_set_flags(tok,
	    JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, body, (int)len);
	/*
	 * The scanner accepted the body, so a refusal here is a
	 * disagreement between the two parsers (or json-c out of
	 * memory): refuse the body rather than trust either.
	 */
	if (json_tokener_get_error(tok) != json_tokener_success ||
	    obj == NULL) {
		e = refuse(err, "body is not valid JSON");
		goto out;
	}
	end = json_tokener_get_parse_end(tok);
	if (skip_blank(body, len, end) != len) {
		e = refuse(err, "body is not valid JSON: data after the JSON "
		    "value at offset %zu", end);
		goto out;
	}
	if (!json_object_is_type(obj, json_type_object)) {
		e = refuse(err, "body must be a JSON object");
		goto out;
	}
	*out = obj;
	obj = NULL;
	e = TK_OK;
out:
	json_object_put(obj);
	json_tokener_free(tok);
	return e;
}

static enum tk_err
unknown_member(const char *name, struct tk_json_error *err)
{
	char	buf[NAME_ECHO_MAX + 4];

	if (echo_name(name, strlen(name), buf))
		return refuse(err, "unknown member \"%s\"", buf);
	return refuse(err, "unknown member");
}

/*
 * A string member of at most maxpoints code points (none when
 * negative) of UTF-8 without NUL or C0 controls, after unescaping.
 * On success *out is a new copy the caller frees.
 */
static enum tk_err
get_text(const char *name, struct json_object *v, long maxpoints,
    char **out, struct tk_json_error *err)
{
	const char	*s;
	size_t		 len;
	long		 n;

	if (!json_object_is_type(v, json_type_string))
		return refuse(err, "%s must be a string", name);
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if ((n = tk_utf8_count(s, len)) < 0)
		return refuse(err, "%s must be UTF-8 text without control "
		    "characters", name);
	if (maxpoints >= 0 && n > maxpoints)
		return refuse(err, "%s must be at most %ld characters", name,
		    maxpoints);
	if ((*out = malloc(len + 1)) == NULL)
		return nomem(err);
	memcpy(*out, s, len + 1);
	return TK_OK;
}

static enum tk_err
get_scope(struct json_object *v, char **out, struct tk_json_error *err)
{
	const char	*s;

	if (!json_object_is_type(v, json_type_string))
		return refuse(err, "scope must be a string");
	s = json_object_get_string(v);
	if (strlen(s) != (size_t)json_object_get_string_len(v) ||
	    !tk_json_scope_is_valid(s))
		return refuse(err, "scope must be at most %d scope tokens "
		    "(RFC 6749) of at most %d bytes, separated by single "
		    "spaces", TK_SCOPE_MAX_ITEMS, TK_SCOPE_MAX_BYTES);
	if ((*out = strdup(s)) == NULL)
		return nomem(err);
	return TK_OK;
}

/* A UUID member, written to out in lower case. */
static enum tk_err
get_uuid(const char *name, struct json_object *v,
    char out[TK_UUID_STR_LEN + 1], struct tk_json_error *err)
{
	unsigned char	id[TK_UUID_LEN];

	if (!json_object_is_type(v, json_type_string))
		return refuse(err, "%s must be a string", name);
	if (json_object_get_string_len(v) != TK_UUID_STR_LEN ||
	    !tk_uuid_parse(json_object_get_string(v), id))
		return refuse(err, "%s must be a UUID", name);
	tk_uuid_format(id, out);
	return TK_OK;
}

/*
 * A count of seconds, min .. TK_TTL_MAX.  json-c types a number with a
 * fraction or an exponent as a double, and any other as an int, clamped
 * to 64 bits when it is larger: a clamped value is out of range anyway,
 * so an integer too large still gets the range message, not the type's.
 */
static enum tk_err
get_seconds(const char *name, struct json_object *v, int64_t min,
    int64_t *out, struct tk_json_error *err)
{
	int64_t	n;

	if (!json_object_is_type(v, json_type_int))
		return refuse(err, "%s must be an integer", name);
	n = json_object_get_int64(v);
	if (n < min || n > TK_TTL_MAX)
		return refuse(err, "%s must be between %lld and %lld", name,
		    (long long)min, (long long)TK_TTL_MAX);
	*out = n;
	return TK_OK;
}

static enum tk_err
get_grant(struct json_object *v, enum tk_grant *out,
    struct tk_json_error *err)
{
	const char	*s;
	size_t		 len;

	if (!json_object_is_type(v, json_type_string))
		return refuse(err, "grant_type must be a string");
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (len == strlen("client_credentials") &&
	    strcmp(s, "client_credentials") == 0)
		*out = TK_GRANT_CLIENT_CREDENTIALS;
	else if (len == strlen("rotate") && strcmp(s, "rotate") == 0)
		*out = TK_GRANT_ROTATE;
	else {
		/* The value is not echoed: it could be anything at all. */
		refuse(err, "grant_type must be \"client_credentials\" or "
		    "\"rotate\"");
		err->error = "unsupported_grant_type";
		return TK_EINVAL;
	}
	return TK_OK;
}

static enum tk_err
decode_long_member(const char *name, struct json_object *v,
    struct tk_long_req *r, struct tk_json_error *err)
{
	if (strcmp(name, "grant_type") == 0)
		return get_grant(v, &r->grant, err);
	if (strcmp(name, "client_id") == 0)
		return get_uuid(name, v, r->client_id, err);
	if (strcmp(name, "token_id") == 0) {
		r->has_token_id = true;
		return get_uuid(name, v, r->token_id, err);
	}
	if (strcmp(name, "scope") == 0)
		return get_scope(v, &r->scope, err);
	if (strcmp(name, "ttl_seconds") == 0) {
		r->has_ttl = true;
		return get_seconds(name, v, 1, &r->ttl_seconds, err);
	}
	if (strcmp(name, "overlap_seconds") == 0) {
		r->has_overlap = true;
		return get_seconds(name, v, 0, &r->overlap_seconds, err);
	}
	if (strcmp(name, "label") == 0)
		return get_text(name, v, TK_TEXT_MAX_POINTS, &r->label, err);
	return unknown_member(name, err);
}

enum tk_err
tk_json_parse_long(const char *body, size_t len,
    const struct tk_json_limits *lim, struct tk_long_req *out,
    struct tk_json_error *err)
{
	struct json_object		*obj = NULL;
	struct json_object_iterator	 it, end;
	enum tk_err			 e;

	memset(out, 0, sizeof(*out));
	if ((e = decode_object(body, len, lim, &obj, err)) != TK_OK)
		return e;
	/* In body order (json-c keeps it): the first bad member answers. */
	it = json_object_iter_begin(obj);
	end = json_object_iter_end(obj);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it))
		if ((e = decode_long_member(json_object_iter_peek_name(&it),
		    json_object_iter_peek_value(&it), out, err)) != TK_OK)
			goto out;
	if (out->grant == 0) {
		e = refuse(err, "missing member \"grant_type\"");
		goto out;
	}
	if (out->client_id[0] == '\0') {
		e = refuse(err, "missing member \"client_id\"");
		goto out;
	}
	/*
	 * client_credentials starts a new family: there is no old token
	 * to name or to overlap with, and silently ignoring either member
	 * would hide a client's mistake.  Whether rotate needs token_id
	 * depends on the credential: the handler decides.
	 */
	if (out->grant == TK_GRANT_CLIENT_CREDENTIALS && out->has_overlap) {
		e = refuse(err, "overlap_seconds is only for grant_type "
		    "rotate");
		goto out;
	}
	if (out->grant == TK_GRANT_CLIENT_CREDENTIALS && out->has_token_id) {
		e = refuse(err, "token_id is only for grant_type rotate");
		goto out;
	}
	e = TK_OK;
out:
	json_object_put(obj);
	if (e != TK_OK)
		tk_long_req_clear(out);
	return e;
}

void
tk_long_req_clear(struct tk_long_req *r)
{
	free(r->scope);
	free(r->label);
	memset(r, 0, sizeof(*r));
}

static enum tk_err
decode_short_member(const char *name, struct json_object *v,
    struct tk_short_req *r, struct tk_json_error *err)
{
	if (strcmp(name, "scope") == 0)
		return get_scope(v, &r->scope, err);
	if (strcmp(name, "ttl_seconds") == 0) {
		r->has_ttl = true;
		return get_seconds(name, v, 1, &r->ttl_seconds, err);
	}
	if (strcmp(name, "audience") == 0)
		return get_text(name, v, TK_TEXT_MAX_POINTS, &r->audience,
		    err);
	return unknown_member(name, err);
}

enum tk_err
tk_json_parse_short(const char *body, size_t len,
    const struct tk_json_limits *lim, struct tk_short_req *out,
    struct tk_json_error *err)
{
	struct json_object		*obj = NULL;
	struct json_object_iterator	 it, end;
	enum tk_err			 e;

	memset(out, 0, sizeof(*out));
	err->error = NULL;
	err->detail[0] = '\0';
	/* The body is optional: blanks alone stand for no body. */
	if (skip_blank(body, len, 0) == len)
		return TK_OK;
	if ((e = decode_object(body, len, lim, &obj, err)) != TK_OK)
		return e;
	it = json_object_iter_begin(obj);
	end = json_object_iter_end(obj);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it))
		if ((e = decode_short_member(json_object_iter_peek_name(&it),
		    json_object_iter_peek_value(&it), out, err)) != TK_OK)
			goto out;
	e = TK_OK;
out:
	json_object_put(obj);
	if (e != TK_OK)
		tk_short_req_clear(out);
	return e;
}

void
tk_short_req_clear(struct tk_short_req *r)
{
	free(r->scope);
	free(r->audience);
	memset(r, 0, sizeof(*r));
}

enum tk_err
tk_json_parse_introspect(const char *body, size_t len,
    const struct tk_json_limits *lim, struct tk_introspect_req *out, struct tk_json_error *err)
{
	struct json_object		*obj = NULL;
	struct json_object_iterator	 it, end;
	enum tk_err			 e = TK_OK;

	memset(out, 0, sizeof(*out));
	err->error = NULL;
	err->detail[0] = '\0';
	if ((e = decode_object(body, len, lim, &obj, err)) != TK_OK)
		return e;
	it = json_object_iter_begin(obj);
	end = json_object_iter_end(obj);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		const char *name = json_object_iter_peek_name(&it);

		if (strcmp(name, "token") != 0) {
			e = unknown_member(name, err);
			goto out;
		}
		if ((e = get_text(name, json_object_iter_peek_value(&it),
		    TK_TOKEN_TEXT_MAX, &out->token, err)) != TK_OK)
			goto out;
	}
	if (out->token == NULL)
		e = refuse(err, "missing member \"token\"");
out:
	json_object_put(obj);
	if (e != TK_OK)
		tk_introspect_req_clear(out);
	return e;
}

void
tk_introspect_req_clear(struct tk_introspect_req *r)
{
	if (r->token != NULL)
		OPENSSL_cleanse(r->token, strlen(r->token));
	free(r->token);
	memset(r, 0, sizeof(*r));
}
