/*
 * tk_testdb.h - a scratch database for the integration tests.
 *
 * Header only, so that no build file needs to know about it.  A test
 * program calls tkdb_require_env() first: without
 * TOKEND_TEST_DATABASE_URL (a superuser conninfo) and TOKEND_SQL_DIR it
 * prints why and exits 77, the exit code of a skipped test.  Then
 * tkdb_create() makes the database "<prefix>_<pid>" through that
 * connection and applies sql/0*.sql in order, each file inside
 * BEGIN/COMMIT (a file whose first line ends "-- no-transaction" runs
 * outside one), without tokenctl; tkdb_drop() removes it.
 *
 * Every function is static inline: a program uses what it needs.
 */
#ifndef TK_TESTDB_H
#define TK_TESTDB_H

#include <dirent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "tk_token.h"

#define TKDB_SKIP	77

struct tkdb {
	char		 name[64];	/* the scratch database */
	const char	*admin_url;	/* TOKEND_TEST_DATABASE_URL, borrowed */
	const char	*sql_dir;	/* TOKEND_SQL_DIR, borrowed */
	char		*conninfo;	/* the scratch database's; owned */
};

/* A client made by tkdb_client_new(): its id and its key. */
struct tkdb_client {
	char		 id[TK_UUID_STR_LEN + 1];
	char		 key[TK_TOKEN_LEN + 1];
	unsigned char	 key_digest[TK_DIGEST_LEN];
};

/* Exit 77 (skip) when the environment names no database. */
static inline void
tkdb_require_env(struct tkdb *db)
{
	const char	*url = getenv("TOKEND_TEST_DATABASE_URL");
	const char	*dir = getenv("TOKEND_SQL_DIR");

	memset(db, 0, sizeof(*db));
	if (url == NULL || *url == '\0' || dir == NULL || *dir == '\0') {
		fprintf(stderr, "skipped: set TOKEND_TEST_DATABASE_URL (a "
		    "superuser conninfo) and TOKEND_SQL_DIR (the sql/ "
		    "directory) to run the integration tests\n");
		exit(TKDB_SKIP);
	}
	db->admin_url = url;
	db->sql_dir = dir;
}

static inline double
tkdb_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Append s to the growing string *buf (of *len bytes); false on ENOMEM. */
static inline bool
tkdb_append(char **buf, size_t *len, const char *s)
{
	size_t	 n = strlen(s);
	char	*p;

	if ((p = realloc(*buf, *len + n + 1)) == NULL)
		return false;
	memcpy(p + *len, s, n + 1);
	*buf = p;
	*len += n;
	return true;
}

/* Append keyword='value', quoted for a conninfo string. */
static inline bool
tkdb_append_kv(char **buf, size_t *len, const char *k, const char *v)
{
	char	c[2] = { 0, 0 };

	if ((*len > 0 && !tkdb_append(buf, len, " ")) ||
	    !tkdb_append(buf, len, k) || !tkdb_append(buf, len, "='"))
		return false;
	for (; *v != '\0'; v++) {
		if ((*v == '\'' || *v == '\\') && !tkdb_append(buf, len, "\\"))
			return false;
		c[0] = *v;
		if (!tkdb_append(buf, len, c))
			return false;
	}
	return tkdb_append(buf, len, "'");
}

/*
 * The conninfo of url (key=value or URI form) with its database
 * replaced by dbname.  Yours to free; NULL on a parse error (printed).
 */
static inline char *
tkdb_conninfo_with_db(const char *url, const char *dbname)
{
	PQconninfoOption	*opts, *o;
	char			*err = NULL, *out = NULL;
	size_t			 len = 0;

	if ((opts = PQconninfoParse(url, &err)) == NULL) {
		fprintf(stderr, "tkdb: bad TOKEND_TEST_DATABASE_URL: %s\n",
		    err != NULL ? err : "out of memory");
		PQfreemem(err);
		return NULL;
	}
	if ((out = calloc(1, 1)) == NULL)
		goto fail;
	for (o = opts; o->keyword != NULL; o++)
		if (o->val != NULL && strcmp(o->keyword, "dbname") != 0 &&
		    !tkdb_append_kv(&out, &len, o->keyword, o->val))
			goto fail;
	if (!tkdb_append_kv(&out, &len, "dbname", dbname))
		goto fail;
	PQconninfoFree(opts);
	return out;
fail:
	free(out);
	PQconninfoFree(opts);
	return NULL;
}

