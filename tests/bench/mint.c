/*
 * mint.c - real tokens for the benchmark (tests/bench/run.sh), made with
 * tokend's own code (lib/tk_token.c): format, checksum and digest exactly
 * as tokend makes and checks them.
 *
 *   mint OUTDIR CLIENTS POOL:TYPE:COUNT...
 *
 * Writes into OUTDIR:
 *   clients.copy   COPY data for clients (id, name, key_digest, scopes,
 *                  default_scopes): CLIENTS clients, each with a real key
 *   stage.copy     COPY data for the table bench_stage (pool, n, role, id,
 *                  kind, client_id, digest, parent_id, audience): every
 *                  token minted, by pool; fill.sql makes tokens of them
 *   POOL.txt       one line per request of a wrk script, each used once:
 *     short   TKL                      a long-term token (POST /short)
 *     long    CLIENT_ID TKC            a client and its key (POST /long);
 *                                      clients in turn, shuffled
 *     rotate  CLIENT_ID TKC TOKEN_ID   a long-term token to rotate by key
 *     revoke  TKL TARGET_ID            a short-term token to revoke, and
 *                                      its parent as the Bearer (a parent
 *                                      serves 4 targets)
 *     authz   TKS                      a short-term token, scope read,
 *                                      audience example-app (authorizer)
 *     mixed   S TKL | L CLIENT_ID TKC | R TKL TARGET_ID
 *                                      80% / 15% / 5%, shuffled
 *     warm    as mixed, and T CLIENT_ID TKC TOKEN_ID (rotate) and A TKS
 *             (authorizer), a fifth each: every statement on every
 *             connection before anything is measured
 *     pgb     (no file)                like rotate and revoke together,
 *                                      for pgbench, which reads bench_stage
 * Tokens are spread uniformly over the clients.  The random choices of
 * clients and of the mix come from a fixed seed; the tokens themselves
 * from RAND_bytes, as tokend's.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tk_token.h"

struct client {
	char	id[TK_UUID_STR_LEN + 1];
	char	key[TK_TOKEN_LEN + 1];
};

static struct client	*clients;
static unsigned int	 nclients;
static uint64_t		 rng = 0x9e3779b97f4a7c15ULL;
static FILE		*stage;

static uint64_t
next_rand(void)
{
	/* xorshift64*: reproducible choices, not secrets. */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ULL;
}

static unsigned int
pick(unsigned int n)
{
	return (unsigned int)(next_rand() % n);
}

