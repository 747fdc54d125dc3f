#!/usr/bin/env bash
# tests/limits/run.sh - tokend's request limits through the real stack,
# each check naming the layer that enforced it: the size of the headers
# (tokend's max_header_bytes against lighttpd's and Apache's own), the
# shape of a JSON body (max_json_depth, max_json_members,
# max_string_bytes, and a SIGHUP that changes one), and time: a body that
# stops arriving (tokend's request_timeout through Apache and through a
# streaming lighttpd; lighttpd's own timeout when it buffers), and more
# slow clients than tokend has threads while fast clients keep calling.
# Body size is tests/ops/run.sh's ("body and header limits").
#
# Under tests/run.sh it gets the cluster and binaries in RUNDIR, PGPORT,
# STACK_BIN (and STACK_SQL_DIR) and works in RUNDIR/limits.  Run alone,
# it builds build/limits and starts its own cluster in
# /var/tmp/limits-PID, removed at the end.  Prints one line per check and
# a final "N passed, N failed"; exits non-zero on failure.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/tests/limits
# shellcheck source=../lib/stack.sh
. "$ROOT/tests/lib/stack.sh"

OWN=0
if [ -z "${RUNDIR:-}" ] || [ -z "${PGPORT:-}" ] || [ -z "${STACK_BIN:-}" ]; then
	OWN=1
	RUNDIR=/var/tmp/limits-$$
	stack_deps >/dev/null || { echo "could not install dependencies"; exit 1; }
	stack_build "$ROOT/build/limits" -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
	    stack_install && PGPORT=$(stack_free_port) && stack_pg_start >/dev/null ||
	    { echo "could not build or start a cluster"; exit 1; }
else
	: "${STACK_SQL_DIR:=$(dirname "$STACK_BIN")/share/sql}"
	RUNDIR=$RUNDIR/limits
	mkdir -p "$RUNDIR"
	chmod 755 "$RUNDIR"
fi
export RUNDIR PGPORT STACK_BIN STACK_SQL_DIR

# shellcheck source=../lib/checks.sh
. "$ROOT/tests/lib/checks.sh"
finish() {
	if [ $OWN = 1 ]; then
		stack_stop
		rm -rf "$RUNDIR"
	else
		stack_stop_servers
		stack_db_drop limits >/dev/null 2>&1
	fi
}
trap finish EXIT

DB=limits
stack_db_drop $DB >/dev/null 2>&1
stack_db_create $DB >/dev/null || { echo "could not create database"; exit 1; }
read -r CLIENT_ID CLIENT_KEY < <("$STACK_BIN/tokenctl" --admin-database-url "$(stack_db_url $DB)" \
    client create --name limits --scope "read write" --default-scope read |
    awk '/^client_id:/ {id=$2} /^client_key:/ {key=$2} END {print id, key}')

# rows: tokens and audit rows, to show that a refused request wrote nothing.
rows() { stack_psql $DB -Atc "SELECT (SELECT count(*) FROM tokens) || '/' || (SELECT count(*) FROM token_events)"; }

# problem FILE STATUS ERROR TEXT: FILE holds headers then a problem+json
# body of that status and error code whose detail contains TEXT, with
# the same request id in the body as in X-Request-Id.
problem() {
	/usr/bin/python3 - "$@" <<'EOF'
import json, re, sys
raw = open(sys.argv[1], "rb").read().decode("utf-8", "replace")
head, _, body = raw.partition("\r\n\r\n")
status = re.match(r"HTTP/1\.[01] (\d+)", head)
ctype = re.search(r"(?im)^content-type: *([^\r\n;]+)", head)
rid = re.search(r"(?im)^x-request-id: *(\S+)", head)
try:
    p = json.loads(body)
except ValueError:
    sys.exit("not JSON: %.200s" % body)
ok = (status and status.group(1) == sys.argv[2] and ctype and
      ctype.group(1).strip() == "application/problem+json" and
      p.get("status") == int(sys.argv[2]) and p.get("error") == sys.argv[3] and
      p.get("type") == "urn:tokend:problem:" + sys.argv[3] and
      sys.argv[4] in p.get("detail", "") and rid and
      p.get("request_id") == rid.group(1))
if not ok:
    sys.exit("unexpected answer: %s %s" % (head.splitlines()[0] if head else "", body[:300]))
EOF
}
from_tokend() { grep -qi '^x-request-id:' "$1"; }
status_of() { sed -n '1s/^HTTP\/1\.[01] \([0-9]*\).*/\1/p' "$1"; }

# pad N: N bytes of "p".
pad() { head -c "$1" /dev/zero | tr '\0' p; }

