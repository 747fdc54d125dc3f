#!/usr/bin/env bash
# tests/soak/valgrind.sh - tokend under valgrind's memcheck behind
# lighttpd, through one pass of the end-to-end suite; then SIGTERM, and
# every process's valgrind log must show no error and no definite leak.
#
#   RUNDIR=... PGPORT=... tests/soak/valgrind.sh
#
# Needs a running cluster on 127.0.0.1:PGPORT as tests/lib/stack.sh makes
# it (tests/run.sh --full passes its own), and root.  Works in
# RUNDIR/valgrind: its own database (soak_vg), binaries, logs.
#
#  1. builds tokend RelWithDebInfo, no sanitizer, in build/soak
#     (TOKEND_SOAK_PREBUILT=DIR: use the tokend and tokenctl built there)
#  2. tokend --workers 1 --threads 2 under spawn-fcgi, run by
#       valgrind --tool=memcheck --trace-children=yes --leak-check=full
#         --errors-for-leak-kinds=definite --error-exitcode=99
#         --suppressions=tests/valgrind.supp --log-file=vg.%p.log
#     (one log per process: master, worker, flusher), behind lighttpd
#     (deploy/lighttpd/tokend-authorizer.conf: the API under /v1/, and
#     /app/ behind tokend as a FastCGI authorizer)
#  3. tests/e2e/run.py --full against it, as tests/run.sh --full's
#     run_e2e runs it.
#     Valgrind makes tokend 20-50 times slower, so tokend gets a longer
#     request_timeout and pool_acquire_timeout_ms; the suite's own
#     timeouts (15 s per request) hold.  Its 503 case stops the cluster
#     only with TOKEND_E2E_ALLOW_DB_STOP=1 (as in tests/run.sh); without
#     it the case skips itself, and this script says so.
#  4. what the suite does not reach: the authorizer role (GET /app/ with
#     a token that opens it, none, one without the scope, a long-term
#     one, a revoked one) and POST /introspect, a few requests each
#  5. SIGTERM to the master: the worker drains and leaves through exit(),
#     valgrind writes each process's leak summary; then for every log:
#     "ERROR SUMMARY: 0 errors", no "definitely lost" above 0 bytes, a
#     summary at all (a process killed before it wrote one fails), and
#     the master reports its worker and flusher leaving with status 0
#     (99 would be valgrind's error exit code).
# Prints one line per check and "N passed, N failed"; exits non-zero on
# any failure.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
# shellcheck source-path=SCRIPTDIR source=../lib/stack.sh
. "$ROOT/tests/lib/stack.sh"
: "${RUNDIR:?RUNDIR is required: the run directory of the caller}" "${PGPORT:?PGPORT is required: a running cluster}"
PG_RUNDIR=$RUNDIR	# the cluster's (stack_pg_ctl_prefix)
RUNDIR=$RUNDIR/valgrind
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$ROOT/tests/soak/common.sh"

DB=soak_vg
NAME=vg
VGDIR=$RUNDIR/vglogs
E2E_TIMEOUT=${TOKEND_VALGRIND_E2E_TIMEOUT:-900}

cleanup() {
	soak_lighttpd_stop
	soak_tokend_stop $NAME 120 >/dev/null 2>&1
	stack_db_drop $DB >/dev/null 2>&1
}
trap cleanup EXIT
trap 'echo "interrupted"; exit 1' INT TERM	# so that cleanup runs

echo "# valgrind pass in $RUNDIR"
stack_rundir || { not_ok "run directory $RUNDIR"; summary; exit 1; }
command -v valgrind >/dev/null || {
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends valgrind >/dev/null 2>&1 ||
	    { apt-get update >/dev/null 2>&1 &&
	      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends valgrind >/dev/null 2>&1; }
}
command -v valgrind >/dev/null || { not_ok "valgrind installed"; summary; exit 1; }

# ------------------------------------------------------------- build
if [ -n "${TOKEND_SOAK_PREBUILT:-}" ]; then
	BUILD=$TOKEND_SOAK_PREBUILT
else
	BUILD=$ROOT/build/soak
	stack_build "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTOKEND_TESTS=OFF ||
	    { not_ok "build ($BUILD, RelWithDebInfo)"; summary; exit 1; }
fi
stack_install "$BUILD" || { not_ok "install into $RUNDIR"; summary; exit 1; }
install -m 644 "$ROOT/tests/valgrind.supp" "$RUNDIR/valgrind.supp"
rm -rf "$VGDIR" "$RUNDIR"/lighttpd-*
rm -f "$RUNDIR/$NAME.log"
install -d -o "$STACK_WEBUSER" -g "$STACK_WEBUSER" -m 755 "$VGDIR"

# ------------------------------------------------------------- start
stack_db_drop $DB >/dev/null 2>&1
stack_db_create $DB >/dev/null || { not_ok "database $DB"; summary; exit 1; }
FCGI=$(stack_free_port)
HTTP=$(stack_free_port)
while [ "$HTTP" = "$FCGI" ]; do HTTP=$(stack_free_port); done
VALGRIND=(valgrind --tool=memcheck --trace-children=yes --leak-check=full
    --errors-for-leak-kinds=definite --error-exitcode=99 --num-callers=30
    --suppressions="$RUNDIR/valgrind.supp" --log-file="$VGDIR/vg.%p.log")