static void
die(const char *what)
{
	fprintf(stderr, "mint: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void
hex(FILE *f, const unsigned char *p, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		fprintf(f, "%02x", p[i]);
}

/* A token of kind for a fresh id; its line in stage.copy. */
struct tok {
	char	id[TK_UUID_STR_LEN + 1];
	char	token[TK_TOKEN_LEN + 1];
	unsigned int client;
};

static void
make(struct tok *t, enum tk_token_kind kind, unsigned int client,
    const char *pool, unsigned long n, const char *role,
    const struct tok *parent, const char *audience)
{
	unsigned char	id[TK_UUID_LEN], digest[TK_DIGEST_LEN];

	if (tk_uuid_new(id) != TK_OK || tk_token_mint(kind, id, t->token) != TK_OK) {
		fprintf(stderr, "mint: random generator failed\n");
		exit(1);
	}
	tk_uuid_format(id, t->id);
	tk_token_digest(t->token, digest);
	t->client = client;
	fprintf(stage, "%s\t%lu\t%s\t%s\t%s\t%s\t\\\\x", pool, n, role, t->id,
	    kind == TK_TOKEN_LONG ? "long" : "short", clients[client].id);
	hex(stage, digest, sizeof(digest));
	fprintf(stage, "\t%s\t%s\n", parent != NULL ? parent->id : "\\N",
	    audience != NULL ? audience : "\\N");
}

static FILE *
open_out(const char *dir, const char *name, const char *ext)
{
	char	path[4096];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/%s%s", dir, name, ext);
	if ((f = fopen(path, "w")) == NULL)
		die(path);
	return f;
}

/* A revoke target and its parent; a parent serves 4 targets. */
static void
revoke_pair(FILE *f, const char *pool, unsigned long n, struct tok *parent,
    unsigned int *left, const char *prefix)
{
	struct tok	target;

	if (*left == 0) {
		make(parent, TK_TOKEN_LONG, pick(nclients), pool, n, "parent",
		    NULL, NULL);
		*left = 4;
	}
	(*left)--;
	make(&target, TK_TOKEN_SHORT, parent->client, pool, n, "tok", parent,
	    NULL);
	fprintf(f, "%s%s %s\n", prefix, parent->token, target.id);
}

int
main(int argc, char *argv[])
{
	const char	*dir;
	FILE		*f;
	unsigned int	 i, *order, norder = 0, opos = 0;
	int		 a;

	if (argc < 3) {
		fprintf(stderr, "usage: mint OUTDIR CLIENTS POOL:TYPE:COUNT...\n");
		return 2;
	}
	dir = argv[1];
	nclients = (unsigned int)strtoul(argv[2], NULL, 10);
	if (nclients == 0 || (clients = calloc(nclients, sizeof(*clients))) == NULL ||
	    (order = calloc(nclients, sizeof(*order))) == NULL)
		return 2;
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		die(dir);

	f = open_out(dir, "clients", ".copy");
	for (i = 0; i < nclients; i++) {
		unsigned char	id[TK_UUID_LEN], digest[TK_DIGEST_LEN];

		if (tk_uuid_new(id) != TK_OK ||
		    tk_token_mint(TK_TOKEN_CLIENT, id, clients[i].key) != TK_OK)
			return 1;
		tk_uuid_format(id, clients[i].id);
		tk_token_digest(clients[i].key, digest);
		fprintf(f, "%s\tbench-%u\t\\\\x", clients[i].id, i);
		hex(f, digest, sizeof(digest));
		fprintf(f, "\t{read,write,tokend:rotate,tokend:revoke}\t{read,write}\n");
		order[i] = i;
	}
	if (fclose(f) != 0)
		die("clients.copy");
	norder = nclients;

	stage = open_out(dir, "stage", ".copy");
	for (a = 3; a < argc; a++) {
		char		 pool[64], type[16];
		unsigned long	 count, n;
		struct tok	 t, parent;
		unsigned int	 left = 0;

		if (sscanf(argv[a], "%63[^:]:%15[^:]:%lu", pool, type, &count) != 3) {
			fprintf(stderr, "mint: bad pool %s\n", argv[a]);
			return 2;
		}
		f = strcmp(type, "pgb") == 0 ? NULL : open_out(dir, pool, ".txt");
		for (n = 1; n <= count; n++) {
			if (strcmp(type, "short") == 0) {
				make(&t, TK_TOKEN_LONG, pick(nclients), pool, n,
				    "tok", NULL, NULL);
				fprintf(f, "%s\n", t.token);
			} else if (strcmp(type, "authz") == 0) {
				if (left == 0) {
					make(&parent, TK_TOKEN_LONG, pick(nclients),
					    pool, n, "parent", NULL, NULL);
					left = 16;
				}
				left--;
				make(&t, TK_TOKEN_SHORT, parent.client, pool, n,
				    "tok", &parent, "example-app");
				fprintf(f, "%s\n", t.token);
			} else if (strcmp(type, "long") == 0) {
				/* Every client in turn, a new shuffle each round. */
				if (opos == 0)
					for (i = norder - 1; i > 0; i--) {
						unsigned int j = pick(i + 1), x = order[i];

						order[i] = order[j];
						order[j] = x;
					}
				i = order[opos];
				opos = (opos + 1) % norder;
				fprintf(f, "%s %s\n", clients[i].id, clients[i].key);
			} else if (strcmp(type, "rotate") == 0 ||
			    strcmp(type, "pgb") == 0) {
				make(&t, TK_TOKEN_LONG, pick(nclients), pool, n,
				    "tok", NULL, NULL);
				if (f != NULL)
					fprintf(f, "%s %s %s\n", clients[t.client].id,
					    clients[t.client].key, t.id);
				if (strcmp(type, "pgb") == 0) {
					/* and a revoke target of the same number */
					char rpool[80];

					snprintf(rpool, sizeof(rpool), "%s_rev", pool);
					if (left == 0) {
						make(&parent, TK_TOKEN_LONG,
						    pick(nclients), rpool, n,
						    "parent", NULL, NULL);
						left = 4;
					}
					left--;
					make(&t, TK_TOKEN_SHORT, parent.client,
					    rpool, n, "tok", &parent, NULL);
				}
			} else if (strcmp(type, "revoke") == 0) {
				revoke_pair(f, pool, n, &parent, &left, "");
			} else if (strcmp(type, "mixed") == 0 ||
			    strcmp(type, "warm") == 0) {
				unsigned int r = pick(100);

				if (type[0] == 'w') {
					/* S, L, R, T, A: a fifth each */
					r = pick(5);
					if (r == 3) {
						make(&t, TK_TOKEN_LONG, pick(nclients),
						    pool, n, "tok", NULL, NULL);
						fprintf(f, "T %s %s %s\n",
						    clients[t.client].id,
						    clients[t.client].key, t.id);
						continue;
					}
					if (r == 4) {
						struct tok p;

						make(&p, TK_TOKEN_LONG, pick(nclients),
						    pool, n, "parent", NULL, NULL);
						make(&t, TK_TOKEN_SHORT, p.client, pool,
						    n, "tok", &p, "example-app");
						fprintf(f, "A %s\n", t.token);
						continue;
					}
					r = r == 0 ? 0 : r == 1 ? 80 : 95;
				}
				if (r < 80) {
					make(&t, TK_TOKEN_LONG, pick(nclients), pool,
					    n, "tok", NULL, NULL);
					fprintf(f, "S %s\n", t.token);
				} else if (r < 95) {
					i = pick(nclients);
					fprintf(f, "L %s %s\n", clients[i].id,
					    clients[i].key);
				} else
					revoke_pair(f, pool, n, &parent, &left, "R ");
			} else {
				fprintf(stderr, "mint: unknown type %s\n", type);
				return 2;
			}
		}
		if (f != NULL && fclose(f) != 0)
			die(pool);
	}
	if (fclose(stage) != 0)
		die("stage.copy");
	free(order);
	free(clients);
	return 0;
}
