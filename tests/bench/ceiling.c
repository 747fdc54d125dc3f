/*
 * ceiling.c - the ceilings tokend is measured against (tests/bench/run.sh):
 * a bare FastCGI responder, one request at a time per process, run under
 * spawn-fcgi -F N behind the same lighttpd as tokend.
 *
 *   ceiling --mode fixed             a fixed JSON body, nothing else
 *   ceiling --mode insert --db URL   the minimum durable work of an
 *                                    issuance: 32 random bytes, one
 *                                    SHA-256, one INSERT through libpq
 *                                    (prepared, one connection per process,
 *                                    synchronous commit as the server says)
 *
 * The INSERT goes to
 *   tokens(id uuid primary key default gen_random_uuid(), client_id uuid
 *   not null, token_hash bytea not null unique, created_at timestamptz,
 *   expires_at timestamptz)
 * and answers 201 with the token (hex) and the new id.  Every answer
 * carries X-Request-Id (stack_lighttpd_start waits for one).  The request
 * body, if any, is read and dropped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcgiapp.h>
#include <libpq-fe.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#define INSERT_SQL \
	"INSERT INTO tokens (client_id, token_hash, created_at, expires_at) " \
	"VALUES ($1::uuid, $2::bytea, now(), now() + interval '15 minutes') " \
	"RETURNING id"

static PGconn	*pg;
static char	 client_id[37];

static void
answer(FCGX_Stream *out, const char *status, const char *body)
{
	char	buf[512];
	int	n;

	/* libfcgi's own printf knows no %zu: format here, send once. */
	n = snprintf(buf, sizeof(buf), "Status: %s\r\nContent-Type: "
	    "application/json\r\nX-Request-Id: ceiling\r\nContent-Length: "
	    "%zu\r\n\r\n%s", status, strlen(body), body);
	if (n > 0 && (size_t)n < sizeof(buf))
		FCGX_PutStr(buf, n, out);
}

static int
db_ready(const char *url)
{
	PGresult	*res;

	if (pg != NULL && PQstatus(pg) == CONNECTION_OK)
		return 1;
	PQfinish(pg);
	pg = PQconnectdb(url);
	if (PQstatus(pg) != CONNECTION_OK) {
		fprintf(stderr, "ceiling: %s", PQerrorMessage(pg));
		return 0;
	}
	res = PQprepare(pg, "ins", INSERT_SQL, 2, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		fprintf(stderr, "ceiling: prepare: %s", PQerrorMessage(pg));
		PQclear(res);
		return 0;
	}
	PQclear(res);
	return 1;
}

static void
insert(FCGX_Stream *out, const char *url)
{
	unsigned char	 secret[32], digest[SHA256_DIGEST_LENGTH];
	char		 body[256], hexs[65];
	const char	*values[2];
	int		 lengths[2] = { 0, SHA256_DIGEST_LENGTH };
	int		 formats[2] = { 0, 1 };
	PGresult	*res;
	int		 i;

	if (!db_ready(url) || RAND_bytes(secret, sizeof(secret)) != 1) {
		answer(out, "503 Service Unavailable", "{\"error\":\"unavailable\"}");
		return;
	}
	SHA256(secret, sizeof(secret), digest);
	values[0] = client_id;
	values[1] = (const char *)digest;
	res = PQexecPrepared(pg, "ins", 2, values, lengths, formats, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		fprintf(stderr, "ceiling: insert: %s", PQerrorMessage(pg));
		answer(out, "503 Service Unavailable", "{\"error\":\"unavailable\"}");
		PQclear(res);
		return;
	}
	for (i = 0; i < 32; i++)
		snprintf(hexs + 2 * i, 3, "%02x", secret[i]);
	snprintf(body, sizeof(body), "{\"token\":\"%s\",\"token_id\":\"%s\"}",
	    hexs, PQgetvalue(res, 0, 0));
	PQclear(res);
	answer(out, "201 Created", body);
}

int
main(int argc, char *argv[])
{
	FCGX_Request	 req;
	const char	*mode = "fixed", *url = "";
	unsigned char	 id[16];
	char		 sink[4096];
	int		 i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc)
			mode = argv[++i];
		else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc)
			url = argv[++i];
		else {
			fprintf(stderr, "usage: ceiling --mode fixed|insert [--db URL]\n");
			return 2;
		}
	}
	if (strcmp(mode, "fixed") != 0 && strcmp(mode, "insert") != 0) {
		fprintf(stderr, "ceiling: --mode fixed or insert\n");
		return 2;
	}
	/* One client per process, version 4 form. */
	if (RAND_bytes(id, sizeof(id)) != 1)
		return 1;
	id[6] = (id[6] & 0x0f) | 0x40;
	id[8] = (id[8] & 0x3f) | 0x80;
	snprintf(client_id, sizeof(client_id), "%02x%02x%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x-%02x%02x%02x%02x%02x%02x", id[0], id[1], id[2], id[3],
	    id[4], id[5], id[6], id[7], id[8], id[9], id[10], id[11], id[12],
	    id[13], id[14], id[15]);

	if (FCGX_Init() != 0 || FCGX_InitRequest(&req, 0, 0) != 0)
		return 1;
	while (FCGX_Accept_r(&req) >= 0) {
		while (FCGX_GetStr(sink, sizeof(sink), req.in) > 0)
			;
		if (mode[0] == 'f')
			answer(req.out, "200 OK", "{\"status\":\"ok\"}");
		else
			insert(req.out, url);
		FCGX_Finish_r(&req);
	}
	PQfinish(pg);
	return 0;
}