# The suite's settings (tests/run.sh's E2E_SETTINGS), and time enough for
# a program running 20-50 times slower: a request may take 30 s, a wait
# for a pooled connection 10 s, the drain at SIGTERM 90 s.
SETTINGS=(--workers 1 --threads 2
    --rate-limit-budget 1000 --rate-limit-window 60 --rotation-grace-seconds 60
    --max-body-bytes 16384 --retry-after-seconds 1
    --request-timeout 30 --pool-acquire-timeout-ms 10000 --shutdown-timeout 90)
# The authorizer's lighttpd config: the API under /v1/ as in tokend.conf,
# and /app/ behind tokend as a FastCGI authorizer.
mkdir -p "$RUNDIR/lighttpd-$HTTP/www/app"
echo vg-ok >"$RUNDIR/lighttpd-$HTTP/www/app/ok.txt"
chmod -R a+rX "$RUNDIR/lighttpd-$HTTP"
if soak_tokend_start $NAME "$FCGI" $DB "${VALGRIND[@]}" -- "${SETTINGS[@]}" &&
    stack_lighttpd_start_conf "$ROOT/deploy/lighttpd/tokend-authorizer.conf" "$HTTP" "$FCGI"; then
	ok "tokend under valgrind + lighttpd start (fcgi $FCGI, http $HTTP)"
else
	not_ok "tokend under valgrind + lighttpd start"
	summary
	exit 1
fi
MASTER=$(cat "$RUNDIR/$NAME.pid")
LOG=$RUNDIR/$NAME.log
WORKERS=$(soak_workers "$MASTER")
echo "# master $MASTER, worker $WORKERS, valgrind logs in $VGDIR"

# ------------------------------------------------------- end to end
if [ "${TOKEND_E2E_ALLOW_DB_STOP:-0}" != 1 ]; then
	echo "# note: the suite's 503 case (it stops the database) skips itself under valgrind too:" \
	    "TOKEND_E2E_ALLOW_DB_STOP is not 1"
fi
out=$RUNDIR/e2e.out
t0=$SECONDS
env TOKEND_BASE_URL="http://127.0.0.1:$HTTP/v1" \
    TOKEND_FRONT_END=lighttpd \
    TOKEND_TEST_DATABASE_URL="$(stack_db_url $DB)" \
    TOKEND_ADMIN_DATABASE_URL="$(stack_db_url $DB)" \
    TOKENCTL="$STACK_BIN/tokenctl" \
    TOKEND="$STACK_BIN/tokend" \
    TOKEND_LOG="$LOG" \
    TOKEND_PIDFILE="$RUNDIR/$NAME.pid" \
    TOKEND_FCGI_ADDR="127.0.0.1:$FCGI" \
    TOKEND_OPENAPI="$ROOT/openapi.yaml" \
    TOKEND_SQL_DIR="$ROOT/sql" \
    TOKEND_E2E_ALLOW_DB_STOP="${TOKEND_E2E_ALLOW_DB_STOP:-0}" \
    TOKEND_RATE_LIMIT_BUDGET=1000 TOKEND_RATE_LIMIT_WINDOW=60 \
    TOKEND_ROTATION_GRACE=60 TOKEND_MAX_BODY_BYTES=16384 TOKEND_RETRY_AFTER=1 \
    TOKEND_TEST_PGCTL="$(RUNDIR=$PG_RUNDIR stack_pg_ctl_prefix)" \
    timeout "$E2E_TIMEOUT" /usr/bin/python3 tests/e2e/run.py --full >"$out" 2>&1
rc=$?
sed 's/^/  e2e: /' "$out" | grep -vE '^  e2e: ok - '
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
check "end to end under valgrind: ${line:-no summary line} (exit $rc, $((SECONDS - t0)) s)" \
    test "$rc" -eq 0 -a -n "$line"
grep '^ok - 503' "$out" | grep -qv '# SKIP' &&
    echo "# the 503 case ran: the database was stopped and restarted under valgrind"

# ------------------------------------ the authorizer, introspection
# What the suite does not reach: tokend's authorizer role and
# POST /introspect, a few requests each, under valgrind too.
BASE=http://127.0.0.1:$HTTP
URL=$(stack_db_url $DB)
creds=$("$STACK_BIN/tokenctl" --admin-database-url "$URL" client create --name vg-client \
    --scope "read write" --default-scope read)
CID=$(awk '$1 == "client_id:" { print $2 }' <<<"$creds")
CKEY=$(awk '$1 == "client_key:" { print $2 }' <<<"$creds")
RS_KEY=$("$STACK_BIN/tokenctl" --admin-database-url "$URL" client create --name example-app \
    --scope read --default-scope read --resource-server | awk '$1 == "client_key:" { print $2 }')
