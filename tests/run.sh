#!/usr/bin/env bash
#
# run.sh - tokend's tests, every tier in one run.
#
#   tests/run.sh          the default tier (what .ci/run runs)
#   tests/run.sh --full   the same, plus --full for the end-to-end suite,
#                         and tokend under valgrind and the leak soak
#                         (tests/soak/valgrind.sh, tests/soak/run.sh)
#
# Parts, in order: build (build/test), unit tests (ctest -L unit), a
# private PostgreSQL cluster with a migrated database, integration tests
# (ctest -L integration, then tests/integration/*.sh), tokend under
# spawn-fcgi behind lighttpd and the end-to-end suite (tests/e2e/run.py)
# through it, a second tokend behind Apache (deploy/apache/tokend.conf):
# a Bearer call, then the end-to-end suite again through Apache, the
# unix-socket configs of lighttpd and Apache, the OpenAPI lint, and the
# README's commands as deploy/run-local.sh prints them
# (tests/readme/test_readme_commands.sh, on run-local.sh's default ports
# 8080, 9000, 55433, which must be free).  Each part passes or fails;
# ctest's programs and the tests of the end-to-end suite and of the
# README check count one by one.  The last line is always
# "N passed, N failed"; the exit status is non-zero if anything failed.
# tests/faults/run.sh (faults and races) runs on a cluster of its own;
# tests/limits/run.sh (request limits, slow clients) on the same one.
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
# postgres and tokend/lighttpd/Apache as www-data).  Uses free ports on
# 127.0.0.1, but for the README part.
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

# shellcheck source-path=SCRIPTDIR source=lib/report.sh
source "$ROOT/tests/lib/report.sh"

BUILD=$ROOT/build/test

# The README part's run-local.sh stack, if that part was cut short
# (stack_stop sees this RUNDIR).
stop_readme_local() {
	local RUNDIR=$RUNDIR/readme-local
	[ -d "$RUNDIR" ] || return 0
	stack_stop
}

cleanup() {
	stack_stop || true
	stop_readme_local || true
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
	report_table
	exit
}
trap finish EXIT
trap 'echo "run.sh: interrupted" >&2; record fail interrupted; finish' INT TERM

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

section "fuzz corpus replay (ctest -L fuzz)"
run_ctest fuzz "fuzz replay (ctest)"

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

