/*
 * test_tk_migrate.c - the migration runner against a real PostgreSQL.
 *
 * TOKEND_TEST_DATABASE_URL names a database through which each test
 * creates (and drops) a scratch database tkmig_<pid>_<n>; without it
 * the program exits 77 (skipped).  TOKEND_SQL_DIR is the project's
 * sql/ directory.  Edited, missing and no-transaction files are tried
 * on copies in a temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/evp.h>

#include "tk_migrate.h"

struct fixture {
	PGconn	*conn;		/* to the scratch database */
	char	 dbname[64];
	char	 dir[64];	/* a temporary migration directory, or "" */
};

static const char	*base_url;	/* TOKEND_TEST_DATABASE_URL */
static const char	*sql_dir;	/* TOKEND_SQL_DIR */
static PGconn		*admin;		/* creates and drops scratch databases */
static int		 scratch_count;

static PGconn *
connect_to(const char *dbname)
{
	const char	*keys[] = { "dbname", "dbname", NULL };
	const char	*values[] = { base_url, dbname, NULL };
	PGconn		*conn;

	/* The second dbname overrides the one inside the URL. */
	conn = PQconnectdbParams(keys, values, 1);
	if (PQstatus(conn) != CONNECTION_OK)
		fail_msg("could not connect to %s: %s", dbname,
		    PQerrorMessage(conn));
	return conn;
}

static void
exec_ok(PGconn *conn, const char *sql)
{
	PGresult	*res = PQexec(conn, sql);

	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(conn));
	PQclear(res);
}

/* The first column of the first row of a query, as a long. */
static long
query_long(PGconn *conn, const char *sql)
{
	PGresult	*res = PQexec(conn, sql);
	long		 v;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		fail_msg("%s: %s", sql, PQerrorMessage(conn));
	v = PQgetisnull(res, 0, 0) ? -1 : strtol(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return v;
}

static char *
query_text(PGconn *conn, const char *sql)
{
	PGresult	*res = PQexec(conn, sql);
	char		*v;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		fail_msg("%s: %s", sql, PQerrorMessage(conn));
	v = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

static char *
path_in(const char *dir, const char *name)
{
	char	*p = malloc(strlen(dir) + strlen(name) + 2);

	assert_non_null(p);
	sprintf(p, "%s/%s", dir, name);
	return p;
}

static void
write_file(const char *dir, const char *name, const char *mode,
    const char *text)
{
	char	*path = path_in(dir, name);
	FILE	*fp = fopen(path, mode);

	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
	free(path);
}

static char *
read_file(const char *dir, const char *name, size_t *lenp)
{
	char	*path = path_in(dir, name), *buf;
	FILE	*fp = fopen(path, "rb");
	long	 len;

	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	len = ftell(fp);
	rewind(fp);
	buf = malloc((size_t)len + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)len, fp), (size_t)len);
	buf[len] = '\0';
	fclose(fp);
	free(path);
	*lenp = (size_t)len;
	return buf;
}

static bool
is_migration(const char *name)
{
	size_t	len = strlen(name);

	return len > 8 && name[0] >= '0' && name[0] <= '9' &&
	    name[1] >= '0' && name[1] <= '9' && name[2] >= '0' &&
	    name[2] <= '9' && name[3] == '_' && strcmp(name + len - 4, ".sql") == 0;
}

/* How many migrations sql_dir holds; copies them to "to" unless NULL. */
static unsigned int
scan_sql_dir(const char *to)
{
	DIR		*d = opendir(sql_dir);
	struct dirent	*de;
	unsigned int	 n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		char	*text;
		size_t	 len;

		if (!is_migration(de->d_name))
			continue;
		n++;
		if (to == NULL)
			continue;
		text = read_file(sql_dir, de->d_name, &len);
		write_file(to, de->d_name, "w", text);
		free(text);
	}
	closedir(d);
	return n;
}

