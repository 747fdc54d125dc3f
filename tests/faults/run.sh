#!/usr/bin/env bash
# tests/faults/run.sh - tokend under real faults, through lighttpd, on a
# PostgreSQL cluster of its own (so stopping, killing and restarting it
# disturbs no other part): PostgreSQL restarted under a load of issues,
# the postmaster SIGKILLed during rotations, a worker SIGKILLed during
# revokes, the pool exhausted behind a row lock, a read-only database,
# writes failing at their commit (a deferred constraint trigger), expiry
# at the boundary with the database clock moved by libfaketime,
# 20,000 tokens issued at once across workers and threads (fork
# hygiene), and 66 requests on one family released together on
# connections opened beforehand.  After each fault the rows are checked:
# every 2xx the client saw is a committed row with its audit row, no
# revoked token is accepted, the master is alive and logged only the
# worker deaths the test caused.  The client side is faults.py.
#
#   tests/faults/run.sh [--full]   --full: 100,000 tokens in the fork case
#
# Needs installed binaries, as tests/run.sh has them: RUNDIR and
# STACK_BIN in the environment (PGPORT, if set, is not used: the cluster
# here gets a free port of its own, in RUNDIR/faults/pg).  Prints one
# line per check and a final "N passed, N failed"; exits non-zero on
# failure.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../lib/stack.sh
. "$ROOT/tests/lib/stack.sh"
: "${RUNDIR:?}" "${STACK_BIN:?}"
: "${STACK_SQL_DIR:=$(dirname "$STACK_BIN")/share/sql}"
FULL=0
for arg in "$@"; do
	case $arg in
	--full) FULL=1 ;;
	*) echo "usage: $0 [--full]" >&2; exit 2 ;;
	esac
done
RUNDIR=$RUNDIR/faults
mkdir -p "$RUNDIR"
chmod 755 "$RUNDIR"
PGPORT=$(stack_free_port) || exit 1
FAKETIME_LIB=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1

# shellcheck source=../lib/checks.sh
. "$ROOT/tests/lib/checks.sh"
trap 'stack_stop' EXIT
# Stopped by timeout(1): still stop the cluster, whose directory the
# caller removes.
trap 'exit 143' TERM INT

# py CASE ARGS...: run one case of faults.py; count its check lines.
py() {
	local out line
	out=$(mktemp)
	timeout 600 /usr/bin/python3 "$ROOT/tests/faults/faults.py" "$@" 2>&1 | tee "$out"
	[ "${PIPESTATUS[0]}" -eq 124 ] && not_ok "$1: finished within 600 s"
	while IFS= read -r line; do
		case $line in
		"ok - "*) passed=$((passed + 1)) ;;
		"not ok - "*) failed=$((failed + 1)) ;;
		esac
	done <"$out"
	if ! grep -q '^\(not \)\?ok - ' "$out"; then
		not_ok "$1: the case checked something"
	fi
	rm -f "$out"
}

# wait_ready BASE: until /readyz answers 200 (30 s at most).
wait_ready() {
	for _ in $(seq 1 150); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1/readyz")" = 200 ] &&
		    return 0
		sleep 0.2
	done
	return 1
}

workers() { pgrep -P "$1" -x tokend-worker | sort -n | tr '\n' ' '; }

# pg_start_env [VAR=VALUE...]: start the cluster with VARs in the
# postmaster's environment (LD_PRELOAD for libfaketime).  Wrapping
# pg_ctl in faketime(1) would never return: pg_ctl's own wait loop
# would run on the faked clock.
pg_start_env() {
	runuser -u "$STACK_PGUSER" -- env "$@" "$STACK_PGBIN/pg_ctl" -D "$RUNDIR/pg" \
	    -l "$RUNDIR/pg.log" -w -t 60 \
	    -o "-p $PGPORT -k $RUNDIR/pgsock -c listen_addresses=127.0.0.1" start >/dev/null
}
pg_stop() {
	runuser -u "$STACK_PGUSER" -- "$STACK_PGBIN/pg_ctl" -D "$RUNDIR/pg" -m fast \
	    -w -t 60 stop >/dev/null
}

stack_pg_start || { echo "could not start PostgreSQL"; exit 1; }
DB=faults
stack_db_drop $DB >/dev/null 2>&1
rm -f "$RUNDIR/$DB.log" "$RUNDIR/pool.log"
stack_db_create $DB >/dev/null || { echo "could not create database"; exit 1; }
FCGI=$(stack_free_port); HTTP=$(stack_free_port)
# No rate limit in the way: the probes of revoked tokens are failures.
stack_tokend_start $DB "$FCGI" --workers 2 --threads 4 --rate-limit-budget 1000000 \
    --shutdown-timeout 10 >/dev/null &&
    stack_lighttpd_start "$HTTP" "$FCGI" >/dev/null ||
    { echo "could not start tokend and lighttpd"; exit 1; }
