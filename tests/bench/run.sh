#!/usr/bin/env bash
# tests/bench/run.sh - tokend's speed and memory, with its ceilings.
# A measurement, never a pass/fail gate (CONTRACT §15).
#
#   tests/bench/run.sh                the benchmark, under 10 minutes
#   tests/bench/run.sh --long         RSS of the workers over 1,000,000
#                                     short-term issuances at c=64 (about
#                                     13 min here; results-long.json, shown
#                                     by the next RESULTS.md)
#   tests/bench/run.sh --perf         profiles instead of numbers: perf
#                                     record of PostgreSQL's backends and
#                                     tokend's workers during each API run
#                                     at c=16 (6 s runs, no ceilings, no
#                                     report), summaries in
#                                     tests/bench/perf-ENDPOINT.txt
#   tests/bench/run.sh --what-if F    the benchmark with the SQL file F applied
#                                     to the benchmark's database after the
#                                     migrations (a proposal measured);
#                                     results in the run directory only
#   options: --duration S (10: each timed wrk run), --quick (3 s runs, no
#            sweeps, no callgrind: for trying the script), --no-callgrind,
#            --callgrind (after --quick: the callgrind count all the same),
#            --keep (leave the servers running at the end), --out DIR
#            (results, profiles and callgrind summaries go to DIR instead
#            of tests/bench/: a trial run leaves the recorded one alone)
#   environment: TOKEND_BENCH_RUNDIR (default /var/tmp/tokend-bench),
#            TOKEND_BENCH_BUILD (default build/bench),
#            TOKEND_BENCH_WORKERS and TOKEND_BENCH_THREADS (2 and 8: the
#            tokend under test; the second workers point is 4 workers),
#            TOKEND_BENCH_RATE_CAP, TOKEND_BENCH_REVOKE_RATE_CAP (4000 and
#            6000 requests per second: the size of the token pools)
#
# What it does, all on 127.0.0.1, as root (it installs what is missing):
#  1. builds tokend Release in build/bench, and tests/bench/mint.c and
#     ceiling.c next to it; a private PostgreSQL 15 cluster (synchronous
#     commit and fsync on, as tests/lib/stack.sh makes it, plus
#     pg_stat_statements) in RUNDIR (default /var/tmp/tokend-bench);
#  2. mints real tokens with tokend's own code (mint.c), loads them
#     (fill.sql): over a thousand clients and several hundred thousand
#     live tokens; every request of every timed run has its own token or
#     target, used once (no hot row);
#  3. tokend under spawn-fcgi (log_level=warn) behind lighttpd
#     (deploy/lighttpd/tokend-authorizer.conf: the API under /v1/, /app/
#     guarded by the authorizer), driven by wrk and tests/bench/*.lua at
#     concurrency 16 and 64: short-term issuance, long-term issuance,
#     rotation, revocation, the mix (80/15/5), /v1/healthz, the authorizer;
#     short-term issuance and the mix again with 4 workers;
#  4. round trips measured per endpoint: the change of pg_stat_database
#     xact_commit and of pg_stat_statements calls, per request served
#     (tokend's /v1/status), after the statistics have been flushed;
#     rows really changed for the 2xx answers, and their audit rows;
#  5. the ceilings, behind the same lighttpd configuration: (a) ceiling.c
#     --mode fixed; (b) ceiling.c --mode insert at the best of 2/4/8/16
#     processes, before and after tokend's runs (ratios use the mean), its
#     round trips measured the same way; (c) pgbench calling tokend's
#     functions;
#     every timed run also records CPU per request by part (tokend or the
#     ceiling, PostgreSQL, lighttpd, wrk, the whole machine) from /proc;
#  6. callgrind: instructions per short-term issuance inside one process
#     (tokend --workers 0 --threads 1), and its top functions;
#  7. results: RUNDIR/records.txt, tests/bench/results.json and
#     tests/bench/RESULTS.md (tests/bench/report.py), the table printed.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/tests/bench
# shellcheck source=../lib/stack.sh
. "$ROOT/tests/lib/stack.sh"
PY=/usr/bin/python3

DUR=10			# seconds per timed wrk run
SWEEP_DUR=5		# seconds per point of the ceiling (b) sweep
PGB_DUR=5		# seconds per pgbench run
SETTLE=11		# PostgreSQL 15 flushes a backend's counters within 10 s
CONCS="16 64"
# tokend under test: workers x threads (pool = threads), one connection
# per wrk connection at c=16.  2 x 4 (tokend's default threads) against
# 2 x 8 in --quick runs on a loaded machine: PostgreSQL's CPU per request
# within the noise of the load (−17 % to +23 % by endpoint), so 2 x 8 stays.
WORKERS=${TOKEND_BENCH_WORKERS:-2}
THREADS=${TOKEND_BENCH_THREADS:-8}
WORKERS_ALT=4		# the second point of the workers sweep
WRK_THREADS=2
# The token pools are sized for these rates (requests per second); a run
# that uses its pool up says so ("TOKENS RAN OUT") and stops counting.
# Revocation, the cheapest write since sql/013, ran out at 3,000.
RATE_CAP=${TOKEND_BENCH_RATE_CAP:-4000}
REVOKE_RATE_CAP=${TOKEND_BENCH_REVOKE_RATE_CAP:-6000}
PGB_RATE_CAP=${TOKEND_BENCH_PGB_RATE_CAP:-5000}
LONG=0 QUICK=0 CALLGRIND=1 KEEP=0 PERF=0 WHAT_IF= OUT=
while [ $# -gt 0 ]; do
	case $1 in
	--long) LONG=1 ;;
	--perf) PERF=1 QUICK=1 DUR=6 CALLGRIND=0 CONCS=16 ;;
	--quick) QUICK=1 DUR=3 SWEEP_DUR=2 PGB_DUR=2 CALLGRIND=0 ;;
	--duration) DUR=$2; shift ;;
	--no-callgrind) CALLGRIND=0 ;;
	--callgrind) CALLGRIND=1 ;;
	--keep) KEEP=1 ;;
	--what-if) WHAT_IF=$(realpath "$2"); shift ;;
	--out) OUT=$(realpath -m "$2"); shift ;;
	*) sed -n '2,32p' "$0" >&2; exit 2 ;;
	esac
	shift
