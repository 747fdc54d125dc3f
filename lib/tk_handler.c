/*
 * tk_handler.c - IssueLongTermToken, IssueShortTermToken, RevokeToken.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "tk_cred.h"
#include "tk_handler.h"
#include "tk_json.h"
#include "tk_log.h"
#include "tk_route.h"
#include "tk_token.h"

#define CH_BEARER		"Bearer realm=\"tokend\""
#define CH_KEY			"ClientKey realm=\"tokend\", header=\"X-Client-Key\""
#define CH_BEARER_INVALID	"Bearer realm=\"tokend\", error=\"invalid_token\""
#define CH_KEY_INVALID		"ClientKey realm=\"tokend\", header=\"X-Client-Key\", " \
				"error=\"invalid_client\""
#define CH_INSUFFICIENT		"Bearer realm=\"tokend\", error=\"insufficient_scope\""

/* Fixed details: a 401 on a key and a 404 on a token never say more. */
#define DETAIL_BAD_KEY		"client authentication failed"
#define DETAIL_BAD_TOKEN	"the token is not valid"
#define DETAIL_NO_TOKEN		"no token with this id can be reached with this credential"

enum stmt {
	STMT_ISSUE_LONG,
	STMT_ROTATE,
	STMT_ISSUE_SHORT,
	STMT_REVOKE,
	STMT_READY,
	STMT_CHECK_SHORT,
	STMT_INTROSPECT,
};

const struct tk_pool_stmt tk_handler_stmts[] = {
	[STMT_ISSUE_LONG] = { "tokend_issue_long",
	    "SELECT * FROM tokend_issue_long($1::uuid, $2::uuid, $3::bytea, "
	    "$4::uuid, $5::bytea, $6::text, $7::integer, $8::text, $9::text, "
	    "$10::inet)", 10 },
	[STMT_ROTATE] = { "tokend_rotate",
	    "SELECT * FROM tokend_rotate($1::uuid, $2::uuid, $3::bytea, "
	    "$4::uuid, $5::bytea, $6::uuid, $7::uuid, $8::bytea, $9::text, "
	    "$10::integer, $11::integer, $12::integer, $13::text, $14::text, "
	    "$15::inet)", 15 },
	[STMT_ISSUE_SHORT] = { "tokend_issue_short",
	    "SELECT * FROM tokend_issue_short($1::uuid, $2::bytea, $3::uuid, "
	    "$4::bytea, $5::text, $6::integer, $7::text, $8::text, $9::inet)", 9 },
	[STMT_REVOKE] = { "tokend_revoke",
	    "SELECT * FROM tokend_revoke($1::text, $2::uuid, $3::bytea, "
	    "$4::uuid, $5::text, $6::inet)", 6 },
	[STMT_READY] = { "tokend_ready",
	    "SELECT pg_is_in_recovery() OR "
	    "current_setting('transaction_read_only')::boolean, "
	    "tokend_partition_ok()", 0 },
	[STMT_CHECK_SHORT] = { "tokend_check_short",
	    "SELECT * FROM tokend_check_short($1::uuid, $2::bytea)", 2 },
	[STMT_INTROSPECT] = { "tokend_introspect",
	    "SELECT * FROM tokend_introspect($1::uuid, $2::bytea, $3::uuid, "
	    "$4::bytea)", 4 },
};
const unsigned int tk_handler_nstmts =
    sizeof(tk_handler_stmts) / sizeof(tk_handler_stmts[0]);

/* Columns every function returns first. */
enum { COL_OUTCOME, COL_DETAIL, COL_KNOWN_CLIENT, COL_FIRST_VALUE };

/* A token made for the answer, before the database accepts it. */
struct minted {
	char		 token[TK_TOKEN_LEN + 1];
	char		 id[TK_UUID_STR_LEN + 1];
	unsigned char	 digest[TK_DIGEST_LEN];
};

static enum tk_err
mint(enum tk_token_kind kind, struct minted *m)
{
	unsigned char	id[TK_UUID_LEN];
	enum tk_err	err;

	if ((err = tk_token_mint_new(kind, id, m->token)) != TK_OK)
		return err;
	tk_uuid_format(id, m->id);
	tk_token_digest(m->token, m->digest);
	return TK_OK;
}

static void
no_store(struct tk_response *resp)
{
	tk_http_add_header(resp, "Cache-Control", "no-store");
	tk_http_add_header(resp, "Pragma", "no-cache");
}

static void
problem(struct tk_response *resp, const char *error, const char *detail,
    const char *request_id)
{
	if (tk_http_problem(resp, error, detail, request_id) != TK_OK)
		tk_log_error("unknown error code %s request_id=%s", error,
		    request_id);
}

static void
unavailable(const struct tk_handler_ctx *ctx, struct tk_response *resp,
    enum tk_err err, const char *request_id)
{
	char	seconds[16];