post() {	# post PATH HEADER BODY: "STATUS BODY"
	curl -s --max-time 30 -w '\n%{http_code}' -X POST "$BASE/v1/auth/tokens/$1" \
	    -H 'Content-Type: application/json' -H "$2" -d "$3" |
	    awk '{ b[NR] = $0 } END { printf "%s", b[NR]; for (i = 1; i < NR; i++) printf " %s", b[i]; print "" }'
}
app() {	# app [TOKEN]: the status of GET /app/ok.txt
	curl -s --max-time 30 -o /dev/null -w '%{http_code}' "$BASE/app/ok.txt" \
	    ${1:+-H "Authorization: Bearer $1"}
}
out=$(post long "X-Client-Key: $CKEY" "{\"grant_type\":\"client_credentials\",\"client_id\":\"$CID\"}")
LONG=$(jq -r .long_token <<<"${out#* }" 2>/dev/null)
out=$(post short "Authorization: Bearer $LONG" '{"scope":"read","audience":"example-app"}')
TKS=$(jq -r .access_token <<<"${out#* }" 2>/dev/null)
TKS_ID=$(jq -r .token_id <<<"${out#* }" 2>/dev/null)
out=$(post short "Authorization: Bearer $LONG" '{"scope":"","audience":"example-app"}')
TKS_NOSCOPE=$(jq -r .access_token <<<"${out#* }" 2>/dev/null)
check "authorizer: a valid token with scope read opens /app/ (200)" test "$(app "$TKS")" = 200
check "authorizer: no token, 401" test "$(app)" = 401
check "authorizer: a token without scope read, 403" test "$(app "$TKS_NOSCOPE")" = 403
check "authorizer: a long-term token, 401" test "$(app "$LONG")" = 401
out=$(post introspect "X-Client-Key: $RS_KEY" "{\"token\":\"$TKS\"}")
check "introspect: the token is active, for its audience example-app" \
    test "${out%% *}" = 200 -a "$(jq -r .active <<<"${out#* }" 2>/dev/null)" = true
out=$(post introspect "X-Client-Key: $RS_KEY" "{\"token\":\"${LONG}\"}")
check "introspect: a long-term token is not active" \
    test "${out%% *}" = 200 -a "$(jq -c . <<<"${out#* }" 2>/dev/null)" = '{"active":false}'
out=$(post introspect "X-Client-Key: $CKEY" "{\"token\":\"$TKS\"}")
check "introspect: a client that is not a resource server, 401" test "${out%% *}" = 401
out=$(curl -s --max-time 30 -o /dev/null -w '%{http_code}' -X POST "$BASE/v1/auth/tokens/$TKS_ID/revoke" \
    -H "Authorization: Bearer $LONG" -d '')
check "revoked ($out), the token no longer opens /app/ (401)" test "$out" = 204 -a "$(app "$TKS")" = 401

# ------------------------------------------------ SIGTERM, then logs
soak_lighttpd_stop
FLUSHER=$(pgrep -P "$MASTER" -x tokend-flusher | tr '\n' ' ')
t0=$SECONDS
soak_tokend_stop $NAME 150
check "tokend under valgrind leaves on SIGTERM, with its children ($((SECONDS - t0)) s)" test $? -eq 0
sleep 0.3
grep -E 'worker [0-9]+ (exited|killed)|flusher [0-9]+ (exited|killed)|died' "$LOG" | sed 's/^/  log: /' | tail -n 8
for w in $WORKERS; do
	check "worker $w exits with status 0 (no valgrind error)" \
	    grep -qE "worker $w exited with status 0\b" "$LOG"
done
shopt -s nullglob
logs=("$VGDIR"/vg.*.log)
shopt -u nullglob
check "one valgrind log per process: ${#logs[@]} (master, worker, flusher at least)" \
    test "${#logs[@]}" -ge 3
for pid in $MASTER $WORKERS $FLUSHER; do
	check "a valgrind log for pid $pid" test -s "$VGDIR/vg.$pid.log"
done
bad=0
for f in "${logs[@]}"; do
	errs=$(sed -n 's/.*ERROR SUMMARY: \([0-9][0-9]*\) errors.*/\1/p' "$f" | tail -n 1)
	lost=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$f" | tr -d , | tail -n 1)
	who=$(sed -n 's/^==[0-9]*== Command: //p' "$f" | head -n 1 | cut -c1-60)
	if [ "$errs" = 0 ] && [ "${lost:-0}" = 0 ]; then
		echo "#   $(basename "$f"): ERROR SUMMARY: 0 errors, definitely lost: ${lost:-(none)} bytes"
	else
		bad=$((bad + 1))
		echo "#   $(basename "$f"): ERROR SUMMARY: ${errs:-missing}, definitely lost: ${lost:-(none)} ($who)"
		# The first reports, with their stacks.
		grep -vE '^==[0-9]+== *$' "$f" | sed -n '/Invalid\|uninitialised\|definitely lost in\|Mismatched\|overlap\|Syscall param/,+25p' |
		    head -n 120 | sed 's/^/    /'
	fi
done
check "valgrind: every process 0 errors and 0 bytes definitely lost (${#logs[@]} logs, $bad bad)" \
    test "$bad" -eq 0 -a "${#logs[@]}" -gt 0

summary
