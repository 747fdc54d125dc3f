/*
 * tk_timing.c - the failure paths of the handlers, for callgrind.
 *
 * Each case sends one request twice, byte for byte the same, against two
 * states of a real PostgreSQL database: once when the id embedded in the
 * credential names an existing client or token (so the secret is merely
 * wrong), once when it names nothing.  Seven cases: a client key on
 * POST /long (client_credentials, rotate) and POST /introspect, a
 * long-term token on POST /short, a short-term one on POST /{id}/revoke,
 * on rotate and on the authorizer.  The input is identical, so any
 * difference in the work of tokend's own code can only come from what
 * the database said: exactly the difference an attacker could time to
 * learn which client ids or token ids exist.
 *
 * Under `valgrind --tool=callgrind`, the handler call of each request is
 * bracketed by CALLGRIND_ZERO_STATS and CALLGRIND_DUMP_STATS_AT("case
 * state round"); tests/timing/run.sh compares the instructions spent in
 * lib/tk_*.c between the two states.  Outside valgrind the client
 * requests do nothing and the program only checks the answers.
 *
 * Every measured request gets a fresh failure table (what the table held
 * before is not the database's doing) and runs after a warm-up of both
 * states (statements prepared, connection made, every path run once).
 * The handlers mint the token they would issue before the database
 * answers, and the work of writing random bytes in base62 depends on
 * their value: RAND_bytes is wrapped (-Wl,--wrap=RAND_bytes) so that
 * both requests of a pair draw the same bytes.
 *
 * After the handler, the worker writes the answer and logs a line; the
 * program checks that both requests of a pair gave answers of the same
 * status and lengths and that neither logs a client or token id, so that
 * work is equal too.
 *
 * Needs TOKEND_TEST_DATABASE_URL and TOKEND_SQL_DIR (else exit 77);
 * works in a scratch database it creates and drops.  Exit 0 when every
 * answer was the expected 401 and every pair alike, else 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <valgrind/callgrind.h>

#include "tk_abuse.h"
#include "tk_config.h"
#include "tk_handler.h"
#include "tk_http.h"
#include "tk_log.h"
#include "tk_pool.h"
#include "tk_token.h"
#include "tk_testdb.h"

#define ROUNDS	3	/* measured rounds, after round 0 */
#define ADDR	"192.0.2.77"	/* the attacker's address, same length throughout */

static char *cfg_argv[] = { "tk_timing", NULL };

static struct {
	struct tkdb		 db;
	PGconn			*pg;
	struct tk_config	*cfg;
	struct tk_pool		*pool;
	unsigned int		 seq;
	int			 bad;
	struct tkdb_client	 owner;		/* owns the tokens below */
	char			 parent[TK_UUID_STR_LEN + 1];	/* a valid long token */
} T;

/* The handlers' randomness: a sequence restarted for every request. */
static uint64_t	rand_state = 88172645463325252ULL;

int	__wrap_RAND_bytes(unsigned char *, int);

int
__wrap_RAND_bytes(unsigned char *buf, int num)
{
	int	i;

	for (i = 0; i < num; i++) {
		rand_state ^= rand_state << 13;
		rand_state ^= rand_state >> 7;
		rand_state ^= rand_state << 17;
		buf[i] = (unsigned char)(rand_state >> 24);
	}
	return 1;
}

/* The requests: the credential and the way it is sent. */
enum kind {
	K_KEY,		/* POST /long client_credentials, X-Client-Key */
	K_ROTATE_KEY,	/* POST /long rotate, X-Client-Key */
	K_INTROSPECT,	/* POST /introspect, X-Client-Key */
	K_LONG,		/* POST /short, Bearer tkl_ */
	K_SHORT,	/* POST /{id}/revoke, Bearer tks_ (itself) */
	K_ROTATE_SHORT,	/* POST /long rotate, Bearer tks_ */
	K_AUTHZ,	/* the authorizer role, Bearer tks_ */
};

static bool
is_key(enum kind k)
{
	return k == K_KEY || k == K_ROTATE_KEY || k == K_INTROSPECT;
}