	if (err == TK_EINTERNAL) {
		problem(resp, "server_error", "internal error; see the log for "
		    "this request id", request_id);
		return;
	}
	problem(resp, "service_unavailable", err == TK_ETIMEDOUT ?
	    "the request timed out; retry later" :
	    "the database is unavailable; retry later", request_id);
	snprintf(seconds, sizeof(seconds), "%u", ctx->cfg->retry_after_seconds);
	tk_http_add_header(resp, "Retry-After", seconds);
}

/* 401 on a missing credential: the challenges, no error= (RFC 6750 §3.1). */
static void
no_credential(struct tk_response *resp, bool key_too, const char *request_id)
{
	tk_http_add_header(resp, "WWW-Authenticate", CH_BEARER);
	if (key_too)
		tk_http_add_header(resp, "WWW-Authenticate", CH_KEY);
	problem(resp, key_too ? "invalid_client" : "invalid_token",
	    "this request needs a credential", request_id);
}

/*
 * The client a refused credential named, as the TK_UUID_STR_LEN
 * characters tk_abuse_fail() takes: column col of the database's row when
 * it holds a client id, else TK_ABUSE_NO_CLIENT.  The source is picked
 * with a mask rather than a branch and copied at full length either way:
 * a wrong key of an existing client and a key of an unknown one must cost
 * tokend the same work, or the time of a 401 would tell which client ids
 * exist (tests/timing/run.sh counts the instructions).
 */
static void
known_client(const PGresult *res, int col, char out[TK_UUID_STR_LEN + 1])
{
	static const char	 none[] = TK_ABUSE_NO_CLIENT;
	const char		*value = PQgetvalue(res, 0, col);
	uintptr_t		 known, mask;

	known = (uintptr_t)(PQgetisnull(res, 0, col) == 0) &
	    (uintptr_t)(PQgetlength(res, 0, col) == TK_UUID_STR_LEN);
	mask = (uintptr_t)0 - known;	/* all ones when known */
	memcpy(out, (const char *)(((uintptr_t)value & mask) |
	    ((uintptr_t)none & ~mask)), TK_UUID_STR_LEN);
	out[TK_UUID_STR_LEN] = '\0';
}

/*
 * A refused credential: counted per address (and client, when it named
 * one that exists) in shared memory, never with a write of its own.
 * client is TK_UUID_STR_LEN characters: known_client() or
 * TK_ABUSE_NO_CLIENT.
 */
static void
bad_key(const struct tk_handler_ctx *ctx, const struct tk_request *req,
    struct tk_response *resp, const char *client)
{
	tk_abuse_fail(ctx->abuse, req->remote_addr, client);
	tk_http_add_header(resp, "WWW-Authenticate", CH_KEY_INVALID);
	problem(resp, "invalid_client", DETAIL_BAD_KEY, req->request_id);
}

static void
bad_token(const struct tk_handler_ctx *ctx, const struct tk_request *req,
    struct tk_response *resp, const char *client)
{
	tk_abuse_fail(ctx->abuse, req->remote_addr, client);
	tk_http_add_header(resp, "WWW-Authenticate", CH_BEARER_INVALID);
	problem(resp, "invalid_token", DETAIL_BAD_TOKEN, req->request_id);
}

/* 429 once the address has used its budget of failures (CONTRACT §12). */
static bool
limited(const struct tk_handler_ctx *ctx, const struct tk_request *req,
    struct tk_response *resp)
{
	char	seconds[16];

	if (!tk_abuse_is_limited(ctx->abuse, req->remote_addr))
		return false;
	problem(resp, "too_many_requests", "too many failed authentications "
	    "from this address; retry later", req->request_id);
	snprintf(seconds, sizeof(seconds), "%u", ctx->cfg->retry_after_seconds);
	tk_http_add_header(resp, "Retry-After", seconds);
	return true;
}

/* Map a failed outcome of a SQL function to its answer. */
static void
outcome_problem(const struct tk_handler_ctx *ctx, const struct tk_request *req,
    struct tk_response *resp, const PGresult *res)
{
	const char	*outcome = PQgetvalue(res, 0, COL_OUTCOME);
	const char	*detail = PQgetvalue(res, 0, COL_DETAIL);
	const char	*request_id = req->request_id;
	char		 client[TK_UUID_STR_LEN + 1];

