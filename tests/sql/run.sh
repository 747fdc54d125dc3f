#!/usr/bin/env bash
#
# run.sh - pgTAP tests of the SQL layer (sql/0*.sql).
#
#   tests/sql/run.sh [FILE.sql ...]     default: every tests/sql/*.sql
#
# Creates a scratch database tokend_pgtap_PID through
# TOKEND_TEST_DATABASE_URL, applies the migrations (with `tokenctl
# migrate` when TOKENCTL is given, else `psql -1 -f` on each sql/0*.sql),
# creates the pgtap extension there, runs each test file with
# `psql -X -q -v ON_ERROR_STOP=1 -f` and counts its TAP lines; drops the
# database at the end.  Each test file wraps itself in BEGIN/ROLLBACK, so
# the files do not see each other's rows.
#
# Environment:
#   TOKEND_TEST_DATABASE_URL  conninfo (keywords or URI) of a superuser;
#                             required
#   TOKEND_SQL_DIR            the migrations (default: sql/ of this checkout)
#   TOKENCTL                  tokenctl binary (optional, see above)
#   TOKEND_PGTAP_KEEP_DB=1    keep the scratch database (its name is printed)
#
# Needs the pgtap extension (Debian: postgresql-15-pgtap) on the server.
# Output: each file's TAP, then "N passed, N failed" (N counts TAP
# `ok`/`not ok` lines; a file that errors or whose plan does not match
# counts one more failure).  Exit 0 only when nothing failed.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BASE_URL=${TOKEND_TEST_DATABASE_URL:-}
SQL_DIR=${TOKEND_SQL_DIR:-$ROOT/sql}
DB=tokend_pgtap_$$
PASSED=0
FAILED=0

if [ -z "$BASE_URL" ]; then
	echo "tests/sql/run.sh: TOKEND_TEST_DATABASE_URL is not set" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
if [ $# -gt 0 ]; then
	FILES=("$@")
else
	FILES=("$HERE"/*.sql)
fi

# The conninfo of database $2 on the server of conninfo $1.
scratch_url() {
	local url=$1 name=$2 query="" scheme rest
	case $url in
	postgres://* | postgresql://*)
		if [[ $url == *\?* ]]; then
			query="?${url#*\?}"
			url=${url%%\?*}
		fi
		scheme=${url%%://*}
		rest=${url#*://}
		echo "$scheme://${rest%%/*}/$name$query"
		;;
	*)
		echo "$url dbname=$name"
		;;
	esac
}
DB_URL=$(scratch_url "$BASE_URL" "$DB")

admin_psql() {
	PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -d "$BASE_URL" "$@"
}

fail_setup() {
	echo "not ok - setup: $*"
	FAILED=$((FAILED + 1))
	finish
}

finish() {
	trap - EXIT INT TERM
	if [ "${TOKEND_PGTAP_KEEP_DB:-0}" = 1 ]; then
		echo "# kept database $DB"
	else
		admin_psql -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1 ||
		    echo "# could not drop database $DB" >&2
	fi
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
	exit
}
trap finish EXIT
trap 'FAILED=$((FAILED + 1)); echo "not ok - interrupted"; finish' INT TERM

# ------------------------------------------------------------- database
admin_psql -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1
admin_psql -c "CREATE DATABASE \"$DB\"" >/dev/null ||
    fail_setup "could not create database $DB through TOKEND_TEST_DATABASE_URL"

if [ -n "${TOKENCTL:-}" ]; then
	echo "# migrations: $TOKENCTL migrate --sql-dir $SQL_DIR"
	if ! out=$(env -u TOKEND_CONFIG -u TOKEND_DATABASE_URL -u TOKEND_ADMIN_DATABASE_URL \
	    "$TOKENCTL" --admin-database-url "$DB_URL" migrate --sql-dir "$SQL_DIR" 2>&1); then
		printf '%s\n' "$out" | sed 's/^/# /'
		fail_setup "tokenctl migrate failed"
	fi
else
	echo "# migrations: psql -1 -f $SQL_DIR/0*.sql"
	shopt -s nullglob
	migrations=("$SQL_DIR"/0*.sql)
	shopt -u nullglob
	[ ${#migrations[@]} -gt 0 ] || fail_setup "no migrations in $SQL_DIR"
	for f in "${migrations[@]}"; do
		if ! out=$(psql -X -q -v ON_ERROR_STOP=1 -d "$DB_URL" -1 -f "$f" 2>&1); then
			printf '%s\n' "$out" | sed 's/^/# /'
			fail_setup "migration $(basename "$f") failed"
		fi
	done
fi
if ! out=$(psql -X -q -v ON_ERROR_STOP=1 -d "$DB_URL" -c 'CREATE EXTENSION pgtap' 2>&1); then
	printf '%s\n' "$out" | sed 's/^/# /'
	fail_setup "CREATE EXTENSION pgtap failed (install postgresql-15-pgtap)"
fi

# ---------------------------------------------------------------- tests
for f in "${FILES[@]}"; do
	name=$(basename "$f")
	echo "# ---- $name"
	out=$(psql -X -q -v ON_ERROR_STOP=1 -At -d "$DB_URL" -f "$f" 2>&1)
	rc=$?
	# (a SELECT of a void function prints an empty line)
	grep -v '^$' <<<"$out"
	p=$(grep -cE '^ok [0-9]+' <<<"$out")
	n=$(grep -cE '^not ok [0-9]+' <<<"$out")
	PASSED=$((PASSED + p))
	FAILED=$((FAILED + n))
	# The plan must match what ran, and psql must have finished the file.
	plan=$(grep -oE '^1\.\.[0-9]+' <<<"$out" | head -n 1)
	if [ "$rc" -ne 0 ]; then
		echo "not ok - $name: psql exited with status $rc"
		FAILED=$((FAILED + 1))
	elif [ -z "$plan" ]; then
		echo "not ok - $name: no plan"
		FAILED=$((FAILED + 1))
	elif [ "${plan#1..}" -ne $((p + n)) ]; then
		echo "not ok - $name: planned ${plan#1..} tests, ran $((p + n))"
		FAILED=$((FAILED + 1))
	fi
done

finish
