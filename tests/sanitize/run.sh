#!/usr/bin/env bash
#
# run.sh - tokend built with AddressSanitizer + UndefinedBehaviorSanitizer:
# unit tests, integration tests and one end-to-end pass.
#
#   tests/sanitize/run.sh
#
# Parts, in order:
#   1. build: cmake -DTOKEND_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug into
#      build/asan (in the checkout; gitignored)
#   2. ctest -L unit, then ctest -L integration, in build/asan
#   3. a scratch database tokend_asan_PID, migrated by the ASan tokenctl;
#      the ASan tokend under spawn-fcgi (2 workers) behind lighttpd
#      (tests/lib/stack.sh), and tests/e2e/run.py against it, with the
#      ASan tokenctl as TOKENCTL
#   4. SIGTERM to tokend's master: workers drain and leave through exit(),
#      so LeakSanitizer runs in each of them, in the flusher and in the
#      master; then the log is scanned.  Any "AddressSanitizer",
#      "LeakSanitizer", "runtime error:", or a worker or flusher death
#      (killed by a signal, or a non-zero exit status: nothing in the
#      end-to-end suite kills one) fails the run, as does a master that is
#      still running after the drain.  The same holds for every report of
#      the ASan tokenctl (ASAN_OPTIONS log_path, under the run directory).
# ctest's programs and the end-to-end tests count one by one, every other
# part counts one.  The last line is "N passed, N failed"; the exit status
# is non-zero when anything failed.
#
# Sanitizer settings (reports go to stderr, which for tokend is its log):
#   ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
#   LSAN_OPTIONS=suppressions=tests/lsan.supp
#   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
#
# Environment:
#   TOKEND_TEST_DATABASE_URL  conninfo (keywords or URI) of a PostgreSQL
#                             superuser; required.  The caller runs the
#                             server; scratch databases are made and dropped
#                             through it.
#   TOKEND_SQL_DIR            the migrations (default: sql/ of this checkout)
#   TOKEND_RUNDIR             scratch directory; this script works in
#                             $TOKEND_RUNDIR/sanitize (it must be reachable
#                             by www-data: not under /root).  Default: a new
#                             /var/tmp/tokend-sanitize.XXXXXX, removed at the
#                             end
#   TOKEND_KEEP_RUNDIR=1      keep that default directory
#   TOKEND_ASAN_FCGI_PORT     tokend's port (default: a free one)
#   TOKEND_ASAN_HTTP_PORT     lighttpd's port (default: a free one)
#
# Needs root (tokend and lighttpd run as www-data) and what tests/run.sh
# needs; missing packages are installed like tests/run.sh does.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 1

BUILD=$ROOT/build/asan
REPORT_PREFIX="sanitize: "
REPORT_SKIP_FAILS=1		# a skipped test (no database) is not a pass here
REPORT_CTEST_TIMEOUT=300
# shellcheck source-path=SCRIPTDIR source=../lib/report.sh
source "$ROOT/tests/lib/report.sh"

own_rundir=0
if [ -n "${TOKEND_RUNDIR:-}" ]; then
	RUNDIR=$TOKEND_RUNDIR/sanitize
else
	RUNDIR=$(mktemp -d /var/tmp/tokend-sanitize.XXXXXX) || exit 1
	own_rundir=1
fi
# shellcheck source-path=SCRIPTDIR source=../lib/stack.sh
source "$ROOT/tests/lib/stack.sh"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export LSAN_OPTIONS=suppressions=$ROOT/tests/lsan.supp
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

E2E_DB=tokend_asan_$$
E2E_URL=
MASTER=
TOKEND_LOG_FILE=$RUNDIR/asan.log


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

admin_psql() {
	PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -d "$TOKEND_TEST_DATABASE_URL" "$@"
}

cleanup() {
	stack_stop_servers || true
	if [ -n "$E2E_URL" ]; then
		admin_psql -c "DROP DATABASE IF EXISTS \"$E2E_DB\" WITH (FORCE)" >/dev/null 2>&1 ||
		    echo "sanitize: could not drop database $E2E_DB" >&2
	fi
	if [ $own_rundir = 1 ]; then
		if [ "${TOKEND_KEEP_RUNDIR:-0}" = 1 ]; then
			echo "sanitize: kept $RUNDIR"
		else
			rm -rf "$RUNDIR"
		fi
	fi
}

finish() {
	trap - EXIT INT TERM
	section "cleanup"
	cleanup
	report_table
	exit
}
trap finish EXIT
trap 'echo "sanitize: interrupted" >&2; record fail interrupted; finish' INT TERM