# Generated front-end configs: the shipped ones with one limit changed.
gen() {	# gen SRC OUT SED-EXPR...
	local src=$1 out=$2
	shift 2
	sed "$@" "$src" >"$out"
}

T=$RUNDIR/tmp
mkdir -p "$T"

# ------------------------------------------------------------ front ends
# tokend "front": default max_header_bytes (16384) and max_json_depth
# (8); max_json_members and max_string_bytes from its config file, so
# that a SIGHUP can change them.
CONF=$RUNDIR/front.conf
printf 'max_json_members = 4\nmax_string_bytes = 128\n' >"$CONF"
chmod 644 "$CONF"
FCGI=$(stack_free_port)
L=$(stack_free_port) A=$(stack_free_port) LR=$(stack_free_port) AR=$(stack_free_port)
gen "$ROOT/deploy/lighttpd/tokend.conf" "$T/lighttpd-raised.conf" \
    -e 's/^server\.max-request-field-size .*/server.max-request-field-size = 32768/'
gen "$ROOT/deploy/apache/tokend.conf" "$T/apache-raised.conf" \
    -e 's/^LimitRequestFieldSize .*/LimitRequestFieldSize 32768/'
if ! { STACK_DB=$DB stack_tokend_start front "$FCGI" --workers 1 --threads 4 --config "$CONF" >/dev/null &&
    stack_lighttpd_start "$L" "$FCGI" >/dev/null && stack_apache_start "$A" "$FCGI" >/dev/null &&
    stack_lighttpd_start_conf "$T/lighttpd-raised.conf" "$LR" "$FCGI" >/dev/null &&
    stack_apache_start_conf "$T/apache-raised.conf" "$AR" "$FCGI" >/dev/null; }; then
	echo "could not start tokend with lighttpd and Apache"
	exit 1
fi
check "the raised configs differ from the shipped ones in their limit only" \
    eval 'grep -q "^server.max-request-field-size = 32768" "$RUNDIR/lighttpd-$LR/lighttpd.conf" &&
        grep -q "^LimitRequestFieldSize 32768" "$RUNDIR/apache-$AR/apache.conf"'

