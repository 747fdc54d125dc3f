/*
 * tk_migrate.h - the schema migration runner behind "tokenctl migrate".
 *
 * A migration is a file NNN_verb_object.sql (three digits) in one
 * directory; files apply in the order of their numbers, forward only.
 * Each file runs in its own transaction together with the row that
 * records it in schema_migrations (version, file name, SHA-256 of the
 * file in hex, applied_at); a file whose first line ends with
 * "-- no-transaction" runs outside one, one statement at a time, and is
 * recorded after its last statement.  The whole run holds a session
 * advisory lock, so concurrent runs apply each file once.
 *
 * Nothing is applied when the directory disagrees with what was
 * recorded: an applied file that changed or went missing, or a file
 * never applied whose number is below the highest one applied.
 */
#ifndef TK_MIGRATE_H
#define TK_MIGRATE_H

#include <stdio.h>
#include <libpq-fe.h>
#include "tk_err.h"

/* The key of pg_advisory_lock(bigint) held during a run: "tokend". */
#define TK_MIGRATE_LOCK_KEY	"128021892001380"

/* Why a run stopped, in one line naming the file, for "tokenctl: %s". */
struct tk_migrate_error {
	char	message[1024];
};

/*
 * Apply the pending migrations found in dir to the database of conn,
 * which must be idle (not in a transaction).  Writes one line per
 * applied file ("applied 001_create_clients.sql") to progress unless it
 * is NULL.  *applied, on success, is the number of files applied (0:
 * the database was up to date).
 *
 * Returns TK_EIO when dir or a file cannot be read, TK_EINVAL when the
 * directory disagrees with schema_migrations or a migration's SQL
 * fails (that file is rolled back, the ones before it stay applied),
 * TK_EUNAVAIL when the connection is lost, TK_EINVAL also when conn is
 * inside a transaction; err says why.  The lock is released before
 * returning.
 */
enum tk_err	 tk_migrate_run(PGconn *conn, const char *dir, FILE *progress,
		    unsigned int *applied, struct tk_migrate_error *err);

#endif /* TK_MIGRATE_H */