	known_client(res, COL_KNOWN_CLIENT, client);
	if (strcmp(outcome, "invalid_client") == 0)
		bad_key(ctx, req, resp, client);
	else if (strcmp(outcome, "invalid_token") == 0)
		bad_token(ctx, req, resp, client);
	else if (strcmp(outcome, "insufficient_scope") == 0) {
		tk_http_add_header(resp, "WWW-Authenticate", CH_INSUFFICIENT);
		problem(resp, outcome, detail, request_id);
	} else if (strcmp(outcome, "not_found") == 0)
		problem(resp, outcome, DETAIL_NO_TOKEN, request_id);
	else if (strcmp(outcome, "invalid_request") == 0 ||
	    strcmp(outcome, "invalid_scope") == 0 ||
	    strcmp(outcome, "conflict") == 0)
		problem(resp, outcome, detail, request_id);
	else {
		tk_log_error("unexpected outcome %s request_id=%s", outcome,
		    request_id);
		problem(resp, "server_error", "internal error; see the log for "
		    "this request id", request_id);
	}
}

/*
 * The Bearer credential of a request, of one of the kinds in mask
 * (bits 1 << TK_TOKEN_LONG...).  False when it has answered already:
 * 401 with the challenges when there is none (key_too adds ClientKey),
 * 400 when malformed, 401 invalid_token when of another kind or not
 * well formed - judged offline, without the database.
 */
static bool
take_bearer(const struct tk_handler_ctx *ctx, const struct tk_request *req,
    struct tk_response *resp, struct tk_cred *c, bool key_too, unsigned int mask)
{
	tk_cred_bearer(req->authorization, c);
	if (c->state == TK_CRED_NONE) {
		no_credential(resp, key_too, req->request_id);
		return false;
	}
	if (c->state == TK_CRED_MALFORMED) {
		problem(resp, "invalid_request", "the Authorization header must "
		    "hold exactly one Bearer token", req->request_id);
		return false;
	}
	if (!c->well_formed || (mask & (1u << c->tok.kind)) == 0) {
		bad_token(ctx, req, resp, TK_ABUSE_NO_CLIENT);
		return false;
	}
	return true;
}

/* The JSON shape limits of the settings, for the scanner. */
static void
json_limits(const struct tk_handler_ctx *ctx, struct tk_json_limits *lim)
{
	lim->max_depth = ctx->cfg->max_json_depth;
	lim->max_members = ctx->cfg->max_json_members;
	lim->max_string_bytes = ctx->cfg->max_string_bytes;
}

/* Body checks of the order of CONTRACT §8: size, then media type. */
static bool
body_acceptable(const struct tk_request *req, struct tk_response *resp,
    bool optional)
{
	if (req->body_too_large) {
		problem(resp, "payload_too_large", "the request body is too large",
		    req->request_id);
		return false;
	}
	if (optional && req->body_len == 0)
		return true;
	if (!tk_http_is_json(req->content_type)) {
		problem(resp, "unsupported_media_type",
		    "the request body must be application/json", req->request_id);
		return false;
	}
	return true;
}

static void
add_string(struct json_object *obj, const char *key, const char *value)
{
	json_object_object_add(obj, key, value != NULL ?
	    json_object_new_string(value) : NULL);
}

static void
ttl_text(char *buf, size_t len, bool has, int64_t value)
{
	if (has)
		snprintf(buf, len, "%lld", (long long)value);
	else
		buf[0] = '\0';
}

/* The 201 of IssueLongTermToken, from the row of issue_long or rotate. */
static void
long_created(struct tk_response *resp, const PGresult *res,
    const struct minted *m, const char *request_id)
{
	const int			c = COL_FIRST_VALUE;
	const struct tk_http_field	f[] = {
		{ "token_id", PQgetvalue(res, 0, c), false, 0 },
		{ "long_token", m->token, false, 0 },
		{ "token_type", "long", false, 0 },
		{ "client_id", PQgetvalue(res, 0, c + 1), false, 0 },
		{ "scope", PQgetvalue(res, 0, c + 2), false, 0 },
		{ "issued_at", PQgetvalue(res, 0, c + 3), false, 0 },
		{ "expires_at", PQgetvalue(res, 0, c + 4), false, 0 },
		{ "rotated_from", PQgetisnull(res, 0, c + 5) ? NULL :
		    PQgetvalue(res, 0, c + 5), false, 0 },
	};

	if (tk_http_json_fields(resp, 201, f, sizeof(f) / sizeof(f[0])) != TK_OK)
		problem(resp, "server_error", "out of memory", request_id);
	snprintf(resp->token_id, sizeof(resp->token_id), "%s", m->id);
	snprintf(resp->client_id, sizeof(resp->client_id), "%s",
	    PQgetvalue(res, 0, c + 1));
}

/*
 * Run one SQL function.  On TK_OK *res is its row; a failure has already
 * been answered in resp.
 */