# ------------------------------------------------------------------ DBA
# The DBA's side (tests/dba/run.sh): every state change with its audit
# row in its transaction, setup-roles on two databases and what the app
# and auditor roles may do, tokend as the app role, the monthly
# partitions of token_events and their retention, the queries of
# sql/README.md on 20,000 generated tokens; with --full on 1,000,000
# tokens and 3,000,000 audit rows, plans checked.  Its own databases,
# roles, tokend and lighttpd, on the same cluster.
if [ $DB_OK = 1 ]; then
	dba_args=()
	[ $FULL = 1 ] && dba_args+=(--full)
	section "DBA (tests/dba/run.sh ${dba_args[*]})"
	out=$(mktemp)
	RUNDIR=$RUNDIR PGPORT=$PGPORT STACK_BIN=$STACK_BIN STACK_SQL_DIR=$STACK_SQL_DIR \
	    timeout "$([ $FULL = 1 ] && echo 900 || echo 300)" \
	    bash tests/dba/run.sh "${dba_args[@]}" 2>&1 | tee "$out"
	dba_rc=${PIPESTATUS[0]}
	# It ends with "N passed, N failed" (as summary_of, tests/lib/report.sh, reads).
	if [[ $(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1) =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
		dba_p=${BASH_REMATCH[1]} dba_f=${BASH_REMATCH[2]}
		[ "$dba_rc" -ne 0 ] && [ "$dba_f" -eq 0 ] && dba_f=1
		record "$([ "$dba_f" -eq 0 ] && echo pass || echo fail)" "DBA" "$dba_p" "$dba_f"
	else
		record fail "DBA (exit $dba_rc, no summary line)"
	fi
	rm -f "$out"
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


# run_e2e NAME HTTP_PORT TOKEND_NAME FCGI_PORT FRONT_END: the end-to-end
# suite against http://127.0.0.1:HTTP_PORT/v1, where the web server
# FRONT_END (lighttpd, apache; given to the suite as TOKEND_FRONT_END)
# passes requests to the tokend started as TOKEND_NAME on FCGI_PORT, on
# database $E2E_DB.
run_e2e() {
	local name=$1 http=$2 tname=$3 fcgi=$4 front=$5 out rc args=()
	[ $FULL = 1 ] && args+=(--full)
	section "$name (tests/e2e/run.py ${args[*]}, through $front)"
	out=$(mktemp)
	env TOKEND_BASE_URL="http://127.0.0.1:$http/v1" \
	    TOKEND_FRONT_END="$front" \
	    TOKEND_TEST_DATABASE_URL="$(stack_db_url "$E2E_DB")" \
	    TOKEND_ADMIN_DATABASE_URL="$(stack_db_url "$E2E_DB")" \
	    TOKENCTL="$STACK_BIN/tokenctl" \
	    TOKEND="$STACK_BIN/tokend" \
	    TOKEND_LOG="$RUNDIR/$tname.log" \
	    TOKEND_PIDFILE="$RUNDIR/$tname.pid" \
	    TOKEND_FCGI_ADDR="127.0.0.1:$fcgi" \
	    TOKEND_OPENAPI="$ROOT/openapi.yaml" \
	    TOKEND_SQL_DIR="$ROOT/sql" \
	    TOKEND_E2E_ALLOW_DB_STOP="${TOKEND_E2E_ALLOW_DB_STOP:-0}" \
	    TOKEND_RATE_LIMIT_BUDGET=1000 TOKEND_RATE_LIMIT_WINDOW=60 \
	    TOKEND_ROTATION_GRACE=60 TOKEND_MAX_BODY_BYTES=16384 TOKEND_RETRY_AFTER=1 \
	    TOKEND_TEST_PGCTL="$(stack_pg_ctl_prefix)" \
	    timeout "$([ $FULL = 1 ] && echo 2100 || echo 420)" \
	    /usr/bin/python3 tests/e2e/run.py "${args[@]}" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	summary_of "$out" "$rc" "$name"
	rm -f "$out"
}

if [ ! -f tests/e2e/run.py ]; then
	note "end-to-end: tests/e2e/run.py does not exist yet"
elif [ $STACK_OK = 1 ]; then
	run_e2e "end to end, lighttpd" "$HTTP_PORT" "$E2E_DB" "$FCGI_PORT" lighttpd
else
	record fail "end to end, lighttpd (not run: no stack)"
fi

# The same suite through Apache (deploy/apache/tokend.conf): a second
# tokend, same settings, on the same database (its own failure counts
# and log), behind Apache.  Before the suite, the walkthrough in short
# (stack_smoke): a Bearer call answering 201 shows that Authorization
# reaches tokend (CGIPassAuth).
APACHE_OK=0
if [ $DB_OK = 1 ]; then
	section "tokend (spawn-fcgi) + Apache (deploy/apache/tokend.conf)"
	FCGI_PORT_A=$(stack_free_port)
	HTTP_PORT_A=$(stack_free_port)
	while [ "$HTTP_PORT_A" = "$FCGI_PORT_A" ]; do HTTP_PORT_A=$(stack_free_port); done
	if { [ $STACK_OK = 1 ] || { stack_db_drop "$E2E_DB" >/dev/null 2>&1; stack_db_create "$E2E_DB"; }; } &&
	    STACK_DB=$E2E_DB stack_tokend_start tokend_apache "$FCGI_PORT_A" "${E2E_SETTINGS[@]}" &&
	    stack_apache_start "$HTTP_PORT_A" "$FCGI_PORT_A"; then
		APACHE_OK=1
		record pass "tokend + Apache start"
		echo "tokend on 127.0.0.1:$FCGI_PORT_A, Apache on 127.0.0.1:$HTTP_PORT_A"
		if stack_smoke "http://127.0.0.1:$HTTP_PORT_A/v1" "$E2E_DB"; then
			record pass "Apache: Bearer reaches tokend"
		else
			record fail "Apache: Bearer reaches tokend"
		fi
	else
		record fail "tokend + Apache start"
	fi
fi
if [ ! -f tests/e2e/run.py ]; then
	:
elif [ $APACHE_OK = 1 ]; then
	run_e2e "end to end, Apache" "$HTTP_PORT_A" tokend_apache "$FCGI_PORT_A" apache
else
	record fail "end to end, Apache (not run: no stack)"
fi

# The unix-socket variants of the shipped configs: a third tokend on a
# socket, a lighttpd (deploy/lighttpd/tokend-unix.conf) and an Apache
# (deploy/apache/tokend-unix.conf) in front of it; each must answer the
# walkthrough in short.
if [ $DB_OK = 1 ]; then
	section "unix socket: lighttpd (deploy/lighttpd/tokend-unix.conf), Apache (deploy/apache/tokend-unix.conf)"
	SOCK=$RUNDIR/tokend.sock
	UNIX_OK=0
	if { [ $STACK_OK = 1 ] || [ $APACHE_OK = 1 ]; } &&
	    STACK_DB=$E2E_DB stack_tokend_start tokend_unix "$SOCK" --workers 1; then
		UNIX_OK=1
	fi
	HTTP_PORT2=$(stack_free_port)
	if [ $UNIX_OK = 1 ] && stack_lighttpd_start "$HTTP_PORT2" "$SOCK" &&
	    stack_smoke "http://127.0.0.1:$HTTP_PORT2/v1" "$E2E_DB"; then
		record pass "lighttpd + tokend, unix socket"
	else
		record fail "lighttpd + tokend, unix socket"
	fi
	HTTP_PORT3=$(stack_free_port)
	while [ "$HTTP_PORT3" = "$HTTP_PORT2" ]; do HTTP_PORT3=$(stack_free_port); done
	if [ $UNIX_OK = 1 ] && stack_apache_start "$HTTP_PORT3" "$SOCK" &&
	    stack_smoke "http://127.0.0.1:$HTTP_PORT3/v1" "$E2E_DB"; then
		record pass "Apache + tokend, unix socket"
	else
		record fail "Apache + tokend, unix socket"
	fi
fi

# run_suite NAME SECONDS SCRIPT [ARGS...]: one suite on the private
# cluster (RUNDIR, PGPORT, STACK_BIN and STACK_SQL_DIR in its
# environment), stopped after SECONDS, counted from the
# "N passed, N failed" line it ends with.
run_suite() {
	local name=$1 secs=$2 script=$3 out
	shift 3
	section "$name ($script${*:+ $*})"
	out=$(mktemp)
	RUNDIR=$RUNDIR PGPORT=$PGPORT STACK_BIN=$STACK_BIN STACK_SQL_DIR=$STACK_SQL_DIR \
	    timeout "$secs" bash "$script" "$@" 2>&1 | tee "$out"
	summary_of "$out" "${PIPESTATUS[0]}" "$name"
	rm -f "$out"
}
FULL_ARGS=()
[ $FULL = 1 ] && FULL_ARGS+=(--full)

# ---------------------------------------------------------- supervision
# The prefork master under faults, through lighttpd: a worker killed
# under load, SIGHUP, max_requests, SIGTERM draining, a database missing
# at start.  Its own tokend and lighttpd, on the same cluster.
if [ $DB_OK = 1 ]; then
	run_suite supervision 300 tests/supervision/run.sh
fi

# --------------------------------------------------------------- faults
# tokend under faults on a PostgreSQL cluster of its own (RUNDIR/faults):
# PostgreSQL restarted and SIGKILLed under load, a worker killed during
# revokes, pool exhaustion, a read-only database, writes failing at
# their commit, expiry with the database clock moved (libfaketime),
# 20,000 tokens at once across workers, 66 requests on one family
# released together.
if [ $DB_OK = 1 ]; then
	run_suite faults "$([ $FULL = 1 ] && echo 900 || echo 400)" \
	    tests/faults/run.sh "${FULL_ARGS[@]}"
fi

# ----------------------------------------------------------- operations
# tokend run as a service: the deploy/systemd units (systemd-analyze
# verify, their commands run by hand as user tokend), spawn-fcgi -F N,
# SIGHUP under a wrk load, request_timeout against a row lock and a
# stopped backend, the back-off of dying workers, body and header
# limits; with --full also through Apache, the back-off up to 30 s, two
# pools behind one lighttpd, a hot standby and pgbouncer.  Its own
# servers, in RUNDIR/ops, on the same cluster.
if [ $DB_OK = 1 ]; then
	run_suite operations "$([ $FULL = 1 ] && echo 900 || echo 300)" \
	    tests/ops/run.sh "${FULL_ARGS[@]}"
fi

# --------------------------------------------------------------- limits
# Request limits through lighttpd and Apache, each check naming the layer
# that enforced it: header size, JSON depth, members and string length,
# a stalled body (tokend's cut-off, lighttpd's own timeout), six stalled
# bodies against two threads.  Its own servers, in RUNDIR/limits.
if [ $DB_OK = 1 ]; then
	run_suite limits 300 tests/limits/run.sh
fi

# ----------------------------------------------------------- authorizer
# tokend as a FastCGI authorizer guarding /app/ (deploy/app/env.cgi)
# behind lighttpd and Apache (deploy/*/tokend-authorizer.conf), and
# POST /auth/tokens/introspect.  Its own tokend, lighttpd and Apache, on
# the same cluster.
if [ $DB_OK = 1 ]; then
	run_suite authorizer 300 tests/authorizer/run.sh
fi

# --------------------------------------------------------------- timing
# A refused credential costs tokend's own code the same instructions
# whether the client or token id it carries exists or not: tk_timing
# (build/test) under callgrind, on a scratch database of the cluster.
if [ $DB_OK = 1 ]; then
	BUILD=$BUILD run_suite timing 300 tests/timing/run.sh
fi

# ---------------------------------------------------------------- abuse
# A burst of 10,000 well-formed tokens and 10,000 bad checksums from two
# addresses through lighttpd: 401 until the default budget is spent, then
# 429; a legitimate client meanwhile unaffected; no database write per
# failure (rows, table statistics, transactions).  Its own tokend and
# lighttpd, on the same cluster.
if [ $DB_OK = 1 ]; then
	run_suite abuse 300 tests/abuse/run.sh
fi

# ------------------------------------------------- pgTAP, ASan + UBSan
# The SQL layer under pgTAP, in a scratch database of its own; then the
# ASan + UBSan build: unit, integration, one end-to-end pass against its
# own tokend and lighttpd (in RUNDIR/sanitize), leaks checked at SIGTERM.
if [ $DB_OK = 1 ]; then
	section "pgTAP (tests/sql/run.sh)"
	out=$(mktemp)
	TOKEND_TEST_DATABASE_URL="$(stack_db_url postgres)" TOKEND_SQL_DIR="$ROOT/sql" \
	    TOKENCTL="$STACK_BIN/tokenctl" timeout 300 bash tests/sql/run.sh 2>&1 | tee "$out"
	summary_of "$out" "${PIPESTATUS[0]}" "pgTAP"
	rm -f "$out"

	section "ASan + UBSan (tests/sanitize/run.sh)"
	out=$(mktemp)
	TOKEND_TEST_DATABASE_URL="$(stack_db_url postgres)" TOKEND_SQL_DIR="$ROOT/sql" \
	    TOKEND_RUNDIR="$RUNDIR" timeout 1200 bash tests/sanitize/run.sh 2>&1 | tee "$out"
	summary_of "$out" "${PIPESTATUS[0]}" "ASan + UBSan"
	rm -f "$out"
else
	record fail "pgTAP, ASan + UBSan (not run: no database)"
fi

# ------------------------------------------------ valgrind, leak soak
# --full only.  tokend (build/soak, RelWithDebInfo) under valgrind's
# memcheck behind lighttpd through one end-to-end pass, every process's
# log free of errors and definite leaks after SIGTERM
# (tests/soak/valgrind.sh); then the leak soak, 200,000 requests of every
# kind against tokend --workers 2, descriptors and RSS of each worker
# flat, no worker replaced, no 5xx (tests/soak/run.sh), and 50,000
# against the ASan + UBSan build (build/asan), LeakSanitizer silent at
# SIGTERM.  Their own servers and databases, in RUNDIR/valgrind,
# RUNDIR/soak and RUNDIR/soak-asan, on the same cluster.
if [ $FULL = 1 ] && [ $DB_OK = 1 ]; then
	section "valgrind (tests/soak/valgrind.sh)"
	out=$(mktemp)
	RUNDIR=$RUNDIR PGPORT=$PGPORT TOKEND_E2E_ALLOW_DB_STOP="${TOKEND_E2E_ALLOW_DB_STOP:-0}" \
	    timeout 900 bash tests/soak/valgrind.sh 2>&1 | tee "$out"
	summary_of "$out" "${PIPESTATUS[0]}" "valgrind"
	rm -f "$out"

	section "leak soak (tests/soak/run.sh)"
	out=$(mktemp)
	RUNDIR=$RUNDIR PGPORT=$PGPORT timeout 720 bash tests/soak/run.sh 2>&1 | tee "$out"
	summary_of "$out" "${PIPESTATUS[0]}" "leak soak"
	rm -f "$out"

	section "leak soak, ASan + UBSan (tests/soak/run.sh --asan)"
	out=$(mktemp)
	RUNDIR=$RUNDIR PGPORT=$PGPORT timeout 600 \
	    bash tests/soak/run.sh --asan --requests 50000 --warmup 10000 --cap 300 2>&1 | tee "$out"
	summary_of "$out" "${PIPESTATUS[0]}" "leak soak, ASan + UBSan"
	rm -f "$out"
elif [ $FULL = 1 ]; then
	record fail "valgrind, leak soak (not run: no database)"
fi

# The fuzz corpora under ASan + UBSan (build/asan, as tests/sanitize/run.sh
# builds it; no database needed), then each harness's line coverage of
# its parser (tests/fuzz/coverage.sh: clang-14, llvm-14; about 15 s).
section "fuzz corpus replay, ASan + UBSan (build/asan)"
if stack_build "$ROOT/build/asan" -DTOKEND_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DTOKEND_TESTS=ON; then
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	    LSAN_OPTIONS=suppressions=$ROOT/tests/lsan.supp \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    BUILD=$ROOT/build/asan run_ctest fuzz "fuzz replay, ASan + UBSan (ctest)"
else
	record fail "fuzz replay, ASan + UBSan (build)"
fi

section "fuzz coverage (tests/fuzz/coverage.sh)"
if timeout 600 bash tests/fuzz/coverage.sh; then
	record pass "fuzz coverage >= 80% per parser"
else
	record fail "fuzz coverage >= 80% per parser"
fi
if [ $FULL = 1 ]; then
	for t in json_long json_short json_introspect json_scan route cred token config; do
		section "fuzz $t (tests/fuzz/run.sh $t 30)"
		if timeout 300 bash tests/fuzz/run.sh "$t" 30; then
			record pass "fuzz $t 30 s"
		else
			record fail "fuzz $t 30 s"
		fi
	done
fi

# -------------------------------------------------------------- OpenAPI
section "OpenAPI lint"
if timeout 300 bash tests/openapi/lint.sh; then
	record pass "openapi lint"
else
	record fail "openapi lint"
fi

# ------------------------------------------------------ README commands
# deploy/run-local.sh on its default ports (8080, 9000, 55433), in a
# directory of its own under RUNDIR, and the commands it prints, pasted
# into bash; the same commands as README.md's.  The servers above are
# stopped first: this part needs none of them.
section "README commands (tests/readme/test_readme_commands.sh)"
stack_stop_servers || true
out=$(mktemp)
TOKEND_README_RUNDIR=$RUNDIR/readme-local timeout 900 \
    bash tests/readme/test_readme_commands.sh 2>&1 | tee "$out"
summary_of "$out" "${PIPESTATUS[0]}" "README commands"
rm -f "$out"

finish