done
RUNDIR=${TOKEND_BENCH_RUNDIR:-/var/tmp/tokend-bench}
case $RUNDIR in		# it is emptied at the start
/var/tmp/?*|/tmp/?*) ;;
*) echo "run.sh: TOKEND_BENCH_RUNDIR must be under /var/tmp or /tmp" >&2; exit 2 ;;
esac
BUILD=${TOKEND_BENCH_BUILD:-$ROOT/build/bench}
DB=bench
CDB=bench_ceiling
START=$SECONDS

say() { printf '[%3d s] %s\n' $((SECONDS - START)) "$*"; }
die() { say "FAILED: $*"; exit 1; }
# A record for report.py: KIND key=value...
record() { echo "$*" >>"$RUNDIR/records.txt"; }

[ "$(id -u)" -eq 0 ] || die "run as root (spawn-fcgi, lighttpd and PostgreSQL run as www-data and postgres)"

# ------------------------------------------------------------- clean up
# Processes of this script are found again through their pid files.
ceiling_stop() {
	local f=$RUNDIR/ceiling.pid pid
	[ -s "$f" ] || return 0
	for pid in $(cat "$f"); do
		stack_pid_is "$pid" ceiling && kill -TERM "$pid" 2>/dev/null
	done
	for _ in $(seq 1 50); do
		local alive=0
		for pid in $(cat "$f"); do
			stack_pid_is "$pid" ceiling && alive=1
		done
		[ $alive = 0 ] && break
		sleep 0.1
	done
	rm -f "$f"
}
cg_stop() {
	local pid
	pid=$(cat "$RUNDIR/cg.pid" 2>/dev/null) || return 0
	if [[ $pid =~ ^[0-9]+$ ]] && grep -qa tokend "/proc/$pid/cmdline" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null
		for _ in $(seq 1 100); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
	fi
	rm -f "$RUNDIR/cg.pid"
}
cleanup() {
	[ $KEEP = 1 ] && { say "servers left running (--keep); stop: RUNDIR=$RUNDIR, see tests/lib/stack.sh stack_stop"; return; }
	cg_stop
	ceiling_stop
	stack_stop
}
if [ -d "$RUNDIR" ]; then
	cg_stop
	ceiling_stop
	stack_stop
	rm -rf "$RUNDIR"
fi
mkdir -p "$RUNDIR/runs" "$RUNDIR/data"
DEST=${OUT:-$HERE}
mkdir -p "$DEST"
chmod 755 "$RUNDIR" "$RUNDIR/data"
trap cleanup EXIT
exec > >(tee "$RUNDIR/bench.log") 2>&1

# ------------------------------------------------------------- 1. build
say "tokend benchmark: RUNDIR=$RUNDIR, ${DUR} s per run, concurrency $CONCS"
stack_deps build runtime || die "dependencies"
for c in wrk valgrind; do
	command -v $c >/dev/null && continue
	say "installing $c"
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $c >/dev/null 2>&1 ||
	    { apt-get update >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $c >/dev/null 2>&1; } ||
	    die "apt-get install $c"
done
[ $PERF = 0 ] || command -v perf >/dev/null || die "--perf needs perf (apt-get install linux-perf)"
PGBENCH=$STACK_PGBIN/pgbench
[ -x "$PGBENCH" ] || die "no $PGBENCH"
[ -r /usr/share/postgresql/15/extension/pg_stat_statements.control ] || die "no pg_stat_statements"

stack_build "$BUILD" -DCMAKE_BUILD_TYPE=Release -DTOKEND_TESTS=OFF || die "build"
CFLAGS_BENCH="-O2 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE"
# shellcheck disable=SC2046,SC2086
cc $CFLAGS_BENCH -I"$ROOT/lib" -o "$BUILD/mint" "$HERE/mint.c" "$BUILD/libtokend_core.a" \
    $(pkg-config --libs libcrypto zlib) || die "mint.c"
# shellcheck disable=SC2046,SC2086
cc $CFLAGS_BENCH $(pkg-config --cflags libpq) -o "$BUILD/ceiling" "$HERE/ceiling.c" \
    -lfcgi $(pkg-config --libs libpq libcrypto) || die "ceiling.c"
stack_install "$BUILD" || die "install"
install -m 755 "$BUILD/ceiling" "$BUILD/mint" "$RUNDIR/bin/"
say "built: Release, $BUILD"

# ------------------------------------------------------ the database
PGPORT=$(stack_free_port) || die "no free port"
export PGPORT
stack_pg_start || die "PostgreSQL"
cat >>"$RUNDIR/pg/postgresql.conf" <<-EOF

	# tests/bench/run.sh: statements counted, and room for the load
	shared_preload_libraries = 'pg_stat_statements'
	pg_stat_statements.track = top
	pg_stat_statements.max = 1000
	shared_buffers = 256MB
	max_wal_size = 4GB
	checkpoint_timeout = 15min
	log_autovacuum_min_duration = 0
EOF
eval "$(stack_pg_ctl_prefix) restart" >/dev/null || die "PostgreSQL restart"
for _ in $(seq 1 100); do "$STACK_PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" && break; sleep 0.2; done
stack_psql postgres -c "CREATE EXTENSION pg_stat_statements" || die "pg_stat_statements"
stack_db_create $DB || die "database $DB"
if [ -n "$WHAT_IF" ]; then
	stack_psql $DB -f "$WHAT_IF" || die "$WHAT_IF"
fi
q() { stack_psql postgres -At -c "$1"; }		# never in $DB: no counts there
qb() { stack_psql $DB -At -c "$1"; }
say "PostgreSQL $(q 'SHOW server_version') on 127.0.0.1:$PGPORT: synchronous_commit=$(q 'SHOW synchronous_commit') fsync=$(q 'SHOW fsync') shared_buffers=$(q 'SHOW shared_buffers')"

# ------------------------------------------------------------- 2. fill
P=$((DUR * RATE_CAP))
PR=$((DUR * REVOKE_RATE_CAP))
Q=$((PGB_DUR * PGB_RATE_CAP))
NCLIENTS=1000
pools=(warm:warm:20000 warm2:warm:20000)
if [ $LONG = 1 ]; then
	pools+=(rss:short:200000)
else
	for c in $CONCS; do
		pools+=("short_$c:short:$P" "shortw_$c:short:$P" "long_$c:long:$P"
		    "rotate_$c:rotate:$P" "revoke_$c:revoke:$PR" "mixed_$c:mixed:$P"
		    "mixedw_$c:mixed:$P" "pgb$c:pgb:$Q")
	done
	pools+=(authz_16:authz:10000 authz_64:authz:10000 cg:short:3000)