static enum tk_err
call(const struct tk_handler_ctx *ctx, enum stmt stmt, const char *const *values,
    const int *lengths, const int *formats, const struct tk_request *req,
    const struct timespec *deadline, struct tk_response *resp, PGresult **res)
{
	enum tk_err	err;

	err = tk_pool_exec(ctx->pool, stmt, values, lengths, formats, deadline,
	    req->request_id, res);
	if (err != TK_OK) {
		unavailable(ctx, resp, err, req->request_id);
		return err;
	}
	if (PQntuples(*res) != 1 || PQnfields(*res) < COL_FIRST_VALUE) {
		tk_log_error("statement %s returned %d rows request_id=%s",
		    tk_handler_stmts[stmt].name, PQntuples(*res), req->request_id);
		PQclear(*res);
		*res = NULL;
		unavailable(ctx, resp, TK_EINTERNAL, req->request_id);
		return TK_EINTERNAL;
	}
	return TK_OK;
}

static const char *
remote_or_null(const struct tk_request *req)
{
	return req->remote_addr[0] != '\0' ? req->remote_addr : NULL;
}

static void
serve_long(const struct tk_handler_ctx *ctx, const struct tk_request *req,
    const struct timespec *deadline, struct tk_response *resp)
{
	struct tk_long_req	 lr;
	struct tk_json_limits	 lim;
	struct tk_json_error	 jerr;
	struct tk_cred		 key, bearer;
	struct minted		 m;
	PGresult		*res = NULL;
	char			 ttl[24], overlap[24], grace[24];
	const char		*outcome;
	bool			 rotate;

	memset(&lr, 0, sizeof(lr));
	memset(&m, 0, sizeof(m));
	no_store(resp);
	if (!body_acceptable(req, resp, false))
		goto out;
	json_limits(ctx, &lim);
	if (tk_json_parse_long(req->body, req->body_len, &lim, &lr, &jerr) !=
	    TK_OK) {
		problem(resp, jerr.error, jerr.detail, req->request_id);
		goto out;
	}
	if (limited(ctx, req, resp))
		goto out;
	rotate = lr.grant == TK_GRANT_ROTATE;

	/* The credential: a client key wins over an Authorization header. */
	tk_cred_key(req->client_key, &key);
	if (key.state == TK_CRED_PRESENT) {
		if (rotate && !lr.has_token_id) {
			problem(resp, "invalid_request", "token_id is required "
			    "to rotate with a client key", req->request_id);
			goto out;
		}
		if (!key.well_formed || key.tok.kind != TK_TOKEN_CLIENT) {
			bad_key(ctx, req, resp, TK_ABUSE_NO_CLIENT);
			goto out;
		}
	} else if (!rotate) {
		no_credential(resp, true, req->request_id);
		goto out;
	} else if (!take_bearer(ctx, req, resp, &bearer, true,
	    1u << TK_TOKEN_SHORT))
		goto out;

	if (mint(TK_TOKEN_LONG, &m) != TK_OK) {
		unavailable(ctx, resp, TK_EINTERNAL, req->request_id);
		goto out;
	}
	ttl_text(ttl, sizeof(ttl), lr.has_ttl, lr.ttl_seconds);
	ttl_text(overlap, sizeof(overlap), lr.has_overlap, lr.overlap_seconds);
	snprintf(grace, sizeof(grace), "%u", ctx->cfg->rotation_grace_seconds);
	if (!rotate) {
		const char *values[10] = { lr.client_id, key.id,
		    (const char *)key.digest, m.id, (const char *)m.digest,
		    lr.scope, ttl[0] ? ttl : NULL, lr.label, req->request_id,
		    remote_or_null(req) };
		const int lengths[10] = { 0, 0, TK_DIGEST_LEN, 0, TK_DIGEST_LEN };
		const int formats[10] = { 0, 0, 1, 0, 1 };

		if (call(ctx, STMT_ISSUE_LONG, values, lengths, formats, req,
		    deadline, resp, &res) != TK_OK)
			goto out;
	} else {
		bool k = key.state == TK_CRED_PRESENT;
		const char *values[15] = { lr.client_id, k ? key.id : NULL,
		    k ? (const char *)key.digest : NULL, k ? NULL : bearer.id,
		    k ? NULL : (const char *)bearer.digest,
		    lr.has_token_id ? lr.token_id : NULL, m.id,
		    (const char *)m.digest, lr.scope, ttl[0] ? ttl : NULL,
		    overlap[0] ? overlap : NULL, grace, lr.label,
		    req->request_id, remote_or_null(req) };
		const int lengths[15] = { 0, 0, TK_DIGEST_LEN, 0, TK_DIGEST_LEN,
		    0, 0, TK_DIGEST_LEN };
		const int formats[15] = { 0, 0, 1, 0, 1, 0, 0, 1 };

		if (call(ctx, STMT_ROTATE, values, lengths, formats, req,
		    deadline, resp, &res) != TK_OK)
			goto out;
	}
	outcome = PQgetvalue(res, 0, COL_OUTCOME);
	if (strcmp(outcome, "ok") == 0)
		long_created(resp, res, &m, req->request_id);
	else
		outcome_problem(ctx, req, resp, res);
out:
	PQclear(res);
	OPENSSL_cleanse(&m, sizeof(m));
	tk_long_req_clear(&lr);
}

