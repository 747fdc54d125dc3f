#!/usr/bin/env bash
# tests/dba/run.sh - the DBA's side: audit rows, roles, partitions,
# retention and the queries of sql/README.md.
#
#   tests/dba/run.sh [--full]
#
# Default tier (about 20 s):
#   - every state change of sql/006-008 rolled back leaves no audit row,
#     committed leaves exactly its rows (audit.sql), and the invariants of
#     the audit trail hold (invariants.sql);
#   - tokenctl setup-roles on two databases of the cluster, each with its
#     own role names (one set up before its first migration by a
#     non-superuser with CREATEROLE, one after): what the app, the auditor
#     and the owner may do, and that neither database's roles reach the
#     other;
#   - tokend run as the app role behind lighttpd: requests, a failed
#     authentication flushed as a count, readyz;
#   - the monthly partitions: made ahead idempotently, rows dated next
#     month, tokend_partition_ok(), audit prune dropping whole partitions;
#   - the README's queries, run as the auditor on 20,000 generated tokens
#     (tests/dba/generate.sql, needles.sql), rows checked.
# --full adds the same queries on 1,000,000 tokens and 3,000,000 audit
# rows, with their plans checked (no sequential scan of tokens or of a
# partition of over 10,000 rows), and tokenctl token prune on them.
#
# Needs a running cluster and installed binaries, as tests/run.sh has
# them: RUNDIR, PGPORT and STACK_BIN in the environment; connects as the
# cluster's superuser (stack_db_url).  Creates databases dba_PID_* and
# roles dba_PID_*, and drops them at the end.  Prints one line per check
# and a final "N passed, N failed"; exits non-zero on failure.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../lib/stack.sh
. "$ROOT/tests/lib/stack.sh"
: "${RUNDIR:?}" "${PGPORT:?}" "${STACK_BIN:?}"
FULL=0
[ "${1:-}" = --full ] && FULL=1
RUNDIR=$RUNDIR/dba
mkdir -p "$RUNDIR"
chmod 755 "$RUNDIR"
SQL_DIR=$ROOT/sql
CTL=$STACK_BIN/tokenctl
P=dba_$$			# prefix of every database and role made here
PY=/usr/bin/python3

# shellcheck source=../lib/checks.sh
. "$ROOT/tests/lib/checks.sh"
is() {		# is NAME GOT WANT
	if [ "$2" == "$3" ]; then ok "$1"; else not_ok "$1"; printf '#   got:  %s\n#   want: %s\n' "$2" "$3"; fi
}
like() {	# like NAME GOT REGEX
	if [[ $2 =~ $3 ]]; then ok "$1"; else not_ok "$1"; printf '#   got:  %s\n#   want: /%s/\n' "$2" "$3"; fi
}
# tap NAME FILE: count the "ok"/"not ok" lines of a part.
tap() {
	local n f
	n=$(grep -c '^ok' "$2")
	f=$(grep -c '^not ok' "$2")
	passed=$((passed + n))
	failed=$((failed + f))
	grep -v -e '^ok' -e '^[0-9]* passed, [0-9]* failed$' "$2" | sed 's/^/  /'
	echo "# $1: $n passed, $f failed"
}