/* Run sql on conn; false after printing the error. */
static inline bool
tkdb_exec(PGconn *conn, const char *sql)
{
	PGresult	*res = PQexec(conn, sql);
	ExecStatusType	 st = PQresultStatus(res);
	bool		 ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;

	if (!ok)
		fprintf(stderr, "tkdb: %.200s: %s", sql, PQerrorMessage(conn));
	PQclear(res);
	return ok;
}

/* Read a whole file; yours to free, NULL on failure (printed). */
static inline char *
tkdb_read_file(const char *path)
{
	FILE	*fp;
	char	*buf = NULL;
	long	 n;

	if ((fp = fopen(path, "rb")) == NULL) {
		perror(path);
		return NULL;
	}
	if (fseek(fp, 0, SEEK_END) != 0 || (n = ftell(fp)) < 0 ||
	    fseek(fp, 0, SEEK_SET) != 0 ||
	    (buf = malloc((size_t)n + 1)) == NULL ||
	    fread(buf, 1, (size_t)n, fp) != (size_t)n) {
		perror(path);
		free(buf);
		fclose(fp);
		return NULL;
	}
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static inline int
tkdb_sql_filter(const struct dirent *d)
{
	size_t	n = strlen(d->d_name);

	return d->d_name[0] == '0' && n > 4 &&
	    strcmp(d->d_name + n - 4, ".sql") == 0;
}

/* Apply dir/0*.sql in name order, each in its own transaction. */
static inline bool
tkdb_apply_sql(PGconn *conn, const char *dir)
{
	struct dirent	**list = NULL;
	char		  path[4096];
	int		  n, i;
	bool		  ok = true;

	if ((n = scandir(dir, &list, tkdb_sql_filter, alphasort)) < 0) {
		perror(dir);
		return false;
	}
	if (n == 0) {
		fprintf(stderr, "tkdb: no 0*.sql file in %s\n", dir);
		ok = false;
	}
	for (i = 0; i < n; i++) {
		char	*sql = NULL, *eol;
		bool	 single;

		if (ok) {
			snprintf(path, sizeof(path), "%s/%s", dir,
			    list[i]->d_name);
			ok = (sql = tkdb_read_file(path)) != NULL;
		}
		if (ok) {
			eol = strchr(sql, '\n');
			single = eol != NULL && eol - sql >= 17 &&
			    strncmp(eol - 17, "-- no-transaction", 17) == 0;
			if (single)
				ok = tkdb_exec(conn, sql);
			else if ((ok = tkdb_exec(conn, "BEGIN")) &&
			    !((ok = tkdb_exec(conn, sql)) &&
			    (ok = tkdb_exec(conn, "COMMIT"))))
				(void)tkdb_exec(conn, "ROLLBACK");
			if (!ok)
				fprintf(stderr, "tkdb: applying %s failed\n",
				    path);
		}
		free(sql);
		free(list[i]);
	}
	free(list);
	return ok;
}

static inline PGconn *
tkdb_connect_to(const char *conninfo)
{
	PGconn	*conn = PQconnectdb(conninfo);

	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "tkdb: could not connect: %s",
		    PQerrorMessage(conn));
		PQfinish(conn);
		return NULL;
	}
	(void)tkdb_exec(conn, "SET client_min_messages = warning");
	return conn;
}

/* A new connection to the scratch database, or NULL (printed). */
static inline PGconn *
tkdb_connect(const struct tkdb *db)
{
	return tkdb_connect_to(db->conninfo);
}

static inline bool
tkdb_drop_named(const char *admin_url, const char *name)
{
	PGconn	*admin;
	char	 sql[160];
	bool	 ok;

	if ((admin = tkdb_connect_to(admin_url)) == NULL)
		return false;
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)",
	    name);
	ok = tkdb_exec(admin, sql);
	PQfinish(admin);
	return ok;
}

/*
 * Create "<prefix>_<pid>" (dropping a leftover of that name) and apply
 * the migrations.  False after printing why.
 */
