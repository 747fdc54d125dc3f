#!/usr/bin/env bash
# tests/soak/run.sh - the leak soak: every kind of request, hundreds of
# thousands of them, against tokend --workers 2 behind lighttpd; each
# worker's open descriptors and resident memory must stay flat, no worker
# may die or be replaced, and nothing may answer 5xx.
#
#   RUNDIR=... PGPORT=... tests/soak/run.sh [--asan] [--requests N]
#       [--warmup N] [--cap SECONDS]
#
# Needs a running cluster on 127.0.0.1:PGPORT as tests/lib/stack.sh makes
# it (tests/run.sh --full passes its own), and root.  Works in
# RUNDIR/soak (RUNDIR/soak-asan): its own database, binaries, logs.
#
#  1. builds tokend RelWithDebInfo in build/soak (and tests/bench/mint.c
#     against it); with --asan also the ASan + UBSan build as
#     tests/sanitize/run.sh makes it (build/asan), whose tokend is the one
#     soaked (TOKEND_SOAK_PREBUILT=DIR and TOKEND_SOAK_ASAN_PREBUILT=DIR:
#     take tokend, tokenctl and libtokend_core.a from existing builds)
#  2. tokens minted with tokend's own code (tests/bench/mint.c, the
#     "warm" mix: S L R T A lines) and loaded by tests/bench/fill.sql; a
#     resource-server client "example-app" for introspection; well-formed
#     tokens and keys that were never issued, for the 401s
#  3. tokend --workers 2 --threads 4 (--rate-limit-window 5
#     --rate-limit-budget 10: the wrong credentials meet 429 soon, and
#     again every 5 s) behind lighttpd with
#     deploy/lighttpd/tokend-authorizer.conf plus mod_extforward trusting
#     127.0.0.1, so that wrong credentials come from addresses of their
#     own (X-Forwarded-For) and the rest from 127.0.0.1 is never limited
#  4. wrk (2 threads, 16 connections) with tests/soak/soak.lua: a warm-up
#     (--warmup, 20,000), then descriptors (ls /proc/PID/fd) and VmRSS of
#     each worker; the soak proper (--requests, 200,000; at most --cap
#     seconds, 420); the same samples again
#  5. checks: every request answered with its kind's expected status
#     (soak.lua), none 5xx, no socket error, 401 and 429 both seen; each
#     worker's descriptors equal before and after; its VmRSS grown by at
#     most 512 KiB (not under ASan, whose quarantine and shadow memory
#     grow by design); the same worker pids, no death in the log; the
#     rows: one token per 201 of an issuance or rotation, one auth_failed
#     count per 401 of a wrong credential; then SIGTERM: tokend leaves
#     with its workers exiting 0, and with --asan the log holds no
#     AddressSanitizer, LeakSanitizer or runtime error report.
#
# Why 512 KiB: after the warm-up every thread has its malloc arena, its
# pooled connection with its prepared statements, and OpenSSL and libpq
# have made their one-time allocations; what still moves is glibc's
# arena trimming and page reuse, seen here at +12 to +64 KiB per worker
# across 200,000 requests.  A leak of 64 bytes per request of only one
# of the 17 kinds (each is 10,000 to 18,000 of the 200,000) adds 640 KiB
# or more; one planted in POST /short (a third of all requests, with the
# wrong credentials) showed +1,500 KiB in 100,000.  Valgrind
# (tests/soak/valgrind.sh) and LeakSanitizer (--asan) find the smaller
# ones, by name.
#
# Prints one line per check and "N passed, N failed"; exits non-zero on
# any failure.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
# shellcheck source-path=SCRIPTDIR source=../lib/stack.sh
. "$ROOT/tests/lib/stack.sh"
: "${RUNDIR:?RUNDIR is required: the run directory of the caller}" "${PGPORT:?PGPORT is required: a running cluster}"

ASAN=0 REQUESTS=200000 WARMUP=20000 CAP=420
while [ $# -gt 0 ]; do
	case $1 in
	--asan) ASAN=1 ;;
	--requests) REQUESTS=$2; shift ;;
	--warmup) WARMUP=$2; shift ;;
	--cap) CAP=$2; shift ;;
	*) sed -n '2,8p' "$0" >&2; exit 2 ;;
	esac
	shift
done
WRK_THREADS=2 CONNS=16 RSS_BOUND_KIB=512
if [ $ASAN = 1 ]; then
	RUNDIR=$RUNDIR/soak-asan DB=soak_asan NAME=asan
else
	RUNDIR=$RUNDIR/soak DB=soak NAME=soak
fi
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$ROOT/tests/soak/common.sh"