static void
serve_short(const struct tk_handler_ctx *ctx, const struct tk_request *req,
    const struct timespec *deadline, struct tk_response *resp)
{
	struct tk_short_req	 sr;
	struct tk_json_limits	 lim;
	struct tk_json_error	 jerr;
	struct tk_cred		 bearer;
	struct minted		 m;
	PGresult		*res = NULL;
	char			 ttl[24];
	const char		*outcome;
	int			 c = COL_FIRST_VALUE;

	memset(&sr, 0, sizeof(sr));
	memset(&m, 0, sizeof(m));
	no_store(resp);
	if (!body_acceptable(req, resp, true))
		goto out;
	json_limits(ctx, &lim);
	if (tk_json_parse_short(req->body, req->body_len, &lim, &sr, &jerr) !=
	    TK_OK) {
		problem(resp, jerr.error, jerr.detail, req->request_id);
		goto out;
	}
	if (limited(ctx, req, resp))
		goto out;
	if (!take_bearer(ctx, req, resp, &bearer, false, 1u << TK_TOKEN_LONG))
		goto out;
	if (mint(TK_TOKEN_SHORT, &m) != TK_OK) {
		unavailable(ctx, resp, TK_EINTERNAL, req->request_id);
		goto out;
	}
	ttl_text(ttl, sizeof(ttl), sr.has_ttl, sr.ttl_seconds);
	{
		const char *values[9] = { bearer.id, (const char *)bearer.digest,
		    m.id, (const char *)m.digest, sr.scope, ttl[0] ? ttl : NULL,
		    sr.audience, req->request_id, remote_or_null(req) };
		const int lengths[9] = { 0, TK_DIGEST_LEN, 0, TK_DIGEST_LEN };
		const int formats[9] = { 0, 1, 0, 1 };

		if (call(ctx, STMT_ISSUE_SHORT, values, lengths, formats, req,
		    deadline, resp, &res) != TK_OK)
			goto out;
	}
	outcome = PQgetvalue(res, 0, COL_OUTCOME);
	if (strcmp(outcome, "ok") != 0) {
		outcome_problem(ctx, req, resp, res);
		goto out;
	}
	{
		const struct tk_http_field	f[] = {
			{ "token_id", PQgetvalue(res, 0, c), false, 0 },
			{ "access_token", m.token, false, 0 },
			{ "token_type", "Bearer", false, 0 },
			{ "expires_in", NULL, true,
			    atoi(PQgetvalue(res, 0, c + 2)) },
			{ "expires_at", PQgetvalue(res, 0, c + 3), false, 0 },
			{ "scope", PQgetvalue(res, 0, c + 1), false, 0 },
			{ "long_token_id", PQgetvalue(res, 0, c + 4), false, 0 },
		};

		if (tk_http_json_fields(resp, 201, f,
		    sizeof(f) / sizeof(f[0])) != TK_OK)
			problem(resp, "server_error", "out of memory",
			    req->request_id);
	}
	snprintf(resp->token_id, sizeof(resp->token_id), "%s", m.id);
out:
	PQclear(res);
	OPENSSL_cleanse(&m, sizeof(m));
	tk_short_req_clear(&sr);
}

static void
serve_revoke(const struct tk_handler_ctx *ctx, const struct tk_request *req,
    const struct tk_route *route, const struct timespec *deadline,
    struct tk_response *resp)
{
	unsigned char	 target[TK_UUID_LEN];
	char		 target_id[TK_UUID_STR_LEN + 1];
	struct tk_cred	 bearer;
	PGresult	*res = NULL;
	const char	*outcome;

	no_store(resp);
	/* The body, if any, is ignored: no size or media type checks. */
	if (!tk_uuid_parse(route->param, target)) {
		problem(resp, "invalid_request", "tokenId must be a UUID",
		    req->request_id);
		return;
	}
	tk_uuid_format(target, target_id);
	if (limited(ctx, req, resp))
		return;
	if (!take_bearer(ctx, req, resp, &bearer, false,
	    1u << TK_TOKEN_LONG | 1u << TK_TOKEN_SHORT))
		return;
	{
		const char *values[6] = { bearer.tok.kind == TK_TOKEN_LONG ?
		    "long" : "short", bearer.id, (const char *)bearer.digest,
		    target_id, req->request_id, remote_or_null(req) };
		const int lengths[6] = { 0, 0, TK_DIGEST_LEN };
		const int formats[6] = { 0, 0, 1 };

		if (call(ctx, STMT_REVOKE, values, lengths, formats, req,
		    deadline, resp, &res) != TK_OK)
			return;
	}
	outcome = PQgetvalue(res, 0, COL_OUTCOME);
	if (strcmp(outcome, "ok") == 0) {
		tk_http_empty(resp, 204);
		snprintf(resp->token_id, sizeof(resp->token_id), "%s", target_id);
	} else
		outcome_problem(ctx, req, resp, res);
	PQclear(res);
}