static inline bool
tkdb_create(struct tkdb *db, const char *prefix)
{
	PGconn	*admin, *conn;
	char	 sql[160];
	bool	 ok;

	snprintf(db->name, sizeof(db->name), "%s_%ld", prefix, (long)getpid());
	if ((db->conninfo = tkdb_conninfo_with_db(db->admin_url,
	    db->name)) == NULL)
		return false;
	if ((admin = tkdb_connect_to(db->admin_url)) == NULL)
		return false;
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)",
	    db->name);
	ok = tkdb_exec(admin, sql);
	snprintf(sql, sizeof(sql), "CREATE DATABASE \"%s\"", db->name);
	ok = ok && tkdb_exec(admin, sql);
	PQfinish(admin);
	if (!ok)
		return false;
	if ((conn = tkdb_connect(db)) == NULL)
		return false;
	ok = tkdb_apply_sql(conn, db->sql_dir);
	PQfinish(conn);
	return ok;
}

/* Drop the scratch database (closing its connections) and free db. */
static inline void
tkdb_drop(struct tkdb *db)
{
	if (db->name[0] != '\0')
		(void)tkdb_drop_named(db->admin_url, db->name);
	free(db->conninfo);
	db->conninfo = NULL;
	db->name[0] = '\0';
}

/*
 * The first column of the first row of the query made from fmt, as a
 * string (yours to free), or NULL for SQL NULL, no row or an error
 * (printed).  Only the tests' own ids go into fmt.
 */
__attribute__((format(printf, 2, 3)))
static inline char *
tkdb_text(PGconn *conn, const char *fmt, ...)
{
	char		 sql[2048];
	va_list		 ap;
	PGresult	*res;
	char		*out = NULL;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fprintf(stderr, "tkdb: %s: %s", sql, PQerrorMessage(conn));
	else if (PQntuples(res) > 0 && PQnfields(res) > 0 &&
	    !PQgetisnull(res, 0, 0))
		out = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return out;
}

/* Like tkdb_text, as an integer; -1 for NULL, no row or an error. */
__attribute__((format(printf, 2, 3)))
static inline long long
tkdb_int(PGconn *conn, const char *fmt, ...)
{
	char		 sql[2048];
	va_list		 ap;
	PGresult	*res;
	long long	 v = -1;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fprintf(stderr, "tkdb: %s: %s", sql, PQerrorMessage(conn));
	else if (PQntuples(res) > 0 && PQnfields(res) > 0 &&
	    !PQgetisnull(res, 0, 0))
		v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return v;
}

/* Run a command made from fmt; false after printing the error. */
__attribute__((format(printf, 2, 3)))
static inline bool
tkdb_execf(PGconn *conn, const char *fmt, ...)
{
	char	sql[2048];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	return tkdb_exec(conn, sql);
}

/*
 * Insert a client with a fresh id and key minted by tk_token_mint, the
 * granted scopes and default scopes as text[] literals ("{read,write}")
 * and the column defaults for its policy.  False after printing why.
 */
static inline bool
tkdb_client_new(PGconn *conn, const char *scopes, const char *defaults,
    struct tkdb_client *c)
{
	unsigned char	 id[TK_UUID_LEN];
	const char	*values[5];
	int		 lengths[5] = { 0, 0, TK_DIGEST_LEN, 0, 0 };
	int		 formats[5] = { 0, 0, 1, 0, 0 };
	PGresult	*res;
	bool		 ok;

	if (tk_uuid_new(id) != TK_OK ||
	    tk_token_mint(TK_TOKEN_CLIENT, id, c->key) != TK_OK)
		return false;
	tk_uuid_format(id, c->id);
	tk_token_digest(c->key, c->key_digest);
	values[0] = c->id;
	values[1] = "integration test client";
	values[2] = (const char *)c->key_digest;
	values[3] = scopes;
	values[4] = defaults;
	res = PQexecParams(conn, "INSERT INTO clients (id, name, key_digest, "
	    "scopes, default_scopes) VALUES ($1::uuid, $2::text, $3::bytea, "
	    "$4::text[], $5::text[])", 5, NULL, values, lengths, formats, 0);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!ok)
		fprintf(stderr, "tkdb: insert client: %s", PQerrorMessage(conn));
	PQclear(res);
	return ok;
}

#endif /* TK_TESTDB_H */