fi
t0=$SECONDS
"$RUNDIR/bin/mint" "$RUNDIR/data" $NCLIENTS "${pools[@]}" || die "mint"
chmod 644 "$RUNDIR"/data/*
say "minted with tokend's code: $NCLIENTS clients, pools ${pools[*]} ($((SECONDS - t0)) s)"
t0=$SECONDS
FILL=$(stack_psql $DB -v clients_copy="$RUNDIR/data/clients.copy" \
    -v stage_copy="$RUNDIR/data/stage.copy" -f "$HERE/fill.sql" | tail -n 1) || die "fill.sql"
say "$FILL ($((SECONDS - t0)) s)"
record "META fill=\"${FILL#fill: }\""

# The ceiling's database: the bare table of ceiling (b), as many rows as tokens.
NTOK=$(qb "SELECT count(*) FROM tokens")
"$STACK_PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres $CDB || die "createdb $CDB"
stack_psql $CDB <<-EOF || die "ceiling table"
	CREATE TABLE tokens (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	    client_id uuid NOT NULL, token_hash bytea NOT NULL UNIQUE,
	    created_at timestamptz, expires_at timestamptz);
	INSERT INTO tokens (client_id, token_hash, created_at, expires_at)
	SELECT gen_random_uuid(), sha256(gen_random_uuid()::text::bytea), now(), now() + interval '15 minutes'
	FROM generate_series(1, $NTOK);
	VACUUM ANALYZE tokens;
	CHECKPOINT;
EOF
say "ceiling table: $NTOK rows"

# ------------------------------------------------------------ helpers
FCGI=$(stack_free_port) HTTP=$(stack_free_port)
while [ "$HTTP" = "$FCGI" ]; do HTTP=$(stack_free_port); done
AUTHZ_CONF=$ROOT/deploy/lighttpd/tokend-authorizer.conf

tokend_start() {	# tokend_start WORKERS THREADS
	stack_tokend_start $DB "$FCGI" --workers "$1" --threads "$2" \
	    --log-level warn --rate-limit-budget 1000000 || return 1
	TK_WORKERS=$1 TK_THREADS=$2
}
tokend_stop() {
	stack_kill_wait "$(cat "$RUNDIR/$DB.pid" 2>/dev/null)" tokend 40
	rm -f "$RUNDIR/$DB.pid"
	# PostgreSQL drops the backends of the closed connections.
	for _ in $(seq 1 50); do
		[ "$(q "SELECT count(*) FROM pg_stat_activity WHERE datname = '$DB' AND application_name = 'tokend'")" = 0 ] && break
		sleep 0.1
	done
}
# Pids of the processes serving: tokend's workers, or the ceiling's.
server_pids() {
	if [ "$SERVER" = tokend ]; then
		ps -o pid=,comm= --ppid "$(cat "$RUNDIR/$DB.pid")" | awk '$2 == "tokend-worker" { print $1 }'
	else
		cat "$RUNDIR/ceiling.pid"
	fi
}
rss_list() {	# KiB of each serving process, comma-separated
	local pid out=""
	for pid in $(server_pids); do
		out+="${out:+,}$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)"
	done
	echo "$out"
}
conns_used() {	# backends of the server's database, but ours
	local db=$DB
	[ "$SERVER" = tokend ] || db=$CDB
	q "SELECT count(*) FROM pg_stat_activity WHERE datname = '$db' AND backend_type = 'client backend'"
}
# CPU ticks (1/100 s) of each part, for the per-request split: tokend or
# ceiling, postgres (this cluster's backends), lighttpd, wrk; and busy
# ticks of the whole machine (others' load shows up there).
cpu_snap() {
	local pm
	pm=$(head -n 1 "$RUNDIR/pg/postmaster.pid")
	{
		for p in $(server_pids); do echo "server $p"; done
		for p in $(ps -o pid= --ppid "$pm"); do echo "postgres $p"; done
		echo "postgres $pm"
		echo "lighttpd $(cat "$LIGHTTPD_PIDFILE" 2>/dev/null)"
	} | while read -r part pid; do
		awk -v part="$part" '{ sub(/^.*\) /, ""); print part, $12 + $13 }' "/proc/$pid/stat" 2>/dev/null
	done | awk '{ t[$1] += $2 } END { for (k in t) printf "%s=%d ", k, t[k] }'
	awk '/^cpu / { printf "machine=%d", $2 + $3 + $4 + $7 + $8 }' /proc/stat
}
# CPU ticks of the shell's finished children, from the output of the
# builtin times (run in this shell, not in a pipe: wrk is the child).
children_ticks() {
	tail -n 1 "$1" | awk '{
		t = 0
		for (i = 1; i <= 2; i++) { split($i, p, "m"); sub("s", "", p[2]); t += p[1] * 60 + p[2] }
		printf "wrk=%d", t * 100 }'
}
cpu_delta() {	# cpu_delta BEFORE AFTER REQUESTS: microseconds per request
	awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN {
		split(a, x, " "); for (i in x) { split(x[i], kv, "="); A[kv[1]] = kv[2] }
		split(b, y, " "); for (i in y) { split(y[i], kv, "="); B[kv[1]] = kv[2] }
		if (n < 1) n = 1
		for (k in B) printf "cpu_%s_us=%d ", k, (B[k] - A[k]) * 10000 / n
	}'
}

# wrk_run LABEL SCRIPT FILE CONC URL [VAR=value...]: one timed run; its
# BENCH line, RSS, connections and CPU split go to records.txt.
wrk_run() {
	local label=$1 script=$2 file=$3 conc=$4 url=$5 out line c0 c1 n
	shift 5
	out=$RUNDIR/runs/$label
	c0=$(cpu_snap)
	times >"$RUNDIR/times.0"	# after cpu_snap: its own children are not wrk
	env BENCH_LUA_DIR="$HERE" BENCH_THREADS=$WRK_THREADS BENCH_RUN="$label" \
	    BENCH_FILE="$file" BENCH_OUT="$out" "$@" \
	    wrk -t$WRK_THREADS -c"$conc" -d"${DUR}s" --timeout 10s -s "$HERE/$script" "$url" \
	    >"$out.wrk" 2>&1
	times >"$RUNDIR/times.1"
	c0="$c0 $(children_ticks "$RUNDIR/times.0")"
	c1="$(cpu_snap) $(children_ticks "$RUNDIR/times.1")"
	line=$(grep '^BENCH ' "$out.wrk" | tail -n 1)
	if [ -z "$line" ]; then
		say "$label: wrk gave no result"
		sed -n 1,20p "$out.wrk"
		return 1
	fi
	n=$(sed -n 's/.* requests=\([0-9]*\).*/\1/p' <<<"$line")
	line="${line#BENCH } rss_kib=$(rss_list) conns=$(conns_used) $(cpu_delta "$c0" "$c1" "$n") load1=$(cut -d' ' -f1 /proc/loadavg)"
	record "RUN label=$label $RUNMETA conc=$conc $line"
	awk -v l="$label" -v c="$conc" '{
		for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		printf "  %-10s c=%-3s %8.1f req/s  p50 %6.2f ms  p99 %7.2f ms  2xx %d  4xx %d  5xx %d  sock %d  RSS %s KiB  conns %s%s\n",
		    l, c, v["rps"], v["p50_us"] / 1000, v["p99_us"] / 1000, v["s2xx"], v["s4xx"],
		    v["s5xx"], v["sock_errors"], v["rss_kib"], v["conns"], (v["exhausted"] > 0 ? "  TOKENS RAN OUT" : "")
	}' <<<"$line"
}

