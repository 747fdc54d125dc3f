#!/usr/bin/env bash
# tests/timing/run.sh - a refused credential costs tokend the same work
# whether the id it carries exists or not.
#
# tk_timing (tests/timing/tk_timing.c) sends the same request twice
# against a real PostgreSQL: once when the id embedded in the credential
# names an existing client or token (the secret is merely wrong), once
# when it names nothing.  Seven cases: a client key on POST /long
# (client_credentials and rotate) and on POST /introspect, a long-term
# token on POST /short, a short-term token on POST /{id}/revoke, on
# rotate and on the FastCGI authorizer.  Under callgrind, compare.py sums the
# instructions spent in lib/tk_*.c (libc, libpq, libcrypto, json-c and
# libfcgi left out) and requires them equal, function by function, in
# each of three rounds.  Instructions, not seconds: the count is the same
# however busy the machine is.
#
# With RUNDIR, PGPORT and STACK_BIN in the environment (as tests/run.sh
# has them) it uses that cluster and the build in BUILD (default
# build/test); alone, it builds into BUILD (default build/timing) and
# starts a cluster of its own in /var/tmp/abuse-timing-PID.  Prints one
# line per check and "N passed, N failed" last; exits non-zero on
# failure.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../lib/stack.sh
. "$ROOT/tests/lib/stack.sh"

own=0
if [ -z "${RUNDIR:-}" ] || [ -z "${PGPORT:-}" ] || [ -z "${STACK_BIN:-}" ]; then
	own=1
	RUNDIR=/var/tmp/abuse-timing-$$
	BUILD=${BUILD:-$ROOT/build/timing}
else
	BUILD=${BUILD:-$ROOT/build/test}
fi
OUT=$RUNDIR/timing
passed=0 failed=0

finish() {
	[ $own = 1 ] && { stack_stop; rm -rf "$RUNDIR"; }
}
trap finish EXIT
trap 'exit 1' INT TERM

fail_early() {
	echo "not ok - $*"
	echo "0 passed, 1 failed"
	exit 1
}

if ! command -v valgrind >/dev/null || [ ! -r /usr/include/valgrind/callgrind.h ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	    valgrind >/dev/null 2>&1 || fail_early "valgrind is not installed and apt-get failed"
fi
if [ $own = 1 ]; then
	{ stack_build "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTOKEND_TESTS=ON &&
	    stack_install "$BUILD"; } || fail_early "build"
	PGPORT=$(stack_free_port)
	stack_pg_start || fail_early "PostgreSQL did not start"
fi
# The driver is built with the tests when callgrind.h was there at
# configure time; valgrind may have come just now.
if [ ! -x "$BUILD/tk_timing" ]; then
	{ cmake "$BUILD" && cmake --build "$BUILD" --target tk_timing; } \
	    >"$RUNDIR/timing-build.log" 2>&1 ||
	    fail_early "tk_timing does not build (log: $RUNDIR/timing-build.log)"
fi

rm -rf "$OUT"
mkdir -p "$OUT"
# The driver works in a scratch database of its own, made through the
# cluster's superuser connection.
if TOKEND_TEST_DATABASE_URL="$(stack_db_url postgres)" TOKEND_SQL_DIR="$ROOT/sql" \
    timeout 300 valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.out" \
    "$BUILD/tk_timing" >"$OUT/driver.log" 2>&1; then
	passed=$((passed + 1))
	echo "ok - every request answered its 401, both of each pair alike in status, lengths and log line ($(grep '^tk_timing:' "$OUT/driver.log"))"
else
	failed=$((failed + 1))
	echo "not ok - tk_timing under callgrind:"
	grep -v '^==' "$OUT/driver.log" | tail -n 20
fi
cmp_out=$(python3 "$ROOT/tests/timing/compare.py" "$OUT/cg.out")
printf '%s\n' "$cmp_out" | grep -v -E '^[0-9]+ passed, [0-9]+ failed$'
if [[ $(tail -n 1 <<<"$cmp_out") =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
	passed=$((passed + BASH_REMATCH[1]))
	failed=$((failed + BASH_REMATCH[2]))
else
	failed=$((failed + 1))
	echo "not ok - compare.py gave no summary"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