export FAULTS_BASE=http://127.0.0.1:$HTTP/v1
export FAULTS_DB
FAULTS_DB=$(stack_db_url $DB)
export FAULTS_TOKENCTL=$STACK_BIN/tokenctl
MASTER=$(cat "$RUNDIR/$DB.pid")
LOG=$RUNDIR/$DB.log
VICTIMS=" "
alive() { check "$1: the tokend master is alive (pid $MASTER)" stack_pid_is "$MASTER" tokend; }

# r) One family: rotations, issues and revokes, 66 released together.
py race --n 66
alive race

# a) PostgreSQL restarted under a load of issues.
py restart --cmd "$(stack_pg_ctl_prefix) restart >/dev/null"
alive restart

# b) The postmaster SIGKILLed during rotations, then started again (its
# backends notice and leave; until then the shared memory is in use).
wait_ready "$FAULTS_BASE"
py kill --kill "kill -KILL \$(head -n 1 $RUNDIR/pg/postmaster.pid)" \
    --start "for i in \$(seq 1 30); do $(stack_pg_ctl_prefix) start >/dev/null 2>&1 && exit 0; sleep 1; done; exit 1"
alive kill

# c) A worker SIGKILLed during revokes: replaced, no 204 without its row.
wait_ready "$FAULTS_BASE"
before=$(workers "$MASTER")
victim=${before%% *}
VICTIMS+="$victim "
py worker --victim "$victim"
sleep 0.5
after=$(workers "$MASTER")
alive worker
check "worker: the master replaced worker $victim ($before-> $after)" \
    test "$(echo "$after" | wc -w)" -eq 2 -a "${after/$victim /}" = "$after"
check "worker: the master logged its death with the signal" \
    grep -q "worker $victim killed by signal 9" "$LOG"

# d) Pool exhaustion: pool_size 1, its connection held by a row lock.
FCGI2=$(stack_free_port); HTTP2=$(stack_free_port)
if STACK_DB=$DB stack_tokend_start pool "$FCGI2" --workers 1 --threads 4 --pool-size 1 \
    --pool-acquire-timeout-ms 1000 --statement-timeout-ms 4000 --rate-limit-budget 1000000 >/dev/null &&
    stack_lighttpd_start "$HTTP2" "$FCGI2" >/dev/null; then
	FAULTS_BASE=http://127.0.0.1:$HTTP2/v1 py pool
	check "pool: that tokend is alive" stack_pid_is "$(cat "$RUNDIR/pool.pid")" tokend
	check "pool: no worker died" eval '! grep -Eq "worker [0-9]+ (killed|exited with status [1-9])" "$RUNDIR/pool.log"'
else
	not_ok "pool: tokend with pool_size 1 behind lighttpd started"
fi
stack_kill_wait "$(cat "$RUNDIR/lighttpd-$HTTP2/lighttpd.pid" 2>/dev/null)" lighttpd 10
stack_kill_wait "$(cat "$RUNDIR/pool.pid" 2>/dev/null)" tokend 20
rm -f "$RUNDIR/lighttpd-$HTTP2/lighttpd.pid" "$RUNDIR/pool.pid"

# e) A read-only database.
wait_ready "$FAULTS_BASE"
py readonly
alive readonly

# e2) Writes that fail at their commit, after the statement returned
# its row: 503, never a 2xx.
py commit
alive commit

# f) Expiry at the boundary, the database clock moved by libfaketime
# preloaded into PostgreSQL (offsets read from a file on every call).
CLOCK=$RUNDIR/faketime.rc
echo "+0" >"$CLOCK"
chmod 644 "$CLOCK"
if [ ! -r "$FAKETIME_LIB" ]; then
	not_ok "clock: $FAKETIME_LIB exists (apt-get install faketime)"
elif pg_stop && pg_start_env LD_PRELOAD="$FAKETIME_LIB" FAKETIME_TIMESTAMP_FILE="$CLOCK" \
    FAKETIME_NO_CACHE=1 DONT_FAKE_MONOTONIC=1; then
	wait_ready "$FAULTS_BASE"
	py clock --file "$CLOCK"
else
	not_ok "clock: PostgreSQL restarted with libfaketime"
fi
pg_stop
check "clock: PostgreSQL back on the real clock" pg_start_env
alive clock

# g) Fork hygiene: tokens issued at once on every worker and thread.
wait_ready "$FAULTS_BASE"
py fork --log "$LOG" --workers 2 --n "$([ $FULL = 1 ] && echo 100000 || echo 20000)"
alive fork

# The end: the rows as a whole, and no death but the ones caused here.
py invariants
deaths=$(grep -Eo 'worker [0-9]+ (killed by signal [0-9]+|exited with status [1-9][0-9]*)' "$LOG" |
    awk '{print $2}' | sort -u | tr '\n' ' ')
check "the master logged no worker death but the test's (deaths: ${deaths:-none}; caused:$VICTIMS)" \
    test " $deaths" = "$VICTIMS"
check "no crash or server_error in the log" \
    eval '! grep -Eq "server_error|SIGSEGV|SIGABRT|assert" "$LOG"'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