# ------------------------------------------------------------ headers
# tokend counts every HTTP_* parameter as FastCGI carries it (NAME=value).
# With no User-Agent or Accept, curl sends Host and the padding headers
# only, so the total is known: HTTP_HOST=127.0.0.1:PORT, HTTP_X_A=...,
# HTTP_X_B=...  Two headers, because Apache's mod_proxy_fcgi cannot pass
# one parameter longer than its 16 KiB buffer (see below).
# hget PORT OUT HEADER-VALUES...: GET /v1/healthz with X-A, X-B, X-C...
hget() {
	local port=$1 out=$2 args=() names=(A B C D) i=0
	shift 2
	for v in "$@"; do
		args+=(-H "X-${names[i]}: $v")
		i=$((i + 1))
	done
	curl -s -D "$out" -o "$out.body" --max-time 15 -H 'User-Agent:' -H 'Accept:' \
	    "${args[@]}" "http://127.0.0.1:$port/v1/healthz" >/dev/null
	cat "$out.body" >>"$out"
}
A8000=$(pad 8000)
for front in lighttpd Apache; do
	if [ $front = lighttpd ]; then
		port=$LR layer="lighttpd's server.max-request-field-size raised to 32768"
	else
		port=$AR layer="Apache's LimitRequestFieldSize raised to 32768"
	fi
	host="HTTP_HOST=127.0.0.1:$port"
	xa=HTTP_X_A=
	fit=$((16384 - ${#host} - ${#A8000} - 2 * ${#xa}))
	hget "$port" "$T/h" "$A8000" "$(pad $fit)"
	check "$front ($layer): headers of exactly 16384 bytes pass tokend's max_header_bytes: $(status_of "$T/h")" \
	    eval '[ "$(status_of "$T/h")" = 200 ] && from_tokend "$T/h"'
	hget "$port" "$T/h" "$A8000" "$(pad $((fit + 1)))"
	check "$front ($layer): 16385 bytes get tokend's max_header_bytes: 400 invalid_request naming the limit" \
	    problem "$T/h" 400 invalid_request "larger than 16384 bytes (max_header_bytes)"
done
# Apache's mod_proxy_fcgi drops one parameter that does not fit its
# 16 KiB buffer, with a warning in its own log and nothing to the client.
hget "$AR" "$T/h" "$(pad 20000)"
check "Apache (LimitRequestFieldSize 32768): one 20000-byte header is dropped by mod_proxy_fcgi (AH02536), so tokend never sees it: $(status_of "$T/h")" \
    eval '[ "$(status_of "$T/h")" = 200 ] && grep -q "AH02536.*HTTP_X_A" "$RUNDIR/apache-$AR/apache-error.log"'
# The shipped configs: lighttpd's limit is a total, Apache's is per field.
B6000=$(pad 6000)
hget "$L" "$T/h" "$B6000" "$B6000"
check "lighttpd (shipped): two 6000-byte headers get lighttpd's 431 (server.max-request-field-size = 8192, all headers): $(status_of "$T/h")" \
    eval '[ "$(status_of "$T/h")" = 431 ] && ! from_tokend "$T/h"'
hget "$A" "$T/h" "$B6000" "$B6000"
check "Apache (shipped): two 6000-byte headers pass LimitRequestFieldSize 8190 (per field) and tokend: $(status_of "$T/h")" \
    eval '[ "$(status_of "$T/h")" = 200 ] && from_tokend "$T/h"'
hget "$A" "$T/h" "$B6000" "$B6000" "$B6000"
check "Apache (shipped): three 6000-byte headers get tokend's max_header_bytes, the only total limit behind Apache" \
    problem "$T/h" 400 invalid_request "(max_header_bytes)"
# Before the body's checks and the database: a valid request, refused.
before=$(rows)
curl -s -D "$T/h" -o "$T/h.body" --max-time 15 -X POST "http://127.0.0.1:$LR/v1/auth/tokens/long" \
    -H 'Content-Type: application/json' -H "X-Client-Key: $CLIENT_KEY" \
    -H "X-A: $A8000" -H "X-B: $A8000" -H "X-C: $(pad 1000)" \
    -d "{\"grant_type\":\"client_credentials\",\"client_id\":\"$CLIENT_ID\"}"
cat "$T/h.body" >>"$T/h"
check "lighttpd (raised): a valid POST /long with 17 KB of headers gets tokend's max_header_bytes and writes nothing (rows $before -> $(rows))" \
    eval 'problem "$T/h" 400 invalid_request "(max_header_bytes)" && [ "$(rows)" = "$before" ]'

# ------------------------------------------------------------ JSON shape
# plong PORT OUT BODY: POST /long with the client key; headers and body in OUT.
plong() {
	curl -s -D "$1" -o "$1.body" --max-time 15 -X POST "http://127.0.0.1:$2/v1/auth/tokens/long" \
	    -H 'Content-Type: application/json' -H "X-Client-Key: $CLIENT_KEY" -d "$3" >/dev/null
	cat "$1.body" >>"$1"
}
CC="\"grant_type\":\"client_credentials\",\"client_id\":\"$CLIENT_ID\""
nest() { printf '%*s' "$1" '' | tr ' ' '['; printf '%*s' "$1" '' | tr ' ' ']'; }
for front in lighttpd Apache; do
	[ $front = lighttpd ] && port=$L || port=$A
	before=$(rows)
	plong "$T/j" "$port" "{$CC,\"label\":\"four\",\"scope\":\"read\"}"
	check "$front: 4 members (max_json_members = 4) pass tokend's scanner: $(status_of "$T/j")" \
	    test "$(status_of "$T/j")" = 201
	before=$(rows)
	plong "$T/j" "$port" "{$CC,\"label\":\"five\",\"scope\":\"read\",\"ttl_seconds\":60}"
	check "$front: 5 members get tokend's max_json_members 400, nothing written (rows $before -> $(rows))" \
	    eval 'problem "$T/j" 400 invalid_request "more than 4 members at offset 0 (max_json_members)" &&
	        [ "$(rows)" = "$before" ]'
	plong "$T/j" "$port" "{$CC,\"label\":\"$(pad 128)\"}"
	check "$front: a 128-byte string (max_string_bytes = 128) passes tokend's scanner: $(status_of "$T/j")" \
	    test "$(status_of "$T/j")" = 201
	before=$(rows)
	plong "$T/j" "$port" "{$CC,\"label\":\"$(pad 129)\"}"
	check "$front: a 129-byte string gets tokend's max_string_bytes 400, nothing written (rows $before -> $(rows))" \
	    eval 'problem "$T/j" 400 invalid_request "longer than 128 bytes" &&
	        grep -q "(max_string_bytes)" "$T/j" && [ "$(rows)" = "$before" ]'
	# Depth 8 (the object and 7 arrays) passes the scanner, so what
	# answers is the member's type; depth 9 is the limit's refusal.
	before=$(rows)
	plong "$T/j" "$port" "{$CC,\"label\":$(nest 7)}"
	check "$front: depth 8 (max_json_depth = 8) passes the depth check: the answer is label's type" \
	    eval 'problem "$T/j" 400 invalid_request "label must be a string" && [ "$(rows)" = "$before" ]'
	plong "$T/j" "$port" "{$CC,\"label\":$(nest 8)}"
	check "$front: depth 9 gets tokend's max_json_depth 400, nothing written (rows $before -> $(rows))" \
	    eval 'problem "$T/j" 400 invalid_request "deeper than 8 levels" &&
	        grep -q "(max_json_depth)" "$T/j" && [ "$(rows)" = "$before" ]'
done
# SIGHUP re-reads the file: new workers take the new limit.
printf 'max_json_members = 5\nmax_string_bytes = 128\n' >"$CONF"
kill -HUP "$(cat "$RUNDIR/front.pid")"
code=
for _ in $(seq 1 50); do
	plong "$T/j" "$L" "{$CC,\"label\":\"five\",\"scope\":\"read\",\"ttl_seconds\":60}"
	code=$(status_of "$T/j")
	[ "$code" = 201 ] && break
	sleep 0.2
done
check "after SIGHUP with max_json_members = 5 in the file, the 5-member body passes tokend: $code" \
    test "$code" = 201
stack_stop_servers

# ------------------------------------------------------------ time
# tokend "slow": 1 worker, 2 threads, request_timeout 2 s.  In front:
# the shipped Apache (streams bodies; mod_reqtimeout body=10), lighttpd
# with server.stream-request-body = 2 (streams), and the shipped
# lighttpd with only server.max-read-idle lowered from 30 to 4 s (it
# buffers the whole body before tokend sees the request).
FCGI=$(stack_free_port)
A=$(stack_free_port) LS=$(stack_free_port) LB=$(stack_free_port)
gen "$ROOT/deploy/lighttpd/tokend.conf" "$T/lighttpd-stream.conf" \
    -e 's/^server\.max-request-size .*/&\nserver.stream-request-body = 2/'
gen "$ROOT/deploy/lighttpd/tokend.conf" "$T/lighttpd-idle.conf" \
    -e 's/^server\.max-read-idle .*/server.max-read-idle           = 4/'
if ! { STACK_DB=$DB stack_tokend_start slow "$FCGI" --workers 1 --threads 2 --request-timeout 2 >/dev/null &&
    stack_apache_start "$A" "$FCGI" >/dev/null &&
    stack_lighttpd_start_conf "$T/lighttpd-stream.conf" "$LS" "$FCGI" >/dev/null &&
    stack_lighttpd_start_conf "$T/lighttpd-idle.conf" "$LB" "$FCGI" >/dev/null; }; then
	not_ok "tokend (request_timeout 2) with Apache and two lighttpd configs start"
	echo "$passed passed, $failed failed"
	exit 1
fi
LOG=$RUNDIR/slow.log
cutoffs() { grep -c 'request body cut off' "$LOG"; }
busy() {	# tokend's busy threads, the /status request itself included
	curl -s --max-time 10 "http://127.0.0.1:$1/v1/status" |
	    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["busy"])'
}
slow() { /usr/bin/python3 "$HERE/slowbody.py" "$@"; }
field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" <<<"$2"; }

# lighttpd streaming: tokend's cut-off reaches the stalled client.
n0=$(cutoffs)
out=$(slow "$LS" /v1/auth/tokens/short --length 100 --send 10 --stall 5 --wait 8 --body-out "$T/s.body")
rid=$(field request_id "$out")
check "lighttpd (stream-request-body = 2): a body stalled past request_timeout gets tokend's 400 after ~2 s ($out)" \
    eval '[ "$(field status "$out")" = 400 ] && grep -q "did not arrive within request_timeout" "$T/s.body" &&
        awk -v e="$(field elapsed "$out")" "BEGIN { exit !(e >= 1.5 && e < 5) }"'
check "lighttpd (stream-request-body = 2): tokend logged the cut-off with that request id" \
    grep -q "request body cut off.*request_id=$rid" "$LOG"
check "lighttpd (stream-request-body = 2): tokend's threads are free again (busy $(busy "$LS") of 2, the /status request itself)" \
    test "$(busy "$LS")" = 1

# A body trickled in, a byte every 0.5 s, never idle long enough for
# any one read to time out: tokend's request_timeout bounds the whole
# body, so it is cut off at ~2 s all the same.
out=$(slow "$LS" /v1/auth/tokens/short --length 100 --send 10 --trickle 0.5 --stall 12 --wait 12)
check "lighttpd (stream-request-body = 2): a body trickled a byte every 0.5 s gets tokend's 400 after ~2 s: request_timeout bounds the whole body ($out)" \
    eval '[ "$(field status "$out")" = 400 ] &&
        awk -v e="$(field elapsed "$out")" "BEGIN { exit !(e >= 1.5 && e < 5) }"'

# Apache: tokend cuts the body off at request_timeout and frees its
# thread; Apache, still reading the client, answers it itself.
n0=$(cutoffs)
slow "$A" /v1/auth/tokens/short --length 100 --send 10 --stall 14 --wait 14 >"$T/apache-slow" &
client=$!
sleep 3.5
n1=$(cutoffs)
b=$(busy "$A")
check "Apache: tokend logged its request_timeout cut-off while the client still stalls ($n0 -> $n1)" \
    test "$n1" -eq $((n0 + 1))
check "Apache: tokend's thread is free again while Apache still holds the client (busy $b of 2, the /status request itself)" \
    test "$b" = 1
wait $client
out=$(cat "$T/apache-slow")
check "Apache: the stalled client gets Apache's own 408 from mod_reqtimeout (body=10), not tokend's answer ($out)" \
    eval '[ "$(field status "$out")" = 408 ] && [ "$(field request_id "$out")" = - ] &&
        awk -v e="$(field elapsed "$out")" "BEGIN { exit !(e >= 8) }"'

# The shipped lighttpd buffers the body: tokend never sees the request,
# and lighttpd's own idle timeout ends it.
lines0=$(grep -c 'path=/v1/auth/tokens/short' "$LOG")
slow "$LB" /v1/auth/tokens/short --length 100 --send 10 --stall 9 --wait 9 >"$T/idle-slow" &
client=$!
sleep 2.5
b=$(busy "$LB")
wait $client
out=$(cat "$T/idle-slow")
check "lighttpd (buffering, as shipped): while the body stalls no tokend thread is held (busy $b of 2, the /status request itself)" \
    test "$b" = 1
check "lighttpd (buffering): lighttpd's server.max-read-idle (4 s here, 30 s shipped) closes the connection, no answer ($out)" \
    eval '[ "$(field status "$out")" = none ] && [ "$(field closed "$out")" = yes ] &&
        awk -v e="$(field elapsed "$out")" "BEGIN { exit !(e >= 3.5 && e < 9) }"'
check "lighttpd (buffering): the request never reached tokend (no log line for it)" \
    test "$(grep -c 'path=/v1/auth/tokens/short' "$LOG")" -eq "$lines0"

# More slow clients than threads: 6 stalled bodies through Apache against
# 2 threads, while one client keeps asking for short-term tokens.  Each
# stalled body holds a thread for request_timeout (2 s), so the queue
# drains 2 at a time: a fast request waits at most ceil(6 / 2) x 2 s,
# plus slack for a loaded machine.
TOK=$(curl -s --max-time 15 -X POST "http://127.0.0.1:$A/v1/auth/tokens/long" \
    -H 'Content-Type: application/json' -H "X-Client-Key: $CLIENT_KEY" -d "{$CC}" |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["long_token"])')
n0=$(cutoffs)
pids=()
for i in 1 2 3 4 5 6; do
	slow "$A" /v1/auth/tokens/short --length 100 --send 10 --stall 13 --wait 13 >"$T/many-$i" &
	pids+=($!)
done
sleep 0.3
end=$((SECONDS + 8))
: >"$T/fast"
while [ $SECONDS -lt $end ]; do
	curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 20 -X POST \
	    "http://127.0.0.1:$A/v1/auth/tokens/short" -H "Authorization: Bearer $TOK" \
	    -H 'Content-Type: application/json' -d '{}' >>"$T/fast"
done
wait "${pids[@]}"
n1=$(cutoffs)
nfast=$(wc -l <"$T/fast")
bad=$(grep -cv '^201 ' "$T/fast")
worst=$(sort -k2 -n "$T/fast" | tail -n 1 | cut -d' ' -f2)
check "6 stalled bodies vs 2 threads: tokend's request_timeout cut off each of them ($((n1 - n0)) cut-offs)" \
    test $((n1 - n0)) -eq 6
check "6 stalled bodies vs 2 threads: every fast request still got 201 ($bad of $nfast did not)" \
    test "$bad" -eq 0 -a "$nfast" -ge 2
check "6 stalled bodies vs 2 threads: the slowest fast request waited ${worst}s, within ceil(6/2) x request_timeout + 4 s" \
    awk -v w="$worst" 'BEGIN { exit !(w > 0 && w <= 10) }'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