/* One case: a credential whose embedded id is made to exist or not. */
struct tcase {
	const char	*name;
	enum kind	 kind;
	char		 id[TK_UUID_STR_LEN + 1];	/* the embedded id */
	char		 cred[TK_TOKEN_LEN + 1];	/* the presented credential */
	char		 authz[TK_TOKEN_LEN + 16];	/* "Bearer <cred>" */
	char		 body[256];
	const char	*path;				/* under base_path */
	char		 revoke[64];			/* K_SHORT's path */
};

static void
die(const char *what)
{
	fprintf(stderr, "tk_timing: %s\n", what);
	exit(1);
}

/* A fresh id and a credential of kind k embedding it. */
static void
case_init(struct tcase *c, const char *name, enum kind k)
{
	unsigned char		id[TK_UUID_LEN];
	enum tk_token_kind	tk = is_key(k) ? TK_TOKEN_CLIENT :
				    k == K_LONG ? TK_TOKEN_LONG : TK_TOKEN_SHORT;
	char			other[TK_UUID_STR_LEN + 1], tok[TK_TOKEN_LEN + 1];

	memset(c, 0, sizeof(*c));
	c->name = name;
	c->kind = k;
	if (tk_uuid_new(id) != TK_OK || tk_token_mint(tk, id, c->cred) != TK_OK)
		die("could not mint a credential");
	tk_uuid_format(id, c->id);
	snprintf(c->authz, sizeof(c->authz), "Bearer %s", c->cred);
	/* A token id to rotate, a token to introspect: never reached. */
	if (tk_uuid_new(id) != TK_OK || tk_token_mint(TK_TOKEN_SHORT, id, tok) != TK_OK)
		die("could not mint a token");
	tk_uuid_format(id, other);
	snprintf(c->revoke, sizeof(c->revoke), "/auth/tokens/%s/revoke", c->id);
	switch (k) {
	case K_KEY:
		c->path = "/auth/tokens/long";
		snprintf(c->body, sizeof(c->body), "{\"grant_type\":"
		    "\"client_credentials\",\"client_id\":\"%s\"}", c->id);
		break;
	case K_ROTATE_KEY:
		c->path = "/auth/tokens/long";
		snprintf(c->body, sizeof(c->body), "{\"grant_type\":\"rotate\","
		    "\"client_id\":\"%s\",\"token_id\":\"%s\"}", c->id, other);
		break;
	case K_ROTATE_SHORT:
		/* The owner's id: the body names the client, not the token. */
		c->path = "/auth/tokens/long";
		snprintf(c->body, sizeof(c->body), "{\"grant_type\":\"rotate\","
		    "\"client_id\":\"%s\"}", T.owner.id);
		break;
	case K_INTROSPECT:
		c->path = "/auth/tokens/introspect";
		snprintf(c->body, sizeof(c->body), "{\"token\":\"%s\"}", tok);
		break;
	case K_LONG:
		c->path = "/auth/tokens/short";
		break;
	case K_SHORT:
	case K_AUTHZ:
		c->path = c->revoke;
		break;
	}
}

/*
 * Make the case's id exist (with a digest that is not the credential's)
 * or not.  A client key's id is a client; a token's id is a token of
 * the owner, long-term or short-term (child of the valid parent).
 */