cleanup() {
	soak_lighttpd_stop
	soak_tokend_stop $NAME 60 >/dev/null 2>&1
	stack_db_drop $DB >/dev/null 2>&1
}
trap cleanup EXIT
trap 'echo "interrupted"; exit 1' INT TERM	# so that cleanup runs
fatal() { not_ok "$*"; summary; exit 1; }

echo "# soak$([ $ASAN = 1 ] && echo ' (ASan + UBSan)') in $RUNDIR: $WARMUP + $REQUESTS requests, at most $CAP s"
stack_rundir || fatal "run directory $RUNDIR"
rm -rf "$RUNDIR/data" "$RUNDIR"/lighttpd-*
mkdir -p "$RUNDIR/data" "$RUNDIR/bin"
chmod 755 "$RUNDIR/data"
command -v wrk >/dev/null ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk >/dev/null 2>&1 ||
    { apt-get update >/dev/null 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk >/dev/null 2>&1; } ||
    fatal "apt-get install wrk"

# ------------------------------------------------------------- build
if [ -n "${TOKEND_SOAK_PREBUILT:-}" ]; then
	BUILD=$TOKEND_SOAK_PREBUILT
else
	BUILD=$ROOT/build/soak
	stack_build "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTOKEND_TESTS=OFF ||
	    fatal "build ($BUILD, RelWithDebInfo)"
fi
# shellcheck disable=SC2046	# pkg-config's words
cc -O2 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -I"$ROOT/lib" \
    -o "$RUNDIR/bin/mint" "$ROOT/tests/bench/mint.c" "$BUILD/libtokend_core.a" \
    $(pkg-config --libs libcrypto zlib) || fatal "tests/bench/mint.c"
SERVE_BUILD=$BUILD
if [ $ASAN = 1 ]; then
	if [ -n "${TOKEND_SOAK_ASAN_PREBUILT:-}" ]; then
		SERVE_BUILD=$TOKEND_SOAK_ASAN_PREBUILT
	else
		SERVE_BUILD=$ROOT/build/asan
		# The flags of tests/sanitize/run.sh: the same build, not a rebuild.
		stack_build "$SERVE_BUILD" -DTOKEND_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DTOKEND_TESTS=ON ||
		    fatal "build ($SERVE_BUILD, ASan + UBSan)"
	fi
	install -m 644 "$ROOT/tests/lsan.supp" "$RUNDIR/lsan.supp"
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
	export LSAN_OPTIONS=suppressions=$RUNDIR/lsan.supp
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi
stack_install "$SERVE_BUILD" || fatal "install into $RUNDIR"

# ---------------------------------------------------------- the data
stack_db_drop $DB >/dev/null 2>&1
stack_db_create $DB >/dev/null || fatal "database $DB"
URL=$(stack_db_url $DB)
# Lines used once each, 9 in every 20 requests, with a margin.
WARM_LINES=$((WARMUP * 9 / 20 + 200))
MAIN_LINES=$((REQUESTS * 9 / 20 + 200))
t0=$SECONDS
"$RUNDIR/bin/mint" "$RUNDIR/data" 200 "warm:warm:$WARM_LINES" "main:warm:$MAIN_LINES" >/dev/null ||
    fatal "mint"