# sanitizer_reports FILE...: print the sanitizer reports and unexpected
# deaths found in the files; true when there are any.
sanitizer_reports() {
	local found=1 f hits
	for f in "$@"; do
		[ -f "$f" ] || continue
		hits=$(grep -nE 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:|(worker|flusher) [0-9]+ (killed by signal|exited with status [1-9]|died with status)' "$f")
		[ -n "$hits" ] || continue
		found=0
		echo "---- $f:"
		printf '%s\n' "$hits" | head -n 40
		# The reports themselves, with their stacks.
		awk '/^=+$/ || /ERROR: (Address|Leak)Sanitizer/ || /runtime error:/ { show = 60 }
		     show > 0 { print; show-- }' "$f" | head -n 400
	done
	return $found
}

# ------------------------------------------------------------ checks
if [ -z "${TOKEND_TEST_DATABASE_URL:-}" ]; then
	echo "sanitize: TOKEND_TEST_DATABASE_URL (a superuser conninfo) is required" >&2
	record fail "environment: TOKEND_TEST_DATABASE_URL not set"
	finish
fi
export TOKEND_SQL_DIR=${TOKEND_SQL_DIR:-$ROOT/sql}
if [ "$(id -u)" -ne 0 ]; then
	echo "sanitize: run as root (tokend and lighttpd run as $STACK_WEBUSER)" >&2
	record fail "environment: not root"
	finish
fi
section "dependencies"
if ! stack_deps build runtime test; then
	record fail "dependencies"
	finish
fi

# ------------------------------------------------------------- build
section "build ($BUILD, ASan + UBSan, Debug)"
if stack_build "$BUILD" -DTOKEND_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DTOKEND_TESTS=ON; then
	record pass "build (ASan + UBSan)"
else
	record fail "build (ASan + UBSan)"
	finish
fi

section "unit tests (ASan)"
run_ctest unit "unit (ctest, ASan)"

section "integration tests (ASan)"
export TOKEND_TEST_DATABASE_URL
run_ctest integration "integration (ctest, ASan)"

# ------------------------------------------------------- end to end
section "tokend (ASan) + lighttpd in $RUNDIR"
STACK_OK=0
FCGI_PORT=${TOKEND_ASAN_FCGI_PORT:-}
HTTP_PORT=${TOKEND_ASAN_HTTP_PORT:-}
# stack.sh builds a conninfo from PGPORT; the --database-url given below
# comes later on tokend's command line and wins.
PGPORT=${PGPORT:-5432}
if stack_install "$BUILD" &&
    install -m 644 "$ROOT/tests/lsan.supp" "$RUNDIR/lsan.supp"; then
	# Everything started from here reads the copy: www-data may not
	# reach the checkout.
	export LSAN_OPTIONS=suppressions=$RUNDIR/lsan.supp
	# tokenctl reports to files (it runs under the suite, whose output
	# is not a log): $RUNDIR/asan-tokenctl.PID.
	cat >"$RUNDIR/bin/tokenctl-asan" <<-EOF
	#!/bin/sh
	ASAN_OPTIONS="\$ASAN_OPTIONS:log_path=$RUNDIR/asan-tokenctl" UBSAN_OPTIONS="\$UBSAN_OPTIONS:log_path=$RUNDIR/asan-tokenctl" exec "$STACK_BIN/tokenctl" "\$@"
	EOF
	chmod 755 "$RUNDIR/bin/tokenctl-asan"
	E2E_URL=$(scratch_url "$TOKEND_TEST_DATABASE_URL" "$E2E_DB")
	[ -n "$FCGI_PORT" ] || FCGI_PORT=$(stack_free_port)
	[ -n "$HTTP_PORT" ] || HTTP_PORT=$(stack_free_port)
	while [ "$HTTP_PORT" = "$FCGI_PORT" ]; do HTTP_PORT=$(stack_free_port); done
	E2E_SETTINGS=(--rate-limit-budget 1000 --rate-limit-window 60
	    --rotation-grace-seconds 60 --max-body-bytes 16384 --retry-after-seconds 1
	    --shutdown-timeout 20 --database-url "$E2E_URL")
	if ! { admin_psql -c "DROP DATABASE IF EXISTS \"$E2E_DB\" WITH (FORCE)" >/dev/null &&
	    admin_psql -c "CREATE DATABASE \"$E2E_DB\"" >/dev/null; }; then
		record fail "scratch database $E2E_DB"
	elif ! out=$(env -u TOKEND_CONFIG -u TOKEND_DATABASE_URL -u TOKEND_ADMIN_DATABASE_URL \
	    "$RUNDIR/bin/tokenctl-asan" --admin-database-url "$E2E_URL" \
	    migrate --sql-dir "$STACK_SQL_DIR" 2>&1); then
		printf '%s\n' "$out" >&2
		sanitizer_reports "$RUNDIR"/asan-tokenctl.* >&2
		record fail "tokenctl (ASan) migrate"
	elif STACK_DB=$E2E_DB stack_tokend_start asan "$FCGI_PORT" "${E2E_SETTINGS[@]}" &&
	    stack_lighttpd_start "$HTTP_PORT" "$FCGI_PORT"; then
		STACK_OK=1
		MASTER=$(cat "$RUNDIR/asan.pid")
		record pass "tokend (ASan) + lighttpd start"
		echo "tokend (ASan, master $MASTER) on 127.0.0.1:$FCGI_PORT," \
		    "lighttpd on 127.0.0.1:$HTTP_PORT, log $TOKEND_LOG_FILE"
		ps -o pid=,user=,comm= --ppid "$MASTER" | sed 's/^/  child: /'
	else
		record fail "tokend (ASan) + lighttpd start"
	fi
else
	record fail "install into $RUNDIR"
fi

if [ $STACK_OK = 1 ]; then
	section "end to end against the ASan tokend"
	out=$(mktemp)
	env TOKEND_BASE_URL="http://127.0.0.1:$HTTP_PORT/v1" \
	    TOKEND_TEST_DATABASE_URL="$E2E_URL" \
	    TOKEND_ADMIN_DATABASE_URL="$E2E_URL" \
	    TOKENCTL="$RUNDIR/bin/tokenctl-asan" \
	    TOKEND="$STACK_BIN/tokend" \
	    TOKEND_LOG="$TOKEND_LOG_FILE" \
	    TOKEND_PIDFILE="$RUNDIR/asan.pid" \
	    TOKEND_FCGI_ADDR="127.0.0.1:$FCGI_PORT" \
	    TOKEND_OPENAPI="$ROOT/openapi.yaml" \
	    TOKEND_SQL_DIR="$ROOT/sql" \
	    TOKEND_E2E_ALLOW_DB_STOP=0 \
	    TOKEND_RATE_LIMIT_BUDGET=1000 TOKEND_RATE_LIMIT_WINDOW=60 \
	    TOKEND_ROTATION_GRACE=60 TOKEND_MAX_BODY_BYTES=16384 TOKEND_RETRY_AFTER=1 \
	    timeout 600 /usr/bin/python3 tests/e2e/run.py 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
	if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
		p=${BASH_REMATCH[1]}
		f=${BASH_REMATCH[2]}
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
		record "$([ "$f" -eq 0 ] && echo pass || echo fail)" "end to end (ASan)" "$p" "$f"
	else
		record fail "end to end (ASan) (exit $rc, no summary line)"
	fi
	rm -f "$out"

	# ---------------------------------------------- drain, then scan
	section "SIGTERM to tokend (master $MASTER): drain, exit(), LeakSanitizer"
	for f in "$RUNDIR"/lighttpd-*/lighttpd.pid; do
		[ -e "$f" ] && stack_kill_wait "$(cat "$f" 2>/dev/null)" lighttpd 10
	done
	children=$(ps -o pid= --ppid "$MASTER" 2>/dev/null | tr -s ' \n' ' ')
	kill -TERM "$MASTER" 2>/dev/null
	# shutdown_timeout is 20 s; LeakSanitizer needs a moment in each process.
	gone=0
	for _ in $(seq 1 600); do
		if ! stack_pid_is "$MASTER" tokend; then
			gone=1
			break
		fi
		sleep 0.1
	done
	for c in $children; do
		for _ in $(seq 1 100); do
			[ -d "/proc/$c" ] || break
			sleep 0.1
		done
	done
	if [ $gone = 1 ]; then
		record pass "tokend exits on SIGTERM"
		rm -f "$RUNDIR/asan.pid"
	else
		record fail "tokend exits on SIGTERM (still running after 60 s)"
	fi
	sleep 0.2	# the last lines of the log
	grep -E 'worker [0-9]+ (started|exited|killed)|flusher|SIGTERM|drain' "$TOKEND_LOG_FILE" |
	    tail -n 12 | sed 's/^/  log: /'
	if [ $gone = 1 ] && ! grep -qE 'worker [0-9]+ exited with status 0' "$TOKEND_LOG_FILE"; then
		# Nothing says the workers left through exit(): LeakSanitizer
		# would not have run in them.
		record fail "workers exit with status 0 on SIGTERM"
	else
		record pass "workers exit with status 0 on SIGTERM"
	fi
	if sanitizer_reports "$TOKEND_LOG_FILE"; then
		record fail "tokend log: sanitizer reports or deaths"
	else
		record pass "tokend log: no sanitizer report, no death"
	fi
	shopt -s nullglob
	tokenctl_logs=("$RUNDIR"/asan-tokenctl.*)
	shopt -u nullglob
	if [ ${#tokenctl_logs[@]} -gt 0 ]; then
		sanitizer_reports "${tokenctl_logs[@]}" || cat "${tokenctl_logs[@]}" | head -n 200
		record fail "tokenctl (ASan): sanitizer reports"
	else
		record pass "tokenctl (ASan): no sanitizer report"
	fi
fi

finish