# Round trips of a group of runs on one database, after PostgreSQL has
# flushed the backends' counters (each within 10 s of going idle).  The
# marks live in the database postgres, so that reading them adds nothing
# to the database measured.
served() {	# requests tokend has answered (its /v1/status), or the ceiling (rows)
	if [ "$SERVER" = tokend ]; then
		curl -s --max-time 5 "http://127.0.0.1:$HTTP/v1/status" | jq '.requests | add'
	else
		stack_psql $CDB -At -c "SELECT count(*) FROM tokens"
	fi
}
rt_mark() {	# rt_mark DB: start counting now (counters flushed)
	RT_DB=$1
	sleep 0.5	# a psql that just left flushes as its backend exits
	q "SET client_min_messages = warning;
	   DROP TABLE IF EXISTS bench_rt_mark;
	   CREATE TABLE bench_rt_mark AS
	   SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = '$1') AS xact,
	          s.dbid, s.queryid, s.toplevel, s.calls
	   FROM pg_stat_statements s" >/dev/null
	RT_SERVED0=$(served)
	RT_LOGPOS=$(stat -c %s "$RUNDIR/pg.log")
}
rt_begin() {	# rt_begin DB: wait for the counters, start counting
	sleep "$SETTLE"
	rt_mark "$1"
}
# rt_end NAME PATTERN: the change since the mark, per request served:
# xact_commit, calls of the statements matching PATTERN, other calls.
rt_end() {
	local name=$1 pat=$2 a n x av
	sleep "$SETTLE"
	x=$(q "SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = '$RT_DB')
	              - (SELECT max(xact) FROM bench_rt_mark),
	              coalesce(sum(s.calls - coalesce(m.calls, 0)) FILTER (WHERE s.query ~ '$pat'), 0),
	              coalesce(sum(s.calls - coalesce(m.calls, 0)) FILTER (WHERE s.query !~ '$pat'), 0)
	       FROM pg_stat_statements s
	       JOIN pg_database d ON d.oid = s.dbid AND d.datname = '$RT_DB'
	       LEFT JOIN bench_rt_mark m USING (dbid, queryid, toplevel)
	       WHERE s.toplevel" | tr '|' ' ')
	# tokend: /v1/status counts the call of rt_mark too; the ceiling's
	# row count has nothing to subtract.
	n=$(( $(served) - RT_SERVED0 ))
	[ "$SERVER" = tokend ] && n=$((n - 1))
	# shellcheck disable=SC2086
	set -- $x
	# Autovacuum's transactions count in xact_commit too.
	av=$(tail -c +$((RT_LOGPOS + 1)) "$RUNDIR/pg.log" |
	    grep -cE "automatic (vacuum|analyze) of table \"$RT_DB\.")
	a=$(awk -v x="$1" -v c="$2" -v o="$3" -v n=$n -v av="$av" 'BEGIN {
		printf "requests=%d xact=%d calls=%d other_calls=%d xact_per_req=%.4f calls_per_req=%.4f autovacuum_runs=%d",
		    n, x, c, o, x / (n ? n : 1), c / (n ? n : 1), av }')
	record "RT name=$name $a"
	say "  round trips, $name: $a"
}

# rows_check LABEL: for the 2xx answers of a run (BENCH_OUT.ok), the rows
# the database holds: tokens issued, tokens rotated (with a successor),
# revocations; their audit rows; and every audit row of the run's
# request ids (more when wrk's stop cut requests that then committed).
rows_check() {
	local label=$1 f=$RUNDIR/runs/$1.ok r
	r=$(stack_psql $DB -At -F ' ' \
	    -c "CREATE TEMP TABLE ok (what text, id uuid, rid text)" \
	    -c "\\copy ok FROM '$f' WITH (DELIMITER ' ')" \
	    -c "SELECT (SELECT count(*) FROM ok),
	               (SELECT count(*) FROM ok JOIN tokens t USING (id) WHERE ok.what = 'issued'),
	               (SELECT count(*) FROM ok JOIN tokens t USING (id) WHERE ok.what = 'rotated'
	                  AND t.rotated_at IS NOT NULL
	                  AND EXISTS (SELECT 1 FROM tokens s WHERE s.rotated_from = t.id)),
	               (SELECT count(*) FROM ok JOIN revocations r ON r.token_id = ok.id
	                  WHERE ok.what = 'revoked' AND r.reason = 'requested'),
	               (SELECT count(*) FROM ok WHERE EXISTS (SELECT 1 FROM token_events e
	                  WHERE e.request_id = ok.rid)),
	               (SELECT count(DISTINCT request_id) FROM token_events
	                  WHERE starts_with(request_id, '${label}-'))") || return 1
	# shellcheck disable=SC2086
	set -- $r
	record "ROWS label=$label ok=$1 issued=$2 rotated=$3 revoked=$4 audited=$5 run_audited=$6"
	say "  rows, $label: 2xx $1 -> issued $2, rotated $3, revoked $4; with audit row $5; requests of the run with audit rows $6 (cut by wrk's stop: $(( $6 - $5 )))"
}

# tokend_group NAME PATTERN SCRIPT POOL: c=16 and c=64, then the round
# trips (counted from the last rt_mark), the rows, a new mark.
tokend_group() {
	local name=$1 pat=$2 script=$3 pool=$4
	say "$name: $script, workers=$TK_WORKERS threads=$TK_THREADS"
	for c in $CONCS; do
		RUNMETA="group=tokend endpoint=$name workers=$TK_WORKERS threads=$TK_THREADS"
		[ $PERF = 1 ] && perf_start "$name"
		wrk_run "${pool}_$c" "$script" "$RUNDIR/data/${pool}_$c.txt" "$c" "http://127.0.0.1:$HTTP"
		[ $PERF = 1 ] && perf_end "$name"
	done
	[ $PERF = 1 ] && return 0
	rt_end "$name" "$pat"
	if [ "$script" != authz.lua ]; then
		for c in $CONCS; do rows_check "${pool}_$c"; done
	fi
	rt_mark $DB
}

# --perf: PostgreSQL's backends and tokend's workers, sampled during the
# run (from its second second to one before its end).
perf_start() {
	local pids
	pids=$( { ps -o pid= --ppid "$(head -n 1 "$RUNDIR/pg/postmaster.pid")"; server_pids; } |
	    tr -d ' ' | paste -sd,)
	( sleep 1; perf record -F 499 -g -p "$pids" -o "$RUNDIR/perf.$1.data" -- sleep $((DUR - 2)) \
	    >/dev/null 2>&1 ) &
	PERF_PID=$!
}
perf_end() {
	local f=$RUNDIR/perf.$1.data out=$DEST/perf-$1.txt
	wait "$PERF_PID"
	perf_summary "$f" "$1" >"$out"
	say "  perf: $out"
}
# perf_summary DATA NAME: samples by process; PostgreSQL's functions with
# their callees (the same name reached by two call chains summed), in % of
# PostgreSQL's samples; tokend's workers by library and function.
perf_summary() {
	echo "# perf record -F 499 -g of PostgreSQL's backends and tokend's workers during"
	echo "# the c=16 run of $2 (tests/bench/run.sh --perf, $(date -u '+%Y-%m-%d %H:%M UTC'))"
	echo "# CPU samples by process:"
	perf report -i "$1" --sort comm --stdio 2>/dev/null | grep -E '^ +[0-9.]+%'
	echo "# PostgreSQL: % of its samples in each function and its callees (named ones):"
	perf report -i "$1" --comm postgres --percentage relative --children --sort symbol \
	    --stdio -g none 2>/dev/null |
	    awk '/^ +[0-9.]+% +[0-9.]+%/ && $4 !~ /^0x/ { sub("%", "", $1); t[$4] += $1 }
	         END { for (k in t) printf "%7.2f%%  %s\n", t[k], k }' | sort -rn | head -n 45
	echo "# tokend workers: % of their samples, by library and function (own):"
	perf report -i "$1" --comm tokend-worker --percentage relative --no-children \
	    --sort dso,symbol --stdio -g none 2>/dev/null | grep -E '^ +[0-9.]+%' | head -n 25
}

# Statements of each endpoint, for pg_stat_statements.
PAT_SHORT='tokend_issue_short\('
PAT_LONG='tokend_issue_long\('
PAT_ROTATE='tokend_rotate\('
PAT_REVOKE='tokend_revoke\('
PAT_MIXED='tokend_(issue_short|issue_long|revoke)\('
PAT_AUTHZ='tokend_check_short\('

# ---------------------------------------------------------- meta data
{
	record "META date=\"$(date -u '+%Y-%m-%d %H:%M:%S UTC')\""
	record "META host=\"$(hostname)\" kernel=\"$(uname -r)\" cpus=$(nproc) cpu_model=\"$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)\" mem_mib=$(free -m | awk '/^Mem:/ { print $2 }')"
	record "META os=\"$(. /etc/os-release; echo "$PRETTY_NAME")\" postgres=\"$(q 'SHOW server_version')\" lighttpd=\"$(lighttpd -v | head -n 1 | cut -d' ' -f1)\" wrk=\"$(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2)\" libfcgi=\"$(dpkg-query -W -f '${Version}' libfcgi0ldbl 2>/dev/null || dpkg-query -W -f '${Version}' libfcgi-bin 2>/dev/null)\" openssl=\"$(openssl version | cut -d' ' -f2)\" cc=\"$(cc --version | head -n 1)\" valgrind=\"$(valgrind --version 2>/dev/null)\""
	record "META commit=\"$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo '+changes')\" duration_s=$DUR settle_s=$SETTLE wrk_threads=$WRK_THREADS clients=$NCLIENTS"
	record "META load_start=\"$(cut -d' ' -f1-3 /proc/loadavg)\""
	[ -n "$WHAT_IF" ] && record "META what_if=\"$WHAT_IF\""
}

# ----------------------------------------------------- --long: RSS only
if [ $LONG = 1 ]; then
	SERVER=tokend
	tokend_start $WORKERS $THREADS || die "tokend"
	stack_lighttpd_start_conf "$AUTHZ_CONF" "$HTTP" "$FCGI" || die "lighttpd"
	target=${TOKEND_BENCH_LONG_REQUESTS:-1000000}
	say "RSS over $target short-term issuances at c=64 (200,000 long-term tokens, each used about $((target / 200000 + 1)) times)"
	say "  requests served   RSS per worker (KiB)"
	say "  $(printf '%15d' "$(served)")   $(rss_list)"
	record "RSS served=$(served) rss_kib=$(rss_list)"
	env BENCH_LUA_DIR="$HERE" BENCH_THREADS=$WRK_THREADS BENCH_RUN=rss BENCH_CYCLE=1 \
	    BENCH_NOTE=0 BENCH_FILE="$RUNDIR/data/rss.txt" BENCH_OUT="$RUNDIR/runs/rss" \
	    wrk -t$WRK_THREADS -c64 -d3600s --timeout 10s -s "$HERE/short.lua" \
	    "http://127.0.0.1:$HTTP" >"$RUNDIR/runs/rss.wrk" 2>&1 &
	wrk_pid=$!
	done_n=0
	while [ "$done_n" -lt "$target" ] && kill -0 $wrk_pid 2>/dev/null; do
		sleep 30
		done_n=$(served)
		say "  $(printf '%15d' "$done_n")   $(rss_list)"
		record "RSS served=$done_n rss_kib=$(rss_list)"
	done
	kill -INT $wrk_pid 2>/dev/null
	wait $wrk_pid 2>/dev/null
	grep '^BENCH' "$RUNDIR/runs/rss.wrk"
	record "META load_end=\"$(cut -d' ' -f1-3 /proc/loadavg)\""
	$PY "$HERE/report.py" --long "$RUNDIR/records.txt" "$DEST/results-long.json"
	exit 0
fi

# ------------------------------------------------------ ceiling helpers
# ceiling_start MODE N: ceiling.c under spawn-fcgi -F N on CFCGI, behind
# its own lighttpd (ceiling_front: the same configuration as tokend's).
CFCGI=$(stack_free_port) CHTTP=$(stack_free_port)
while [ "$CHTTP" = "$CFCGI" ] || [ "$CHTTP" = "$HTTP" ] || [ "$CHTTP" = "$FCGI" ] ||
    [ "$CFCGI" = "$HTTP" ] || [ "$CFCGI" = "$FCGI" ]; do
	CFCGI=$(stack_free_port) CHTTP=$(stack_free_port)
done
ceiling_start() {
	local mode=$1 n=$2
	ceiling_stop
	for _ in $(seq 1 50); do stack_port_busy "$CFCGI" || break; sleep 0.1; done
	spawn-fcgi -a 127.0.0.1 -p "$CFCGI" -F "$n" -u "$STACK_WEBUSER" -g "$STACK_WEBUSER" \
	    -P "$RUNDIR/ceiling.pid" -- "$RUNDIR/bin/ceiling" --mode "$mode" \
	    --db "$(stack_db_url $CDB) application_name=ceiling" >/dev/null 2>&1 </dev/null ||
	    return 1
	sleep 0.3
}
ceiling_front() {	# lighttpd for the ceiling; a ceiling must answer its probe
	ceiling_start fixed 2 || die "ceiling"
	mkdir -p "$RUNDIR/lighttpd-$CHTTP/www"
	stack_lighttpd_start_conf "$AUTHZ_CONF" "$CHTTP" "$CFCGI" || die "lighttpd for the ceiling"
	LIGHTTPD_PIDFILE=$RUNDIR/lighttpd-$CHTTP/lighttpd.pid
}
ceiling_front_stop() {
	stack_kill_wait "$(cat "$RUNDIR/lighttpd-$CHTTP/lighttpd.pid" 2>/dev/null)" lighttpd 10
}
ceiling_warm() {	# every process connected and prepared
	local d=$DUR
	DUR=2
	RUNMETA="group=warmup endpoint=insert procs=$BEST_N"
	wrk_run ceilwarm fixed.lua /dev/null 64 "http://127.0.0.1:$CHTTP" BENCH_POST=1 >/dev/null
	DUR=$d
}

# (b) first: the sweep over 2/4/8/16 processes, then c=16 and c=64.
BEST_N=4
if [ $PERF = 0 ]; then
SERVER=ceiling
ceiling_front
say "ceiling (b): ceiling.c --mode insert (32 random bytes, SHA-256, one INSERT), process sweep at c=64"
BEST_N=4 BEST_RPS=0
if [ $QUICK = 0 ]; then
	DUR_SAVE=$DUR DUR=$SWEEP_DUR
	for n in 2 4 8 16; do
		ceiling_start insert "$n" || die "ceiling insert"
		RUNMETA="group=ceiling_b_sweep endpoint=insert procs=$n"
		wrk_run "ceilsweep_$n" fixed.lua /dev/null 64 "http://127.0.0.1:$CHTTP" BENCH_POST=1
		rps=$(grep "label=ceilsweep_$n " "$RUNDIR/records.txt" | grep -o ' rps=[0-9.]*' | cut -d= -f2)
		record "SWEEP procs=$n rps=$rps"
		if awk -v a="$rps" -v b="$BEST_RPS" 'BEGIN { exit !(a > b) }'; then
			BEST_N=$n BEST_RPS=$rps
		fi
	done
	DUR=$DUR_SAVE
fi
record "SWEEP best=$BEST_N"
say "  best: $BEST_N processes"
ceiling_start insert "$BEST_N" || die "ceiling insert"
for c in $CONCS; do
	RUNMETA="group=ceiling_b endpoint=insert procs=$BEST_N"
	wrk_run "ceilb1_$c" fixed.lua /dev/null "$c" "http://127.0.0.1:$CHTTP" BENCH_POST=1
done
ceiling_stop
ceiling_front_stop
fi

# ------------------------------------------------------- 3. tokend runs
SERVER=tokend
mkdir -p "$RUNDIR/lighttpd-$HTTP/www/app"
echo ok >"$RUNDIR/lighttpd-$HTTP/www/app/ok.txt"
chmod -R a+rX "$RUNDIR/lighttpd-$HTTP"
tokend_start $WORKERS $THREADS || die "tokend"
stack_lighttpd_start_conf "$AUTHZ_CONF" "$HTTP" "$FCGI" || die "lighttpd"
LIGHTTPD_PIDFILE=$RUNDIR/lighttpd-$HTTP/lighttpd.pid
say "tokend on 127.0.0.1:$FCGI (workers=$WORKERS threads=$THREADS log_level=warn), lighttpd on 127.0.0.1:$HTTP"
# Warm up: every connection open, every statement prepared on each.
warm_up() {	# warm_up POOL
	RUNMETA="group=warmup endpoint=warmup workers=$TK_WORKERS threads=$TK_THREADS"
	local d=$DUR
	DUR=3
	wrk_run "$1" mixed.lua "$RUNDIR/data/$1.txt" 64 "http://127.0.0.1:$HTTP" >/dev/null
	DUR=$d
}
warm_up warm
record "RSSFLAT at=after_warmup workers=$TK_WORKERS rss_kib=$(rss_list) served=$(served)"
rt_begin $DB
tokend_group short "$PAT_SHORT" short.lua short
tokend_group long "$PAT_LONG" long.lua long
tokend_group rotate "$PAT_ROTATE" rotate.lua rotate
tokend_group revoke "$PAT_REVOKE" revoke.lua revoke
tokend_group mixed "$PAT_MIXED" mixed.lua mixed
if [ $PERF = 1 ]; then
	say "perf profiles written: $DEST/perf-*.txt"
	exit 0
fi
say "healthz (no database)"
for c in $CONCS; do
	RUNMETA="group=tokend endpoint=healthz workers=$TK_WORKERS threads=$TK_THREADS"
	wrk_run "healthz_$c" fixed.lua /dev/null "$c" "http://127.0.0.1:$HTTP"
done
rt_mark $DB
export BENCH_CYCLE=1	# the authorizer only reads: its tokens may come again
tokend_group authorizer "$PAT_AUTHZ" authz.lua authz
unset BENCH_CYCLE
record "RSSFLAT at=end workers=$TK_WORKERS rss_kib=$(rss_list) served=$(served)"

if [ $QUICK = 0 ]; then
	tokend_stop
	tokend_start $WORKERS_ALT $THREADS || die "tokend, $WORKERS_ALT workers"
	say "workers=$WORKERS_ALT"
	warm_up warm2
	record "RSSFLAT at=after_warmup workers=$TK_WORKERS rss_kib=$(rss_list) served=$(served)"
	for c in $CONCS; do
		RUNMETA="group=tokend endpoint=short workers=$TK_WORKERS threads=$TK_THREADS"
		wrk_run "shortw_$c" short.lua "$RUNDIR/data/shortw_$c.txt" "$c" "http://127.0.0.1:$HTTP"
	done
	for c in $CONCS; do
		RUNMETA="group=tokend endpoint=mixed workers=$TK_WORKERS threads=$TK_THREADS"
		wrk_run "mixedw_$c" mixed.lua "$RUNDIR/data/mixedw_$c.txt" "$c" "http://127.0.0.1:$HTTP"
	done
	for c in $CONCS; do rows_check "shortw_$c"; rows_check "mixedw_$c"; done
	record "RSSFLAT at=end workers=$TK_WORKERS rss_kib=$(rss_list) served=$(served)"
fi
tokend_stop
stack_kill_wait "$(cat "$RUNDIR/lighttpd-$HTTP/lighttpd.pid" 2>/dev/null)" lighttpd 10

# ------------------------------------------------------- 5. ceilings
# (a) and (b), at the end of the run; (b) also before the tokend runs
# (run_ceiling_b1 above): the ratios use the mean of the two, so that a
# change of the machine's load during the run shows.
SERVER=ceiling
ceiling_front
ceiling_start fixed 4 || die "ceiling"
say "ceiling (a): ceiling.c --mode fixed, 4 processes, behind lighttpd on 127.0.0.1:$CHTTP"
for c in $CONCS; do
	RUNMETA="group=ceiling_a endpoint=fixed procs=4"
	wrk_run "ceila_$c" fixed.lua /dev/null "$c" "http://127.0.0.1:$CHTTP"
done
say "ceiling (b) again, $BEST_N processes, with its round trips"
ceiling_start insert "$BEST_N" || die "ceiling insert"
ceiling_warm
rt_begin $CDB
for c in $CONCS; do
	RUNMETA="group=ceiling_b endpoint=insert procs=$BEST_N"
	wrk_run "ceilb_$c" fixed.lua /dev/null "$c" "http://127.0.0.1:$CHTTP" BENCH_POST=1
done
rt_end ceiling_b '^INSERT INTO tokens'
ceiling_stop
ceiling_front_stop

# (c) pgbench, tokend's own functions, each target once where it matters.
say "ceiling (c): pgbench -M prepared calling tokend's functions"
mkdir -p "$RUNDIR/pgb"
cat >"$RUNDIR/pgb/short.sql" <<-EOF
	\set n random(1, $P)
	SELECT r.outcome FROM bench_stage b, tokend_issue_short(b.id, b.digest, gen_random_uuid(), sha256(gen_random_uuid()::text::bytea), NULL, NULL, NULL, 'pgbench', '127.0.0.1') r WHERE b.pool = 'short_16' AND b.n = :n AND b.role = 'tok';
EOF
cat >"$RUNDIR/pgb/long.sql" <<-EOF
	\set n random(1, $NCLIENTS)
	SELECT r.outcome FROM bench_client c, tokend_issue_long(c.id, c.id, c.key_digest, gen_random_uuid(), sha256(gen_random_uuid()::text::bytea), NULL, NULL, NULL, 'pgbench', '127.0.0.1') r WHERE c.n = :n;
EOF
# Each client its own numbers: n = i * clients + client_id + 1.
cat >"$RUNDIR/pgb/rotate.sql" <<-EOF
	\set n :i * :nc + :client_id + 1
	\set i :i + 1
	SELECT r.outcome FROM bench_stage b JOIN clients c ON c.id = b.client_id, tokend_rotate(c.id, c.id, c.key_digest, NULL, NULL, b.id, gen_random_uuid(), sha256(gen_random_uuid()::text::bytea), NULL, NULL, NULL, 60, NULL, 'pgbench', '127.0.0.1') r WHERE b.pool = :pool AND b.n = :n AND b.role = 'tok';
EOF
cat >"$RUNDIR/pgb/revoke.sql" <<-EOF
	\set n :i * :nc + :client_id + 1
	\set i :i + 1
	SELECT r.outcome FROM bench_stage b JOIN tokens p ON p.id = b.parent_id, tokend_revoke('long', p.id, p.digest, b.id, 'pgbench', '127.0.0.1') r WHERE b.pool = :pool AND b.n = :n AND b.role = 'tok';
EOF
for ep in short long rotate revoke; do
	for c in $CONCS; do
		pool=pgb$c
		[ $ep = revoke ] && pool=pgb${c}_rev
		out=$RUNDIR/pgb/${ep}_$c
		rm -f "$out".log*
		"$PGBENCH" -h 127.0.0.1 -p "$PGPORT" -U postgres -n -M prepared -c "$c" -j 2 \
		    -T "$PGB_DUR" -D i=0 -D nc="$c" -D pool="$pool" -l --log-prefix="$out.log" \
		    -f "$RUNDIR/pgb/$ep.sql" $DB >"$out.txt" 2>&1 || { say "pgbench $ep c=$c failed"; tail -n 5 "$out.txt"; continue; }
		tps=$(sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p' "$out.txt")
		fail=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out.txt")
		lat=$(cat "$out".log* | awk '{ print $3 }' | sort -n | awk '{ a[NR] = $1 } END {
			printf "p50_us=%d p99_us=%d n=%d", a[int(NR * 0.5) + 1], a[int(NR * 0.99) + 1], NR }')
		record "PGB endpoint=$ep conc=$c tps=$tps failed=${fail:-0} $lat"
		printf '  pgbench %-7s c=%-3s %8.1f tps  %s\n' "$ep" "$c" "$tps" "$lat"
	done
done
# What pgbench's rotations and revocations changed (each target once).
record "PGBROWS $(qb "SELECT 'rotated=' || (SELECT count(*) FROM tokens t JOIN bench_stage b ON b.id = t.id AND b.pool LIKE 'pgb%' AND b.role = 'tok' WHERE t.rotated_at IS NOT NULL) || ' revoked=' || (SELECT count(*) FROM revocations WHERE request_id = 'pgbench')")"

# --------------------------------------------------------- 6. callgrind
# Instructions of the request thread (thread_main: accept, read, route,
# mint, the statement, JSON, write, log) for 200 and for 2,200 short-term
# issuances, each run a fresh tokend under callgrind; the difference over
# 2,000 is the cost of one request, without start-up, connection and
# PREPARE.  (vgdb, and so callgrind_control, hangs on this machine.)
if [ $CALLGRIND = 1 ]; then
	say "callgrind: instructions per short-term issuance, tokend --workers 0 --threads 1"
	SERVER=tokend
	CGF=$(stack_free_port) CGH=$(stack_free_port)
	while [ "$CGH" = "$CGF" ]; do CGH=$(stack_free_port); done
	CG=$RUNDIR/cg
	mkdir -p "$CG" "$RUNDIR/lighttpd-$CGH/www"
	chown "$STACK_WEBUSER:" "$CG"
	cg_tokend() {	# cg_tokend NAME [valgrind args...]: tokend --workers 0 on CGF
		local name=$1
		shift
		setpriv --reuid="$STACK_WEBUSER" --regid="$STACK_WEBUSER" --init-groups \
		    "$@" "$RUNDIR/bin/tokend" --workers 0 --threads 1 --pool-size 1 \
		    --listen "127.0.0.1:$CGF" --database-url "$(stack_db_url $DB)" \
		    --log-level warn --log-file "$CG/$name.log" \
		    >"$CG/$name.out" 2>&1 </dev/null &
		echo $! >"$RUNDIR/cg.pid"
		for _ in $(seq 1 300); do stack_port_busy "$CGF" && return 0; sleep 0.1; done
		return 1
	}
	drive() {	# drive FIRST LAST: short-term issuances, lines FIRST..LAST of cg.txt
		$PY - "$CGH" "$RUNDIR/data/cg.txt" "$1" "$2" <<-'EOF'
			import http.client, sys
			port, path, first, last = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
			toks = open(path).read().split()[first - 1:last]
			conn, bad = None, 0
			for t in toks:
			    for attempt in range(3):
			        try:
			            if conn is None:
			                conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=60)
			            conn.request("POST", "/v1/auth/tokens/short", body="{}", headers={
			                "Authorization": "Bearer " + t, "Content-Type": "application/json"})
			            r = conn.getresponse(); r.read()
			            if r.status != 201: bad += 1
			            if r.getheader("Connection", "").lower() == "close":
			                conn.close(); conn = None
			            break
			        except (http.client.HTTPException, OSError):
			            conn = None
			print(bad)
		EOF
	}
	# lighttpd's start-up probes go to a plain tokend, never counted.
	cg_ok=0
	if cg_tokend plain && stack_lighttpd_start "$CGH" "$CGF"; then
		cg_ok=1
	fi
	cg_stop
	cg_bad=0
	for run in 200:1:200 2200:201:2400; do
		IFS=: read -r n first last <<<"$run"
		[ $cg_ok = 1 ] || break
		if ! cg_tokend "cg$n" valgrind --tool=callgrind --collect-atstart=no \
		    --toggle-collect=thread_main --callgrind-out-file="$CG/callgrind.$n.%p"; then
			cg_ok=0
			break
		fi
		cg_pid=$(cat "$RUNDIR/cg.pid")
		cg_bad=$((cg_bad + $(drive "$first" "$last")))
		cg_stop
		f="$CG/callgrind.$n.$cg_pid"
		[ -s "$f" ] || { cg_ok=0; break; }
		declare "CG_TOTAL_$n=$(awk '/^(summary|totals):/ { print $2; exit }' "$f")"
		declare "CG_FILE_$n=$f"
	done
	if [ $cg_ok = 1 ]; then
		f=$CG_FILE_2200
		callgrind_annotate --inclusive=no "$f" 2>/dev/null | head -n 60 >"$CG/self.txt"
		callgrind_annotate --inclusive=yes "$f" 2>/dev/null | head -n 60 >"$CG/inclusive.txt"
		handler=$(awk '/tk_handler_serve/ { gsub(",", "", $1); print $1; exit }' "$CG/inclusive.txt")
		thread=$(awk '/thread_main/ { gsub(",", "", $1); print $1; exit }' "$CG/inclusive.txt")
		per=$(( (CG_TOTAL_2200 - CG_TOTAL_200) / 2000 ))
		record "CALLGRIND ir_per_request=$per total_200=$CG_TOTAL_200 total_2200=$CG_TOTAL_2200 requests=2200 thread_ir=${thread:-0} handler_ir=${handler:-0} failed=$cg_bad"
		if [ -z "$WHAT_IF" ]; then
			cp "$CG/self.txt" "$DEST/callgrind-self.txt"
			cp "$CG/inclusive.txt" "$DEST/callgrind-inclusive.txt"
		fi
		say "  $per instructions per request in the request thread; $(( ${handler:-0} / 2200 )) inside tk_handler_serve (failed requests: $cg_bad)"
	else
		say "  callgrind did not complete (see $CG/)"
	fi
	stack_kill_wait "$(cat "$RUNDIR/lighttpd-$CGH/lighttpd.pid" 2>/dev/null)" lighttpd 10
fi

# ------------------------------------------------------------ 7. results
record "META load_end=\"$(cut -d' ' -f1-3 /proc/loadavg)\" total_s=$((SECONDS - START))"
if [ -n "$WHAT_IF" ]; then
	# A what-if leaves tests/bench/ alone.
	$PY "$HERE/report.py" "$RUNDIR/records.txt" "$RUNDIR/results.json" "$RUNDIR/RESULTS.md" ||
	    die "report.py"
	say "done in $((SECONDS - START)) s (what-if $WHAT_IF): $RUNDIR/results.json, $RUNDIR/RESULTS.md"
	exit 0
fi
$PY "$HERE/report.py" "$RUNDIR/records.txt" "$DEST/results.json" "$DEST/RESULTS.md" ||
    die "report.py"
[ "$DEST" = "$RUNDIR" ] || cp "$DEST/results.json" "$RUNDIR/"
say "done in $((SECONDS - START)) s: $DEST/results.json, $DEST/RESULTS.md, $RUNDIR/bench.log"