chmod 644 "$RUNDIR"/data/*
fill=$(stack_psql $DB -v clients_copy="$RUNDIR/data/clients.copy" \
    -v stage_copy="$RUNDIR/data/stage.copy" -f "$ROOT/tests/bench/fill.sql" 2>&1 | tail -n 1)
[[ $fill == fill:* ]] || fatal "tests/bench/fill.sql: $fill"
echo "# $fill ($((SECONDS - t0)) s)"
# Never issued, well-formed: "U TKL" and "K CLIENT_ID TKC" (a key naming
# an existing client, not its key).
/usr/bin/python3 - "$RUNDIR/data/clients.copy" >"$RUNDIR/data/fakes.txt" <<-'PY' || fatal "fakes"
	import sys
	sys.path.insert(0, "tests/e2e")
	import tokfmt
	ids = [line.split("\t")[0] for line in open(sys.argv[1])][:64]
	for cid in ids:
	    print("U", tokfmt.mint("long"))
	    print("K", cid, tokfmt.mint("client", cid))
	PY
RS_KEY=$("$STACK_BIN/tokenctl" --admin-database-url "$URL" client create --name example-app \
    --scope read --default-scope read --resource-server | awk '$1 == "client_key:" { print $2 }')
[[ $RS_KEY == tkc_* ]] || fatal "resource server example-app"

# --------------------------------------------------------- the stack
FCGI=$(stack_free_port)
HTTP=$(stack_free_port)
while [ "$HTTP" = "$FCGI" ]; do HTTP=$(stack_free_port); done
# The authorizer's config, with mod_extforward on and trusting lighttpd's
# own host: the wrong credentials carry their addresses in
# X-Forwarded-For, as behind a balancer (deploy/lighttpd/tokend.conf).
CONF=$RUNDIR/lighttpd-soak.conf
sed -e 's|^#\([[:space:]]*"mod_extforward",\)|\1|' "$ROOT/deploy/lighttpd/tokend-authorizer.conf" >"$CONF"
cat >>"$CONF" <<-'EOF2'

	# tests/soak/run.sh: wrong credentials from addresses of their own
	extforward.forwarder = ( "127.0.0.1" => "trust" )
	extforward.headers   = ( "X-Forwarded-For" )
	EOF2
grep -q '^[[:space:]]*"mod_extforward",' "$CONF" || fatal "mod_extforward in $CONF"
mkdir -p "$RUNDIR/lighttpd-$HTTP/www/app"
echo soak-ok >"$RUNDIR/lighttpd-$HTTP/www/app/ok.txt"
chmod -R a+rX "$RUNDIR/lighttpd-$HTTP"
rm -f "$RUNDIR/$NAME.log"
SETTINGS=(--workers 2 --threads 4 --rate-limit-window 5 --rate-limit-budget 10 --shutdown-timeout 30)
if soak_tokend_start $NAME "$FCGI" $DB "${SETTINGS[@]}" &&
    stack_lighttpd_start_conf "$CONF" "$HTTP" "$FCGI"; then
	ok "tokend + lighttpd start (fcgi $FCGI, http $HTTP)"
else
	fatal "tokend + lighttpd start"
fi
MASTER=$(cat "$RUNDIR/$NAME.pid")
LOG=$RUNDIR/$NAME.log
BASE=http://127.0.0.1:$HTTP

# soak LABEL FILE REQUESTS SECONDS: one wrk run of soak.lua, ended when
# every thread has sent its share, or after SECONDS; its output in
# RUNDIR/LABEL.wrk.
soak() {
	local label=$1 file=$2 n=$3 secs=$4 pid
	rm -f "$RUNDIR/$label.done".*
	env SOAK_FILE="$file" SOAK_FAKES="$RUNDIR/data/fakes.txt" SOAK_RS_KEY="$RS_KEY" \
	    SOAK_THREADS=$WRK_THREADS SOAK_REQUESTS=$((n / WRK_THREADS)) SOAK_DONE="$RUNDIR/$label.done" \
	    wrk -t$WRK_THREADS -c$CONNS -d"${secs}s" --timeout 30s -s "$ROOT/tests/soak/soak.lua" \
	    "$BASE" >"$RUNDIR/$label.wrk" 2>&1 &
	pid=$!
	while kill -0 $pid 2>/dev/null; do
		if [ "$(find "$RUNDIR" -maxdepth 1 -name "$label.done.*" | wc -l)" -ge $WRK_THREADS ]; then
			kill -INT $pid
			break
		fi
		sleep 0.5
	done
	wait $pid
}
# sample: "PID fds rss_kib" for each worker.
sample() {
	local p
	for p in $(soak_workers "$MASTER"); do
		echo "$p $(find "/proc/$p/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)" \
		    "$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status")"
	done
}
total_of() { sed -n "s/^SOAK_TOTAL.* $2=\([0-9]*\).*/\1/p" "$RUNDIR/$1.wrk"; }
tokens_now() { stack_psql $DB -At -c "SELECT count(*) FROM tokens"; }

# ----------------------------------------------------------- warm-up
t0=$SECONDS
soak warmup "$RUNDIR/data/warm.txt" "$WARMUP" 120
grep '^SOAK_TOTAL' "$RUNDIR/warmup.wrk" | sed "s/^/# warm-up ($((SECONDS - t0)) s): /"
check "warm-up: every answer as expected, none 5xx" \
    test "$(total_of warmup bad)" = 0 -a "$(total_of warmup s5xx)" = 0 -a "$(total_of warmup answered)" -gt 0
WORKERS=$(soak_workers "$MASTER")
sleep 1
BEFORE=$(sample)
echo "# after the warm-up (pid fds VmRSS KiB): ${BEFORE//$'\n'/, }"
TOKENS0=$(tokens_now)
LOGPOS=$(stat -c %s "$LOG")

# ---------------------------------------------------------- the soak
t0=$SECONDS
soak main "$RUNDIR/data/main.txt" "$REQUESTS" "$CAP"
secs=$((SECONDS - t0))
sleep 1
AFTER=$(sample)
sed 's/^/# /' "$RUNDIR/main.wrk" | grep -E '^# SOAK'
echo "# after the soak (pid fds VmRSS KiB): ${AFTER//$'\n'/, }"
answered=$(total_of main answered)
check "soak: $answered of $REQUESTS requests answered within $CAP s ($secs s)" \
    test "${answered:-0}" -eq $((REQUESTS / WRK_THREADS * WRK_THREADS))