/* Does the space-separated list have hold every word of need? */
static bool
has_all_words(const char *have, const char *need)
{
	size_t	hlen = strlen(have);

	while (*need != '\0') {
		size_t		 n = strcspn(need, " ");
		const char	*p = have;
		bool		 found = false;

		while (n > 0 && !found && p < have + hlen) {
			size_t m = strcspn(p, " ");

			found = m == n && strncmp(p, need, n) == 0;
			p += m + (p[m] == ' ');
		}
		if (n > 0 && !found)
			return false;
		need += n + (need[n] == ' ');
	}
	return true;
}

void
tk_handler_authorize(const struct tk_handler_ctx *ctx,
    const struct tk_request *req, const struct timespec *deadline,
    struct tk_response *resp)
{
	struct tk_cred	 bearer;
	PGresult	*res = NULL;
	const char	*outcome;
	int		 c = 2;		/* first value after outcome, known_client */

	if (limited(ctx, req, resp))
		return;
	/* Only a short-term token opens a protected location. */
	if (!take_bearer(ctx, req, resp, &bearer, false, 1u << TK_TOKEN_SHORT))
		return;
	{
		const char *values[2] = { bearer.id, (const char *)bearer.digest };
		const int lengths[2] = { 0, TK_DIGEST_LEN };
		const int formats[2] = { 0, 1 };

		enum tk_err err;

		err = tk_pool_exec(ctx->pool, STMT_CHECK_SHORT, values, lengths,
		    formats, deadline, req->request_id, &res);
		if (err == TK_OK && PQntuples(res) != 1)
			err = TK_EINTERNAL;
		if (err != TK_OK) {
			unavailable(ctx, resp, err, req->request_id);
			goto out;
		}
	}
	outcome = PQgetvalue(res, 0, 0);
	if (strcmp(outcome, "ok") != 0) {
		char client[TK_UUID_STR_LEN + 1];

		known_client(res, 1, client);
		bad_token(ctx, req, resp, client);
		goto out;
	}
	if ((req->require_scope != NULL &&
	    !has_all_words(PQgetvalue(res, 0, c + 2), req->require_scope)) ||
	    (req->require_audience != NULL &&
	    !has_all_words(PQgetvalue(res, 0, c + 3), req->require_audience))) {
		tk_http_add_header(resp, "WWW-Authenticate", CH_INSUFFICIENT);
		problem(resp, "insufficient_scope", "the token does not meet the "
		    "requirements of this location", req->request_id);
		goto out;
	}
	/* The web server hands these to the protected application. */
	tk_http_add_header(resp, "Variable-TOKEN_CLIENT_ID", PQgetvalue(res, 0, c));
	tk_http_add_header(resp, "Variable-TOKEN_ID", PQgetvalue(res, 0, c + 1));
	tk_http_add_header(resp, "Variable-TOKEN_SCOPE", PQgetvalue(res, 0, c + 2));
	tk_http_add_header(resp, "Variable-TOKEN_AUDIENCE",
	    PQgetvalue(res, 0, c + 3));
	tk_http_add_header(resp, "Variable-TOKEN_EXPIRES_AT",
	    PQgetvalue(res, 0, c + 4));
	tk_http_empty(resp, 200);
	snprintf(resp->token_id, sizeof(resp->token_id), "%s",
	    PQgetvalue(res, 0, c + 1));
	snprintf(resp->client_id, sizeof(resp->client_id), "%s",
	    PQgetvalue(res, 0, c));
out:
	PQclear(res);
}

/*
 * POST /auth/tokens/introspect (RFC 7662): a resource server asks, with
 * its client key, about a token.  Anything but a valid short-term token
 * within its reach is {"active": false}; only the caller's own failed
 * authentication counts toward the rate limit.
 */
