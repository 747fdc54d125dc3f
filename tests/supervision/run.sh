#!/usr/bin/env bash
# tests/supervision/run.sh - the prefork master under real faults, through
# lighttpd: a worker killed under load, SIGHUP replacing every worker,
# max_requests recycling, SIGTERM draining a request in flight, and a
# database missing at start that tokend recovers from by itself.
#
# Needs a running cluster and installed binaries, as tests/run.sh has
# them: RUNDIR, PGPORT and STACK_BIN in the environment.  Prints one line
# per check and a final "N passed, N failed"; exits non-zero on failure.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../lib/stack.sh
. "$ROOT/tests/lib/stack.sh"
: "${RUNDIR:?}" "${PGPORT:?}" "${STACK_BIN:?}"
: "${STACK_SQL_DIR:=$(dirname "$STACK_BIN")/share/sql}"
RUNDIR=$RUNDIR/supervision
mkdir -p "$RUNDIR"
chmod 755 "$RUNDIR"

# shellcheck source=../lib/checks.sh
. "$ROOT/tests/lib/checks.sh"
trap 'stack_stop_servers; stack_db_drop sup >/dev/null 2>&1; stack_db_drop sup_late >/dev/null 2>&1' EXIT

DB=sup
stack_db_drop $DB >/dev/null 2>&1
stack_db_create $DB >/dev/null || { echo "could not create database"; exit 1; }
URL=$(stack_db_url $DB)
read -r CLIENT_ID CLIENT_KEY < <("$STACK_BIN/tokenctl" --admin-database-url "$URL" \
    client create --name supervision --scope "read tokend:rotate" --default-scope read |
    awk '/^client_id:/ {id=$2} /^client_key:/ {key=$2} END {print id, key}')

# workers MASTER_PID: the pids of its request workers, sorted.
workers() { pgrep -P "$1" -x tokend-worker | sort -n | tr '\n' ' '; }

# long_token BASE: print a fresh long-term token.
long_token() {
	curl -s -X POST "$1/auth/tokens/long" -H 'Content-Type: application/json' \
	    -H "X-Client-Key: $CLIENT_KEY" \
	    -d "{\"grant_type\":\"client_credentials\",\"client_id\":\"$CLIENT_ID\"}" |
	    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["long_token"])'
}

# load BASE TOKEN SECONDS OUT: short-term tokens in a loop from 4 clients,
# one status code per line in OUT.  Bounded by SECONDS.
load() {
	local base=$1 tok=$2 secs=$3 out=$4 end
	end=$((SECONDS + secs))
	: >"$out"
	for _ in 1 2 3 4; do
		(while [ $SECONDS -lt $end ]; do
			curl -s -o /dev/null -w '%{http_code}\n' --max-time 10 -X POST \
			    "$base/auth/tokens/short" -H "Authorization: Bearer $tok" \
			    -H 'Content-Type: application/json' -d '{}' >>"$out"
		done) &
	done
	wait
}
count_not() { grep -cv "^$1\$" "$2"; }

FCGI=$(stack_free_port); HTTP=$(stack_free_port)
stack_tokend_start $DB "$FCGI" --workers 2 --threads 4 --shutdown-timeout 10 >/dev/null &&
    stack_lighttpd_start "$HTTP" "$FCGI" >/dev/null ||
    { echo "could not start tokend and lighttpd"; exit 1; }
BASE=http://127.0.0.1:$HTTP/v1
MASTER=$(cat "$RUNDIR/$DB.pid")
LOG=$RUNDIR/$DB.log
TOK=$(long_token "$BASE")

# 1. A worker killed with SIGKILL under load is replaced at once.
before=$(workers "$MASTER")
victim=${before%% *}
load "$BASE" "$TOK" 3 "$RUNDIR/load1" &
loader=$!
sleep 1
kill -KILL "$victim"
sleep 0.5
after=$(workers "$MASTER")
wait $loader
check "a killed worker is replaced within 0.5 s ($before-> $after)" \
    test "$(echo "$after" | wc -w)" -eq 2 -a "${after/$victim /}" = "$after"
check "the master logs the death with its signal" \
    grep -q "worker $victim killed by signal 9" "$LOG"
bad=$(count_not 201 "$RUNDIR/load1")
total=$(wc -l <"$RUNDIR/load1")
# Only requests inside the killed worker at that instant may fail.
check "requests on other workers unaffected ($bad of $total failed, at most 4 may)" \
    test "$bad" -le 4 -a "$total" -gt 20

# 2. SIGHUP replaces every worker, one by one, without a failed request.
before=$(workers "$MASTER")
load "$BASE" "$TOK" 3 "$RUNDIR/load2" &
loader=$!
sleep 1
kill -HUP "$MASTER"
wait $loader
after=$(workers "$MASTER")
common=$(comm -12 <(tr ' ' '\n' <<<"$before" | sed '/^$/d') <(tr ' ' '\n' <<<"$after" | sed '/^$/d') | wc -l)
check "SIGHUP changes every worker pid ($before-> $after)" \
    test "$common" -eq 0 -a "$(echo "$after" | wc -w)" -eq 2