check "soak: every answer its kind's expected status ($(total_of main bad) not)" \
    test "$(total_of main bad)" = 0 -a "$(total_of main unknown)" = 0
check "soak: no 5xx ($(total_of main s5xx))" test "$(total_of main s5xx)" = 0
check "soak: no socket error or timeout ($(total_of main sock_errors))" test "$(total_of main sock_errors)" = 0
kinds=$(grep -c '^SOAK kind=[A-Z] ' "$RUNDIR/main.wrk")
check "soak: all 17 kinds of request sent and answered ($kinds)" test "$kinds" -eq 17
n401=$(grep -E '^SOAK kind=[XUK] ' "$RUNDIR/main.wrk" | grep -oE '401:[0-9]+' | cut -d: -f2 | awk '{ s += $1 } END { print s + 0 }')
n429=$(grep -E '^SOAK kind=[XUK] ' "$RUNDIR/main.wrk" | grep -oE '429:[0-9]+' | cut -d: -f2 | awk '{ s += $1 } END { print s + 0 }')
check "soak: wrong credentials answered 401 ($n401) and, past the budget, 429 ($n429)" \
    test "${n401:-0}" -gt 0 -a "${n429:-0}" -gt 0
check "the same workers after the soak ($WORKERS)" test "$(soak_workers "$MASTER")" = "$WORKERS"
deaths=$(tail -c +$((LOGPOS + 1)) "$LOG" | grep -cE 'worker [0-9]+ (exited|killed|died)')
check "no worker death in the log during the soak ($deaths)" test "$deaths" -eq 0
while read -r p fds rss; do
	read -r _ fds1 rss1 < <(grep "^$p " <<<"$AFTER")
	check "worker $p: open descriptors flat ($fds -> ${fds1:-gone})" test "$fds" = "${fds1:-x}"
	if [ $ASAN = 1 ]; then
		echo "# worker $p: VmRSS $rss -> ${rss1:-gone} KiB (not checked under ASan: its quarantine grows by design)"
	else
		check "worker $p: VmRSS flat, $rss -> ${rss1:-gone} KiB (+$(( ${rss1:-0} - rss )) KiB, at most +$RSS_BOUND_KIB)" \
		    test -n "$rss1" -a $((${rss1:-0} - rss)) -le $RSS_BOUND_KIB
	fi
done <<<"$BEFORE"

# The rows: one token per issuance or rotation answered 201.
issued=$(grep -E '^SOAK kind=[SLT] ' "$RUNDIR/main.wrk" | grep -oE '201:[0-9]+' | cut -d: -f2 | awk '{ s += $1 } END { print s + 0 }')
TOKENS1=$(tokens_now)
check "rows: $((TOKENS1 - TOKENS0)) tokens added, one per 201 of /short, /long and rotate ($issued)" \
    test $((TOKENS1 - TOKENS0)) -eq "${issued:--1}"

# ------------------------------------------------- SIGTERM, then logs
soak_lighttpd_stop
t0=$SECONDS
soak_tokend_stop $NAME 60
check "tokend leaves on SIGTERM ($((SECONDS - t0)) s)" test $? -eq 0
for w in $WORKERS; do
	check "worker $w exits with status 0" grep -qE "worker $w exited with status 0\b" "$LOG"
done
# Every failed authentication reaches the audit trail as a count
# (flushed each second, and at SIGTERM).
counted=$(stack_psql $DB -At -c "SELECT coalesce(sum(count), 0) FROM token_events
    WHERE event = 'auth_failed' AND remote_addr << '198.18.0.0/15'::inet")
all401=$(cat "$RUNDIR"/warmup.wrk "$RUNDIR"/main.wrk | grep -E '^SOAK kind=[XUK] ' |
    grep -oE '401:[0-9]+' | cut -d: -f2 | awk '{ s += $1 } END { print s + 0 }')
check "rows: auth_failed counts for the wrong credentials' addresses ($counted) = their 401s ($all401)" \
    test "$counted" = "$all401"
if [ $ASAN = 1 ]; then
	hits=$(grep -cE 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:' "$LOG")
	if [ "$hits" -gt 0 ]; then
		grep -nE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$LOG" | head -n 20
		awk '/ERROR: (Address|Leak)Sanitizer/ || /runtime error:/ { show = 40 } show > 0 { print; show-- }' \
		    "$LOG" | head -n 200
	fi
	check "ASan + UBSan: no sanitizer report in the log after SIGTERM ($hits lines)" test "$hits" -eq 0
fi
summary
