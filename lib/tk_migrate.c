/*
 * tk_migrate.c - apply sql/NNN_*.sql in order, each once, under a lock.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "tk_migrate.h"

#define VERSION_DIGITS		3
#define MAX_FILE_BYTES		(16 * 1024 * 1024)
#define CHECKSUM_HEX_LEN	64
#define NO_TRANSACTION_MARK	"-- no-transaction"

/* One file of the directory, read whole. */
struct migration {
	unsigned int	 version;
	char		*name;		/* the file name, without the directory */
	char		*sql;		/* the contents, NUL-terminated */
	size_t		 len;
	char		 checksum[CHECKSUM_HEX_LEN + 1];
	bool		 no_transaction;
	bool		 applied;	/* recorded in schema_migrations */
};

static void fail(struct tk_migrate_error *, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
fail(struct tk_migrate_error *e, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
}

/*
 * The server's one-line reason for a failed result.  The libpq message
 * ends with a newline and may span lines; only its first line is kept.
 */
static void
server_reason(PGconn *conn, const PGresult *res, char *out, size_t outlen)
{
	const char	*msg = NULL;
	size_t		 n;

	if (res != NULL)
		msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	if (msg == NULL)
		msg = PQerrorMessage(conn);
	n = strcspn(msg, "\n");
	if (n == 0) {
		msg = "unknown error";
		n = strlen(msg);
	}
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, msg, n);
	out[n] = '\0';
}

/* TK_EUNAVAIL once the connection is gone, else the caller's code. */
static enum tk_err
db_failure(PGconn *conn, enum tk_err otherwise)
{
	return PQstatus(conn) == CONNECTION_BAD ? TK_EUNAVAIL : otherwise;
}

static bool
result_ok(const PGresult *res)
{
	switch (PQresultStatus(res)) {
	case PGRES_COMMAND_OK:
	case PGRES_TUPLES_OK:
	case PGRES_EMPTY_QUERY:
		return true;
	default:
		return false;
	}
}

static bool
is_migration_name(const char *name)
{
	size_t	len = strlen(name);
	int	i;

	if (len < VERSION_DIGITS + 1 + 4)
		return false;
	for (i = 0; i < VERSION_DIGITS; i++)
		if (!isdigit((unsigned char)name[i]))
			return false;
	return name[VERSION_DIGITS] == '_' && strcmp(name + len - 4, ".sql") == 0;
}

static int
compare_names(const void *a, const void *b)
{
	const struct migration	*ma = a, *mb = b;

	return strcmp(ma->name, mb->name);
}

/* Does the first line end with "-- no-transaction" (trailing blanks allowed)? */
static bool
wants_no_transaction(const char *sql)
{
	size_t	n = strcspn(sql, "\n");
	size_t	mark = sizeof(NO_TRANSACTION_MARK) - 1;

	while (n > 0 && (sql[n - 1] == '\r' || sql[n - 1] == ' ' ||
	    sql[n - 1] == '\t'))
		n--;
	return n >= mark && memcmp(sql + n - mark, NO_TRANSACTION_MARK, mark) == 0;
}

static bool
checksum_hex(const char *data, size_t len, char out[CHECKSUM_HEX_LEN + 1])
{
	static const char	hex[] = "0123456789abcdef";
	unsigned char		md[EVP_MAX_MD_SIZE];
	unsigned int		mdlen = 0, i;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen * 2 != CHECKSUM_HEX_LEN)
		return false;
	for (i = 0; i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[CHECKSUM_HEX_LEN] = '\0';
	return true;
}

static void
free_migrations(struct migration *list, size_t n)
{
	size_t	i;

	if (list == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(list[i].name);
		free(list[i].sql);
	}
	free(list);
}