bad=$(count_not 201 "$RUNDIR/load2")
check "no request fails during SIGHUP ($bad of $(wc -l <"$RUNDIR/load2"))" test "$bad" -eq 0

# 3. SIGTERM drains: a request waiting on a row lock completes, then exit.
TOKEN_ID=$(curl -s -X POST "$BASE/auth/tokens/long" -H 'Content-Type: application/json' \
    -H "X-Client-Key: $CLIENT_KEY" \
    -d "{\"grant_type\":\"client_credentials\",\"client_id\":\"$CLIENT_ID\"}" |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["token_id"])')
stack_psql $DB -c "BEGIN; SELECT 1 FROM tokens WHERE id = '$TOKEN_ID' FOR UPDATE; SELECT pg_sleep(2); COMMIT;" >/dev/null &
locker=$!
sleep 0.3
curl -s -o "$RUNDIR/rotate.out" -w '%{http_code}' --max-time 15 -X POST "$BASE/auth/tokens/long" \
    -H 'Content-Type: application/json' -H "X-Client-Key: $CLIENT_KEY" \
    -d "{\"grant_type\":\"rotate\",\"client_id\":\"$CLIENT_ID\",\"token_id\":\"$TOKEN_ID\"}" \
    >"$RUNDIR/rotate.code" &
rotator=$!
sleep 0.5
t0=$SECONDS
kill -TERM "$MASTER"
wait $rotator $locker
for _ in $(seq 1 150); do stack_pid_is "$MASTER" tokend || break; sleep 0.1; done
check "the request in flight at SIGTERM completes (HTTP $(cat "$RUNDIR/rotate.code"))" \
    test "$(cat "$RUNDIR/rotate.code")" = 201
check "the master exits after the drain, within shutdown_timeout" \
    eval '! stack_pid_is "$MASTER" tokend && [ $((SECONDS - t0)) -le 10 ]'
check "no worker outlives the master" test -z "$(pgrep -x tokend-worker -P 1 || true)$(pgrep -P "$MASTER" || true)"
stack_stop_servers

# 4. max_requests recycles a worker without failing a request.
FCGI=$(stack_free_port); HTTP=$(stack_free_port)
STACK_DB=$DB stack_tokend_start recycle "$FCGI" --workers 1 --threads 1 --max-requests 5 >/dev/null &&
    stack_lighttpd_start "$HTTP" "$FCGI" >/dev/null
BASE=http://127.0.0.1:$HTTP/v1
codes=$(for _ in $(seq 1 20); do
	curl -s -o /dev/null -w '%{http_code} ' -X POST "$BASE/auth/tokens/short" \
	    -H "Authorization: Bearer $TOK" -H 'Content-Type: application/json' -d '{}'
done)
check "20 requests through a worker recycled every 5 all succeed ($codes)" \
    test "$(tr ' ' '\n' <<<"$codes" | grep -c '^201$')" -eq 20
check "the worker was replaced at least 3 times" \
    test "$(grep -c 'max_requests reached' "$RUNDIR/recycle.log")" -ge 3
stack_stop_servers

# 5. The database missing at start: 503 with Retry-After, then recovery
# with no restart once it exists.
FCGI=$(stack_free_port); HTTP=$(stack_free_port)
stack_db_drop sup_late >/dev/null 2>&1
STACK_DB=sup_late stack_tokend_start late "$FCGI" --workers 1 >/dev/null &&
    stack_lighttpd_start "$HTTP" "$FCGI" >/dev/null
BASE=http://127.0.0.1:$HTTP/v1
head=$(curl -s -D - -o /dev/null -X POST "$BASE/auth/tokens/short" -H "Authorization: Bearer $TOK" -d '')
check "database missing: 503" grep -q '^HTTP/1.1 503' <<<"$head"
check "database missing: Retry-After" grep -qi '^Retry-After: 1' <<<"$head"
check "tokend is still running" stack_pid_is "$(cat "$RUNDIR/late.pid")" tokend
stack_db_create sup_late >/dev/null
"$STACK_BIN/tokenctl" --admin-database-url "$(stack_db_url sup_late)" client create \
    --name late --scope read >"$RUNDIR/late.client"
CLIENT_ID=$(awk '/^client_id:/ {print $2}' "$RUNDIR/late.client")
CLIENT_KEY=$(awk '/^client_key:/ {print $2}' "$RUNDIR/late.client")
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$BASE/auth/tokens/long" \
    -H 'Content-Type: application/json' -H "X-Client-Key: $CLIENT_KEY" \
    -d "{\"grant_type\":\"client_credentials\",\"client_id\":\"$CLIENT_ID\"}")
check "database back: 201 with no restart (HTTP $code)" test "$code" = 201

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
