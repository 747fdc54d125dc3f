/*
 * test_tk_handler.c - the token endpoints against a real PostgreSQL.
 *
 * tk_handler_serve() is driven directly with hand-built requests, a
 * real pool and the settings' defaults; every database path of the
 * handlers is checked by its answer (status, challenges, headers, JSON)
 * and by the rows it left in tokens, revocations and token_events.
 * Each test makes its own clients, so counts by client or family are
 * exact.  Needs TOKEND_TEST_DATABASE_URL and TOKEND_SQL_DIR (else exit
 * 77, skipped); works in a scratch database it creates and drops.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <json-c/json.h>

#include "tk_config.h"
#include "tk_handler.h"
#include "tk_http.h"
#include "tk_log.h"
#include "tk_pool.h"
#include "tk_token.h"
#include "tk_testdb.h"

#define CH_BEARER		"Bearer realm=\"tokend\""
#define CH_KEY			"ClientKey realm=\"tokend\", header=\"X-Client-Key\""
#define CH_BEARER_INVALID	"Bearer realm=\"tokend\", error=\"invalid_token\""
#define CH_KEY_INVALID		"ClientKey realm=\"tokend\", header=\"X-Client-Key\", " \
				"error=\"invalid_client\""
#define CH_INSUFFICIENT		"Bearer realm=\"tokend\", error=\"insufficient_scope\""

#define P_LONG		"/auth/tokens/long"
#define P_SHORT		"/auth/tokens/short"

#define ALL_SCOPES	"{read,write,admin,tokend:rotate,tokend:revoke}"

static char *cfg_argv[] = { "test_tk_handler", NULL };

static struct {
	struct tkdb		 db;
	PGconn			*pg;	/* for setup and the checks */
	struct tk_config	*cfg;
	struct tk_pool		*pool;
	unsigned int		 seq;
} T;

struct tok {
	char	token[TK_TOKEN_LEN + 1];
	char	id[TK_UUID_STR_LEN + 1];
};

/* One request and its answer. */
struct answer {
	struct tk_response	 resp;
	struct json_object	*json;		/* the body parsed, or NULL */
	char			 request_id[TK_REQUEST_ID_MAX + 1];
	double			 ms;		/* time in tk_handler_serve */
};

static struct tk_pool *
pool_new(const char *conninfo, unsigned int size, unsigned int stmt_timeout_ms,
    bool prepared)
{
	struct tk_pool_settings	s = {
		.conninfo = conninfo,
		.size = size,
		.acquire_timeout_ms = T.cfg->pool_acquire_timeout_ms,
		.statement_timeout_ms = stmt_timeout_ms,
		.prepared = prepared,
		.stmts = tk_handler_stmts,
		.nstmts = tk_handler_nstmts,
	};

	return tk_pool_new(&s);
}

static int
group_teardown(void **state)
{
	(void)state;
	tk_pool_free(T.pool);
	T.pool = NULL;
	tk_config_free(T.cfg);
	T.cfg = NULL;
	PQfinish(T.pg);
	T.pg = NULL;
	tkdb_drop(&T.db);
	return 0;
}

static int
group_setup(void **state)
{
	/* Errors only: the fault cases log on purpose. */
	tk_log_setup(TK_LOG_ERROR, "logfmt");
	if (!tkdb_create(&T.db, "tk_handler") ||
	    (T.pg = tkdb_connect(&T.db)) == NULL ||
	    tk_config_load(&T.cfg, 1, cfg_argv, NULL) != TK_OK)
		goto fail;
	free(T.cfg->database_url);
	if ((T.cfg->database_url = strdup(T.db.conninfo)) == NULL)
		goto fail;
	T.pool = pool_new(T.cfg->database_url, 4, T.cfg->statement_timeout_ms,
	    T.cfg->prepared_statements);
	if (T.pool == NULL)
		goto fail;
	return 0;
fail:
	group_teardown(state);
	return -1;
}

static void
answer_clear(struct answer *a)
{
	json_object_put(a->json);
	tk_http_response_clear(&a->resp);
	memset(a, 0, sizeof(*a));
}

/*
 * POST base_path + path through pool, before a deadline deadline_ms from
 * now.  body NULL sends none (and no Content-Type).
 */
static void
ask_via(struct answer *a, struct tk_pool *pool, unsigned int deadline_ms,
    const char *path, const char *authz, const char *key, const char *body)
{
	struct tk_handler_ctx	 ctx = { .cfg = T.cfg, .pool = pool };
	struct tk_request	 req;
	struct timespec		 deadline;
	char			 uri[256];
	double			 t0;

	memset(a, 0, sizeof(*a));
	memset(&req, 0, sizeof(req));
	snprintf(uri, sizeof(uri), "%s%s", T.cfg->base_path, path);
	req.role = "RESPONDER";
	req.method = "POST";
	req.uri = uri;
	req.content_type = body != NULL ? "application/json" : NULL;
	req.authorization = authz;
	req.client_key = key;
	req.remote_addr = "127.0.0.1";
	snprintf(req.request_id, sizeof(req.request_id), "it-%ld-%u",
	    (long)getpid(), ++T.seq);
	snprintf(a->request_id, sizeof(a->request_id), "%s", req.request_id);
	if (body != NULL) {
		assert_non_null(req.body = strdup(body));
		req.body_len = strlen(body);
	}
	tk_deadline_in(&deadline, deadline_ms);
	t0 = tkdb_now_ms();
	tk_handler_serve(&ctx, &req, &deadline, &a->resp);
	a->ms = tkdb_now_ms() - t0;
	free(req.body);
	if (a->resp.body != NULL && a->resp.body_len > 0) {
		struct json_tokener *tok = json_tokener_new();

		assert_non_null(tok);
		a->json = json_tokener_parse_ex(tok, a->resp.body,
		    (int)a->resp.body_len);
		json_tokener_free(tok);
		assert_non_null(a->json);
	}
}

static void
ask(struct answer *a, const char *path, const char *authz, const char *key,
    const char *body)
{
	ask_via(a, T.pool, T.cfg->request_timeout * 1000, path, authz, key, body);
}