/* Read dir/m->name into m. */
static enum tk_err
read_migration(const char *dir, struct migration *m, struct tk_migrate_error *e)
{
	FILE		*fp = NULL;
	char		*path = NULL, *buf = NULL;
	size_t		 len = 0, cap = 0, got;
	enum tk_err	 err = TK_EIO;

	if ((path = malloc(strlen(dir) + 1 + strlen(m->name) + 1)) == NULL) {
		fail(e, "out of memory");
		return TK_ENOMEM;
	}
	sprintf(path, "%s/%s", dir, m->name);
	if ((fp = fopen(path, "rb")) == NULL) {
		fail(e, "could not open migration %s: %s", path, strerror(errno));
		goto out;
	}
	for (;;) {
		if (len + 1 >= cap) {
			char *nbuf;

			cap = cap == 0 ? 8192 : cap * 2;
			if (cap > MAX_FILE_BYTES + 1) {
				fail(e, "migration %s is larger than %d bytes",
				    m->name, MAX_FILE_BYTES);
				err = TK_EINVAL;
				goto out;
			}
			if ((nbuf = realloc(buf, cap)) == NULL) {
				fail(e, "out of memory");
				err = TK_ENOMEM;
				goto out;
			}
			buf = nbuf;
		}
		got = fread(buf + len, 1, cap - 1 - len, fp);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(fp)) {
		fail(e, "could not read migration %s: %s", path, strerror(errno));
		goto out;
	}
	buf[len] = '\0';
	/* libpq takes a C string: a NUL would silently cut the file short. */
	if (memchr(buf, '\0', len) != NULL) {
		fail(e, "migration %s contains a NUL byte", m->name);
		err = TK_EINVAL;
		goto out;
	}
	if (!checksum_hex(buf, len, m->checksum)) {
		fail(e, "could not compute the checksum of migration %s", m->name);
		err = TK_EINTERNAL;
		goto out;
	}
	m->sql = buf;
	m->len = len;
	m->no_transaction = wants_no_transaction(buf);
	buf = NULL;
	err = TK_OK;
out:
	if (fp != NULL)
		fclose(fp);
	free(buf);
	free(path);
	return err;
}

/* Every NNN_*.sql of dir, read and sorted by name (so by number). */
static enum tk_err
load_dir(const char *dir, struct migration **out, size_t *outn,
    struct tk_migrate_error *e)
{
	DIR			*d = NULL;
	struct dirent		*de;
	struct migration	*list = NULL;
	size_t			 n = 0, cap = 0, i;
	enum tk_err		 err;

	if ((d = opendir(dir)) == NULL) {
		fail(e, "could not open the migration directory %s: %s", dir,
		    strerror(errno));
		return TK_EIO;
	}
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL) {
			if (errno != 0) {
				fail(e, "could not read the migration directory %s: %s",
				    dir, strerror(errno));
				err = TK_EIO;
				goto out;
			}
			break;
		}
		if (!is_migration_name(de->d_name))
			continue;
		if (n == cap) {
			struct migration *nlist;

			cap = cap == 0 ? 16 : cap * 2;
			if ((nlist = realloc(list, cap * sizeof(*list))) == NULL) {
				fail(e, "out of memory");
				err = TK_ENOMEM;
				goto out;
			}
			list = nlist;
		}
		memset(&list[n], 0, sizeof(list[n]));
		if ((list[n].name = strdup(de->d_name)) == NULL) {
			fail(e, "out of memory");
			err = TK_ENOMEM;
			goto out;
		}
		list[n].version = (unsigned int)strtoul(de->d_name, NULL, 10);
		n++;
	}
	if (n > 0)
		qsort(list, n, sizeof(*list), compare_names);
	for (i = 0; i < n; i++) {
		if (i > 0 && list[i].version == list[i - 1].version) {
			fail(e, "migrations %s and %s have the same number",
			    list[i - 1].name, list[i].name);
			err = TK_EINVAL;
			goto out;
		}
		if ((err = read_migration(dir, &list[i], e)) != TK_OK)
			goto out;
	}
	*out = list;
	*outn = n;
	list = NULL;
	err = TK_OK;
out:
	free_migrations(list, n);
	closedir(d);
	return err;
}

static enum tk_err
ensure_table(PGconn *conn, struct tk_migrate_error *e)
{
	PGresult	*res = NULL;
	char		 why[512];
	enum tk_err	 err;

	/* Asked first, so that a second run prints no NOTICE. */
	res = PQexec(conn, "SELECT to_regclass('schema_migrations') IS NULL");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		server_reason(conn, res, why, sizeof(why));
		fail(e, "could not look for table schema_migrations: %s", why);
		err = db_failure(conn, TK_EINVAL);
		goto out;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		err = TK_OK;
		goto out;
	}
	PQclear(res);
	res = PQexec(conn,
	    "CREATE TABLE schema_migrations (\n"
	    "	version    integer PRIMARY KEY,\n"
	    "	file_name  text NOT NULL,\n"
	    "	checksum   text NOT NULL\n"
	    "	           CONSTRAINT schema_migrations_checksum_check\n"
	    "	           CHECK (checksum ~ '^[0-9a-f]{64}$'),\n"
	    "	applied_at timestamptz NOT NULL DEFAULT date_trunc('second', now())\n"
	    ")");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		server_reason(conn, res, why, sizeof(why));
		fail(e, "could not create table schema_migrations: %s", why);
		err = db_failure(conn, TK_EINVAL);
		goto out;
	}
	err = TK_OK;
