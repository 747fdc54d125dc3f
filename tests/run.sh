#!/usr/bin/env bash
#
# run.sh - tokend's tests, every tier in one run.
#
#   tests/run.sh          the default tier (what .ci/run runs)
#   tests/run.sh --full   the same, plus --full for the end-to-end suite
#
# Parts, in order: build (build/test), unit tests (ctest -L unit), a
# private PostgreSQL cluster with a migrated database, integration tests
# (ctest -L integration, then tests/integration/*.sh), tokend under
# spawn-fcgi behind lighttpd, the end-to-end suite (tests/e2e/run.py),
# lighttpd's unix-socket config, the OpenAPI lint.  Each part passes or fails; ctest's programs and the
# end-to-end suite's tests count one by one.  The last line is always
# "N passed, N failed"; the exit status is non-zero if anything failed.
#
# Environment:
#   TOKEND_RUNDIR       runtime files (cluster, logs, binaries); default
#                       /var/tmp/tokend-test-PID, removed at the end
#   TOKEND_KEEP_RUNDIR  1: keep the run directory (servers are stopped)
#   TOKEND_E2E_ALLOW_DB_STOP
#                       1: let the end-to-end suite stop and restart the
#                       private cluster (its 503 case; TOKEND_TEST_PGCTL)
#
# Needs root on Debian 12 (installs missing packages, runs PostgreSQL as
# postgres and tokend/lighttpd as www-data).  Uses free ports on 127.0.0.1.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1

FULL=0
for arg in "$@"; do
	case $arg in
	--full) FULL=1 ;;
	-h | --help)
		awk 'NR > 2 && !/^#/ { exit } NR > 2 { sub(/^# ?/, ""); print }' "$0"
		exit 0
		;;
	*)
		echo "usage: tests/run.sh [--full]" >&2
		exit 2
		;;
	esac
done

RUNDIR=${TOKEND_RUNDIR:-/var/tmp/tokend-test-$$}
own_rundir=0
[ -e "$RUNDIR" ] || own_rundir=1
# shellcheck source-path=SCRIPTDIR source=lib/stack.sh
source "$ROOT/tests/lib/stack.sh"

BUILD=$ROOT/build/test
PASSED=0
FAILED=0
SUMMARY=()
START=$SECONDS

# record STATUS NAME [PASSED FAILED]: count a part.
record() {
	local status=$1 name=$2 p=${3:-} f=${4:-}
	if [ -z "$p" ]; then
		if [ "$status" = pass ]; then p=1 f=0; else p=0 f=1; fi
	fi
	PASSED=$((PASSED + p))
	FAILED=$((FAILED + f))
	SUMMARY+=("$(printf '%-4s  %-34s %3d passed, %d failed' "$status" "$name" "$p" "$f")")
}
note() { SUMMARY+=("$(printf 'skip  %s' "$*")"); }
section() { printf '\n==== %s\n' "$*"; }

cleanup() {
	stack_stop || true
	if [ "${TOKEND_KEEP_RUNDIR:-0}" = 1 ]; then
		echo "run.sh: kept $RUNDIR"
	elif [ $own_rundir = 1 ] && [ -d "$RUNDIR" ]; then
		rm -rf "$RUNDIR"
	fi
}

# Stop everything, print the table and the final line, exit.
finish() {
	trap - EXIT INT TERM
	section "cleanup"
	cleanup
	section "summary ($((SECONDS - START)) s)"
	printf '%s\n' "${SUMMARY[@]}"
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
	exit
}
trap finish EXIT
trap 'echo "run.sh: interrupted" >&2; record fail interrupted; finish' INT TERM

# run_ctest LABEL NAME: run the ctest programs labelled LABEL; each
# program counts.
run_ctest() {
	local label=$1 name=$2 out rc line n m
	out=$(mktemp)
	(cd "$BUILD" && ctest -L "^$label\$" --output-on-failure --timeout 180) 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	line=$(grep -E '[0-9]+ tests? failed out of [0-9]+' "$out" | tail -n 1)
	if [[ $line =~ ([0-9]+)\ tests?\ failed\ out\ of\ ([0-9]+) ]]; then
		n=${BASH_REMATCH[1]}
		m=${BASH_REMATCH[2]}
		if [ "$n" -eq 0 ] && [ "$rc" -ne 0 ]; then n=1; fi
		record "$([ "$n" -eq 0 ] && echo pass || echo fail)" "$name" $((m - n < 0 ? 0 : m - n)) "$n"
	elif grep -q 'No tests were found' "$out" && [ "$rc" -eq 0 ]; then
		note "$name: no tests registered"
	else
		record fail "$name (ctest exit $rc)"
	fi
	rm -f "$out"
}

# ---------------------------------------------------------------- build
section "dependencies"
if ! stack_deps build runtime test; then
	record fail "dependencies"
	finish
fi

section "build ($BUILD)"
if stack_build "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo; then
	record pass "build"
else
	record fail "build"
	finish
fi

section "unit tests"
run_ctest unit "unit (ctest)"

# ------------------------------------------------------- database tiers
section "PostgreSQL cluster in $RUNDIR"
PGPORT=$(stack_free_port)	# read by the stack_* functions
DB_OK=0
if stack_install "$BUILD" && stack_pg_start &&
    { stack_db_drop tokend_test >/dev/null 2>&1; stack_db_create tokend_test; }; then
	DB_OK=1
	record pass "postgres + tokenctl migrate"
