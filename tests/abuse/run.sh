#!/usr/bin/env bash
# tests/abuse/run.sh - failed authentications under a burst, through
# lighttpd (CONTRACT §2, §12): tests/abuse/abuse.py against a tokend of
# its own with the default rate limit (20 failures in 60 s per address).
#
#   - 10,000 well-formed long-term tokens (random ids) from 127.0.0.2 on
#     POST /short and POST /{id}/revoke, and at the same time 10,000
#     tokens with a bad checksum from 127.0.0.4: 401 invalid_token until
#     the budget is spent, then 429 too_many_requests with Retry-After;
#   - meanwhile a legitimate client at 127.0.0.3 keeps getting 201 and
#     204, never 429;
#   - wrong keys of an existing client and keys of an unknown client from
#     127.0.0.5 share one budget;
#   - no database write per failed request: the rows left are the
#     legitimate client's and the flusher's auth_failed rows (their
#     counts sum to the 401s), the table statistics show nothing else,
#     and the database saw a few hundred transactions for 20,000 requests.
#
# With RUNDIR, PGPORT and STACK_BIN in the environment (as tests/run.sh
# has them) it uses that cluster; alone, it builds into BUILD (default
# build/abuse) and starts a cluster of its own in /var/tmp/abuse-PID.
# Prints one line per check and "N passed, N failed" last; exits
# non-zero on failure.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../lib/stack.sh
. "$ROOT/tests/lib/stack.sh"

own=0
if [ -z "${RUNDIR:-}" ] || [ -z "${PGPORT:-}" ] || [ -z "${STACK_BIN:-}" ]; then
	own=1
	RUNDIR=/var/tmp/abuse-$$
	BUILD=${BUILD:-$ROOT/build/abuse}
fi
: "${STACK_SQL_DIR:=${STACK_BIN:+$(dirname "$STACK_BIN")/share/sql}}"
TOP=$RUNDIR
DB=abuse

fail_early() {
	echo "not ok - $*"
	echo "0 passed, 1 failed"
	exit 1
}
finish() {
	stack_stop_servers
	stack_db_drop $DB >/dev/null 2>&1
	if [ $own = 1 ]; then
		RUNDIR=$TOP stack_stop
		rm -rf "$TOP"
	fi
}
trap finish EXIT
trap 'exit 1' INT TERM

if [ $own = 1 ]; then
	stack_deps build runtime test >/dev/null || fail_early "dependencies"
	{ stack_build "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
	    stack_install "$BUILD"; } || fail_early "build"
	PGPORT=$(stack_free_port)
	stack_pg_start || fail_early "PostgreSQL did not start"
fi
RUNDIR=$TOP/abuse
mkdir -p "$RUNDIR"
chmod 755 "$RUNDIR"

stack_db_drop $DB >/dev/null 2>&1
stack_db_create $DB >/dev/null || fail_early "could not create database $DB"
URL=$(stack_db_url $DB)
read -r CLIENT_ID CLIENT_KEY < <("$STACK_BIN/tokenctl" --admin-database-url "$URL" \
    client create --name abuse --scope read --default-scope read |
    awk '/^client_id:/ {id=$2} /^client_key:/ {key=$2} END {print id, key}')
[ -n "$CLIENT_KEY" ] || fail_early "tokenctl client create"

# Defaults for the rate limit; 2 workers of 4 threads (abuse.py bounds
# the requests in flight by them).
FCGI=$(stack_free_port)
HTTP=$(stack_free_port)
while [ "$HTTP" = "$FCGI" ]; do HTTP=$(stack_free_port); done
{ stack_tokend_start $DB "$FCGI" --workers 2 --threads 4 --shutdown-timeout 10 &&
    stack_lighttpd_start "$HTTP" "$FCGI"; } >/dev/null ||
    fail_early "could not start tokend and lighttpd"

ABUSE_HOST=127.0.0.1 ABUSE_PORT=$HTTP ABUSE_DB=$URL \
    ABUSE_PIDFILE=$RUNDIR/$DB.pid ABUSE_CLIENT_ID=$CLIENT_ID ABUSE_CLIENT_KEY=$CLIENT_KEY \
    timeout 240 /usr/bin/python3 "$ROOT/tests/abuse/abuse.py"
rc=$?
if [ $rc -eq 124 ]; then
	echo "not ok - abuse.py did not finish within 240 s"
	echo "0 passed, 1 failed"
fi
exit $rc