out:
	PQclear(res);
	return err;
}

static struct migration *
find_version(struct migration *list, size_t n, unsigned int version)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (list[i].version == version)
			return &list[i];
	return NULL;
}

/*
 * Compare schema_migrations with the directory and mark what is
 * applied.  Any disagreement stops the run before it changes anything.
 */
static enum tk_err
check_recorded(PGconn *conn, const char *dir, struct migration *list, size_t n,
    struct tk_migrate_error *e)
{
	PGresult		*res = NULL;
	struct migration	*m, *newest = NULL;
	char			 why[512];
	enum tk_err		 err;
	int			 row;
	size_t			 i;

	res = PQexec(conn, "SELECT version, file_name, checksum"
	    " FROM schema_migrations ORDER BY version");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		server_reason(conn, res, why, sizeof(why));
		fail(e, "could not read table schema_migrations: %s", why);
		err = db_failure(conn, TK_EINVAL);
		goto out;
	}
	for (row = 0; row < PQntuples(res); row++) {
		unsigned int	 version;
		const char	*name = PQgetvalue(res, row, 1);

		version = (unsigned int)strtoul(PQgetvalue(res, row, 0), NULL, 10);
		if ((m = find_version(list, n, version)) == NULL) {
			fail(e, "migration %s was applied but is not in %s",
			    name, dir);
			err = TK_EINVAL;
			goto out;
		}
		if (strcmp(m->name, name) != 0) {
			fail(e, "migration %s was applied as %s and then renamed",
			    m->name, name);
			err = TK_EINVAL;
			goto out;
		}
		if (strcmp(m->checksum, PQgetvalue(res, row, 2)) != 0) {
			fail(e, "migration %s was changed after it was applied"
			    " (checksum differs)", m->name);
			err = TK_EINVAL;
			goto out;
		}
		m->applied = true;
		newest = m;
	}
	/* Forward only: a gap below the newest applied file is never filled. */
	for (i = 0; newest != NULL && i < n; i++) {
		if (!list[i].applied && list[i].version < newest->version) {
			fail(e, "migration %s was never applied but %s, a later one,"
			    " was", list[i].name, newest->name);
			err = TK_EINVAL;
			goto out;
		}
	}
	err = TK_OK;
out:
	PQclear(res);
	return err;
}

static bool
ident_char(unsigned char c)
{
	return isalnum(c) || c == '_' || c == '$' || c >= 0x80;
}

/*
 * The end (one past the ';') of the statement of sql[0..len) starting
 * at i, for no-transaction files: a semicolon ends a statement unless
 * it is inside a comment, a quoted string or identifier, or a
 * dollar-quoted body.  (A BEGIN ATOMIC body is not recognised.)
 */
static size_t
statement_end(const char *sql, size_t len, size_t i)
{
	while (i < len) {
		unsigned char	c = (unsigned char)sql[i];

		if (c == ';')
			return i + 1;
		if (c == '-' && i + 1 < len && sql[i + 1] == '-') {
			while (i < len && sql[i] != '\n')
				i++;
		} else if (c == '/' && i + 1 < len && sql[i + 1] == '*') {
			int depth = 1;

			for (i += 2; i < len && depth > 0; i++) {
				if (sql[i] == '/' && i + 1 < len && sql[i + 1] == '*') {
					depth++;
					i++;
				} else if (sql[i] == '*' && i + 1 < len &&
				    sql[i + 1] == '/') {
					depth--;
					i++;
				}
			}
		} else if (c == '\'') {
			bool backslash = i > 0 && (sql[i - 1] == 'E' ||
			    sql[i - 1] == 'e') &&
			    (i < 2 || !ident_char((unsigned char)sql[i - 2]));

			for (i++; i < len; i++) {
				if (backslash && sql[i] == '\\' && i + 1 < len)
					i++;
				else if (sql[i] == '\'') {
					if (i + 1 < len && sql[i + 1] == '\'')
						i++;
					else
						break;
				}
			}
			i++;
		} else if (c == '"') {
			for (i++; i < len; i++) {
				if (sql[i] == '"') {
					if (i + 1 < len && sql[i + 1] == '"')
						i++;
					else
						break;
				}
			}
			i++;
		} else if (c == '$' && (i == 0 ||
		    !ident_char((unsigned char)sql[i - 1]))) {
			size_t		 j = i + 1, taglen;
			const char	*close;

			if (j < len && isdigit((unsigned char)sql[j])) {
				i = j;	/* $1: a parameter, not a quote */
				continue;
			}
			while (j < len && ident_char((unsigned char)sql[j]) &&
			    sql[j] != '$')
				j++;
			if (j >= len || sql[j] != '$') {
				i++;
				continue;
			}
			taglen = j + 1 - i;
			close = NULL;
			for (j = j + 1; j + taglen <= len; j++) {
				if (memcmp(sql + j, sql + i, taglen) == 0) {
					close = sql + j;
					break;
				}
			}
			i = close == NULL ? len : (size_t)(close - sql) + taglen;
		} else
			i++;
	}
	return len;
}