static void
serve_introspect(const struct tk_handler_ctx *ctx, const struct tk_request *req,
    const struct timespec *deadline, struct tk_response *resp)
{
	struct tk_introspect_req ir;
	struct tk_json_limits	 lim;
	struct tk_json_error	 jerr;
	struct tk_cred		 key, tok;
	struct json_object	*obj = NULL;
	PGresult		*res = NULL;
	int			 c = COL_FIRST_VALUE;

	memset(&ir, 0, sizeof(ir));
	no_store(resp);
	if (!body_acceptable(req, resp, false))
		goto out;
	json_limits(ctx, &lim);
	if (tk_json_parse_introspect(req->body, req->body_len, &lim, &ir,
	    &jerr) != TK_OK) {
		problem(resp, jerr.error, jerr.detail, req->request_id);
		goto out;
	}
	if (limited(ctx, req, resp))
		goto out;
	tk_cred_key(req->client_key, &key);
	if (key.state != TK_CRED_PRESENT) {
		tk_http_add_header(resp, "WWW-Authenticate", CH_KEY);
		problem(resp, "invalid_client", "this request needs a credential",
		    req->request_id);
		goto out;
	}
	if (!key.well_formed || key.tok.kind != TK_TOKEN_CLIENT) {
		bad_key(ctx, req, resp, TK_ABUSE_NO_CLIENT);
		goto out;
	}
	memset(&tok, 0, sizeof(tok));
	tk_cred_check(&tok, ir.token, strlen(ir.token));
	{
		bool ok = tok.well_formed && tok.tok.kind == TK_TOKEN_SHORT;
		const char *values[4] = { key.id, (const char *)key.digest,
		    ok ? tok.id : NULL, ok ? (const char *)tok.digest : NULL };
		const int lengths[4] = { 0, TK_DIGEST_LEN, 0, TK_DIGEST_LEN };
		const int formats[4] = { 0, 1, 0, 1 };

		if (call(ctx, STMT_INTROSPECT, values, lengths, formats, req,
		    deadline, resp, &res) != TK_OK)
			goto out;
	}
	if (strcmp(PQgetvalue(res, 0, COL_OUTCOME), "ok") != 0) {
		outcome_problem(ctx, req, resp, res);
		goto out;
	}
	obj = json_object_new_object();
	if (strcmp(PQgetvalue(res, 0, c), "t") != 0)
		json_object_object_add(obj, "active", json_object_new_boolean(0));
	else {
		json_object_object_add(obj, "active", json_object_new_boolean(1));
		add_string(obj, "client_id", PQgetvalue(res, 0, c + 1));
		add_string(obj, "token_id", PQgetvalue(res, 0, c + 2));
		add_string(obj, "scope", PQgetvalue(res, 0, c + 3));
		/* RFC 7662: a member without a value is left out. */
		if (!PQgetisnull(res, 0, c + 4))
			add_string(obj, "aud", PQgetvalue(res, 0, c + 4));
		json_object_object_add(obj, "exp", json_object_new_int64(
		    strtoll(PQgetvalue(res, 0, c + 5), NULL, 10)));
		json_object_object_add(obj, "iat", json_object_new_int64(
		    strtoll(PQgetvalue(res, 0, c + 6), NULL, 10)));
		add_string(obj, "token_type", "Bearer");
	}
	if (tk_http_json(resp, 200, obj) != TK_OK)
		problem(resp, "server_error", "out of memory", req->request_id);
out:
	json_object_put(obj);
	PQclear(res);
	tk_introspect_req_clear(&ir);
}

/* GET /healthz: the process answers; the database is not asked. */
static void
serve_healthz(const struct tk_request *req, struct tk_response *resp)
{
	struct json_object	*obj = json_object_new_object();

	no_store(resp);
	json_object_object_add(obj, "status", json_object_new_string("ok"));
	if (tk_http_json(resp, 200, obj) != TK_OK)
		problem(resp, "server_error", "out of memory", req->request_id);
	json_object_put(obj);
}

/*
 * GET /readyz: one round trip; 503 says why the database cannot serve,
 * "degraded" (still 200) that next month's audit partition is missing.
 */
static void
serve_readyz(const struct tk_handler_ctx *ctx, const struct tk_request *req,
    const struct timespec *deadline, struct tk_response *resp)
{
	struct json_object	*obj = json_object_new_object();
	PGresult		*res = NULL;
	const char		*why = NULL;
	char			 seconds[16];
	bool			 degraded;
	enum tk_err		 err;

	no_store(resp);
	err = tk_pool_exec(ctx->pool, STMT_READY, NULL, NULL, NULL, deadline,
	    req->request_id, &res);
	if (err == TK_ETIMEDOUT)
		why = "timeout";
	else if (err != TK_OK || PQntuples(res) != 1)
		why = "unavailable";
	else if (strcmp(PQgetvalue(res, 0, 0), "t") == 0)
		why = "read-only";
	/*
	 * Degraded, not down: tokend serves, but the audit rows of next
	 * month have no partition yet (tokenctl audit partitions).
	 */
	degraded = why == NULL && strcmp(PQgetvalue(res, 0, 1), "t") != 0;
	json_object_object_add(obj, "status", json_object_new_string(
	    why != NULL ? "unavailable" : degraded ? "degraded" : "ready"));
	json_object_object_add(obj, "database",
	    json_object_new_string(why == NULL ? "ok" : why));
	if (why == NULL)
		json_object_object_add(obj, "audit_partitions",
		    json_object_new_string(degraded ? "missing" : "ok"));
	if (tk_http_json(resp, why == NULL ? 200 : 503, obj) != TK_OK)
		problem(resp, "server_error", "out of memory", req->request_id);
	else if (why != NULL) {
		snprintf(seconds, sizeof(seconds), "%u",
		    ctx->cfg->retry_after_seconds);
		tk_http_add_header(resp, "Retry-After", seconds);
	}
	json_object_put(obj);
	PQclear(res);
}