static const char *
jstr(const struct answer *a, const char *member)
{
	struct json_object	*v;

	if (a->json == NULL || !json_object_object_get_ex(a->json, member, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static bool
jis_null(const struct answer *a, const char *member)
{
	struct json_object	*v;

	return a->json != NULL && json_object_object_get_ex(a->json, member, &v) &&
	    v == NULL;
}

static long long
jint(const struct answer *a, const char *member)
{
	struct json_object	*v;

	if (a->json == NULL || !json_object_object_get_ex(a->json, member, &v) ||
	    !json_object_is_type(v, json_type_int))
		return -1;
	return json_object_get_int64(v);
}

/* Does the answer carry the header line "name: value"? */
static bool
has_header(const struct answer *a, const char *name, const char *value)
{
	char	line[512];

	snprintf(line, sizeof(line), "%s: %s\r\n", name, value);
	return strstr(a->resp.headers, line) != NULL;
}

static int
count_headers(const struct answer *a, const char *name)
{
	char		 prefix[128];
	const char	*p = a->resp.headers;
	int		 n = 0;

	snprintf(prefix, sizeof(prefix), "%s: ", name);
	while ((p = strstr(p, prefix)) != NULL) {
		if (p == a->resp.headers || p[-1] == '\n')
			n++;
		p += strlen(prefix);
	}
	return n;
}

/* A problem+json answer with this status and error. */
static void
assert_problem(const struct answer *a, int status, const char *error)
{
	char	type[96];

	if (a->resp.status != status || jstr(a, "error") == NULL ||
	    strcmp(jstr(a, "error"), error) != 0)
		print_error("expected %d %s, got %d %s\n", status, error,
		    a->resp.status, a->resp.body != NULL ? a->resp.body : "");
	assert_int_equal(a->resp.status, status);
	assert_non_null(a->resp.content_type);
	assert_string_equal(a->resp.content_type, "application/problem+json");
	assert_non_null(jstr(a, "error"));
	assert_string_equal(jstr(a, "error"), error);
	assert_int_equal(jint(a, "status"), status);
	snprintf(type, sizeof(type), "urn:tokend:problem:%s", error);
	assert_string_equal(jstr(a, "type"), type);
	assert_non_null(jstr(a, "title"));
	assert_non_null(jstr(a, "detail"));
	assert_string_equal(jstr(a, "request_id"), a->request_id);
}

static void
assert_status(const struct answer *a, int status)
{
	if (a->resp.status != status)
		print_error("expected %d, got %d %s\n", status, a->resp.status,
		    a->resp.body != NULL ? a->resp.body : "");
	assert_int_equal(a->resp.status, status);
}

static void
assert_no_store(const struct answer *a)
{
	assert_true(has_header(a, "Cache-Control", "no-store"));
	assert_true(has_header(a, "Pragma", "no-cache"));
}

static void
assert_retry_after(const struct answer *a)
{
	char	v[16];

	snprintf(v, sizeof(v), "%u", T.cfg->retry_after_seconds);
	assert_true(has_header(a, "Retry-After", v));
}

static void
bearer(char out[TK_TOKEN_LEN + 8], const char *token)
{
	snprintf(out, TK_TOKEN_LEN + 8, "Bearer %s", token);
}

/* Copy the token and token_id of a 201 answer. */
static void
take(const struct answer *a, const char *member, struct tok *t)
{
	assert_non_null(jstr(a, member));
	assert_non_null(jstr(a, "token_id"));
	assert_int_equal(strlen(jstr(a, member)), TK_TOKEN_LEN);
	snprintf(t->token, sizeof(t->token), "%s", jstr(a, member));
	snprintf(t->id, sizeof(t->id), "%s", jstr(a, "token_id"));
}

static void
client_new(const char *scopes, const char *defaults, struct tkdb_client *c)
{
	assert_true(tkdb_client_new(T.pg, scopes, defaults, c));
}

/* client_credentials with the client's key; extra is ",member:value..." */
static void
ask_issue_long(struct answer *a, const struct tkdb_client *c, const char *extra)
{
	char	body[1024];

	snprintf(body, sizeof(body), "{\"grant_type\":\"client_credentials\","
	    "\"client_id\":\"%s\"%s}", c->id, extra);
	ask(a, P_LONG, NULL, c->key, body);
}

static void
issue_long(const struct tkdb_client *c, const char *extra, struct tok *t)
{
	struct answer	a;

	ask_issue_long(&a, c, extra);
	assert_status(&a, 201);
	take(&a, "long_token", t);
	answer_clear(&a);
}

static void
ask_rotate_key(struct answer *a, const struct tkdb_client *c,
    const char *token_id, const char *extra)
{
	char	body[1024];

	snprintf(body, sizeof(body), "{\"grant_type\":\"rotate\",\"client_id\":"
	    "\"%s\",\"token_id\":\"%s\"%s}", c->id, token_id, extra);
	ask(a, P_LONG, NULL, c->key, body);
}

static void
rotate_key(const struct tkdb_client *c, const char *token_id, const char *extra,
    struct tok *t)
{
	struct answer	a;

	ask_rotate_key(&a, c, token_id, extra);
	assert_status(&a, 201);
	take(&a, "long_token", t);
	assert_string_equal(jstr(&a, "rotated_from"), token_id);
	answer_clear(&a);
}

/* POST /short with a long token; body NULL sends none. */
static void
ask_short(struct answer *a, const char *long_token, const char *body)
{
	char	authz[TK_TOKEN_LEN + 8];

	bearer(authz, long_token);
	ask(a, P_SHORT, authz, NULL, body);
}

static void
issue_short(const char *long_token, const char *body, struct tok *t)
{
	struct answer	a;

	ask_short(&a, long_token, body);
	assert_status(&a, 201);
	take(&a, "access_token", t);
	answer_clear(&a);
}

static void
ask_revoke(struct answer *a, const char *token, const char *target_id)
{
	char	authz[TK_TOKEN_LEN + 8], path[128];

	bearer(authz, token);
	snprintf(path, sizeof(path), "/auth/tokens/%s/revoke", target_id);
	ask(a, path, authz, NULL, NULL);
}

static int
revoke_status(const char *token, const char *target_id)
{
	struct answer	a;
	int		status;

	ask_revoke(&a, token, target_id);
	status = a.resp.status;
	if (status == 204) {
		assert_null(a.resp.body);
		assert_int_equal(a.resp.body_len, 0);
	}
	answer_clear(&a);
	return status;
}

static bool
is_valid(const char *token_id)
{
	long long v = tkdb_int(T.pg, "SELECT token_is_valid(t)::int FROM "
	    "tokens t WHERE id = '%s'", token_id);

	assert_true(v == 0 || v == 1);
	return v == 1;
}

static long long
tokens_of_client(const struct tkdb_client *c)
{
	return tkdb_int(T.pg, "SELECT count(*) FROM tokens WHERE client_id = "
	    "'%s'", c->id);
}

static long long
events_of_client(const struct tkdb_client *c, const char *event)
{
	return tkdb_int(T.pg, "SELECT count(*) FROM token_events WHERE "
	    "client_id = '%s' AND event = '%s'", c->id, event);
}

/* Assert a text query's answer; NULL expects SQL NULL. */
__attribute__((format(printf, 2, 3)))
static void
assert_sql_text(const char *expected, const char *fmt, ...)
{
	char	 sql[2048];
	char	*got;
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	got = tkdb_text(T.pg, "%s", sql);
	if (expected == NULL) {
		if (got != NULL)
			print_error("%s: expected NULL, got %s\n", sql, got);
		assert_null(got);
		return;
	}
	if (got == NULL || strcmp(got, expected) != 0)
		print_error("%s: expected %s, got %s\n", sql, expected,
		    got != NULL ? got : "NULL");
	assert_non_null(got);
	assert_string_equal(got, expected);
	free(got);
}

static void
digest_hex(const char *token, char out[2 * TK_DIGEST_LEN + 1])
{
	unsigned char	d[TK_DIGEST_LEN];
	size_t		i;

	tk_token_digest(token, d);
	for (i = 0; i < TK_DIGEST_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void
random_uuid(char out[TK_UUID_STR_LEN + 1])
{
	unsigned char	id[TK_UUID_LEN];

	assert_int_equal(tk_uuid_new(id), TK_OK);
	tk_uuid_format(id, out);
}

/* ---- POST /long, client_credentials ---- */

static void
test_issue_long_default_scope(void **state)
{
	struct tkdb_client	c;
	struct answer		a;
	struct tk_token		parsed;
	char			hex[2 * TK_DIGEST_LEN + 1], id[TK_UUID_STR_LEN + 1];
	const char		*tid, *tok;

	(void)state;
	/* Defaults listed out of order: responses follow scopes' order. */
	client_new(ALL_SCOPES, "{write,read}", &c);
	ask_issue_long(&a, &c, "");
	assert_status(&a, 201);
	assert_string_equal(a.resp.content_type, "application/json");
	assert_no_store(&a);
	assert_string_equal(jstr(&a, "token_type"), "long");
	assert_string_equal(jstr(&a, "client_id"), c.id);
	assert_string_equal(jstr(&a, "scope"), "read write");
	assert_true(jis_null(&a, "rotated_from"));
	tok = jstr(&a, "long_token");
	tid = jstr(&a, "token_id");
	assert_non_null(tok);
	assert_non_null(tid);
	assert_int_equal(strlen(tok), TK_TOKEN_LEN);
	assert_memory_equal(tok, "tkl_", 4);
	assert_int_equal(tk_token_parse(tok, &parsed), TK_OK);
	assert_int_equal(parsed.kind, TK_TOKEN_LONG);
	tk_uuid_format(parsed.id, id);
	assert_string_equal(id, tid);
	assert_string_equal(a.resp.token_id, tid);

	/* The row: digest of the whole token, a family of its own. */
	digest_hex(tok, hex);
	assert_int_equal(tokens_of_client(&c), 1);
	assert_sql_text(hex, "SELECT encode(digest, 'hex') FROM tokens "
	    "WHERE id = '%s'", tid);
	assert_sql_text("long|0|true|true|{read,write}", "SELECT kind || '|' || "
	    "generation || '|' || (family_id = id) || '|' || (rotated_from IS "
	    "NULL AND rotated_at IS NULL AND valid_until = expires_at) || '|' "
	    "|| scope::text FROM tokens WHERE id = '%s'", tid);
	assert_sql_text("2592000", "SELECT extract(epoch FROM expires_at - "
	    "issued_at)::int FROM tokens WHERE id = '%s'", tid);
	assert_sql_text(jstr(&a, "issued_at"), "SELECT tokend_time_text("
	    "issued_at) FROM tokens WHERE id = '%s'", tid);
	assert_sql_text(jstr(&a, "expires_at"), "SELECT tokend_time_text("
	    "expires_at) FROM tokens WHERE id = '%s'", tid);
	assert_true(is_valid(tid));

	/* One audit row, with the request's id and address. */
	assert_int_equal(events_of_client(&c, "issued"), 1);
	assert_sql_text(a.request_id, "SELECT request_id FROM token_events "
	    "WHERE token_id = '%s' AND event = 'issued' AND token_kind = 'long' "
	    "AND family_id = token_id AND remote_addr = '127.0.0.1'", tid);
	answer_clear(&a);
}

static void
test_issue_long_explicit_scope(void **state)
{
	struct tkdb_client	c;
	struct answer		a;

	(void)state;
	client_new(ALL_SCOPES, "{read}", &c);

	/* Reserved scopes by name; de-duplicated, in the client's order. */
	ask_issue_long(&a, &c, ",\"scope\":\"write tokend:rotate read write\","
	    "\"label\":\"svc-a\",\"ttl_seconds\":3600");
	assert_status(&a, 201);
	assert_string_equal(jstr(&a, "scope"), "read write tokend:rotate");
	assert_sql_text("{read,write,tokend:rotate}|svc-a|3600", "SELECT "
	    "scope::text || '|' || label || '|' || extract(epoch FROM "
	    "expires_at - issued_at)::int FROM tokens WHERE id = '%s'",
	    jstr(&a, "token_id"));
	answer_clear(&a);

	/* "" is the empty set, not the default. */
	ask_issue_long(&a, &c, ",\"scope\":\"\"");
	assert_status(&a, 201);
	assert_string_equal(jstr(&a, "scope"), "");
	assert_sql_text("{}", "SELECT scope::text FROM tokens WHERE id = '%s'",
	    jstr(&a, "token_id"));
	answer_clear(&a);
	assert_int_equal(tokens_of_client(&c), 2);
	assert_int_equal(events_of_client(&c, "issued"), 2);
}

static void
test_issue_long_invalid_scope(void **state)
{
	struct tkdb_client	c;
	struct answer		a;

	(void)state;
	client_new("{read,write}", "{read}", &c);
	ask_issue_long(&a, &c, ",\"scope\":\"read delete\"");
	assert_problem(&a, 400, "invalid_scope");
	answer_clear(&a);
	/* A reserved scope the client was not granted. */
	ask_issue_long(&a, &c, ",\"scope\":\"tokend:rotate\"");
	assert_problem(&a, 400, "invalid_scope");
	answer_clear(&a);
	assert_int_equal(tokens_of_client(&c), 0);
	assert_int_equal(tkdb_int(T.pg, "SELECT count(*) FROM token_events "
	    "WHERE client_id = '%s'", c.id), 0);
}

static void
test_issue_long_ttl_above_max(void **state)
{
	struct tkdb_client	c;
	struct answer		a;

	(void)state;
	client_new("{read}", "{read}", &c);
	assert_true(tkdb_execf(T.pg, "UPDATE clients SET long_ttl_default = "
	    "3600, long_ttl_max = 7200 WHERE id = '%s'", c.id));
	ask_issue_long(&a, &c, ",\"ttl_seconds\":7201");
	assert_problem(&a, 400, "invalid_request");
	assert_non_null(strstr(jstr(&a, "detail"), "7200"));
	answer_clear(&a);
	assert_int_equal(tokens_of_client(&c), 0);
	assert_int_equal(events_of_client(&c, "issued"), 0);

	/* The maximum itself is fine; the default is the client's. */
	ask_issue_long(&a, &c, ",\"ttl_seconds\":7200");
	assert_status(&a, 201);
	assert_sql_text("7200", "SELECT extract(epoch FROM expires_at - "
	    "issued_at)::int FROM tokens WHERE id = '%s'", jstr(&a, "token_id"));
	answer_clear(&a);
	ask_issue_long(&a, &c, "");
	assert_status(&a, 201);
	assert_sql_text("3600", "SELECT extract(epoch FROM expires_at - "
	    "issued_at)::int FROM tokens WHERE id = '%s'", jstr(&a, "token_id"));
	answer_clear(&a);

	/* No family outlives family_max_seconds. */
	assert_true(tkdb_execf(T.pg, "UPDATE clients SET family_max_seconds = "
	    "1000 WHERE id = '%s'", c.id));
	ask_issue_long(&a, &c, ",\"ttl_seconds\":7200");
	assert_status(&a, 201);
	assert_sql_text("1000|1000", "SELECT extract(epoch FROM expires_at - "
	    "issued_at)::int || '|' || extract(epoch FROM family_expires_at - "
	    "issued_at)::int FROM tokens WHERE id = '%s'", jstr(&a, "token_id"));
	answer_clear(&a);
}

static void
test_issue_long_bad_client(void **state)
{
	struct tkdb_client	c, other;
	struct answer		a;
	unsigned char		cid[TK_UUID_LEN];
	char			wrong[TK_TOKEN_LEN + 1], body[256], detail[128];
	char			unknown_id[TK_UUID_STR_LEN + 1];

	(void)state;
	client_new("{read}", "{read}", &c);
	client_new("{read}", "{read}", &other);

	/* No credential: both challenges, no error=. */
	snprintf(body, sizeof(body), "{\"grant_type\":\"client_credentials\","
	    "\"client_id\":\"%s\"}", c.id);
	ask(&a, P_LONG, NULL, NULL, body);
	assert_problem(&a, 401, "invalid_client");
	assert_true(has_header(&a, "WWW-Authenticate", CH_BEARER));
	assert_true(has_header(&a, "WWW-Authenticate", CH_KEY));
	assert_null(strstr(a.resp.headers, "error="));
	answer_clear(&a);

	/* A well-formed key of this client that is not its key. */
	assert_true(tk_uuid_parse(c.id, cid));
	assert_int_equal(tk_token_mint(TK_TOKEN_CLIENT, cid, wrong), TK_OK);
	ask(&a, P_LONG, NULL, wrong, body);
	assert_problem(&a, 401, "invalid_client");
	assert_true(has_header(&a, "WWW-Authenticate", CH_KEY_INVALID));
	assert_int_equal(count_headers(&a, "WWW-Authenticate"), 1);
	snprintf(detail, sizeof(detail), "%s", jstr(&a, "detail"));
	answer_clear(&a);

	/* Another client's key: the same answer. */
	ask(&a, P_LONG, NULL, other.key, body);
	assert_problem(&a, 401, "invalid_client");
	assert_true(has_header(&a, "WWW-Authenticate", CH_KEY_INVALID));
	assert_string_equal(jstr(&a, "detail"), detail);
	answer_clear(&a);

	/* An unknown client: the same answer. */
	random_uuid(unknown_id);
	assert_true(tk_uuid_parse(unknown_id, cid));
	assert_int_equal(tk_token_mint(TK_TOKEN_CLIENT, cid, wrong), TK_OK);
	snprintf(body, sizeof(body), "{\"grant_type\":\"client_credentials\","
	    "\"client_id\":\"%s\"}", unknown_id);
	ask(&a, P_LONG, NULL, wrong, body);
	assert_problem(&a, 401, "invalid_client");
	assert_true(has_header(&a, "WWW-Authenticate", CH_KEY_INVALID));
	assert_string_equal(jstr(&a, "detail"), detail);
	answer_clear(&a);

	assert_int_equal(tokens_of_client(&c), 0);
	assert_int_equal(tokens_of_client(&other), 0);
}

/* ---- POST /long, rotate ---- */

static void
test_rotate_with_key(void **state)
{
	struct tkdb_client	c, other;
	struct tok		l0, l1, l2, s, x;
	struct answer		a;
	char			grace[16];

	(void)state;
	client_new("{read,write}", "{read,write}", &c);
	issue_long(&c, ",\"label\":\"first\"", &l0);

	ask_rotate_key(&a, &c, l0.id, ",\"overlap_seconds\":30");
	assert_status(&a, 201);
	assert_no_store(&a);
	assert_string_equal(jstr(&a, "token_type"), "long");
	assert_string_equal(jstr(&a, "rotated_from"), l0.id);
	assert_string_equal(jstr(&a, "scope"), "read write");
	assert_string_equal(jstr(&a, "client_id"), c.id);
	take(&a, "long_token", &l1);
	assert_string_not_equal(l1.id, l0.id);
	answer_clear(&a);

	/* The old token: rotated, valid for the overlap, expiry kept. */
	assert_sql_text("30|true", "SELECT extract(epoch FROM valid_until - "
	    "rotated_at)::int || '|' || (expires_at > valid_until) FROM tokens "
	    "WHERE id = '%s'", l0.id);
	/* The successor: same family, next generation, label kept. */
	assert_sql_text("1|true|true|first|{read,write}", "SELECT generation || '|' "
	    "|| (family_id = '%s') || '|' || (rotated_from = '%s') || '|' || "
	    "label || '|' || scope::text FROM tokens WHERE id = '%s'",
	    l0.id, l0.id, l1.id);
	assert_sql_text("1", "SELECT count(*) FROM token_events WHERE event = "
	    "'rotated' AND token_id = '%s' AND parent_id = '%s' AND family_id = "
	    "'%s' AND actor_id IS NULL AND detail->>'overlap_seconds' = '30'",
	    l1.id, l0.id, l0.id);
	assert_true(is_valid(l0.id));
	assert_true(is_valid(l1.id));

	/* Within the overlap the old token still works, clamped to it. */
	ask_short(&a, l0.token, NULL);
	assert_status(&a, 201);
	assert_true(jint(&a, "expires_in") <= 30);
	assert_sql_text(jstr(&a, "expires_at"), "SELECT tokend_time_text("
	    "valid_until) FROM tokens WHERE id = '%s'", l0.id);
	take(&a, "access_token", &s);
	answer_clear(&a);

	/* No overlap given: rotation_grace_seconds. */
	rotate_key(&c, l1.id, "", &l2);
	snprintf(grace, sizeof(grace), "%u", T.cfg->rotation_grace_seconds);
	assert_sql_text(grace, "SELECT extract(epoch FROM valid_until - "
	    "rotated_at)::int FROM tokens WHERE id = '%s'", l1.id);
	assert_sql_text("2", "SELECT generation FROM tokens WHERE id = '%s'",
	    l2.id);

	/* Policy: overlap above the client's maximum, scope not a subset. */
	assert_true(tkdb_execf(T.pg, "UPDATE clients SET overlap_max = 100 "
	    "WHERE id = '%s'", c.id));
	ask_rotate_key(&a, &c, l2.id, ",\"overlap_seconds\":101");
	assert_problem(&a, 400, "invalid_request");
	answer_clear(&a);
	ask_rotate_key(&a, &c, l2.id, ",\"scope\":\"read admin\"");
	assert_problem(&a, 400, "invalid_scope");
	answer_clear(&a);
	assert_sql_text(NULL, "SELECT rotated_at FROM tokens WHERE id = '%s'",
	    l2.id);

	/* A narrower scope is fine. */
	ask_rotate_key(&a, &c, l2.id, ",\"scope\":\"write\"");
	assert_status(&a, 201);
	assert_string_equal(jstr(&a, "scope"), "write");
	answer_clear(&a);

	/* Another client's token, or none: 404. */
	client_new("{read}", "{read}", &other);
	issue_long(&other, "", &x);
	ask_rotate_key(&a, &c, x.id, "");
	assert_problem(&a, 404, "not_found");
	answer_clear(&a);
	assert_sql_text(NULL, "SELECT rotated_at FROM tokens WHERE id = '%s'",
	    x.id);
	assert_int_equal(tokens_of_client(&c), 5);
	assert_int_equal(events_of_client(&c, "rotated"), 3);
}

static void
test_rotate_with_short_bearer(void **state)
{
	struct tkdb_client	c, other;
	struct tok		l0, l1, s_rot, s_plain, l_other;
	struct answer		a;
	char			authz[TK_TOKEN_LEN + 8], body[256];

	(void)state;
	client_new("{read,tokend:rotate}", "{read}", &c);
	client_new("{read}", "{read}", &other);
	issue_long(&c, ",\"scope\":\"read tokend:rotate\"", &l0);
	issue_short(l0.token, "{\"scope\":\"read tokend:rotate\"}", &s_rot);
	issue_short(l0.token, NULL, &s_plain);
	assert_sql_text("{read}", "SELECT scope::text FROM tokens WHERE id = "
	    "'%s'", s_plain.id);

	/* Without tokend:rotate: 403 with its challenge. */
	bearer(authz, s_plain.token);
	snprintf(body, sizeof(body), "{\"grant_type\":\"rotate\","
	    "\"client_id\":\"%s\"}", c.id);
	ask(&a, P_LONG, authz, NULL, body);
	assert_problem(&a, 403, "insufficient_scope");
	assert_true(has_header(&a, "WWW-Authenticate", CH_INSUFFICIENT));
	answer_clear(&a);

	/* token_id other than the bearer's parent: 400. */
	bearer(authz, s_rot.token);
	issue_long(&other, "", &l_other);
	snprintf(body, sizeof(body), "{\"grant_type\":\"rotate\","
	    "\"client_id\":\"%s\",\"token_id\":\"%s\"}", c.id, l_other.id);
	ask(&a, P_LONG, authz, NULL, body);
	assert_problem(&a, 400, "invalid_request");
	answer_clear(&a);

	/* client_id of another client: 400. */
	snprintf(body, sizeof(body), "{\"grant_type\":\"rotate\","
	    "\"client_id\":\"%s\"}", other.id);
	ask(&a, P_LONG, authz, NULL, body);
	assert_problem(&a, 400, "invalid_request");
	answer_clear(&a);
	assert_sql_text(NULL, "SELECT rotated_at FROM tokens WHERE id = '%s'",
	    l0.id);

	/* The bearer rotates its own parent; token_id may name it. */
	snprintf(body, sizeof(body), "{\"grant_type\":\"rotate\","
	    "\"client_id\":\"%s\",\"token_id\":\"%s\"}", c.id, l0.id);
	ask(&a, P_LONG, authz, NULL, body);
	assert_status(&a, 201);
	assert_string_equal(jstr(&a, "rotated_from"), l0.id);
	assert_string_equal(jstr(&a, "scope"), "read tokend:rotate");
	take(&a, "long_token", &l1);
	answer_clear(&a);
	assert_sql_text("1", "SELECT count(*) FROM token_events WHERE event = "
	    "'rotated' AND token_id = '%s' AND parent_id = '%s' AND "
	    "actor_id = '%s'", l1.id, l0.id, s_rot.id);
	assert_sql_text("t", "SELECT rotated_at IS NOT NULL FROM tokens WHERE "
	    "id = '%s'", l0.id);

	/* A long-term token is not a rotation credential. */
	bearer(authz, l1.token);
	snprintf(body, sizeof(body), "{\"grant_type\":\"rotate\","
	    "\"client_id\":\"%s\"}", c.id);
	ask(&a, P_LONG, authz, NULL, body);
	assert_problem(&a, 401, "invalid_token");
	assert_true(has_header(&a, "WWW-Authenticate", CH_BEARER_INVALID));
	answer_clear(&a);
	assert_int_equal(tokens_of_client(&c), 4);
}

static void
test_rotate_supersede(void **state)
{
	struct tkdb_client	c;
	struct tok		l0, l1, l2, l3, s1;
	char			*rotated_at;

	(void)state;
	client_new("{read}", "{read}", &c);
	issue_long(&c, "", &l0);
	rotate_key(&c, l0.id, ",\"overlap_seconds\":60", &l1);
	issue_short(l1.token, NULL, &s1);
	rotated_at = tkdb_text(T.pg, "SELECT rotated_at FROM tokens WHERE "
	    "id = '%s'", l0.id);
	assert_non_null(rotated_at);

	/* A client that lost the first answer rotates again. */
	rotate_key(&c, l0.id, ",\"overlap_seconds\":60", &l2);
	assert_sql_text("superseded|true", "SELECT reason || '|' || (request_id IS "
	    "NOT NULL) FROM revocations WHERE token_id = '%s'", l1.id);
	assert_sql_text("0", "SELECT count(*) FROM revocations WHERE token_id "
	    "IN ('%s', '%s')", l0.id, l2.id);
	assert_sql_text("1", "SELECT count(*) FROM token_events WHERE event = "
	    "'superseded' AND token_id = '%s' AND family_id = '%s' AND reason = "
	    "'superseded'", l1.id, l0.id);
	assert_sql_text(rotated_at, "SELECT rotated_at FROM tokens WHERE id = "
	    "'%s'", l0.id);
	assert_true(is_valid(l0.id));
	assert_false(is_valid(l1.id));
	assert_true(is_valid(l2.id));
	/* The superseded token's short tokens go with it, with no row. */
	assert_false(is_valid(s1.id));
	assert_sql_text("0", "SELECT count(*) FROM revocations WHERE token_id = "
	    "'%s'", s1.id);

	/* Once more: only the newest successor lives. */
	rotate_key(&c, l0.id, "", &l3);
	assert_false(is_valid(l2.id));
	assert_true(is_valid(l3.id));
	assert_sql_text("2|2", "SELECT count(*) FILTER (WHERE reason = "
	    "'superseded') || '|' || count(*) FROM revocations r JOIN tokens t "
	    "ON t.id = r.token_id WHERE t.family_id = '%s'", l0.id);
	assert_int_equal(events_of_client(&c, "superseded"), 2);
	assert_int_equal(events_of_client(&c, "rotated"), 3);
	assert_sql_text("1", "SELECT count(*) FROM tokens t WHERE family_id = "
	    "'%s' AND generation > 0 AND token_is_valid(t)", l0.id);
	free(rotated_at);
}

static void
test_rotate_reuse(void **state)
{
	struct tkdb_client	c;
	struct tok		l0, l1, s1, m0, m1;
	struct answer		a;
	char			reuse_rid[TK_REQUEST_ID_MAX + 1];

	(void)state;
	client_new("{read}", "{read}", &c);
	issue_long(&c, "", &l0);
	rotate_key(&c, l0.id, ",\"overlap_seconds\":0", &l1);
	issue_short(l1.token, NULL, &s1);
	assert_false(is_valid(l0.id));
	assert_true(is_valid(l1.id));

	/* The rotated-out token presented as LongTokenAuth: reuse. */
	ask_short(&a, l0.token, NULL);
	assert_problem(&a, 401, "invalid_token");
	assert_true(has_header(&a, "WWW-Authenticate", CH_BEARER_INVALID));
	snprintf(reuse_rid, sizeof(reuse_rid), "%s", a.request_id);
	answer_clear(&a);
	assert_sql_text("2|2", "SELECT count(*) || '|' || count(*) FILTER "
	    "(WHERE r.reason = 'reuse_detected' AND r.request_id = '%s') FROM "
	    "revocations r JOIN tokens t ON t.id = r.token_id WHERE "
	    "t.family_id = '%s'", reuse_rid, l0.id);
	assert_sql_text("1", "SELECT count(*) FROM token_events WHERE event = "
	    "'reuse_detected' AND token_id = '%s' AND family_id = '%s' AND "
	    "request_id = '%s'", l0.id, l0.id, reuse_rid);
	assert_false(is_valid(l1.id));
	assert_false(is_valid(s1.id));

	/* The successor is gone too. */
	ask_short(&a, l1.token, NULL);
	assert_problem(&a, 401, "invalid_token");
	answer_clear(&a);

	/* Presenting it again changes nothing. */
	ask_short(&a, l0.token, NULL);
	assert_problem(&a, 401, "invalid_token");
	answer_clear(&a);
	assert_int_equal(events_of_client(&c, "reuse_detected"), 1);
	assert_sql_text("2", "SELECT count(*) FROM revocations r JOIN tokens t "
	    "ON t.id = r.token_id WHERE t.family_id = '%s'", l0.id);

	/* Reuse through RevokeToken counts the same. */
	issue_long(&c, "", &m0);
	rotate_key(&c, m0.id, ",\"overlap_seconds\":0", &m1);
	assert_int_equal(revoke_status(m0.token, m1.id), 401);
	assert_sql_text("2", "SELECT count(*) FROM revocations r JOIN tokens t "
	    "ON t.id = r.token_id WHERE t.family_id = '%s' AND r.reason = "
	    "'reuse_detected'", m0.id);
	assert_int_equal(events_of_client(&c, "reuse_detected"), 2);
	assert_false(is_valid(m1.id));
}

static void
test_rotate_conflict(void **state)
{
	struct tkdb_client	c;
	struct tok		l0, l1, e0;
	struct answer		a;

	(void)state;
	client_new("{read}", "{read}", &c);
	issue_long(&c, "", &l0);
	rotate_key(&c, l0.id, ",\"overlap_seconds\":0", &l1);

	/* Naming a rotated-out token under ClientKey is no reuse: 409. */
	ask_rotate_key(&a, &c, l0.id, "");
	assert_problem(&a, 409, "conflict");
	answer_clear(&a);
	assert_sql_text("0", "SELECT count(*) FROM revocations r JOIN tokens t "
	    "ON t.id = r.token_id WHERE t.family_id = '%s'", l0.id);
	assert_int_equal(events_of_client(&c, "reuse_detected"), 0);
	assert_int_equal(events_of_client(&c, "superseded"), 0);
	assert_sql_text("2", "SELECT count(*) FROM tokens WHERE family_id = "
	    "'%s'", l0.id);
	assert_true(is_valid(l1.id));

	/* A revoked token cannot be rotated either. */
	assert_int_equal(revoke_status(l1.token, l1.id), 204);
	ask_rotate_key(&a, &c, l1.id, "");
	assert_problem(&a, 409, "conflict");
	answer_clear(&a);
	assert_sql_text(NULL, "SELECT rotated_at FROM tokens WHERE id = '%s'",
	    l1.id);

	/* Nor an expired one. */
	issue_long(&c, "", &e0);
	assert_true(tkdb_execf(T.pg, "UPDATE tokens SET issued_at = now() - "
	    "interval '2 hours', expires_at = now() - interval '1 hour', "
	    "valid_until = now() - interval '1 hour' WHERE id = '%s'", e0.id));
	ask_rotate_key(&a, &c, e0.id, "");
	assert_problem(&a, 409, "conflict");
	answer_clear(&a);
	assert_int_equal(tokens_of_client(&c), 3);
}

/* ---- POST /short ---- */

static void
test_issue_short(void **state)
{
	struct tkdb_client	c;
	struct tok		l, l1, s;
	struct answer		a;
	char			unknown[TK_TOKEN_LEN + 1];
	unsigned char		id[TK_UUID_LEN];

	(void)state;
	client_new(ALL_SCOPES, "{read}", &c);
	issue_long(&c, ",\"scope\":\"read write tokend:rotate tokend:revoke\"",
	    &l);

	/* No body: the parent's scope without the reserved ones. */
	ask_short(&a, l.token, NULL);
	assert_status(&a, 201);
	assert_string_equal(a.resp.content_type, "application/json");
	assert_no_store(&a);
	assert_string_equal(jstr(&a, "token_type"), "Bearer");
	assert_string_equal(jstr(&a, "scope"), "read write");
	assert_string_equal(jstr(&a, "long_token_id"), l.id);
	assert_int_equal(jint(&a, "expires_in"), 900);
	take(&a, "access_token", &s);
	assert_memory_equal(s.token, "tks_", 4);
	assert_sql_text(jstr(&a, "expires_at"), "SELECT tokend_time_text("
	    "expires_at) FROM tokens WHERE id = '%s'", s.id);
	answer_clear(&a);
	assert_sql_text("short|true|true|{read,write}|900", "SELECT kind || '|' || "
	    "(parent_id = '%s') || '|' || (family_id IS NULL AND generation IS "
	    "NULL) || '|' || scope::text || '|' || extract(epoch FROM "
	    "expires_at - issued_at)::int FROM tokens WHERE id = '%s'",
	    l.id, s.id);
	assert_sql_text("1", "SELECT count(*) FROM token_events WHERE event = "
	    "'issued' AND token_id = '%s' AND token_kind = 'short' AND "
	    "parent_id = '%s' AND actor_id = '%s' AND family_id = '%s'",
	    s.id, l.id, l.id, l.id);
	assert_true(is_valid(s.id));

	/* "{}" is the same as no body. */
	ask_short(&a, l.token, "{}");
	assert_status(&a, 201);
	assert_string_equal(jstr(&a, "scope"), "read write");
	answer_clear(&a);

	/* A subset, in the client's order; reserved scopes by name. */
	ask_short(&a, l.token, "{\"scope\":\"write read\",\"audience\":\"svc\","
	    "\"ttl_seconds\":3600}");
	assert_status(&a, 201);
	assert_string_equal(jstr(&a, "scope"), "read write");
	assert_int_equal(jint(&a, "expires_in"), 3600);
	assert_sql_text("svc", "SELECT audience FROM tokens WHERE id = '%s'",
	    jstr(&a, "token_id"));
	answer_clear(&a);
	ask_short(&a, l.token, "{\"scope\":\"tokend:revoke\"}");
	assert_status(&a, 201);
	assert_string_equal(jstr(&a, "scope"), "tokend:revoke");
	answer_clear(&a);
	ask_short(&a, l.token, "{\"scope\":\"\"}");
	assert_status(&a, 201);
	assert_string_equal(jstr(&a, "scope"), "");
	answer_clear(&a);

	/* Granted to the client but not to the parent: not a subset. */
	ask_short(&a, l.token, "{\"scope\":\"read admin\"}");
	assert_problem(&a, 400, "invalid_scope");
	answer_clear(&a);
	ask_short(&a, l.token, "{\"ttl_seconds\":3601}");
	assert_problem(&a, 400, "invalid_request");
	assert_non_null(strstr(jstr(&a, "detail"), "3600"));
	answer_clear(&a);
	assert_int_equal(tokens_of_client(&c), 6);

	/* Clamped to the parent's valid_until, expires_in with it. */
	rotate_key(&c, l.id, ",\"overlap_seconds\":10", &l1);
	ask_short(&a, l.token, "{\"ttl_seconds\":900}");
	assert_status(&a, 201);
	assert_true(jint(&a, "expires_in") >= 9 && jint(&a, "expires_in") <= 10);
	assert_sql_text(jstr(&a, "expires_at"), "SELECT tokend_time_text("
	    "valid_until) FROM tokens WHERE id = '%s'", l.id);
	assert_sql_text("t", "SELECT s.expires_at = p.valid_until AND "
	    "s.valid_until = s.expires_at FROM tokens s JOIN tokens p ON "
	    "p.id = s.parent_id WHERE s.id = '%s'", jstr(&a, "token_id"));
	answer_clear(&a);

	/* Credentials: none, a short token, an unknown long token. */
	ask(&a, P_SHORT, NULL, NULL, NULL);
	assert_problem(&a, 401, "invalid_token");
	assert_true(has_header(&a, "WWW-Authenticate", CH_BEARER));
	assert_int_equal(count_headers(&a, "WWW-Authenticate"), 1);
	answer_clear(&a);
	ask_short(&a, s.token, NULL);
	assert_problem(&a, 401, "invalid_token");
	assert_true(has_header(&a, "WWW-Authenticate", CH_BEARER_INVALID));
	answer_clear(&a);
	assert_int_equal(tk_uuid_new(id), TK_OK);
	assert_int_equal(tk_token_mint(TK_TOKEN_LONG, id, unknown), TK_OK);
	ask_short(&a, unknown, NULL);
	assert_problem(&a, 401, "invalid_token");
	assert_true(has_header(&a, "WWW-Authenticate", CH_BEARER_INVALID));
	answer_clear(&a);
	assert_int_equal(tokens_of_client(&c), 8);
}

/* ---- POST /{tokenId}/revoke ---- */

static void
test_revoke_long_reaches_client(void **state)
{
	struct tkdb_client	c, other;
	struct tok		la, lb, sb, lx;
	struct answer		a;
	char			unknown[TK_UUID_STR_LEN + 1], detail[128];

	(void)state;
	client_new("{read}", "{read}", &c);
	client_new("{read}", "{read}", &other);
	issue_long(&c, "", &la);
	issue_long(&c, "", &lb);
	issue_short(lb.token, NULL, &sb);
	issue_long(&other, "", &lx);

	/* Any token of its own client: another family's short token. */
	ask_revoke(&a, la.token, sb.id);
	assert_status(&a, 204);
	assert_no_store(&a);
	assert_null(a.resp.body);
	assert_string_equal(a.resp.token_id, sb.id);
	answer_clear(&a);
	assert_sql_text("requested|true", "SELECT reason || '|' || (revoked_by = "
	    "'%s') FROM revocations WHERE token_id = '%s'", la.id, sb.id);
	assert_sql_text("1", "SELECT count(*) FROM token_events WHERE event = "
	    "'revoked' AND token_id = '%s' AND token_kind = 'short' AND "
	    "parent_id = '%s' AND actor_id = '%s' AND reason = 'requested'",
	    sb.id, lb.id, la.id);
	assert_false(is_valid(sb.id));
	assert_true(is_valid(lb.id));

	/* And another long-term token. */
	assert_int_equal(revoke_status(la.token, lb.id), 204);
	assert_false(is_valid(lb.id));

	/* Another client's token answers like an unknown id. */
	ask_revoke(&a, la.token, lx.id);
	assert_problem(&a, 404, "not_found");
	assert_null(strstr(a.resp.body, lx.id));
	snprintf(detail, sizeof(detail), "%s", jstr(&a, "detail"));
	answer_clear(&a);
	random_uuid(unknown);
	ask_revoke(&a, la.token, unknown);
	assert_problem(&a, 404, "not_found");
	assert_null(strstr(a.resp.body, unknown));
	assert_string_equal(jstr(&a, "detail"), detail);
	answer_clear(&a);
	assert_true(is_valid(lx.id));
	assert_sql_text("0", "SELECT count(*) FROM revocations WHERE token_id = "
	    "'%s'", lx.id);

	/* Itself, last. */
	assert_int_equal(revoke_status(la.token, la.id), 204);
	assert_false(is_valid(la.id));
	assert_int_equal(revoke_status(la.token, lx.id), 401);
	assert_int_equal(events_of_client(&c, "revoked"), 3);
}

static void
test_revoke_short_self_and_parent(void **state)
{
	struct tkdb_client	c;
	struct tok		l, s1, s2, s3;

	(void)state;
	client_new("{read,tokend:revoke}", "{read}", &c);
	issue_long(&c, ",\"scope\":\"read tokend:revoke\"", &l);
	issue_short(l.token, NULL, &s1);
	issue_short(l.token, NULL, &s2);
	issue_short(l.token, "{\"scope\":\"read tokend:revoke\"}", &s3);

	/* Without tokend:revoke: not its parent, never a sibling. */
	assert_int_equal(revoke_status(s1.token, l.id), 404);
	assert_int_equal(revoke_status(s1.token, s2.id), 404);
	assert_int_equal(revoke_status(s3.token, s2.id), 404);
	assert_true(is_valid(l.id));
	assert_true(is_valid(s2.id));

	/* Itself. */
	assert_int_equal(revoke_status(s1.token, s1.id), 204);
	assert_false(is_valid(s1.id));
	assert_sql_text("short", "SELECT token_kind FROM token_events WHERE "
	    "event = 'revoked' AND token_id = '%s' AND actor_id = '%s'",
	    s1.id, s1.id);
	assert_int_equal(revoke_status(s1.token, s1.id), 401);

	/* Its parent, with tokend:revoke: every sibling goes with it. */
	assert_int_equal(revoke_status(s3.token, l.id), 204);
	assert_sql_text("requested", "SELECT reason FROM revocations WHERE "
	    "token_id = '%s' AND revoked_by = '%s'", l.id, s3.id);
	assert_false(is_valid(l.id));
	assert_false(is_valid(s2.id));
	assert_false(is_valid(s3.id));
	assert_sql_text("2", "SELECT count(*) FROM revocations r JOIN tokens t "
	    "ON t.id = r.token_id WHERE t.client_id = '%s'", c.id);
}

static void
test_revoke_already_revoked(void **state)
{
	struct tkdb_client	c;
	struct tok		l1, l2, l3;

	(void)state;
	client_new("{read}", "{read}", &c);
	issue_long(&c, "", &l1);
	issue_long(&c, "", &l2);
	issue_long(&c, "", &l3);
	assert_int_equal(revoke_status(l1.token, l2.id), 204);
	assert_int_equal(revoke_status(l1.token, l2.id), 204);
	assert_sql_text("1", "SELECT count(*) FROM revocations WHERE token_id = "
	    "'%s'", l2.id);
	assert_sql_text("1", "SELECT count(*) FROM token_events WHERE event = "
	    "'revoked' AND token_id = '%s'", l2.id);

	/* Expired but present: 204, and the row is written. */
	assert_true(tkdb_execf(T.pg, "UPDATE tokens SET issued_at = now() - "
	    "interval '2 hours', expires_at = now() - interval '1 hour', "
	    "valid_until = now() - interval '1 hour' WHERE id = '%s'", l3.id));
	assert_int_equal(revoke_status(l1.token, l3.id), 204);
	assert_sql_text("requested", "SELECT reason FROM revocations WHERE "
	    "token_id = '%s'", l3.id);
	assert_int_equal(events_of_client(&c, "revoked"), 2);
}

/* ---- The validity rule behind every path ---- */

static void
test_cascade_revoked_parent(void **state)
{
	struct tkdb_client	c;
	struct tok		l, s, m0, m1, t;
	struct answer		a;
	char			authz[TK_TOKEN_LEN + 8], body[256];

	(void)state;
	client_new("{read,tokend:rotate}", "{read}", &c);
	issue_long(&c, ",\"scope\":\"read tokend:rotate\"", &l);
	issue_short(l.token, "{\"scope\":\"read tokend:rotate\"}", &s);
	assert_int_equal(revoke_status(l.token, l.id), 204);

	/* The short token has no row of its own and is refused. */
	assert_false(is_valid(s.id));
	assert_sql_text("0", "SELECT count(*) FROM revocations WHERE token_id = "
	    "'%s'", s.id);
	assert_int_equal(revoke_status(s.token, s.id), 401);
	bearer(authz, s.token);
	snprintf(body, sizeof(body), "{\"grant_type\":\"rotate\","
	    "\"client_id\":\"%s\"}", c.id);
	ask(&a, P_LONG, authz, NULL, body);
	assert_problem(&a, 401, "invalid_token");
	answer_clear(&a);
	ask_short(&a, l.token, NULL);
	assert_problem(&a, 401, "invalid_token");
	answer_clear(&a);

	/*
	 * A parent rotated out: its short tokens end with its overlap, and
	 * a short token presented is no reuse.
	 */
	issue_long(&c, "", &m0);
	issue_short(m0.token, NULL, &t);
	rotate_key(&c, m0.id, ",\"overlap_seconds\":0", &m1);
	assert_false(is_valid(t.id));
	assert_int_equal(revoke_status(t.token, t.id), 401);
	assert_true(is_valid(m1.id));
	assert_int_equal(events_of_client(&c, "reuse_detected"), 0);
}

static void
test_cascade_disabled_client(void **state)
{
	struct tkdb_client	c;
	struct tok		l, s;
	struct answer		a;

	(void)state;
	client_new("{read}", "{read}", &c);
	issue_long(&c, "", &l);
	issue_short(l.token, NULL, &s);
	assert_true(tkdb_execf(T.pg, "UPDATE clients SET disabled_at = now() "
	    "WHERE id = '%s'", c.id));

	assert_false(is_valid(l.id));
	assert_false(is_valid(s.id));
	ask_issue_long(&a, &c, "");
	assert_problem(&a, 401, "invalid_client");
	assert_true(has_header(&a, "WWW-Authenticate", CH_KEY_INVALID));
	answer_clear(&a);
	ask_rotate_key(&a, &c, l.id, "");
	assert_problem(&a, 401, "invalid_client");
	answer_clear(&a);
	ask_short(&a, l.token, NULL);
	assert_problem(&a, 401, "invalid_token");
	answer_clear(&a);
	assert_int_equal(revoke_status(s.token, s.id), 401);
	assert_int_equal(revoke_status(l.token, l.id), 401);

	/* The rule alone refused them: nothing was written. */
	assert_sql_text("0", "SELECT count(*) FROM revocations r JOIN tokens t "
	    "ON t.id = r.token_id WHERE t.client_id = '%s'", c.id);
	assert_int_equal(tokens_of_client(&c), 2);

	/* Enabled again without revocation rows, the tokens come back. */
	assert_true(tkdb_execf(T.pg, "UPDATE clients SET disabled_at = NULL "
	    "WHERE id = '%s'", c.id));
	assert_true(is_valid(s.id));
}

/* ---- Database faults ---- */

/* A TCP port on 127.0.0.1 nobody listens on (bound, then closed). */
static int
closed_port(void)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);
	int			fd, port;

	assert_true((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

static void
test_database_unreachable(void **state)
{
	struct tkdb_client	c;
	struct tk_pool		*down;
	struct answer		a;
	struct tok		fake;
	char			conninfo[160], authz[TK_TOKEN_LEN + 8];
	char			body[256];
	unsigned char		id[TK_UUID_LEN];
	long long		before;

	(void)state;
	client_new("{read}", "{read}", &c);
	before = tkdb_int(T.pg, "SELECT count(*) FROM tokens");
	snprintf(conninfo, sizeof(conninfo), "host=127.0.0.1 port=%d "
	    "dbname=tokend user=tokend connect_timeout=2", closed_port());
	assert_non_null(down = pool_new(conninfo, 2, 2000, true));

	snprintf(body, sizeof(body), "{\"grant_type\":\"client_credentials\","
	    "\"client_id\":\"%s\"}", c.id);
	ask_via(&a, down, 5000, P_LONG, NULL, c.key, body);
	assert_problem(&a, 503, "service_unavailable");
	assert_retry_after(&a);
	assert_true(a.ms < 3000);
	answer_clear(&a);

	assert_int_equal(tk_uuid_new(id), TK_OK);
	assert_int_equal(tk_token_mint(TK_TOKEN_LONG, id, fake.token), TK_OK);
	tk_uuid_format(id, fake.id);
	bearer(authz, fake.token);
	ask_via(&a, down, 5000, P_SHORT, authz, NULL, NULL);
	assert_problem(&a, 503, "service_unavailable");
	assert_retry_after(&a);
	answer_clear(&a);
	tk_pool_free(down);
	assert_int_equal(tkdb_int(T.pg, "SELECT count(*) FROM tokens"), before);
}

/*
 * A rotation waiting on a row lock held by another session: with a
 * 1 s deadline it answers 503 within about 1.5 s, writes nothing, and
 * the pool's one connection serves the next request.
 */
static void
test_statement_deadline(void **state)
{
	struct tkdb_client	c;
	struct tk_pool		*pool;
	struct answer		a;
	struct tok		l;
	PGconn			*locker;
	char			body[256], unknown[TK_UUID_STR_LEN + 1];
	char			authz[TK_TOKEN_LEN + 8], path[128];
	unsigned int		open, busy;

	(void)state;
	client_new("{read}", "{read}", &c);
	issue_long(&c, "", &l);
	assert_non_null(pool = pool_new(T.db.conninfo, 1,
	    T.cfg->statement_timeout_ms, true));
	/* Open the pool's connection first. */
	random_uuid(unknown);
	bearer(authz, l.token);
	snprintf(path, sizeof(path), "/auth/tokens/%s/revoke", unknown);
	ask_via(&a, pool, 5000, path, authz, NULL, NULL);
	assert_problem(&a, 404, "not_found");
	answer_clear(&a);

	assert_non_null(locker = tkdb_connect(&T.db));
	assert_true(tkdb_exec(locker, "BEGIN"));
	assert_true(tkdb_execf(locker, "SELECT id FROM tokens WHERE id = '%s' "
	    "FOR UPDATE", l.id));

	snprintf(body, sizeof(body), "{\"grant_type\":\"rotate\",\"client_id\":"
	    "\"%s\",\"token_id\":\"%s\"}", c.id, l.id);
	ask_via(&a, pool, 1000, P_LONG, NULL, c.key, body);
	print_message("rotation behind a row lock: %d after %.0f ms\n",
	    a.resp.status, a.ms);
	assert_problem(&a, 503, "service_unavailable");
	assert_retry_after(&a);
	assert_true(a.ms >= 900 && a.ms < 1500);
	answer_clear(&a);

	assert_true(tkdb_exec(locker, "ROLLBACK"));
	PQfinish(locker);
	assert_sql_text(NULL, "SELECT rotated_at FROM tokens WHERE id = '%s'",
	    l.id);
	assert_sql_text("1", "SELECT count(*) FROM tokens WHERE family_id = "
	    "'%s'", l.id);

	/* The same connection, cancelled and drained, works again. */
	ask_via(&a, pool, 5000, P_LONG, NULL, c.key, body);
	assert_status(&a, 201);
	answer_clear(&a);
	tk_pool_counts(pool, &open, &busy);
	assert_int_equal(open, 1);
	assert_int_equal(busy, 0);
	tk_pool_free(pool);
}

/* The server's statement_timeout, shorter than the deadline: 503 too. */
static void
test_statement_timeout(void **state)
{
	struct tkdb_client	c;
	struct tk_pool		*pool;
	struct answer		a;
	struct tok		l;
	PGconn			*locker;
	char			body[256];

	(void)state;
	client_new("{read}", "{read}", &c);
	issue_long(&c, "", &l);
	assert_non_null(pool = pool_new(T.db.conninfo, 1, 300, true));
	assert_non_null(locker = tkdb_connect(&T.db));
	assert_true(tkdb_exec(locker, "BEGIN"));
	assert_true(tkdb_execf(locker, "SELECT id FROM tokens WHERE id = '%s' "
	    "FOR UPDATE", l.id));
	snprintf(body, sizeof(body), "{\"grant_type\":\"rotate\",\"client_id\":"
	    "\"%s\",\"token_id\":\"%s\"}", c.id, l.id);
	ask_via(&a, pool, 5000, P_LONG, NULL, c.key, body);
	assert_problem(&a, 503, "service_unavailable");
	assert_retry_after(&a);
	assert_true(a.ms < 2500);
	answer_clear(&a);
	assert_true(tkdb_exec(locker, "ROLLBACK"));
	PQfinish(locker);
	ask_via(&a, pool, 5000, P_LONG, NULL, c.key, body);
	assert_status(&a, 201);
	answer_clear(&a);
	tk_pool_free(pool);
}

/* prepared_statements = off sends the same statements as text. */
static void
test_unprepared_statements(void **state)
{
	struct tkdb_client	c;
	struct tk_pool		*pool;
	struct answer		a;
	char			body[256];

	(void)state;
	client_new("{read}", "{read}", &c);
	assert_non_null(pool = pool_new(T.db.conninfo, 1,
	    T.cfg->statement_timeout_ms, false));
	snprintf(body, sizeof(body), "{\"grant_type\":\"client_credentials\","
	    "\"client_id\":\"%s\"}", c.id);
	ask_via(&a, pool, 5000, P_LONG, NULL, c.key, body);
	assert_status(&a, 201);
	assert_string_equal(jstr(&a, "scope"), "read");
	answer_clear(&a);
	tk_pool_free(pool);
	assert_int_equal(tokens_of_client(&c), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_issue_long_default_scope),
		cmocka_unit_test(test_issue_long_explicit_scope),
		cmocka_unit_test(test_issue_long_invalid_scope),
		cmocka_unit_test(test_issue_long_ttl_above_max),
		cmocka_unit_test(test_issue_long_bad_client),
		cmocka_unit_test(test_rotate_with_key),
		cmocka_unit_test(test_rotate_with_short_bearer),
		cmocka_unit_test(test_rotate_supersede),
		cmocka_unit_test(test_rotate_reuse),
		cmocka_unit_test(test_rotate_conflict),
		cmocka_unit_test(test_issue_short),
		cmocka_unit_test(test_revoke_long_reaches_client),
		cmocka_unit_test(test_revoke_short_self_and_parent),
		cmocka_unit_test(test_revoke_already_revoked),
		cmocka_unit_test(test_cascade_revoked_parent),
		cmocka_unit_test(test_cascade_disabled_client),
		cmocka_unit_test(test_database_unreachable),
		cmocka_unit_test(test_statement_deadline),
		cmocka_unit_test(test_statement_timeout),
		cmocka_unit_test(test_unprepared_statements),
	};
	int	rc;

	tkdb_require_env(&T.db);
	rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
	return rc;
}