/* The line of sql holding the 1-based character position pos. */
static unsigned int
line_of(const char *sql, size_t len, long pos)
{
	unsigned int	line = 1;
	long		chars = 0;
	size_t		i;

	for (i = 0; i < len; i++) {
		if (((unsigned char)sql[i] & 0xc0) == 0x80)
			continue;	/* a UTF-8 continuation byte */
		if (++chars >= pos)
			break;
		if (sql[i] == '\n')
			line++;
	}
	return line;
}

/* Say why the SQL of m failed; the text ran from offset base of the file. */
static void
sql_failure(PGconn *conn, const PGresult *res, const struct migration *m,
    size_t base, struct tk_migrate_error *e)
{
	const char	*pos = NULL;
	char		 why[512];

	server_reason(conn, res, why, sizeof(why));
	if (res != NULL)
		pos = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
	if (pos != NULL) {
		long		p = strtol(pos, NULL, 10);
		unsigned int	line;

		line = line_of(m->sql + base, m->len - base, p) +
		    line_of(m->sql, base, (long)base + 1) - 1;
		fail(e, "migration %s failed at line %u: %s", m->name, line, why);
	} else
		fail(e, "migration %s failed: %s", m->name, why);
}

static enum tk_err
record(PGconn *conn, const struct migration *m, struct tk_migrate_error *e)
{
	PGresult	*res;
	char		 version[16], why[512];
	const char	*values[3];
	enum tk_err	 err = TK_OK;

	snprintf(version, sizeof(version), "%u", m->version);
	values[0] = version;
	values[1] = m->name;
	values[2] = m->checksum;
	res = PQexecParams(conn, "INSERT INTO schema_migrations"
	    " (version, file_name, checksum) VALUES ($1, $2, $3)",
	    3, NULL, values, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		server_reason(conn, res, why, sizeof(why));
		fail(e, "could not record migration %s: %s", m->name, why);
		err = db_failure(conn, TK_EINVAL);
	}
	PQclear(res);
	return err;
}

static enum tk_err
apply_in_transaction(PGconn *conn, const struct migration *m,
    struct tk_migrate_error *e)
{
	PGresult	*res = NULL;
	char		 why[512];
	enum tk_err	 err;

	res = PQexec(conn, "BEGIN");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		server_reason(conn, res, why, sizeof(why));
		fail(e, "could not start a transaction for migration %s: %s",
		    m->name, why);
		err = db_failure(conn, TK_EINVAL);
		goto out;
	}
	PQclear(res);
	/* PQexec: the file may hold many statements. */
	res = PQexec(conn, m->sql);
	if (!result_ok(res)) {
		sql_failure(conn, res, m, 0, e);
		err = db_failure(conn, TK_EINVAL);
		goto out;
	}
	if (PQtransactionStatus(conn) != PQTRANS_INTRANS) {
		fail(e, "migration %s ended its transaction itself"
		    " (remove its BEGIN or COMMIT)", m->name);
		err = TK_EINVAL;
		goto out;
	}
	if ((err = record(conn, m, e)) != TK_OK)
		goto out;
	PQclear(res);
	res = PQexec(conn, "COMMIT");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		server_reason(conn, res, why, sizeof(why));
		fail(e, "could not commit migration %s: %s", m->name, why);
		err = db_failure(conn, TK_EINVAL);
		goto out;
	}
	err = TK_OK;