url() { echo "host=127.0.0.1 port=$PGPORT user=${2:-$STACK_PGUSER} dbname=$1"; }
# q DB [USER] SQL: one value (or lines), unaligned; stderr kept.
q() {
	local db=$1 user=$STACK_PGUSER
	[ $# -eq 3 ] && { user=$2; shift; }
	psql -X -q -At -v ON_ERROR_STOP=1 -d "$(url "$db" "$user")" -c "$2"
}
# denied DB USER SQL: true when the statement fails for lack of privilege.
denied() {
	local out
	out=$(psql -X -At -v ON_ERROR_STOP=1 -d "$(url "$1" "$2")" -c "$3" 2>&1)
	[[ $out == *"permission denied"* || $out == *"append-only"* ]] ||
	    { echo "#   $3: $out"; return 1; }
}
ctl() {		# ctl DB USER ARGS...: tokenctl; sets out, err, rc
	local db=$1 user=$2
	shift 2
	out=$("$CTL" --admin-database-url "$(url "$db" "$user")" "$@" 2>"$RUNDIR/stderr")
	rc=$?
	err=$(<"$RUNDIR/stderr")
}
newdb() {
	stack_psql postgres -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" 2>/dev/null &&
	    stack_psql postgres -c "CREATE DATABASE \"$1\" ${2:+OWNER \"$2\"}"
}

cleanup() {
	local d r
	stack_stop_servers
	for d in $(q postgres "SELECT datname FROM pg_database WHERE datname LIKE '${P}\_%'"); do
		stack_psql postgres -c "DROP DATABASE IF EXISTS \"$d\" WITH (FORCE)" >/dev/null 2>&1
	done
	for r in $(q postgres "SELECT rolname FROM pg_roles WHERE rolname LIKE '${P}\_%'
	                       ORDER BY rolcreaterole DESC"); do
		stack_psql postgres -c "DROP ROLE IF EXISTS \"$r\"" >/dev/null 2>&1 ||
		    echo "# could not drop role $r"
	done
}
trap cleanup EXIT

# --------------------------------------------------------- audit rows
echo "# every path writes its audit row in its own transaction"
DB=${P}_audit
newdb $DB >/dev/null && ctl $DB "" migrate --sql-dir "$SQL_DIR"
if [ "$rc" = 0 ]; then
	psql -X -d "$(url $DB)" -f "$ROOT/tests/dba/audit.sql" -f "$ROOT/tests/dba/invariants.sql" \
	    >"$RUNDIR/audit.out" 2>&1
	check "audit.sql and invariants.sql run to the end" test $? -eq 0
	tap "audit" "$RUNDIR/audit.out"
else
	not_ok "migrate $DB: $err"
fi

# -------------------------------------------------------------- roles
# Database A: migrated by the superuser (as the test harness does), then
# setup-roles.  Database B: setup-roles first, by a DBA who has
# CREATEROLE and owns the database but is no superuser, then migrated by
# the owner role.  Each has its own role names.
echo "# roles: two tokend databases in one cluster"
A=${P}_a B=${P}_b
AO=${P}_a_owner AA=${P}_a_app AU=${P}_a_auditor
BO=${P}_b_owner BA=${P}_b_app BU=${P}_b_auditor DBA=${P}_dba
roles_a=(--role-owner "$AO" --role-app "$AA" --role-auditor "$AU")
roles_b=(--role-owner "$BO" --role-app "$BA" --role-auditor "$BU")
newdb "$A" >/dev/null
ctl "$A" "" migrate --sql-dir "$SQL_DIR"
ctl "$A" "" "${roles_a[@]}" setup-roles
is "setup-roles on a migrated database" "$rc" 0
like "setup-roles creates the three roles" "$out" "created role $AO .*created role $AA .*created role $AU "
like "setup-roles gives the owner what the superuser made" "$out" "[0-9]+ objects of schema public now belong to $AO"
is "everything of the schema belongs to the owner" \
    "$(q "$A" "SELECT string_agg(DISTINCT pg_get_userbyid(relowner), ',') FROM pg_class
               WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r','p','v','S')")|$(
       q "$A" "SELECT string_agg(DISTINCT pg_get_userbyid(proowner), ',') FROM pg_proc
               WHERE pronamespace = 'public'::regnamespace")" "$AO|$AO"
is "the names are recorded in tokend_roles" \
    "$(q "$A" "SELECT string_agg(role || '=' || name, ' ' ORDER BY role) FROM tokend_roles")" \
    "app=$AA auditor=$AU owner=$AO"
ctl "$A" "" "${roles_a[@]}" setup-roles
is "setup-roles again: exit 0" "$rc" 0
like "setup-roles again: the roles exist" "$out" "role $AO exists.*role $AA exists.*role $AU exists"
ctl "$A" "" --role-owner "$AO" --role-app "${P}_other" --role-auditor "$AU" setup-roles
is "setup-roles with another name: exit 1" "$rc" 1
like "setup-roles with another name: says why" "$err" "app role of database $A is $AA, not ${P}_other"
is "setup-roles with another name: no role made" \
    "$(q postgres "SELECT count(*) FROM pg_roles WHERE rolname = '${P}_other'")" 0
ctl "$A" "" --role-owner "$AO" --role-app "$AO" --role-auditor "$AU" setup-roles
is "setup-roles with one name twice: exit 2" "$rc" 2

q postgres "CREATE ROLE $DBA LOGIN CREATEROLE" >/dev/null
newdb "$B" "$DBA" >/dev/null
ctl "$B" "$DBA" "${roles_b[@]}" setup-roles
is "setup-roles before the first migration, by a DBA with CREATEROLE: exit 0" "$rc" 0
like "setup-roles before the first migration: the privileges wait for migrate" "$out" \
    "granted role $BO to $DBA.*no migration applied yet"
ctl "$B" "$BO" migrate --sql-dir "$SQL_DIR"
is "the owner migrates database B" "$rc" 0
ctl "$B" "$DBA" "${roles_b[@]}" setup-roles
is "setup-roles on B after its migrations: exit 0" "$rc" 0
is "B: everything of the schema belongs to its owner" \
    "$(q "$B" "SELECT string_agg(DISTINCT pg_get_userbyid(relowner), ',') FROM pg_class
               WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r','p','v','S')")" "$BO"
ctl "$B" "$DBA" "${roles_a[@]}" setup-roles
is "B keeps its own role names" "$rc" 1

# What each role may do, in both databases.
for X in A B; do
	db=${!X}
	if [ $X = A ]; then o=$AO a=$AA u=$AU; else o=$BO a=$BA u=$BU; fi
	is "$X: the app may run exactly the request functions and tokend_partition_ok()" \
	    "$(q "$db" "SELECT string_agg(p.proname, ' ' ORDER BY p.proname) FROM pg_proc p
	               WHERE p.pronamespace = 'public'::regnamespace
	                 AND has_function_privilege('$a', p.oid, 'EXECUTE')")" \
	    "tokend_check_short tokend_introspect tokend_issue_long tokend_issue_short tokend_partition_ok tokend_revoke tokend_rotate"
	is "$X: the request functions run as their owner, with a fixed search_path" \
	    "$(q "$db" "SELECT count(*) FROM pg_proc WHERE prosecdef
	               AND proconfig @> '{\"search_path=public, pg_temp\"}'
	               AND proname IN ('tokend_issue_long', 'tokend_rotate', 'tokend_issue_short',
	                               'tokend_revoke', 'tokend_check_short', 'tokend_introspect',
	                               'tokend_partition_ok')")" 7
	is "$X: the app reads and appends token_events, and no other table" \
	    "$(q "$db" "SELECT string_agg(c.relname || ':' || p, ' ' ORDER BY c.relname, p)
	               FROM pg_class c, unnest(ARRAY['SELECT','INSERT','UPDATE','DELETE']) p
	               WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r','p','v')
	                 AND NOT c.relispartition
	                 AND has_table_privilege('$a', c.oid, p)")" \
	    "token_events:INSERT token_events:SELECT"
	check "$X: the app may not read tokens" denied "$db" "$a" "SELECT count(*) FROM tokens"
	check "$X: the app may not read a client key's digest" denied "$db" "$a" "SELECT key_digest FROM clients"
	check "$X: the app may not run an admin function" denied "$db" "$a" \
	    "SELECT tokend_client_disable(gen_random_uuid())"
	check "$X: the app may not make partitions" denied "$db" "$a" "SELECT tokend_audit_partitions(3)"
	check "$X: the app may not change history" denied "$db" "$a" "UPDATE token_events SET reason = 'x'"
	check "$X: the app may not delete history" denied "$db" "$a" "DELETE FROM token_events"
	is "$X: the app may append a failure count" \
	    "$(q "$db" "$a" "INSERT INTO token_events (event, remote_addr, count, first_at, last_at)
	                    VALUES ('auth_failed', '192.0.2.9', 2, now(), now()) RETURNING count")" 2
	is "$X: the app may ask tokend_partition_ok()" "$(q "$db" "$a" "SELECT tokend_partition_ok()")" t
	is "$X: the auditor reads the views" \
	    "$(q "$db" "$u" "SELECT (SELECT count(*) FROM active_tokens) + (SELECT count(*) FROM token_lineage)
	                    + (SELECT count(*) FROM revocation_log) + (SELECT count(*) FROM client_activity)
	                    + (SELECT count(*) FROM auth_failures) >= 0")" t
	is "$X: the auditor reads no digest" \
	    "$(q "$db" "SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
	               WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0
	                 AND a.attname LIKE '%digest%'
	                 AND has_column_privilege('$u', c.oid, a.attnum, 'SELECT')")" 0
	check "$X: the auditor may not read a token's digest" denied "$db" "$u" "SELECT digest FROM tokens"
	check "$X: the auditor may not run a request function" denied "$db" "$u" \
	    "SELECT * FROM tokend_revoke('long', gen_random_uuid(), '\\x00', gen_random_uuid(), NULL, NULL)"
	check "$X: the auditor may not write the audit trail" denied "$db" "$u" \
	    "INSERT INTO token_events (event) VALUES ('client_enabled')"
	is "$X: the owner may correct history (the trigger lets the owner alone)" \
	    "$(q "$db" "$o" "BEGIN; UPDATE token_events SET reason = 'x' WHERE event = 'auth_failed';
	                    ROLLBACK; SELECT 'done'")" "done"
	ctl "$db" "$o" client create --name "$X-client" --scope read
	is "$X: tokenctl as the owner: client create" "$rc" 0
	ctl "$db" "$o" migrate --sql-dir "$SQL_DIR"
	is "$X: tokenctl as the owner: migrate again" "$rc $out" "0 database is up to date"
done
# A request function replaced by a later migration (CREATE OR REPLACE
# resets SECURITY DEFINER and SET) runs as its owner again once the
# migration calls tokend_apply_grants().
q "$A" "$AO" "ALTER FUNCTION tokend_partition_ok() SECURITY INVOKER RESET search_path" >/dev/null
is "tokend_apply_grants() makes a replaced request function SECURITY DEFINER again" \
    "$(q "$A" "$AO" "SELECT tokend_apply_grants()" >/dev/null; q "$A" "SELECT prosecdef || ' ' || array_to_string(proconfig, ',')
                     FROM pg_proc WHERE proname = 'tokend_partition_ok'")" "true search_path=public, pg_temp"
check "isolation: A's app runs nothing in B" denied "$B" "$AA" \
    "SELECT tokend_partition_ok()"
check "isolation: A's app appends nothing in B" denied "$B" "$AA" \
    "INSERT INTO token_events (event, remote_addr, count) VALUES ('auth_failed', '192.0.2.9', 1)"
check "isolation: A's auditor reads nothing in B" denied "$B" "$AU" "SELECT count(*) FROM active_tokens"
check "isolation: B's auditor reads nothing in A" denied "$A" "$BU" "SELECT count(*) FROM token_events"
ctl "$B" "$AO" client create --name intruder
is "isolation: A's owner changes nothing in B" "$rc" 1

# ---------------------------------------------------- tokend as the app
echo "# tokend connected as the app role"
ctl "$A" "$AO" client create --name app-client --scope "read tokend:rotate" --default-scope read
read -r CID CKEY <<<"$(awk '/^client_id:/ {id=$2} /^client_key:/ {key=$2} END {print id, key}' <<<"$out")"
FCGI=$(stack_free_port)
HTTP=$(stack_free_port)
while [ "$HTTP" = "$FCGI" ]; do HTTP=$(stack_free_port); done
if STACK_DB=$A stack_tokend_start dba_app "$FCGI" --workers 1 \
    --database-url "$(url "$A" "$AA")" >/dev/null && stack_lighttpd_start "$HTTP" "$FCGI" >/dev/null; then
	BASE=http://127.0.0.1:$HTTP/v1
	body=$(curl -s -w '\n%{http_code}' -X POST "$BASE/auth/tokens/long" -H 'Content-Type: application/json' \
	    -H "X-Client-Key: $CKEY" -d "{\"grant_type\":\"client_credentials\",\"client_id\":\"$CID\"}")
	is "as the app: a long-term token (201)" "${body##*$'\n'}" 201
	LONG=$(jq -r .long_token <<<"${body%$'\n'*}")
	body=$(curl -s -w '\n%{http_code}' -X POST "$BASE/auth/tokens/short" -H "Authorization: Bearer $LONG" \
	    -H 'Content-Type: application/json' -d '{}')
	is "as the app: a short-term token (201)" "${body##*$'\n'}" 201
	SID=$(jq -r .token_id <<<"${body%$'\n'*}")
	code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$BASE/auth/tokens/$SID/revoke" \
	    -H "Authorization: Bearer $LONG" -d '')
	is "as the app: revoke (204)" "$code" 204
	code=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/readyz")
	is "as the app: readyz (200)" "$code" 200
	is "tokend's connections are the app role's" \
	    "$(q "$A" "SELECT string_agg(DISTINCT usename, ',') FROM pg_stat_activity
	               WHERE datname = '$A' AND pid <> pg_backend_pid()")" "$AA"
	# A well-formed key that is no longer the client's: the database is
	# asked, names the client, and the failure is counted.
	ctl "$A" "$AO" client rotate-key "$CID"
	for _ in 1 2 3; do
		curl -s -o /dev/null -X POST "$BASE/auth/tokens/long" -H 'Content-Type: application/json' \
		    -H "X-Client-Key: $CKEY" -d "{\"grant_type\":\"client_credentials\",\"client_id\":\"$CID\"}"
	done
	got=
	for _ in $(seq 1 50); do
		got=$(q "$A" "SELECT sum(count) || ' ' || bool_and(first_at <= last_at) || ' ' || host(min(remote_addr))
		              FROM token_events WHERE event = 'auth_failed' AND client_id = '$CID'")
		[ "$got" = "3 true 127.0.0.1" ] && break
		sleep 0.2
	done
	is "failed authentications flushed as a count, with the client and the address" "$got" "3 true 127.0.0.1"
	is "the flushed rows hold neither the key nor its digest" \
	    "$(q "$A" "SELECT count(*) FROM token_events e WHERE e::text LIKE '%${CKEY:4:20}%'
	               OR e::text LIKE '%' || encode(sha256(convert_to('$CKEY', 'UTF8')), 'hex') || '%'")" 0
	psql -X -d "$(url "$A")" -f "$ROOT/tests/dba/invariants.sql" >"$RUNDIR/inv_a.out" 2>&1
	tap "invariants after tokend's requests" "$RUNDIR/inv_a.out"
else
	not_ok "tokend as the app role behind lighttpd: did not start"
fi

# The second database's tokend, as its own app role, next to the first:
# each serves its own clients only.
creds() { awk '/^client_id:/ {id=$2} /^client_key:/ {key=$2} END {print id, key}' <<<"$1"; }
long_status() {	# long_status BASE ID KEY: the HTTP status of a client_credentials grant
	curl -s -o /dev/null -w '%{http_code}' -X POST "$1/auth/tokens/long" \
	    -H 'Content-Type: application/json' -H "X-Client-Key: $3" \
	    -d "{\"grant_type\":\"client_credentials\",\"client_id\":\"$2\"}"
}
ctl "$A" "$AO" client create --name cross-a --scope read
read -r XA_ID XA_KEY <<<"$(creds "$out")"
ctl "$B" "$BO" client create --name cross-b --scope read
read -r XB_ID XB_KEY <<<"$(creds "$out")"
FCGI_B=$(stack_free_port)
HTTP_B=$(stack_free_port)
while [ "$HTTP_B" = "$FCGI_B" ] || [ "$HTTP_B" = "$HTTP" ] || [ "$FCGI_B" = "$FCGI" ]; do
	FCGI_B=$(stack_free_port)
	HTTP_B=$(stack_free_port)
done
if [ -n "${BASE:-}" ] && STACK_DB=$B stack_tokend_start dba_app_b "$FCGI_B" --workers 1 \
    --database-url "$(url "$B" "$BA")" >/dev/null && stack_lighttpd_start "$HTTP_B" "$FCGI_B" >/dev/null; then
	BASE_B=http://127.0.0.1:$HTTP_B/v1
	is "two tokends, two databases: each issues to its own client" \
	    "$(long_status "$BASE" "$XA_ID" "$XA_KEY") $(long_status "$BASE_B" "$XB_ID" "$XB_KEY")" "201 201"
	is "two tokends, two databases: neither knows the other's client" \
	    "$(long_status "$BASE" "$XB_ID" "$XB_KEY") $(long_status "$BASE_B" "$XA_ID" "$XA_KEY")" "401 401"
	is "B's tokend connects as B's app role" \
	    "$(q "$B" "SELECT string_agg(DISTINCT usename, ',') FROM pg_stat_activity
	               WHERE datname = '$B' AND pid <> pg_backend_pid()")" "$BA"
	is "each token is in its own database" \
	    "$(q "$A" "SELECT count(*) FROM tokens WHERE client_id = '$XA_ID'") $(
	       q "$B" "SELECT count(*) FROM tokens WHERE client_id = '$XB_ID'") $(
	       q "$A" "SELECT count(*) FROM tokens WHERE client_id = '$XB_ID'")" "1 1 0"
else
	not_ok "a second tokend, on database B as its app role: did not start"
fi
stack_stop_servers

# --------------------------------------------------------- partitions
echo "# monthly partitions and retention"
month() { q postgres "SELECT to_char(date_trunc('month', now() AT TIME ZONE 'UTC') + interval '$1 month', '${2:-YYYY_MM}')"; }
ctl "$A" "$AO" audit partitions
like "audit partitions: nothing to make after migrate" "$rc $out" \
    "^0 token_events has partitions until $(month 4 YYYY-MM)-01 \(UTC\)$"
ctl "$A" "$AO" audit partitions --ahead 6
like "audit partitions --ahead 6: the three months missing" "$rc $out" \
    "^0 created partition token_events_$(month 4)
created partition token_events_$(month 5)
created partition token_events_$(month 6)
token_events has partitions until $(month 7 YYYY-MM)-01"
ctl "$A" "$AO" audit partitions --ahead 6
like "audit partitions again: nothing made" "$rc $out" "^0 token_events has partitions until"
ctl "$A" "$AO" audit partitions --ahead 121
is "audit partitions --ahead 121: exit 2" "$rc" 2
ctl "$A" "$AO" audit partitions --ahead x
is "audit partitions --ahead x: exit 2" "$rc" 2
is "a row dated next month goes to next month's partition" \
    "$(q "$A" "$AA" "INSERT INTO token_events (occurred_at, event, remote_addr, count)
                    VALUES (date_trunc('month', now(), 'UTC') + interval '1 month 3 days', 'auth_failed',
                            '192.0.2.7', 1) RETURNING tableoid::regclass")" "token_events_$(month 1)"
check "a row with no partition is refused" eval \
    "q $A $AA \"INSERT INTO token_events (occurred_at, event) VALUES (now() + interval '20 years', 'client_enabled')\" 2>&1 |
     grep -q 'no partition of relation \"token_events\" found for row'"
check "there is no DEFAULT partition" test "$(q "$A" "SELECT count(*) FROM pg_partitioned_table
    WHERE partrelid = 'token_events'::regclass AND partdefid <> 0")" = 0
q "$A" "$AO" "ALTER TABLE token_events DETACH PARTITION token_events_$(month 1);
              DROP TABLE token_events_$(month 1)" >/dev/null
is "next month's partition missing: tokend_partition_ok() is false" \
    "$(q "$A" "$AA" "SELECT tokend_partition_ok()")" f
ctl "$A" "$AO" audit partitions
like "audit partitions makes it again" "$rc $out" \
    "^0 created partition token_events_$(month 1)
token_events has partitions until"
is "then tokend_partition_ok() is true" "$(q "$A" "$AA" "SELECT tokend_partition_ok()")" t

# Three past months, with rows, then prune before the first of last month.
q "$A" "$AO" "SELECT tokend_audit_partition_create((now() - g * interval '1 month')::date)
              FROM generate_series(1, 3) g" >/dev/null
q "$A" "$AO" "INSERT INTO token_events (occurred_at, event, remote_addr, count)
              SELECT date_trunc('month', now(), 'UTC') - g * interval '1 month' + interval '5 days',
                     'auth_failed', '192.0.2.8', g
              FROM generate_series(1, 3) g, generate_series(1, 10)" >/dev/null
before=$(q "$A" "SELECT count(*) FROM token_events")
cut=$(month -1 YYYY-MM)-01
ctl "$A" "$AO" audit prune --before "$cut"
like "audit prune drops the partitions wholly before the date, with their rows" "$rc $out" \
    "^0 dropped partition token_events_$(month -3) \(10 events\)
dropped partition token_events_$(month -2) \(10 events\)
dropped 2 partitions$"
is "audit prune: the rows of the partitions kept stay" \
    "$(q "$A" "SELECT count(*) FROM token_events")" "$((before - 20))"
is "audit prune: last month's partition stays" \
    "$(q "$A" "SELECT count(*) FROM token_events WHERE remote_addr = '192.0.2.8'")" 10
ctl "$A" "$AO" audit prune --before "$cut"
is "audit prune again: nothing to drop" "$rc $out" "0 no partition of token_events ends on or before $cut"
ctl "$A" "$AO" audit prune --before "$(month 2 YYYY-MM)-01"
like "audit prune --before a future date: refused (exit 1)" "$rc $err" "^1 tokenctl: cannot prune audit rows of the future"
ctl "$A" "$AO" audit prune --before 2026-13-01
like "audit prune --before a day that does not exist: exit 1" "$rc" "^1$"
ctl "$A" "$AO" audit prune --before yesterday
is "audit prune --before a malformed date: exit 2" "$rc" 2
ctl "$A" "$AO" audit prune
is "audit prune without --before: exit 2" "$rc" 2
check "audit prune is the owner's" denied "$A" "$AA" "SELECT * FROM tokend_audit_prune('2000-01-01')"

# ------------------------------------------------------------- queries
# queries DB TOKENS EVENTS [queries.py flags]: generated data, needles,
# roles, the README's queries as the auditor.
queries() {
	local db=$1 tokens=$2 events=$3 t0
	shift 3
	newdb "$db" >/dev/null
	ctl "$db" "" migrate --sql-dir "$SQL_DIR"
	t0=$SECONDS
	if psql -X -q -d "$(url "$db")" -v tokens="$tokens" -v events="$events" \
	    -f "$ROOT/tests/dba/generate.sql" >"$RUNDIR/gen.out" 2>&1 &&
	    psql -X -q -d "$(url "$db")" -f "$ROOT/tests/dba/needles.sql" >>"$RUNDIR/gen.out" 2>&1; then
		ok "generated $(q "$db" "SELECT count(*) FROM tokens") tokens and $(q "$db" \
		    "SELECT count(*) FROM token_events") audit rows in $((SECONDS - t0)) s"
	else
		not_ok "generate $tokens tokens"
		sed 's/^/#   /' "$RUNDIR/gen.out"
		return
	fi
	is "generated: at least 88% of the tokens expired or revoked" \
	    "$(q "$db" "SELECT count(*) FILTER (WHERE t.valid_until > now() AND token_is_valid(t))
	                       * 100 / count(*) <= 12 FROM tokens t")" t
	ctl "$db" "" --role-owner "${db}_owner" --role-app "${db}_app" --role-auditor "${db}_auditor" setup-roles
	is "setup-roles on the generated database" "$rc" 0
	q "$db" "ANALYZE" >/dev/null
	$PY "$ROOT/tests/dba/queries.py" --super "$(url "$db")" --auditor "$(url "$db" "${db}_auditor")" \
	    --readme "$SQL_DIR/README.md" "$@" >"$RUNDIR/queries.out" 2>&1
	tap "the README's queries on $tokens tokens" "$RUNDIR/queries.out"
	grep 'no sequential scan' "$RUNDIR/queries.out" | sed 's/^ok [0-9]* - /#   /'
	grep -q '^[0-9]* passed, [0-9]* failed$' "$RUNDIR/queries.out" || not_ok "queries.py ran to the end"
	psql -X -d "$(url "$db")" -f "$ROOT/tests/dba/invariants.sql" >"$RUNDIR/inv.out" 2>&1
	tap "invariants of the generated data" "$RUNDIR/inv.out"
}

echo "# the README's queries, 20,000 tokens"
queries "${P}_small" 20000 60000
stack_psql postgres -c "DROP DATABASE IF EXISTS \"${P}_small\" WITH (FORCE)" >/dev/null 2>&1

if [ $FULL = 1 ]; then
	echo "# the README's queries and their plans, 1,000,000 tokens"
	queries "${P}_big" 1000000 3000000 --scale --plans
	DB=${P}_big
	expired=$(q "$DB" "SELECT count(*) FROM tokens WHERE expires_at < now() - interval '330 days'")
	events=$(q "$DB" "SELECT count(*) FROM token_events")
	t0=$SECONDS
	ctl "$DB" "${DB}_owner" token prune --expired-for 330d
	is "token prune --expired-for 330d: $expired tokens, in batches of 1000 ($((SECONDS - t0)) s)" \
	    "$rc $out" "0 pruned $expired tokens"
	is "token prune: the audit rows stay" "$(q "$DB" "SELECT count(*) FROM token_events")" "$events"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
