/*
 * tk_http.c - reading FastCGI requests and writing responses.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "tk_http.h"
#include "tk_pool.h"

struct problem_kind {
	const char	*error;
	int		 status;
	const char	*title;
};

/* CONTRACT §8: every error code, its status and its fixed title. */
static const struct problem_kind problems[] = {
	{ "invalid_request",		400, "Invalid request" },
	{ "invalid_scope",		400, "Invalid scope" },
	{ "unsupported_grant_type",	400, "Unsupported grant type" },
	{ "invalid_client",		401, "Invalid client" },
	{ "invalid_token",		401, "Invalid token" },
	{ "insufficient_scope",		403, "Insufficient scope" },
	{ "not_found",			404, "Not found" },
	{ "method_not_allowed",		405, "Method not allowed" },
	{ "conflict",			409, "Conflict" },
	{ "payload_too_large",		413, "Payload too large" },
	{ "unsupported_media_type",	415, "Unsupported media type" },
	{ "too_many_requests",		429, "Too many requests" },
	{ "server_error",		500, "Internal server error" },
	{ "service_unavailable",	503, "Service unavailable" },
};

static const struct problem_kind *
find_problem(const char *error)
{
	size_t	i;

	for (i = 0; i < sizeof(problems) / sizeof(problems[0]); i++)
		if (strcmp(problems[i].error, error) == 0)
			return &problems[i];
	return NULL;
}

int
tk_http_error_status(const char *error)
{
	const struct problem_kind *p = find_problem(error);

	return p != NULL ? p->status : 500;
}

static const char *
reason_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

/*
 * A new request id is a correlation id, not a secret: the client may send
 * its own, so nothing may rest on guessing it being hard.  What it needs
 * is to be unique across every worker and thread and not to say how busy
 * the service is.  So each thread draws 16 random bytes once (RAND_bytes
 * costs about 8,000 instructions a call, 16 % of a request's own before
 * this) and then counts: 12 bytes of random prefix, and a 32-bit counter
 * that starts at a random value, written as 32 hex digits.  Two threads
 * share a prefix with odds of 2^-96; a counter that comes round draws a
 * new prefix.  A fork copies the calling thread's state, so the child
 * draws anew (fork_generation).
 */
struct request_id_state {
	unsigned char	prefix[12];
	uint32_t	count;
	uint32_t	left;		/* ids before the counter comes round */
	unsigned	generation;	/* fork_generation when drawn */
	bool		drawn;
};

static _Thread_local struct request_id_state request_id_state;
static atomic_uint	fork_generation;
static pthread_once_t	fork_hook_once = PTHREAD_ONCE_INIT;

static void
fork_child(void)
{
	atomic_fetch_add(&fork_generation, 1);
}

static void
fork_hook(void)
{
	(void)pthread_atfork(NULL, NULL, fork_child);
}

static void
request_id_draw(struct request_id_state *st)
{
	unsigned char	rnd[16];

	st->generation = atomic_load(&fork_generation);
	st->left = UINT32_MAX;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		/* Try again next time; meanwhile ids are unique per thread. */
		st->drawn = false;
		return;
	}
	memcpy(st->prefix, rnd, sizeof(st->prefix));
	st->count = (uint32_t)rnd[12] << 24 | (uint32_t)rnd[13] << 16 |
	    (uint32_t)rnd[14] << 8 | rnd[15];
	st->drawn = true;
	OPENSSL_cleanse(rnd, sizeof(rnd));
}