out:
	PQclear(res);
	if (err != TK_OK && PQstatus(conn) == CONNECTION_OK &&
	    PQtransactionStatus(conn) != PQTRANS_IDLE)
		PQclear(PQexec(conn, "ROLLBACK"));
	return err;
}

/*
 * A no-transaction file (CREATE INDEX CONCURRENTLY, ALTER TYPE ... ADD
 * VALUE): one statement at a time, since the server runs a string of
 * several statements as one implicit transaction.  It is recorded only
 * after its last statement; one that fails leaves those before it
 * applied, so such files should be safe to run again (IF NOT EXISTS).
 */
static enum tk_err
apply_without_transaction(PGconn *conn, const struct migration *m,
    struct tk_migrate_error *e)
{
	PGresult	*res = NULL;
	char		*stmt = NULL;
	size_t		 start = 0, end;
	enum tk_err	 err;

	while (start < m->len) {
		end = statement_end(m->sql, m->len, start);
		if ((stmt = strndup(m->sql + start, end - start)) == NULL) {
			fail(e, "out of memory");
			err = TK_ENOMEM;
			goto out;
		}
		res = PQexec(conn, stmt);
		if (!result_ok(res)) {
			sql_failure(conn, res, m, start, e);
			err = db_failure(conn, TK_EINVAL);
			goto out;
		}
		if (PQtransactionStatus(conn) != PQTRANS_IDLE) {
			fail(e, "migration %s left a transaction open"
			    " (remove its BEGIN)", m->name);
			err = TK_EINVAL;
			goto out;
		}
		PQclear(res);
		res = NULL;
		free(stmt);
		stmt = NULL;
		start = end;
	}
	err = record(conn, m, e);
out:
	PQclear(res);
	free(stmt);
	if (err != TK_OK && PQstatus(conn) == CONNECTION_OK &&
	    PQtransactionStatus(conn) != PQTRANS_IDLE)
		PQclear(PQexec(conn, "ROLLBACK"));
	return err;
}

enum tk_err
tk_migrate_run(PGconn *conn, const char *dir, FILE *progress,
    unsigned int *applied, struct tk_migrate_error *e)
{
	struct migration	*list = NULL;
	PGresult		*res = NULL;
	const char		*key = TK_MIGRATE_LOCK_KEY;
	size_t			 n = 0, i;
	unsigned int		 count = 0;
	bool			 locked = false;
	char			 why[512];
	enum tk_err		 err;

	e->message[0] = '\0';
	if (PQstatus(conn) != CONNECTION_OK ||
	    PQtransactionStatus(conn) != PQTRANS_IDLE) {
		fail(e, "the database connection is not idle");
		return PQstatus(conn) == CONNECTION_OK ? TK_EINVAL : TK_EUNAVAIL;
	}
	if ((err = load_dir(dir, &list, &n, e)) != TK_OK)
		goto out;
	/* Session lock: each file commits on its own, the lock spans them all. */
	res = PQexecParams(conn, "SELECT pg_advisory_lock($1::bigint)", 1, NULL,
	    &key, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		server_reason(conn, res, why, sizeof(why));
		fail(e, "could not take the migration lock: %s", why);
		err = db_failure(conn, TK_EINVAL);
		goto out;
	}
	locked = true;
	if ((err = ensure_table(conn, e)) != TK_OK)
		goto out;
	if ((err = check_recorded(conn, dir, list, n, e)) != TK_OK)
		goto out;
	for (i = 0; i < n; i++) {
		if (list[i].applied)
			continue;
		if (list[i].no_transaction)
			err = apply_without_transaction(conn, &list[i], e);
		else
			err = apply_in_transaction(conn, &list[i], e);
		if (err != TK_OK)
			goto out;
		count++;
		if (progress != NULL) {
			fprintf(progress, "applied %s\n", list[i].name);
			fflush(progress);
		}
	}
	*applied = count;
	err = TK_OK;
out:
	PQclear(res);
	if (locked && PQstatus(conn) == CONNECTION_OK)
		PQclear(PQexecParams(conn, "SELECT pg_advisory_unlock($1::bigint)",
		    1, NULL, &key, NULL, NULL, 0));
	free_migrations(list, n);
	return err;
}
