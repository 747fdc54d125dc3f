/*
 * tk_http.h - requests and responses of the FastCGI responder.
 *
 * A request is read from libfcgi into struct tk_request (the CGI
 * variables tokend uses and the body, cut at max_body_bytes + 1 so that
 * the size is judged by what was read, never by CONTENT_LENGTH).
 * Handlers fill a struct tk_response; tk_http_write() sends it.  This is
 * the only module that knows HTTP statuses, titles and challenges.
 */
#ifndef TK_HTTP_H
#define TK_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <fcgiapp.h>
#include <json-c/json.h>
#include "tk_err.h"

#define TK_REQUEST_ID_MAX	64

struct tk_request {
	const char	*role;		/* FCGI_ROLE */
	const char	*method;
	const char	*uri;		/* REQUEST_URI */
	const char	*content_type;	/* NULL when absent */
	const char	*authorization;	/* HTTP_AUTHORIZATION, NULL when absent */
	const char	*client_key;	/* HTTP_X_CLIENT_KEY, NULL when absent */
	const char	*remote_addr;
	/* Authorizer role: the protected location's requirements, if any. */
	const char	*require_scope;		/* TOKEND_REQUIRE_SCOPE */
	const char	*require_audience;	/* TOKEND_REQUIRE_AUDIENCE */
	char		 request_id[TK_REQUEST_ID_MAX + 1];
	/* Bytes of every HTTP_* parameter as FastCGI carries it (NAME=value). */
	size_t		 header_bytes;
	char		*body;		/* owned, NUL-terminated, may hold NULs */
	size_t		 body_len;
	bool		 body_too_large;
};

struct tk_response {
	int		 status;
	const char	*error;		/* the problem's error code, for the log */
	char		 headers[1024];	/* extra header lines, each ending \r\n */
	size_t		 headers_len;
	const char	*content_type;
	char		*body;		/* owned */
	size_t		 body_len;
	char		 token_id[40];	/* for the log: the id issued or revoked */
	char		 client_id[40];	/* for the log: the client, when known */
};

/*
 * Fill *req from the FastCGI request: the variables above, a request id
 * (the client's X-Request-Id when it is 1-64 of [A-Za-z0-9._-], else a
 * new one), the size of the headers (header_bytes, for max_header_bytes)
 * and, when read_body and the role is RESPONDER, at most
 * max_body + 1 bytes of body, all of it before deadline (CLOCK_MONOTONIC;
 * NULL: no bound but the socket's own).
 * TK_ENOMEM, or TK_ETIMEDOUT when the body did not arrive in time (what
 * came is kept); the strings borrowed from fcgx live as long as it.
 */
enum tk_err	 tk_http_read(FCGX_Request *fcgx, size_t max_body, bool read_body,
		    const struct timespec *deadline, struct tk_request *req);
void		 tk_http_request_clear(struct tk_request *);

/* Take the request id the client sent if it is acceptable, else make one. */
void		 tk_http_request_id(const char *sent, char out[TK_REQUEST_ID_MAX + 1]);

/* Append "name: value\r\n"; silently dropped if the buffer is full. */
void		 tk_http_add_header(struct tk_response *, const char *name,
		    const char *value);

/* Status and a JSON body (the object is serialised, not kept). */
enum tk_err	 tk_http_json(struct tk_response *, int status, struct json_object *);

/*
 * Status and a flat JSON object written directly, member by member in
 * the order given, the same text json-c would write for it (the token
 * responses: a tenth of a request's own instructions went into building
 * and serialising json-c objects).  str NULL is null; is_int writes num.
 */
struct tk_http_field {
	const char	*key;
	const char	*str;
	bool		 is_int;
	long long	 num;
};
enum tk_err	 tk_http_json_fields(struct tk_response *, int status,
		    const struct tk_http_field *, size_t n);

/* Status with no body. */
void		 tk_http_empty(struct tk_response *, int status);

/*
 * A problem+json answer for an error code of CONTRACT §8: status,
 * fixed title and type come from the code; detail is shown as given and
 * must hold no secret.  TK_EINVAL for an unknown code (sent as 500).
 */
enum tk_err	 tk_http_problem(struct tk_response *, const char *error,
		    const char *detail, const char *request_id);

/* The status of an error code, 500 when unknown. */
int		 tk_http_error_status(const char *error);

/* Headers, then the body: the whole response on out. */
enum tk_err	 tk_http_write(FCGX_Stream *out, const struct tk_response *,
		    const char *request_id);

void		 tk_http_response_clear(struct tk_response *);

/* Is the media type application/json (parameters ignored, any case)? */
bool		 tk_http_is_json(const char *content_type);

#endif /* TK_HTTP_H */