static void
set_exists(const struct tcase *c, bool exists)
{
	bool	ok;

	if (!exists)
		ok = is_key(c->kind) ?
		    tkdb_execf(T.pg, "DELETE FROM clients WHERE id = '%s'", c->id) :
		    tkdb_execf(T.pg, "DELETE FROM tokens WHERE id = '%s'", c->id);
	else if (is_key(c->kind))
		ok = tkdb_execf(T.pg, "INSERT INTO clients (id, name, key_digest, "
		    "scopes, default_scopes) VALUES ('%s', 'timing %s', "
		    "sha256(gen_random_uuid()::text::bytea), '{read}', '{read}')",
		    c->id, c->id);
	else if (c->kind == K_LONG)
		ok = tkdb_execf(T.pg, "INSERT INTO tokens (id, kind, client_id, "
		    "digest, family_id, generation, family_expires_at, scope, "
		    "issued_at, expires_at, valid_until) VALUES ('%s', 'long', "
		    "'%s', sha256(gen_random_uuid()::text::bytea), '%s', 0, "
		    "date_trunc('second', now()) + interval '1 day', '{read}', "
		    "date_trunc('second', now()), date_trunc('second', now()) + "
		    "interval '1 hour', date_trunc('second', now()) + "
		    "interval '1 hour')", c->id, T.owner.id, c->id);
	else
		ok = tkdb_execf(T.pg, "INSERT INTO tokens (id, kind, client_id, "
		    "digest, parent_id, scope, issued_at, expires_at, valid_until) "
		    "VALUES ('%s', 'short', '%s', "
		    "sha256(gen_random_uuid()::text::bytea), '%s', '{read}', "
		    "date_trunc('second', now()), date_trunc('second', now()) + "
		    "interval '10 minutes', date_trunc('second', now()) + "
		    "interval '10 minutes')", c->id, T.owner.id, T.parent);
	if (!ok)
		die("could not change the database state");
}

/*
 * What the worker does with an answer after the handler returns: write
 * it and log one line (lib/tk_worker.c).  Equal shapes mean equal work
 * there too, so the pair must agree on them.
 */
struct shape {
	int	status;
	size_t	headers_len, body_len;
	bool	logs_ids;	/* client_id= or token_id= in the log line */
};

/*
 * Send the case's request through a fresh failure table; when label is
 * not NULL, count only the handler call, as a callgrind dump of that
 * name.  The answer must be 401 with the case's error; *out gets its
 * shape.
 */
static void
send_case(const struct tcase *c, const char *label, struct shape *out)
{
	struct tk_handler_ctx	 ctx = { .cfg = T.cfg, .pool = T.pool };
	struct tk_request	 req;
	struct tk_response	 resp;
	struct timespec		 deadline;
	char			 uri[256];
	const char		*want = is_key(c->kind) ? "invalid_client" :
				    "invalid_token";

	memset(&req, 0, sizeof(req));
	memset(&resp, 0, sizeof(resp));
	if ((ctx.abuse = tk_abuse_new(60, 20)) == NULL)
		die("out of memory");
	snprintf(uri, sizeof(uri), "%s%s", T.cfg->base_path, c->path);
	req.role = c->kind == K_AUTHZ ? "AUTHORIZER" : "RESPONDER";
	req.method = "POST";
	req.uri = uri;
	req.remote_addr = ADDR;
	if (is_key(c->kind))
		req.client_key = c->cred;
	else
		req.authorization = c->authz;
	if (c->body[0] != '\0') {
		req.content_type = "application/json";
		if ((req.body = strdup(c->body)) == NULL)
			die("out of memory");
		req.body_len = strlen(c->body);
	}
	/* Same length every time: the id is copied into the answer. */
	snprintf(req.request_id, sizeof(req.request_id), "timing-%06u", ++T.seq);
	tk_deadline_in(&deadline, 5000);
	rand_state = 0x9e3779b97f4a7c15ULL + (T.seq + 1) / 2;	/* same for a pair */
	if (label != NULL)
		CALLGRIND_ZERO_STATS;
	if (c->kind == K_AUTHZ)
		tk_handler_authorize(&ctx, &req, &deadline, &resp);
	else
		tk_handler_serve(&ctx, &req, &deadline, &resp);
	if (label != NULL)
		CALLGRIND_DUMP_STATS_AT(label);
	if (resp.status != 401 || resp.error == NULL ||
	    strcmp(resp.error, want) != 0) {
		fprintf(stderr, "tk_timing: %s: answer %d %s, not 401 %s\n",
		    label != NULL ? label : c->name, resp.status,
		    resp.error != NULL ? resp.error : "-", want);
		T.bad++;
	}
	out->status = resp.status;
	out->headers_len = resp.headers_len;
	out->body_len = resp.body_len;
	out->logs_ids = resp.client_id[0] != '\0' || resp.token_id[0] != '\0';
	free(req.body);
	tk_http_response_clear(&resp);
	tk_abuse_free(ctx.abuse);
}