/* Is REMOTE_ADDR one of trusted_addresses? */
static bool
is_trusted_remote(const struct tk_handler_ctx *ctx, const char *addr)
{
	struct sockaddr_in	sin;
	struct sockaddr_in6	sin6;

	memset(&sin, 0, sizeof(sin));
	memset(&sin6, 0, sizeof(sin6));
	if (ctx->trusted == NULL)
		return false;
	if (inet_pton(AF_INET, addr, &sin.sin_addr) == 1) {
		sin.sin_family = AF_INET;
		return tk_addr_list_match(ctx->trusted,
		    (const struct sockaddr *)&sin, sizeof(sin));
	}
	if (inet_pton(AF_INET6, addr, &sin6.sin6_addr) == 1) {
		sin6.sin6_family = AF_INET6;
		return tk_addr_list_match(ctx->trusted,
		    (const struct sockaddr *)&sin6, sizeof(sin6));
	}
	return false;
}

/*
 * GET /status: workers, threads, requests and connections, as JSON or,
 * with ?format=prometheus, as Prometheus text.  Only trusted_addresses
 * may read it; anyone else is told there is no such endpoint.
 */
static void
serve_status(const struct tk_handler_ctx *ctx, const struct tk_request *req,
    struct tk_response *resp)
{
	const char		*query = strchr(req->uri, '?');
	struct json_object	*obj;
	char			*text;

	if (!is_trusted_remote(ctx, req->remote_addr)) {
		problem(resp, "not_found", "no such endpoint", req->request_id);
		return;
	}
	no_store(resp);
	if (ctx->stats == NULL) {
		problem(resp, "service_unavailable", "no counters in this "
		    "process", req->request_id);
		return;
	}
	if (query != NULL && strstr(query, "format=prometheus") != NULL) {
		if ((text = tk_stats_prometheus(ctx->stats)) == NULL) {
			problem(resp, "server_error", "out of memory",
			    req->request_id);
			return;
		}
		free(resp->body);
		resp->body = text;
		resp->body_len = strlen(text);
		resp->status = 200;
		resp->content_type = "text/plain; version=0.0.4";
		return;
	}
	if ((obj = tk_stats_json(ctx->stats)) == NULL ||
	    tk_http_json(resp, 200, obj) != TK_OK)
		problem(resp, "server_error", "out of memory", req->request_id);
	json_object_put(obj);
}

void
tk_handler_serve(const struct tk_handler_ctx *ctx, const struct tk_request *req,
    const struct timespec *deadline, struct tk_response *resp)
{
	struct tk_route	route;

	tk_route_match(ctx->cfg->base_path, req->uri, &route);
	if (route.id == TK_ROUTE_NOT_FOUND) {
		problem(resp, "not_found", "no such endpoint", req->request_id);
		return;
	}
	if (strcmp(req->method, route.allow) != 0) {
		char detail[64];

		snprintf(detail, sizeof(detail), "this endpoint accepts %s",
		    route.allow);
		tk_http_add_header(resp, "Allow", route.allow);
		problem(resp, "method_not_allowed", detail, req->request_id);
		return;
	}
	/*
	 * Headers after path and method, before the body's checks: the
	 * contract's errors have no 431, so it is a 400 naming the limit.
	 */
	if (req->header_bytes > ctx->cfg->max_header_bytes) {
		char detail[96];

		snprintf(detail, sizeof(detail), "the request headers are "
		    "larger than %u bytes (max_header_bytes)",
		    ctx->cfg->max_header_bytes);
		problem(resp, "invalid_request", detail, req->request_id);
		return;
	}
	switch (route.id) {
	case TK_ROUTE_LONG:
		serve_long(ctx, req, deadline, resp);
		break;
	case TK_ROUTE_SHORT:
		serve_short(ctx, req, deadline, resp);
		break;
	case TK_ROUTE_REVOKE:
		serve_revoke(ctx, req, &route, deadline, resp);
		break;
	case TK_ROUTE_INTROSPECT:
		serve_introspect(ctx, req, deadline, resp);
		break;
	case TK_ROUTE_HEALTHZ:
		serve_healthz(req, resp);
		break;
	case TK_ROUTE_READYZ:
		serve_readyz(ctx, req, deadline, resp);
		break;
	case TK_ROUTE_STATUS:
		serve_status(ctx, req, resp);
		break;
	case TK_ROUTE_NOT_FOUND:
		break;
	}
}