void
tk_http_request_id(const char *sent, char out[TK_REQUEST_ID_MAX + 1])
{
	static const char	 hex[] = "0123456789abcdef";
	struct request_id_state	*st = &request_id_state;
	unsigned char		 id[16];
	size_t			 i, len;

	if (sent != NULL && (len = strlen(sent)) >= 1 &&
	    len <= TK_REQUEST_ID_MAX &&
	    strspn(sent, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789._-") == len) {
		memcpy(out, sent, len + 1);
		return;
	}
	(void)pthread_once(&fork_hook_once, fork_hook);
	if (!st->drawn || st->left == 0 ||
	    st->generation != atomic_load(&fork_generation))
		request_id_draw(st);
	st->left--;
	st->count++;
	memcpy(id, st->prefix, sizeof(st->prefix));
	id[12] = (unsigned char)(st->count >> 24);
	id[13] = (unsigned char)(st->count >> 16);
	id[14] = (unsigned char)(st->count >> 8);
	id[15] = (unsigned char)st->count;
	for (i = 0; i < sizeof(id); i++) {
		out[2 * i] = hex[id[i] >> 4];
		out[2 * i + 1] = hex[id[i] & 0xf];
	}
	out[2 * sizeof(id)] = '\0';
}

/*
 * Before a read of the request's socket, bound it by what is left until
 * deadline.  The socket's SO_RCVTIMEO bounds each read on its own, so a
 * body trickled a byte at a time would otherwise hold the thread for as
 * long as the client likes.  False once the deadline has passed.
 */
static bool
bound_next_read(FCGX_Request *fcgx, const struct timespec *deadline)
{
	int		ms = tk_deadline_ms_left(deadline);
	struct timeval	tv = { .tv_sec = ms / 1000, .tv_usec = ms % 1000 * 1000 };

	if (ms == 0)
		return false;
	(void)setsockopt(fcgx->ipcFd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return true;
}

/*
 * Read the body into buf (cap bytes at most): false when deadline passed
 * or the stream failed.  libfcgi's FCGX_GetStr reads the socket as many
 * times as it takes to fill the request, so while nothing is buffered it
 * is asked for one byte: that is one read, bounded by bound_next_read();
 * what is buffered (the stream's rdNext..stop, in fcgiapp.h) is copied
 * in one call with no read at all.
 */
static bool
read_body(FCGX_Request *fcgx, const struct timespec *deadline, char *buf,
    size_t cap, size_t *lenp)
{
	FCGX_Stream	*in = fcgx->in;
	size_t		 len = 0, want;
	int		 n;

	while (len < cap) {
		want = cap - len;
		if (deadline != NULL && in->rdNext == in->stop) {
			if (!bound_next_read(fcgx, deadline)) {
				*lenp = len;
				return false;
			}
			want = 1;
		} else if (deadline != NULL &&
		    want > (size_t)(in->stop - in->rdNext))
			want = (size_t)(in->stop - in->rdNext);
		if ((n = FCGX_GetStr(buf + len, (int)want, in)) <= 0)
			break;
		len += (size_t)n;
	}
	*lenp = len;
	return FCGX_GetError(in) == 0;
}

/*
 * If *field is still unset and entry is name=value (name n characters
 * long), point *field at the value.  The first of repeated names wins, as
 * with FCGX_GetParam.
 */
static inline bool
take_param(const char **field, const char *entry, const char *name, size_t n)
{
	if (*field != NULL || strncmp(entry, name, n) != 0 || entry[n] != '=')
		return false;
	*field = entry + n + 1;
	return true;
}

#define TAKE(field, name)	take_param(&(field), e, name, sizeof(name) - 1)

/*
 * The variables tokend reads, in one pass over the environment: libfcgi's
 * FCGX_GetParam walks the whole list for each name, ten walks a request
 * (18 % of tokend's own instructions).  The first character picks the few
 * names to compare.  Every HTTP_* entry also counts towards header_bytes:
 * the headers as the front end passed them on, each one parameter, so
 * their sum is what the request made us hold.
 */
static void
read_params(char **envp, struct tk_request *req, const char **sent_id)
{
	const char	*e;

	for (; envp != NULL && (e = *envp) != NULL; envp++) {
		switch (e[0]) {
		case 'H':
			if (strncmp(e, "HTTP_", 5) != 0)
				break;
			req->header_bytes += strlen(e);
			(void)(TAKE(req->authorization, "HTTP_AUTHORIZATION") ||
			    TAKE(req->client_key, "HTTP_X_CLIENT_KEY") ||
			    TAKE(*sent_id, "HTTP_X_REQUEST_ID"));
			break;
		case 'R':
			(void)(TAKE(req->method, "REQUEST_METHOD") ||
			    TAKE(req->uri, "REQUEST_URI") ||
			    TAKE(req->remote_addr, "REMOTE_ADDR"));
			break;
		case 'C':
			(void)TAKE(req->content_type, "CONTENT_TYPE");
			break;
		case 'F':
			(void)TAKE(req->role, "FCGI_ROLE");
			break;
		case 'T':
			(void)(TAKE(req->require_scope, "TOKEND_REQUIRE_SCOPE") ||
			    TAKE(req->require_audience,
			    "TOKEND_REQUIRE_AUDIENCE"));
			break;
		default:
			break;
		}
	}
}
#undef TAKE


enum tk_err
tk_http_read(FCGX_Request *fcgx, size_t max_body, bool read_body_too,
    const struct timespec *deadline, struct tk_request *req)
{
	const char	*sent_id = NULL;
	char		*buf;
	size_t		 cap = max_body + 1, len = 0;

	memset(req, 0, sizeof(*req));
	read_params(fcgx->envp, req, &sent_id);
	if (req->role == NULL)
		req->role = "RESPONDER";
	if (req->method == NULL)
		req->method = "";
	if (req->uri == NULL)
		req->uri = "";
	if (req->remote_addr == NULL)
		req->remote_addr = "";
	tk_http_request_id(sent_id, req->request_id);
	/* An authorizer gets no FCGI_STDIN at all: reading would wait forever. */
	if (!read_body_too || strcmp(req->role, "RESPONDER") != 0)
		return TK_OK;
	/* Read one byte more than allowed: that byte alone proves "too large". */
	if ((buf = malloc(cap + 1)) == NULL)
		return TK_ENOMEM;
	/* A body cut short: too slow, or the front end went quiet. */
	if (!read_body(fcgx, deadline, buf, cap, &len)) {
		buf[len] = '\0';
		req->body = buf;
		req->body_len = len;
		return TK_ETIMEDOUT;
	}
	buf[len] = '\0';
	req->body = buf;
	req->body_len = len;
	req->body_too_large = len > max_body;
	return TK_OK;
}

void
tk_http_request_clear(struct tk_request *req)
{
	free(req->body);
	req->body = NULL;
	req->body_len = 0;
}

/*
 * Appending to a fixed buffer by memcpy: every response writes its
 * headers this way, and snprintf cost about 1,000 instructions a line
 * (5 % of a request's own) to copy a few short strings.
 */
struct text {
	char	*p;
	size_t	 len, cap;	/* cap counts the terminating NUL */
	bool	 full;
};

static void
text_put(struct text *t, const char *s, size_t n)
{
	if (t->full || n >= t->cap - t->len) {
		t->full = true;
		return;
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
}

/* A string literal, its length counted by the compiler. */
#define TEXT_LIT(t, lit)	text_put((t), (lit), sizeof(lit) - 1)

static void
text_puts(struct text *t, const char *s)
{
	text_put(t, s, strlen(s));
}

static void
text_putu(struct text *t, unsigned long long v)
{
	char	digits[24];
	size_t	i = sizeof(digits);

	do {
		digits[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	text_put(t, digits + i, sizeof(digits) - i);
}

void
tk_http_add_header(struct tk_response *resp, const char *name, const char *value)
{
	struct text	t = { resp->headers, resp->headers_len,
			    sizeof(resp->headers), false };

	text_puts(&t, name);
	TEXT_LIT(&t, ": ");
	text_puts(&t, value);
	TEXT_LIT(&t, "\r\n");
	if (!t.full)
		resp->headers_len = t.len;
	resp->headers[resp->headers_len] = '\0';
}

enum tk_err
tk_http_json(struct tk_response *resp, int status, struct json_object *obj)
{
	const char	*text;
	size_t		 len;

	text = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	if (text == NULL)
		return TK_ENOMEM;
	len = strlen(text);
	free(resp->body);
	resp->body_len = 0;
	if ((resp->body = malloc(len + 1)) == NULL)
		return TK_ENOMEM;
	memcpy(resp->body, text, len + 1);
	resp->body_len = len;
	resp->status = status;
	if (resp->content_type == NULL)
		resp->content_type = "application/json";
	return TK_OK;
}

/*
 * JSON string contents as json-c writes them with JSON_C_TO_STRING_PLAIN
 * | JSON_C_TO_STRING_NOSLASHESCAPE: quote, backslash and the controls
 * escaped, everything else (UTF-8 included) as it is.  Runs of bytes that
 * need nothing are copied whole: tokens, ids and times are all such runs.
 */
static inline bool
json_plain(unsigned char c)
{
	return c >= 0x20 && c != '"' && c != '\\';
}

static size_t
json_escape(char *dst, const char *src)
{
	static const char	 hex[] = "0123456789abcdef";
	const unsigned char	*s = (const unsigned char *)src, *run;
	size_t			 n = 0;
	unsigned char		 c;

	for (;;) {
		for (run = s; json_plain(*s); s++)
			;
		memcpy(dst + n, run, (size_t)(s - run));
		n += (size_t)(s - run);
		if ((c = *s++) == '\0')
			return n;
		dst[n++] = '\\';
		switch (c) {
		case '"': dst[n++] = '"'; break;
		case '\\': dst[n++] = '\\'; break;
		case '\b': dst[n++] = 'b'; break;
		case '\f': dst[n++] = 'f'; break;
		case '\n': dst[n++] = 'n'; break;
		case '\r': dst[n++] = 'r'; break;
		case '\t': dst[n++] = 't'; break;
		default:
			memcpy(dst + n, "u00", 3);
			dst[n + 3] = hex[c >> 4];
			dst[n + 4] = hex[c & 0xf];
			n += 5;
		}
	}
}

/* A decimal integer, as "%lld" writes it (snprintf costs ~800 instructions). */
static size_t
format_int(char *dst, long long v)
{
	char			digits[24];
	size_t			i = sizeof(digits), n = 0;
	unsigned long long	u = v < 0 ? 0ULL - (unsigned long long)v :
				    (unsigned long long)v;

	do {
		digits[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		dst[n++] = '-';
	memcpy(dst + n, digits + i, sizeof(digits) - i);
	return n + sizeof(digits) - i;
}

enum tk_err
tk_http_json_fields(struct tk_response *resp, int status,
    const struct tk_http_field *f, size_t n)
{
	char	*p;
	size_t	 i, cap = 3, len = 0;

	/* At most 6 bytes out for each byte in (\u00XX), and the syntax. */
	for (i = 0; i < n; i++)
		cap += 6 * strlen(f[i].key) + 6 +
		    (f[i].is_int ? 24 : f[i].str == NULL ? 4 :
		    6 * strlen(f[i].str) + 2);
	free(resp->body);
	resp->body_len = 0;
	if ((resp->body = p = malloc(cap)) == NULL)
		return TK_ENOMEM;
	p[len++] = '{';
	for (i = 0; i < n; i++) {
		if (i > 0)
			p[len++] = ',';
		p[len++] = '"';
		len += json_escape(p + len, f[i].key);
		p[len++] = '"';
		p[len++] = ':';
		if (f[i].is_int)
			len += format_int(p + len, f[i].num);
		else if (f[i].str == NULL) {
			memcpy(p + len, "null", 4);
			len += 4;
		} else {
			p[len++] = '"';
			len += json_escape(p + len, f[i].str);
			p[len++] = '"';
		}
	}
	p[len++] = '}';
	p[len] = '\0';
	resp->body_len = len;
	resp->status = status;
	if (resp->content_type == NULL)
		resp->content_type = "application/json";
	return TK_OK;
}

void
tk_http_empty(struct tk_response *resp, int status)
{
	free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
	resp->status = status;
	resp->content_type = NULL;
}

enum tk_err
tk_http_problem(struct tk_response *resp, const char *error, const char *detail,
    const char *request_id)
{
	const struct problem_kind	*p = find_problem(error);
	struct json_object		*obj;
	char				 type[96];
	enum tk_err			 err = TK_OK;

	if (p == NULL) {
		err = TK_EINVAL;
		p = find_problem("server_error");
		detail = "internal error";
	}
	snprintf(type, sizeof(type), "urn:tokend:problem:%s", p->error);
	if ((obj = json_object_new_object()) == NULL)
		return TK_ENOMEM;
	json_object_object_add(obj, "type", json_object_new_string(type));
	json_object_object_add(obj, "title", json_object_new_string(p->title));
	json_object_object_add(obj, "status", json_object_new_int(p->status));
	json_object_object_add(obj, "detail", json_object_new_string(
	    detail != NULL ? detail : p->title));
	json_object_object_add(obj, "error", json_object_new_string(p->error));
	json_object_object_add(obj, "request_id",
	    json_object_new_string(request_id));
	resp->content_type = "application/problem+json";
	resp->error = p->error;
	if (tk_http_json(resp, p->status, obj) != TK_OK)
		err = TK_ENOMEM;
	json_object_put(obj);
	return err;
}

enum tk_err
tk_http_write(FCGX_Stream *out, const struct tk_response *resp,
    const char *request_id)
{
	char		head[2048];
	struct text	t = { head, 0, sizeof(head), false };
	int		rc;

	TEXT_LIT(&t, "Status: ");
	text_putu(&t, (unsigned)resp->status);
	TEXT_LIT(&t, " ");
	text_puts(&t, reason_phrase(resp->status));
	TEXT_LIT(&t, "\r\nX-Request-Id: ");
	text_puts(&t, request_id);
	TEXT_LIT(&t, "\r\n");
	text_put(&t, resp->headers, resp->headers_len);
	if (resp->content_type != NULL) {
		TEXT_LIT(&t, "Content-Type: ");
		text_puts(&t, resp->content_type);
		TEXT_LIT(&t, "\r\nContent-Length: ");
		text_putu(&t, resp->body_len);
		TEXT_LIT(&t, "\r\n");
	}
	TEXT_LIT(&t, "\r\n");
	if (t.full)
		return TK_EINTERNAL;
	rc = FCGX_PutStr(head, (int)t.len, out);
	if (rc >= 0 && resp->body_len > 0)
		rc = FCGX_PutStr(resp->body, (int)resp->body_len, out);
	return rc < 0 ? TK_EIO : TK_OK;
}

void
tk_http_response_clear(struct tk_response *resp)
{
	free(resp->body);
	memset(resp, 0, sizeof(*resp));
}

bool
tk_http_is_json(const char *ct)
{
	size_t	len;

	if (ct == NULL)
		return false;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	len = strlen("application/json");
	if (strncasecmp(ct, "application/json", len) != 0)
		return false;
	ct += len;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}