else
	record fail "postgres + tokenctl migrate"
fi

if [ $DB_OK = 1 ]; then
	export TOKEND_TEST_DATABASE_URL
	TOKEND_TEST_DATABASE_URL=$(stack_db_url tokend_test)
	export TOKEND_SQL_DIR=$ROOT/sql

	section "integration tests (ctest)"
	run_ctest integration "integration (ctest)"

	for t in tests/integration/*.sh; do
		[ -e "$t" ] || continue
		section "integration: $t"
		TOKENCTL=$STACK_BIN/tokenctl TOKEND=$STACK_BIN/tokend \
		    timeout 300 bash "$t"
		rc=$?
		case $rc in
		0) record pass "$t" ;;
		77) note "$t: skipped (exit 77)" ;;
		*) record fail "$t (exit $rc)" ;;
		esac
	done
fi

# ---------------------------------------------------------- end to end
STACK_OK=0
if [ $DB_OK = 1 ]; then
	section "tokend (spawn-fcgi) + lighttpd"
	E2E_DB=tokend_e2e
	# Every request of the suite comes from 127.0.0.1, so the per-address
	# budget of failed authentications (default 20 a minute) is raised
	# for it; the suite is told the values it runs with.
	E2E_SETTINGS=(--rate-limit-budget 1000 --rate-limit-window 60
	    --rotation-grace-seconds 60 --max-body-bytes 16384 --retry-after-seconds 1)
	FCGI_PORT=$(stack_free_port)
	HTTP_PORT=$(stack_free_port)
	while [ "$HTTP_PORT" = "$FCGI_PORT" ]; do HTTP_PORT=$(stack_free_port); done
	if { stack_db_drop $E2E_DB >/dev/null 2>&1; stack_db_create $E2E_DB; } &&
	    stack_tokend_start $E2E_DB "$FCGI_PORT" "${E2E_SETTINGS[@]}" &&
	    stack_lighttpd_start "$HTTP_PORT" "$FCGI_PORT"; then
		STACK_OK=1
		record pass "tokend + lighttpd start"
		echo "tokend on 127.0.0.1:$FCGI_PORT, lighttpd on 127.0.0.1:$HTTP_PORT"
	else
		record fail "tokend + lighttpd start"
	fi
fi

if [ ! -f tests/e2e/run.py ]; then
	note "end-to-end: tests/e2e/run.py does not exist yet"
elif [ $STACK_OK = 1 ]; then
	e2e_args=()
	[ $FULL = 1 ] && e2e_args+=(--full)
	section "end to end (tests/e2e/run.py ${e2e_args[*]})"
	out=$(mktemp)
	env TOKEND_BASE_URL="http://127.0.0.1:$HTTP_PORT/v1" \
	    TOKEND_TEST_DATABASE_URL="$(stack_db_url "$E2E_DB")" \
	    TOKEND_ADMIN_DATABASE_URL="$(stack_db_url "$E2E_DB")" \
	    TOKENCTL="$STACK_BIN/tokenctl" \
	    TOKEND="$STACK_BIN/tokend" \
	    TOKEND_LOG="$RUNDIR/$E2E_DB.log" \
	    TOKEND_PIDFILE="$RUNDIR/$E2E_DB.pid" \
	    TOKEND_FCGI_ADDR="127.0.0.1:$FCGI_PORT" \
	    TOKEND_OPENAPI="$ROOT/openapi.yaml" \
	    TOKEND_SQL_DIR="$ROOT/sql" \
	    TOKEND_E2E_ALLOW_DB_STOP="${TOKEND_E2E_ALLOW_DB_STOP:-0}" \
	    TOKEND_RATE_LIMIT_BUDGET=1000 TOKEND_RATE_LIMIT_WINDOW=60 \
	    TOKEND_ROTATION_GRACE=60 TOKEND_MAX_BODY_BYTES=16384 TOKEND_RETRY_AFTER=1 \
	    TOKEND_TEST_PGCTL="$(stack_pg_ctl_prefix)" \
	    timeout "$([ $FULL = 1 ] && echo 2100 || echo 420)" \
	    /usr/bin/python3 tests/e2e/run.py "${e2e_args[@]}" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
	if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
		p=${BASH_REMATCH[1]}
		f=${BASH_REMATCH[2]}
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
		record "$([ "$f" -eq 0 ] && echo pass || echo fail)" "end to end" "$p" "$f"
	else
		record fail "end to end (exit $rc, no summary line)"
	fi
	rm -f "$out"
else
	record fail "end to end (not run: no stack)"
fi

# The unix-socket variant of the shipped lighttpd config: a second tokend
# on a socket, a second lighttpd; ready means tokend answered through it.
if [ $STACK_OK = 1 ]; then
	section "lighttpd over a unix socket (deploy/lighttpd/tokend-unix.conf)"
	HTTP_PORT2=$(stack_free_port)
	if STACK_DB=$E2E_DB stack_tokend_start tokend_unix "$RUNDIR/tokend.sock" --workers 1 &&
	    stack_lighttpd_start "$HTTP_PORT2" "$RUNDIR/tokend.sock"; then
		record pass "lighttpd + tokend, unix socket"
	else
		record fail "lighttpd + tokend, unix socket"
	fi
fi

# -------------------------------------------------------------- OpenAPI
section "OpenAPI lint"
if timeout 300 bash tests/openapi/lint.sh; then
	record pass "openapi lint"
else
	record fail "openapi lint"
fi

finish