static void
setup(void)
{
	struct tk_pool_settings	 s;
	unsigned char		 id[TK_UUID_LEN];

	tk_log_setup(TK_LOG_ERROR, "logfmt");
	tkdb_require_env(&T.db);
	if (!tkdb_create(&T.db, "tk_timing") || (T.pg = tkdb_connect(&T.db)) == NULL ||
	    tk_config_load(&T.cfg, 1, cfg_argv, NULL) != TK_OK)
		die("could not set up the database");
	free(T.cfg->database_url);
	if ((T.cfg->database_url = strdup(T.db.conninfo)) == NULL)
		die("out of memory");
	memset(&s, 0, sizeof(s));
	s.conninfo = T.cfg->database_url;
	s.size = 1;
	s.acquire_timeout_ms = T.cfg->pool_acquire_timeout_ms;
	s.statement_timeout_ms = T.cfg->statement_timeout_ms;
	s.prepared = T.cfg->prepared_statements;
	s.stmts = tk_handler_stmts;
	s.nstmts = tk_handler_nstmts;
	if ((T.pool = tk_pool_new(&s)) == NULL)
		die("out of memory");
	if (!tkdb_client_new(T.pg, "{read}", "{read}", &T.owner) ||
	    tk_uuid_new(id) != TK_OK)
		die("could not make the owner client");
	tk_uuid_format(id, T.parent);
	if (!tkdb_execf(T.pg, "INSERT INTO tokens (id, kind, client_id, digest, "
	    "family_id, generation, family_expires_at, scope, issued_at, "
	    "expires_at, valid_until) VALUES ('%s', 'long', '%s', "
	    "sha256(gen_random_uuid()::text::bytea), '%s', 0, "
	    "date_trunc('second', now()) + interval '1 day', '{read}', "
	    "date_trunc('second', now()), date_trunc('second', now()) + "
	    "interval '1 hour', date_trunc('second', now()) + interval '1 hour')",
	    T.parent, T.owner.id, T.parent))
		die("could not make the parent token");
}

int
main(void)
{
	struct tcase	cases[7];
	struct shape	known, unknown;
	char		label[96];
	unsigned int	i, r, n = sizeof(cases) / sizeof(cases[0]);

	setup();
	/* Names are one word each: compare.py splits the dump names. */
	case_init(&cases[0], "key", K_KEY);
	case_init(&cases[1], "rotate-key", K_ROTATE_KEY);
	case_init(&cases[2], "introspect", K_INTROSPECT);
	case_init(&cases[3], "long", K_LONG);
	case_init(&cases[4], "short", K_SHORT);
	case_init(&cases[5], "rotate-short", K_ROTATE_SHORT);
	case_init(&cases[6], "authz", K_AUTHZ);
	for (i = 0; i < n; i++) {
		/*
		 * Round 0 warms up: connection made, statement prepared,
		 * both paths run once.  Its first dump also carries costs
		 * that the ones after it do not; compare.py skips it.
		 */
		for (r = 0; r <= ROUNDS; r++) {
			set_exists(&cases[i], true);
			snprintf(label, sizeof(label), "%s known %u", cases[i].name, r);
			send_case(&cases[i], label, &known);
			set_exists(&cases[i], false);
			snprintf(label, sizeof(label), "%s unknown %u", cases[i].name, r);
			send_case(&cases[i], label, &unknown);
			if (known.status != unknown.status ||
			    known.headers_len != unknown.headers_len ||
			    known.body_len != unknown.body_len ||
			    known.logs_ids || unknown.logs_ids) {
				fprintf(stderr, "tk_timing: %s round %u: answers of "
				    "different shapes (headers %zu/%zu, body %zu/%zu, "
				    "ids logged %d/%d)\n", cases[i].name, r,
				    known.headers_len, unknown.headers_len,
				    known.body_len, unknown.body_len, known.logs_ids,
				    unknown.logs_ids);
				T.bad++;
			}
		}
	}
	tk_pool_free(T.pool);
	tk_config_free(T.cfg);
	PQfinish(T.pg);
	tkdb_drop(&T.db);
	printf("tk_timing: %u cases, %d wrong or unequal answers\n", n, T.bad);
	return T.bad == 0 ? 0 : 1;
}