static void
sha256_hex(const char *data, size_t len, char out[65])
{
	unsigned char	md[EVP_MAX_MD_SIZE];
	unsigned int	mdlen, i;

	assert_int_equal(EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL), 1);
	for (i = 0; i < mdlen; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

/* Run the migrations of dir; a failure fails the test with its message. */
static unsigned int
migrate_ok(PGconn *conn, const char *dir)
{
	struct tk_migrate_error	e;
	unsigned int		applied = 0;
	enum tk_err		err;

	if ((err = tk_migrate_run(conn, dir, NULL, &applied, &e)) != TK_OK)
		fail_msg("tk_migrate_run: %s: %s", tk_err_str(err), e.message);
	return applied;
}

static int
group_setup(void **state)
{
	(void)state;
	admin = connect_to(NULL);
	return admin == NULL || PQstatus(admin) != CONNECTION_OK ? -1 : 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	PQfinish(admin);
	return 0;
}

static int
setup(void **state)
{
	struct fixture	*f = calloc(1, sizeof(*f));
	char		 sql[128];

	if (f == NULL)
		return -1;
	snprintf(f->dbname, sizeof(f->dbname), "tkmig_%ld_%d", (long)getpid(),
	    ++scratch_count);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", f->dbname);
	exec_ok(admin, sql);
	f->conn = connect_to(f->dbname);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;
	char		 sql[128];

	PQfinish(f->conn);
	snprintf(sql, sizeof(sql), "DROP DATABASE %s WITH (FORCE)", f->dbname);
	exec_ok(admin, sql);
	if (f->dir[0] != '\0') {
		DIR		*d = opendir(f->dir);
		struct dirent	*de;

		while (d != NULL && (de = readdir(d)) != NULL) {
			char *p = path_in(f->dir, de->d_name);

			if (de->d_name[0] != '.')
				unlink(p);
			free(p);
		}
		if (d != NULL)
			closedir(d);
		rmdir(f->dir);
	}
	free(f);
	return 0;
}

static const char *
make_dir(struct fixture *f)
{
	strcpy(f->dir, "/tmp/tkmig.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	return f->dir;
}

static void
test_migrate_run_applies_all_files(void **state)
{
	struct fixture		*f = *state;
	unsigned int		 applied, n = scan_sql_dir(NULL);
	char			 want[65], *got, *text;
	size_t			 len;

	assert_true(n >= 6);
	applied = migrate_ok(f->conn, sql_dir);
	assert_int_equal(applied, n);
	assert_int_equal(query_long(f->conn,
	    "SELECT count(*) FROM schema_migrations"), n);
	assert_int_equal(query_long(f->conn,
	    "SELECT min(version) FROM schema_migrations"), 1);
	assert_int_equal(query_long(f->conn, "SELECT count(*) FROM"
	    " schema_migrations WHERE applied_at IS NULL"), 0);
	/* The schema is there. */
	assert_int_equal(query_long(f->conn, "SELECT count(*) FROM pg_class"
	    " WHERE relname IN ('clients', 'tokens', 'revocations',"
	    " 'token_events') AND relkind IN ('r', 'p')"), 4);
	assert_int_equal(query_long(f->conn, "SELECT count(*) FROM pg_proc"
	    " WHERE proname = 'token_is_valid'"), 1);
	/* The checksum is the SHA-256 of the file, in hex. */
	text = read_file(sql_dir, "003_create_revocations.sql", &len);
	sha256_hex(text, len, want);
	got = query_text(f->conn, "SELECT checksum FROM schema_migrations"
	    " WHERE version = 3 AND file_name = '003_create_revocations.sql'");
	assert_string_equal(got, want);
	free(got);
	free(text);
	/* The lock is released. */
	assert_int_equal(query_long(f->conn, "SELECT count(*) FROM pg_locks"
	    " WHERE locktype = 'advisory' AND pid = pg_backend_pid()"), 0);
}

static void
test_migrate_run_twice_applies_nothing(void **state)
{
	struct fixture		*f = *state;
	unsigned int		 applied, n = scan_sql_dir(NULL);

	applied = migrate_ok(f->conn, sql_dir);
	assert_int_equal(applied, n);
	applied = migrate_ok(f->conn, sql_dir);
	assert_int_equal(applied, 0);
	assert_int_equal(query_long(f->conn,
	    "SELECT count(*) FROM schema_migrations"), n);
}

static void
test_migrate_run_refuses_changed_file(void **state)
{
	struct fixture		*f = *state;
	struct tk_migrate_error	 e;
	const char		*dir = make_dir(f);
	unsigned int		 applied = 0, n = scan_sql_dir(dir);

	applied = migrate_ok(f->conn, dir);
	assert_int_equal(applied, n);
	write_file(dir, "003_create_revocations.sql", "a", "-- edited\n");
	write_file(dir, "990_create_later.sql", "w",
	    "-- 990_create_later.sql: must not run.\nCREATE TABLE later (x int);\n");
	applied = 99;
	assert_int_equal(tk_migrate_run(f->conn, dir, NULL, &applied, &e),
	    TK_EINVAL);
	assert_int_equal(applied, 99);	/* untouched on failure */
	assert_string_equal(e.message, "migration 003_create_revocations.sql was"
	    " changed after it was applied (checksum differs)");
	/* Nothing after it ran. */
	assert_int_equal(query_long(f->conn,
	    "SELECT count(*) FROM schema_migrations"), n);
	assert_int_equal(query_long(f->conn,
	    "SELECT count(*) FROM pg_class WHERE relname = 'later'"), 0);
	assert_int_equal(query_long(f->conn, "SELECT count(*) FROM pg_locks"
	    " WHERE locktype = 'advisory' AND pid = pg_backend_pid()"), 0);
}

static void
test_migrate_run_no_transaction_file_runs(void **state)
{
	struct fixture		*f = *state;
	struct tk_migrate_error	 e;
	const char		*dir = make_dir(f);
	unsigned int		 applied = 0, n = scan_sql_dir(dir);

	/*
	 * CREATE INDEX CONCURRENTLY fails inside a transaction, and inside a
	 * string of several statements: each must go on its own.  The
	 * semicolons in the function body and the string must not split.
	 */
	write_file(dir, "900_create_label_indexes.sql", "w",
	    "-- 900_create_label_indexes.sql: built without blocking writes. "
	    "-- no-transaction\n"
	    "CREATE INDEX CONCURRENTLY IF NOT EXISTS tokens_label_idx\n"
	    "\tON tokens (label);\n"
	    "CREATE INDEX CONCURRENTLY IF NOT EXISTS tokens_audience_idx\n"
	    "\tON tokens (audience);\n"
	    "CREATE FUNCTION semi() RETURNS text LANGUAGE plpgsql AS $f$\n"
	    "BEGIN\n\tPERFORM 1; /* ; */ RETURN 'a;b' || $$;$$ || E'\\';'; -- ;\n"
	    "END\n$f$;\n"
	    "COMMENT ON FUNCTION semi() IS 'x;y';\n");
	applied = migrate_ok(f->conn, dir);
	assert_int_equal(applied, n + 1);
	assert_int_equal(query_long(f->conn, "SELECT count(*) FROM pg_indexes"
	    " WHERE indexname IN ('tokens_label_idx', 'tokens_audience_idx')"), 2);
	assert_int_equal(query_long(f->conn, "SELECT count(*) FROM"
	    " schema_migrations WHERE version = 900"), 1);
	assert_int_equal(query_long(f->conn,
	    "SELECT length(semi())"), 6);	/* a;b;'; */

	/* The same statement without the mark fails in its transaction. */
	write_file(dir, "901_create_name_index.sql", "w",
	    "-- 901_create_name_index.sql: no mark, so it fails.\n"
	    "CREATE TABLE t901 (x int);\n"
	    "CREATE INDEX CONCURRENTLY clients_name_idx ON clients (name);\n");
	assert_int_equal(tk_migrate_run(f->conn, dir, NULL, &applied, &e),
	    TK_EINVAL);
	assert_non_null(strstr(e.message, "migration 901_create_name_index.sql"
	    " failed"));
	assert_int_equal(query_long(f->conn,
	    "SELECT count(*) FROM pg_class WHERE relname = 't901'"), 0);
	assert_int_equal(query_long(f->conn, "SELECT count(*) FROM"
	    " schema_migrations WHERE version = 901"), 0);
}

static void
test_migrate_run_rolls_back_failed_file(void **state)
{
	struct fixture		*f = *state;
	struct tk_migrate_error	 e;
	const char		*dir = make_dir(f);
	unsigned int		 applied = 0;

	write_file(dir, "001_create_a.sql", "w",
	    "-- 001_create_a.sql: a.\nCREATE TABLE a (x int);\n");
	write_file(dir, "002_create_b.sql", "w",
	    "-- 002_create_b.sql: b, then an error.\n"
	    "CREATE TABLE b (x int);\n"
	    "SELECT 1 FROM no_such_table;\n");
	write_file(dir, "003_create_c.sql", "w",
	    "-- 003_create_c.sql: c.\nCREATE TABLE c (x int);\n");
	assert_int_equal(tk_migrate_run(f->conn, dir, NULL, &applied, &e),
	    TK_EINVAL);
	assert_string_equal(e.message, "migration 002_create_b.sql failed at"
	    " line 3: relation \"no_such_table\" does not exist");
	assert_int_equal(query_long(f->conn, "SELECT count(*) FROM pg_class"
	    " WHERE relname IN ('a', 'b', 'c')"), 1);
	assert_int_equal(query_long(f->conn,
	    "SELECT string_agg(version::text, ',') FROM schema_migrations"), 1);
	assert_int_equal(PQtransactionStatus(f->conn), PQTRANS_IDLE);

	/* Fixed by editing the file that never applied: allowed. */
	write_file(dir, "002_create_b.sql", "w",
	    "-- 002_create_b.sql: b.\nCREATE TABLE b (x int);\n");
	applied = migrate_ok(f->conn, dir);
	assert_int_equal(applied, 2);
}

static void
test_migrate_run_refuses_gap_and_missing_file(void **state)
{
	struct fixture		*f = *state;
	struct tk_migrate_error	 e;
	const char		*dir = make_dir(f);
	char			*p;
	unsigned int		 applied = 0;

	write_file(dir, "001_create_a.sql", "w", "CREATE TABLE a (x int);\n");
	write_file(dir, "003_create_c.sql", "w", "CREATE TABLE c (x int);\n");
	applied = migrate_ok(f->conn, dir);
	assert_int_equal(applied, 2);

	/* A file slipped in below the newest applied one. */
	write_file(dir, "002_create_b.sql", "w", "CREATE TABLE b (x int);\n");
	assert_int_equal(tk_migrate_run(f->conn, dir, NULL, &applied, &e),
	    TK_EINVAL);
	assert_non_null(strstr(e.message, "migration 002_create_b.sql was never"
	    " applied"));
	p = path_in(dir, "002_create_b.sql");
	assert_int_equal(unlink(p), 0);
	free(p);

	/* An applied file gone from the directory. */
	p = path_in(dir, "003_create_c.sql");
	assert_int_equal(unlink(p), 0);
	free(p);
	assert_int_equal(tk_migrate_run(f->conn, dir, NULL, &applied, &e),
	    TK_EINVAL);
	assert_non_null(strstr(e.message, "migration 003_create_c.sql was"
	    " applied but is not in"));

	/* Two files with one number. */
	write_file(dir, "003_create_c.sql", "w", "CREATE TABLE c (x int);\n");
	write_file(dir, "003_create_d.sql", "w", "CREATE TABLE d (x int);\n");
	assert_int_equal(tk_migrate_run(f->conn, dir, NULL, &applied, &e),
	    TK_EINVAL);
	assert_string_equal(e.message, "migrations 003_create_c.sql and"
	    " 003_create_d.sql have the same number");
}

static void
test_migrate_run_refuses_missing_dir(void **state)
{
	struct fixture		*f = *state;
	struct tk_migrate_error	 e;
	unsigned int		 applied = 0;

	assert_int_equal(tk_migrate_run(f->conn, "/nonexistent/tokend-sql", NULL,
	    &applied, &e), TK_EIO);
	assert_non_null(strstr(e.message, "/nonexistent/tokend-sql"));
}

struct racer {
	const char		*dbname;
	unsigned int		 applied;
	enum tk_err		 err;
	struct tk_migrate_error	 e;
};

static void *
race(void *arg)
{
	struct racer	*r = arg;
	PGconn		*conn = connect_to(r->dbname);

	r->err = tk_migrate_run(conn, sql_dir, NULL, &r->applied, &r->e);
	PQfinish(conn);
	return NULL;
}

static void
test_migrate_run_concurrent_runs_apply_once(void **state)
{
	struct fixture	*f = *state;
	struct racer	 r[3];
	pthread_t	 th[3];
	unsigned int	 n = scan_sql_dir(NULL), total = 0;
	int		 i;

	for (i = 0; i < 3; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].dbname = f->dbname;
		assert_int_equal(pthread_create(&th[i], NULL, race, &r[i]), 0);
	}
	for (i = 0; i < 3; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(r[i].err, TK_OK);
		total += r[i].applied;
	}
	assert_int_equal(total, n);
	assert_int_equal(query_long(f->conn,
	    "SELECT count(*) FROM schema_migrations"), n);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_migrate_run_applies_all_files,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_run_twice_applies_nothing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_run_refuses_changed_file,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_migrate_run_no_transaction_file_runs, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_migrate_run_rolls_back_failed_file, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_migrate_run_refuses_gap_and_missing_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_run_refuses_missing_dir,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_migrate_run_concurrent_runs_apply_once, setup, teardown),
	};

	base_url = getenv("TOKEND_TEST_DATABASE_URL");
	sql_dir = getenv("TOKEND_SQL_DIR");
	if (base_url == NULL || base_url[0] == '\0') {
		fprintf(stderr, "test_tk_migrate: skipped: set"
		    " TOKEND_TEST_DATABASE_URL to a conninfo of a PostgreSQL"
		    " database where scratch databases may be created\n");
		return 77;
	}
	if (sql_dir == NULL || sql_dir[0] == '\0') {
		fprintf(stderr, "test_tk_migrate: skipped: set TOKEND_SQL_DIR to"
		    " the sql/ directory\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
