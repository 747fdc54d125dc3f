#!/usr/bin/env bash
# test_tk_ctl.sh - tokenctl against a real PostgreSQL: every subcommand,
# its output, its exit status and the rows it leaves.
#
# Environment:
#   TOKEND_TEST_DATABASE_URL  conninfo (keywords or URI) of a database
#                             through which scratch databases
#                             tkctl_<pid>[_b] are created and dropped
#   TOKENCTL                  the tokenctl binary
#   TOKEND_SQL_DIR            the migrations (default: sql/ of this checkout)
# Prints "ok N - ..." / "not ok N - ..." lines; exits 1 on any failure,
# 77 (skipped) without TOKEND_TEST_DATABASE_URL.
set -u

here=$(cd "$(dirname "$0")" && pwd)
base_url=${TOKEND_TEST_DATABASE_URL:-}
sql_dir=${TOKEND_SQL_DIR:-$here/../../sql}

if [ -z "$base_url" ]; then
	echo "1..0 # SKIP TOKEND_TEST_DATABASE_URL is not set"
	exit 77
fi
if [ -z "${TOKENCTL:-}" ] || [ ! -x "$TOKENCTL" ]; then
	echo "test_tk_ctl.sh: set TOKENCTL to the tokenctl binary" >&2
	exit 2
fi
# Only what this test passes may configure tokenctl.
unset TOKEND_CONFIG TOKEND_ADMIN_DATABASE_URL TOKEND_DATABASE_URL TOKEND_SQL_DIR

n=0
failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tkctl.XXXXXX")
db=tkctl_$$
db_b=tkctl_$$_b

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

admin_sql() {
	psql -X -q -v ON_ERROR_STOP=1 -d "$base_url" -c "$1" >/dev/null
}

cleanup() {
	admin_sql "DROP DATABASE IF EXISTS $db WITH (FORCE)"
	admin_sql "DROP DATABASE IF EXISTS $db_b WITH (FORCE)"
	# The roles of setup-roles, once no database holds their objects.
	admin_sql "DROP ROLE IF EXISTS ${db}_owner, ${db}_app, ${db}_auditor"
	rm -rf "$tmp"
}

admin_sql "CREATE DATABASE $db" || exit 1
trap cleanup EXIT
admin_sql "CREATE DATABASE $db_b" || exit 1
url=$(scratch_url "$base_url" "$db")
url_b=$(scratch_url "$base_url" "$db_b")

# q SQL [psql options]: one value (or lines) from the scratch database;
# SQL is read from stdin so that :'var' works.
q() {
	local sql=$1
	shift
	psql -X -At -v ON_ERROR_STOP=1 -d "$url" "$@" <<<"$sql"
}

diag() {
	printf '%s\n' "$@" | sed 's/^/#   /'
}

pass() {
	n=$((n + 1))
	echo "ok $n - $1"
}

fail() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
}

# run ARGS...: tokenctl with the scratch database; sets out, err, rc.
run() {
	out=$("$TOKENCTL" --admin-database-url "$url" "$@" 2>"$tmp/stderr")
	rc=$?
	err=$(<"$tmp/stderr")
}

# run_raw ARGS...: tokenctl without the database flag.
run_raw() {
	out=$("$TOKENCTL" "$@" 2>"$tmp/stderr")
	rc=$?
	err=$(<"$tmp/stderr")
}

# is DESC GOT WANT
is() {
	if [ "$2" == "$3" ]; then
		pass "$1"
	else
		fail "$1"
		diag "got:  $2" "want: $3"
	fi
}

# like DESC GOT REGEX
like() {
	if [[ $2 =~ $3 ]]; then
		pass "$1"
	else
		fail "$1"
		diag "got:  $2" "want: /$3/"
	fi
}

# unlike DESC GOT REGEX
unlike() {
	if [[ $2 =~ $3 ]]; then
		fail "$1"
		diag "got:  $2" "must not match: /$3/"
	else
		pass "$1"
	fi
}

# status DESC WANT: the exit status of the last run, with its output on failure.
status() {
	if [ "$rc" == "$2" ]; then
		pass "$1"
	else
		fail "$1"
		diag "exit status $rc, want $2" "stdout: $out" "stderr: $err"
	fi
}

uuid_re='[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
key_re='tkc_[0-9A-Za-z]{71}'

# A long-term token of client $1 (key $2) and a short-term one from a
# long-term token $1, made by the API's own functions; their digests
# are those of their ids.
issue_long() {
	q "SELECT r_token_id FROM tokend_issue_long(:'c', :'c',
	       sha256(convert_to(:'k', 'UTF8')), :'t',
	       sha256(convert_to(:'t', 'UTF8')), NULL, NULL, NULL, NULL, NULL)
	   WHERE outcome = 'ok'" \
	    -v c="$1" -v k="$2" -v t="$(q "SELECT gen_random_uuid()")"
}
issue_short() {
	q "SELECT r_token_id FROM tokend_issue_short(:'l',
	       sha256(convert_to(:'l', 'UTF8')), :'t',
	       sha256(convert_to(:'t', 'UTF8')), NULL, NULL, NULL, NULL, NULL)
	   WHERE outcome = 'ok'" \
	    -v l="$1" -v t="$(q "SELECT gen_random_uuid()")"
}

# Command line --------------------------------------------------------

run_raw --help
status "--help exits 0" 0
like "--help lists every command" "$out" "migrate.*client create.*client rotate-key.*token check.*token prune.*setup-roles.*audit partitions.*audit prune"
run_raw
status "no command: usage, exit 2" 2
like "no command: usage on stderr" "$err" "usage: tokenctl"
run frobnicate
status "unknown command: exit 2" 2
run client frobnicate
status "unknown client subcommand: exit 2" 2
run client list --bogus
status "unknown flag: exit 2" 2
run_raw --bogus-setting x client list
status "unknown global flag: exit 2" 2
run client show
status "missing argument: exit 2" 2
like "missing argument: the command's usage" "$err" "usage: tokenctl client show ID"

# migrate -------------------------------------------------------------

nfiles=$(ls "$sql_dir" | grep -cE '^[0-9]{3}_.*\.sql$')
run migrate --sql-dir "$sql_dir"
status "migrate on an empty database" 0
is "migrate prints one line per file" "$(grep -c '^applied [0-9][0-9][0-9]_.*\.sql$' <<<"$out")" "$nfiles"
is "migrate applies in order" "$(sed 's/^applied //' <<<"$out")" "$(ls "$sql_dir" | grep -E '^[0-9]{3}_.*\.sql$' | LC_ALL=C sort)"
is "schema_migrations has every file" "$(q "SELECT count(*) FROM schema_migrations")" "$nfiles"
is "the checksum is the file's SHA-256" \
    "$(q "SELECT checksum FROM schema_migrations WHERE version = 3")" \
    "$(sha256sum "$sql_dir/003_create_revocations.sql" | cut -d' ' -f1)"
run migrate --sql-dir "$sql_dir"
status "migrate again" 0
is "migrate again: up to date" "$out" "database is up to date"

# Two at once on a fresh database: the lock makes one wait.
"$TOKENCTL" --admin-database-url "$url_b" migrate --sql-dir "$sql_dir" >"$tmp/m1" 2>&1 &
p1=$!
"$TOKENCTL" --admin-database-url "$url_b" migrate --sql-dir "$sql_dir" >"$tmp/m2" 2>&1 &
p2=$!
wait $p1
r1=$?
wait $p2
r2=$?
is "concurrent migrate: both succeed" "$r1 $r2" "0 0"
is "concurrent migrate: each file applied once" "$(cat "$tmp/m1" "$tmp/m2" | grep -c '^applied ')" "$nfiles"

mkdir "$tmp/sql"
cp "$sql_dir"/*.sql "$tmp/sql/"
echo "-- an afterthought" >>"$tmp/sql/003_create_revocations.sql"
run migrate --sql-dir "$tmp/sql"
status "a changed applied file: exit 1" 1
is "a changed applied file is named" "$err" \
    "tokenctl: migration 003_create_revocations.sql was changed after it was applied (checksum differs)"
cp "$sql_dir/003_create_revocations.sql" "$tmp/sql/"
printf -- '-- 002_create_late.sql: too late.\nSELECT 1;\n' >"$tmp/sql/002_create_late.sql"
run migrate --sql-dir "$tmp/sql"
status "a file below the newest applied: exit 1" 1
like "a file below the newest applied is named" "$err" "002_create_late.sql"
rm "$tmp/sql/002_create_late.sql"
out=$(TOKEND_SQL_DIR=$tmp/nowhere "$TOKENCTL" --admin-database-url "$url" migrate 2>&1)
rc=$?
like "migrate reads TOKEND_SQL_DIR" "$rc $out" "^1 tokenctl: could not open the migration directory $tmp/nowhere"

# client create -------------------------------------------------------

run client create --name "billing service" --scope "read write  read tokend:rotate tokend:revoke"
status "client create" 0
like "client create prints client_id and client_key" "$out" "^client_id: $uuid_re
client_key: $key_re\$"
is "client create: nothing on stderr" "$err" ""
cid=$(sed -n 's/^client_id: //p' <<<"$out")
key=$(sed -n 's/^client_key: //p' <<<"$out")
is "the key embeds the client id" "$("$TOKENCTL" token check "$key" | sed -n 's/^id: //p')" "$cid"
is "only the key's SHA-256 is stored" \
    "$(q "SELECT key_digest = sha256(convert_to(:'k', 'UTF8')) FROM clients WHERE id = :'c'" -v c="$cid" -v k="$key")" "t"
is "the key is nowhere in the database" \
    "$(q "SELECT count(*) FROM token_events WHERE detail::text LIKE '%' || :'k' || '%'" -v k="$key")" "0"
is "scopes de-duplicated, in order" "$(q "SELECT array_to_string(scopes, ' ') FROM clients WHERE id = :'c'" -v c="$cid")" \
    "read write tokend:rotate tokend:revoke"
is "default scopes: the non-reserved ones" \
    "$(q "SELECT array_to_string(default_scopes, ' ') FROM clients WHERE id = :'c'" -v c="$cid")" "read write"
is "policy defaults" "$(q "SELECT concat_ws(' ', long_ttl_default, long_ttl_max, short_ttl_default, short_ttl_max, overlap_max, family_max_seconds) FROM clients WHERE id = :'c'" -v c="$cid")" \
    "2592000 7776000 900 3600 604800 31536000"
is "client_created event, without digests" \
    "$(q "SELECT detail->>'name', detail ? 'key_digest', detail ? 'prev_key_digest' FROM token_events WHERE event = 'client_created' AND client_id = :'c'" -v c="$cid")" \
    "billing service|f|f"

run client create --name other --scope "a b c" --default-scope "b" --long-ttl-max 2d \
    --short-ttl-default 5m --short-ttl-max 1h --overlap-max 0 --family-max 30d
status "client create with a policy" 0
cid2=$(sed -n 's/^client_id: //p' <<<"$out")
key2=$(sed -n 's/^client_key: //p' <<<"$out")
is "durations with suffixes; a default lowered to its maximum" \
    "$(q "SELECT concat_ws(' ', array_to_string(default_scopes, ' '), long_ttl_default, long_ttl_max, short_ttl_default, short_ttl_max, overlap_max, family_max_seconds) FROM clients WHERE id = :'c'" -v c="$cid2")" \
    "b 172800 172800 300 3600 0 2592000"
unlike "two clients, two keys" "$key2" "^$key\$"

nclients=$(q "SELECT count(*) FROM clients")
run client create --name x --scope "read tokend:rotate" --default-scope "read tokend:rotate"
status "reserved scope in --default-scope: exit 2" 2
like "reserved scope in --default-scope: said why" "$err" "reserved scope tokend:rotate"
run client create --name x --scope "read" --default-scope "write"
status "default scope outside --scope: exit 2" 2
run client create --name x --scope 'a"b'
status "scope with a forbidden character: exit 2" 2
run client create --name x --scope "$(printf 's%d ' $(seq 1 33))"
status "33 scopes: exit 2" 2
run client create --name x --scope "$(printf 'x%.0s' $(seq 1 65))"
status "a 65-byte scope: exit 2" 2
run client create --name x --long-ttl-max 10x
status "bad duration: exit 2" 2
run client create --name x --long-ttl-max -5
status "negative duration: exit 2" 2
run client create --name x --short-ttl-max 0
status "zero TTL: exit 2" 2
run client create --name x --long-ttl-max 99999999999
status "duration beyond an integer: exit 2" 2
run client create --name x --long-ttl-default 3d --long-ttl-max 2d
status "default above maximum: exit 2" 2
like "default above maximum: said in flag words" "$err" "long-ttl-default"
run client create --scope read
status "no --name: exit 2" 2
run client create --name "$(printf 'a\tb')"
status "control character in --name: exit 2" 2
run client create --name x --name-typo y
status "unknown flag of client create: exit 2" 2
is "no client created by refused commands" "$(q "SELECT count(*) FROM clients")" "$nclients"

# client list / show ----------------------------------------------------

run client list
status "client list" 0
like "client list: a header" "$(head -1 <<<"$out")" "^ID +NAME +STATE +SCOPES +DEFAULT_SCOPES +CREATED_AT\$"
is "client list: one line per client" "$(grep -cE "^$uuid_re " <<<"$out")" "$nclients"
like "client list: aligned" "$(awk '{ print index($0, "enabled") }' <<<"$out" | sed 1d | sort -u | wc -l)" "^1\$"
unlike "client list: no key" "$out" "tkc_"
run client list --json
status "client list --json" 0
is "client list --json: one JSON object per line" \
    "$(q "SELECT count(*) FROM jsonb_array_elements(('[' || :'j' || ']')::jsonb) e WHERE e ? 'client_id' AND NOT e ? 'key_digest'" -v j="$(paste -sd, <<<"$out")")" "$nclients"
run client show "$cid"
status "client show" 0
like "client show: the name" "$out" "name: +billing service"
like "client show: timestamps as YYYY-MM-DDTHH:MM:SSZ" "$out" "created_at: +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"
unlike "client show: no digest" "$out" "digest"
run client show "$cid" --json
status "client show --json" 0
is "client show --json: the fields" \
    "$(q "SELECT concat_ws(' ', j->>'client_id' = :'c', j->>'state', j->>'long_ttl_max', j->>'live_tokens', j ? 'key_digest') FROM (SELECT :'j'::jsonb AS j) s" -v c="$cid" -v j="$out")" \
    "t enabled 7776000 0 f"
run client show "$(q "SELECT gen_random_uuid()")"
status "client show of an unknown id: exit 1" 1
run client show not-a-uuid
status "client show of a malformed id: exit 2" 2

# client set ----------------------------------------------------------

run client set "$cid" --name "billing" --long-ttl-max 1h
status "client set" 0
is "client set: what changed" "$out" "client $cid changed: long_ttl_default, long_ttl_max, name"
is "client set: the row" "$(q "SELECT concat_ws(' ', name, long_ttl_default, long_ttl_max) FROM clients WHERE id = :'c'" -v c="$cid")" "billing 3600 3600"
is "client_changed event with the changed fields" \
    "$(q "SELECT detail::text FROM token_events WHERE event = 'client_changed' AND client_id = :'c'" -v c="$cid")" \
    '{"name": "billing", "long_ttl_max": 3600, "long_ttl_default": 3600}'
run client set "$cid" --name "billing"
is "client set without a change" "$out" "client $cid unchanged"
is "client set without a change: no event" \
    "$(q "SELECT count(*) FROM token_events WHERE event = 'client_changed' AND client_id = :'c'" -v c="$cid")" "1"
run client set "$cid" --scope "read tokend:rotate tokend:revoke"
status "client set --scope" 0
is "client set --scope: default scopes no longer granted are dropped" \
    "$(q "SELECT array_to_string(default_scopes, ' ') FROM clients WHERE id = :'c'" -v c="$cid")" "read"
run client set "$cid" --default-scope "write"
status "client set --default-scope outside the scopes: exit 2" 2
run client set "$cid" --default-scope "tokend:revoke"
status "client set --default-scope reserved: exit 2" 2
run client set "$cid"
status "client set with nothing to change: exit 2" 2
run client set "$(q "SELECT gen_random_uuid()")" --name x
status "client set of an unknown id: exit 1" 1
run client set "$cid" --scope "read write tokend:rotate tokend:revoke" --default-scope "read write"
status "client set --scope and --default-scope" 0

# tokens: list, revoke ------------------------------------------------

l1=$(issue_long "$cid" "$key")
s1=$(issue_short "$l1")
l2=$(issue_long "$cid2" "$key2")
like "tokens issued for the tests" "$l1 $s1 $l2" "^$uuid_re $uuid_re $uuid_re\$"
run token list
status "token list" 0
like "token list: a header" "$(head -1 <<<"$out")" "^ID +KIND +CLIENT +PARENT/FAMILY +SCOPE +ISSUED_AT +EXPIRES_AT +VALID_UNTIL +STATE\$"
like "token list: the long-term token" "$out" "$l1 +long +$cid +$l1 +read write .* valid"
like "token list: the short-term token and its parent" "$out" "$s1 +short +$cid +$l1 .* valid"
run token list --client "$cid2"
is "token list --client" "$(grep -cE "^$uuid_re" <<<"$out")" "1"
like "token list --client: that client's token" "$out" "$l2"
run token list --client "$cid" --json
status "token list --json" 0
is "token list --json: the members" \
    "$(q "SELECT string_agg(concat_ws(' ', e->>'kind', e->>'state', e->>'parent_id' IS NULL, e ? 'digest'), ',' ORDER BY e->>'kind') FROM jsonb_array_elements(('[' || :'j' || ']')::jsonb) e" -v j="$(paste -sd, <<<"$out")")" \
    "long valid t f,short valid f f"

run token revoke "$s1"
status "token revoke" 0
is "token revoke: says so" "$out" "token $s1 revoked"
is "token revoke: the revocation row" \
    "$(q "SELECT concat_ws(' ', reason, revoked_by IS NULL) FROM revocations WHERE token_id = :'t'" -v t="$s1")" "requested t"
is "token revoke: the event" \
    "$(q "SELECT concat_ws(' ', count(*), min(token_kind), min(parent_id::text) = :'l') FROM token_events WHERE event = 'revoked' AND token_id = :'t'" -v t="$s1" -v l="$l1")" "1 short t"
run token revoke "$s1"
status "token revoke again" 0
is "token revoke again: already revoked" "$out" "token $s1 was already revoked (requested)"
is "token revoke again: no second event" \
    "$(q "SELECT count(*) FROM token_events WHERE event = 'revoked' AND token_id = :'t'" -v t="$s1")" "1"
run token revoke "$(q "SELECT gen_random_uuid()")"
status "token revoke of an unknown id: exit 1" 1
run token revoke nope
status "token revoke of a malformed id: exit 2" 2
run token list
unlike "token list: a revoked token is not live" "$out" "$s1"
run token list --all
like "token list --all: the revoked token and why" "$out" "$s1 .* revoked:requested"

# client disable / enable ---------------------------------------------

l3=$(issue_long "$cid" "$key")
s3=$(issue_short "$l3")
run client disable "$cid"
status "client disable" 0
is "client disable: says how many tokens" "$out" "client $cid disabled; 3 tokens revoked"
is "client disable: disabled_at set" "$(q "SELECT disabled_at IS NOT NULL FROM clients WHERE id = :'c'" -v c="$cid")" "t"
is "client disable: every live token revoked, an earlier reason kept" \
    "$(q "SELECT string_agg(reason, ',' ORDER BY reason) FROM revocations r JOIN tokens t ON t.id = r.token_id WHERE t.client_id = :'c'" -v c="$cid")" \
    "client_disabled,client_disabled,client_disabled,requested"
is "client disable: the event" \
    "$(q "SELECT detail->>'revoked_tokens' FROM token_events WHERE event = 'client_disabled' AND client_id = :'c'" -v c="$cid")" "3"
is "client disable: the key is refused" \
    "$(q "SELECT (tokend_auth_client(:'c', sha256(convert_to(:'k', 'UTF8')))).id IS NULL" -v c="$cid" -v k="$key")" "t"
run client disable "$cid"
is "client disable again" "$rc $out" "0 client $cid was already disabled; 0 tokens revoked"
run token list --client "$cid"
is "token list: nothing live for a disabled client" "$(grep -cE "^$uuid_re" <<<"$out")" "0"
run client enable "$cid"
status "client enable" 0
is "client enable: the row and the event" \
    "$(q "SELECT concat_ws(' ', (SELECT disabled_at IS NULL FROM clients WHERE id = :'c'), (SELECT count(*) FROM token_events WHERE event = 'client_enabled' AND client_id = :'c'))" -v c="$cid")" "t 1"
run token list --client "$cid"
is "client enable does not bring tokens back" "$(grep -cE "^$uuid_re" <<<"$out")" "0"
run client enable "$cid"
is "client enable again" "$rc $out" "0 client $cid was already enabled"
run client disable "$(q "SELECT gen_random_uuid()")"
status "client disable of an unknown id: exit 1" 1
run client enable "$(q "SELECT gen_random_uuid()")"
status "client enable of an unknown id: exit 1" 1
run token list --client "$cid2"
like "another client's tokens are untouched" "$out" "$l2 .* valid"

# client rotate-key ---------------------------------------------------

run client rotate-key "$cid" --overlap 1h
status "client rotate-key --overlap" 0
like "client rotate-key prints client_id and client_key" "$out" "^client_id: $cid
client_key: $key_re\$"
unlike "client rotate-key: no key on stderr" "$err" "tkc_"
key_new=$(sed -n 's/^client_key: //p' <<<"$out")
unlike "client rotate-key: a new key" "$key_new" "^$key\$"
is "client rotate-key: new and old key both accepted during the overlap" \
    "$(q "SELECT concat_ws(' ', (tokend_auth_client(:'c', sha256(convert_to(:'n', 'UTF8')))).id IS NOT NULL, (tokend_auth_client(:'c', sha256(convert_to(:'k', 'UTF8')))).id IS NOT NULL, prev_key_valid_until - date_trunc('second', now()) BETWEEN '59 minutes' AND '1 hour') FROM clients WHERE id = :'c'" -v c="$cid" -v k="$key" -v n="$key_new")" \
    "t t t"
is "client rotate-key: the event" \
    "$(q "SELECT detail->>'overlap_seconds' FROM token_events WHERE event = 'key_rotated' AND client_id = :'c'" -v c="$cid")" "3600"
run client rotate-key "$cid"
status "client rotate-key without overlap" 0
key_newer=$(sed -n 's/^client_key: //p' <<<"$out")
is "client rotate-key without overlap: only the new key" \
    "$(q "SELECT concat_ws(' ', (tokend_auth_client(:'c', sha256(convert_to(:'n', 'UTF8')))).id IS NOT NULL, (tokend_auth_client(:'c', sha256(convert_to(:'k', 'UTF8')))).id IS NULL, prev_key_digest IS NULL) FROM clients WHERE id = :'c'" -v c="$cid" -v k="$key_new" -v n="$key_newer")" \
    "t t t"
run client rotate-key "$(q "SELECT gen_random_uuid()")"
status "client rotate-key of an unknown id: exit 1" 1
is "client rotate-key of an unknown id: no key printed" "$out" ""
run client rotate-key "$cid" --overlap 1y
status "client rotate-key with a bad duration: exit 2" 2

# token check ---------------------------------------------------------

run_raw token check "$key_newer"
status "token check of a client key" 0
is "token check: kind and id" "$out" "kind: client
id: $cid"
out=$(printf '%s\n' "$key_newer" | "$TOKENCTL" token check - 2>&1)
rc=$?
is "token check - reads stdin" "$rc $out" "0 kind: client
id: $cid"
last=${key_newer: -1}
[ "$last" == "0" ] && swap=1 || swap=0
run_raw token check "${key_newer%?}$swap"
status "token check of a changed checksum: exit 1" 1
unlike "token check never prints the token" "$out$err" "${key_newer%?}"
run_raw token check "tkx_${key_newer#tkc_}"
status "token check of a wrong prefix: exit 1" 1
run_raw token check "${key_newer}0"
status "token check of a wrong length: exit 1" 1
run_raw token check
status "token check without an argument: exit 2" 2
if command -v python3 >/dev/null; then
	# A tkl_ token built here by the format of CONTRACT §2.
	tkl=$(python3 - "$l1" <<'EOF'
import os, sys, uuid, zlib
A = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
def b62(n, width):
    s = ""
    while n:
        n, r = divmod(n, 62)
        s = A[r] + s
    return s.rjust(width, "0")
body = b62(int.from_bytes(uuid.UUID(sys.argv[1]).bytes + os.urandom(32), "big"), 65)
print("tkl_" + body + b62(zlib.crc32(("tkl_" + body).encode()), 6))
EOF
)
	run_raw token check "$tkl"
	is "token check of a long-term token" "$rc $out" "0 kind: long
id: $l1"
else
	pass "token check of a long-term token # SKIP no python3"
fi

# token prune ---------------------------------------------------------

# An expired family: a long-term token, 2500 short-term ones and a
# revocation, all expired five days ago.
q "WITH l AS (
	INSERT INTO tokens (id, kind, client_id, digest, family_id, generation,
	                    family_expires_at, scope, issued_at, expires_at, valid_until)
	VALUES (:'l', 'long', :'c', sha256('old'), :'l', 0, now() - interval '4 days',
	        '{}', now() - interval '10 days', now() - interval '5 days',
	        now() - interval '5 days')
	RETURNING id)
   INSERT INTO tokens (id, kind, client_id, digest, parent_id, scope, issued_at,
                       expires_at, valid_until)
   SELECT gen_random_uuid(), 'short', :'c', sha256(g::text::bytea), l.id, '{}',
          now() - interval '10 days', now() - interval '6 days' + g * interval '1 second',
          now() - interval '6 days' + g * interval '1 second'
   FROM l, generate_series(1, 2500) g" \
    -v c="$cid2" -v l="$(q "SELECT gen_random_uuid()")" >/dev/null
q "INSERT INTO revocations (token_id, reason)
   SELECT id, 'requested' FROM tokens WHERE kind = 'long' AND expires_at < now() - interval '1 day'" >/dev/null
ntokens=$(q "SELECT count(*) FROM tokens")
nevents=$(q "SELECT count(*) FROM token_events")
run token prune --expired-for 7d
is "token prune --expired-for 7d: nothing that old" "$rc $out" "0 pruned 0 tokens"
run token prune --expired-for 2d
is "token prune --expired-for 2d: the expired family, in batches" "$rc $out" "0 pruned 2501 tokens"
is "token prune: the rest stays" "$(q "SELECT count(*) FROM tokens")" "$((ntokens - 2501))"
is "token prune: their revocations go with them" \
    "$(q "SELECT count(*) FROM revocations r WHERE NOT EXISTS (SELECT 1 FROM tokens t WHERE t.id = r.token_id)")" "0"
is "token prune: the audit rows stay" "$(q "SELECT count(*) FROM token_events")" "$nevents"
run token prune
status "token prune without --expired-for: exit 2" 2

# audit partitions / audit prune ---------------------------------------

run audit partitions
like "audit partitions after migrate: nothing to make" "$rc $out" \
    "^0 token_events has partitions until [0-9]{4}-[0-9]{2}-01 \(UTC\)$"
is "audit partitions: four months, this one and three ahead" \
    "$(q "SELECT count(*) FROM tokend_audit_partition_list()
          WHERE range_from >= date_trunc('month', now(), 'UTC')")" "4"
run audit partitions --ahead 5
like "audit partitions --ahead 5: two more" "$rc $out" \
    "^0 created partition token_events_[0-9_]{7}
created partition token_events_[0-9_]{7}
token_events has partitions until"
run audit partitions --ahead -1
status "audit partitions --ahead -1: exit 2" 2
run audit partitions 3
status "audit partitions with a stray argument: exit 2" 2
run audit prune --before 2000-01-01
is "audit prune before every partition" "$rc $out" \
    "0 no partition of token_events ends on or before 2000-01-01"
run audit prune --before 01/01/2000
status "audit prune --before a date not YYYY-MM-DD: exit 2" 2
run audit frobnicate
status "unknown audit subcommand: exit 2" 2
q "INSERT INTO token_events (occurred_at, event) VALUES (now() + interval '1 month', 'client_enabled')" >/dev/null
is "a row dated next month has its partition" \
    "$(q "SELECT count(*) FROM token_events WHERE occurred_at > now()")" "1"

# setup-roles ---------------------------------------------------------

run --role-owner "${db}_owner" --role-app "" --role-auditor "${db}_auditor" setup-roles
status "setup-roles with an empty role name: exit 2" 2
like "setup-roles with an empty role name: names the setting" "$err" "role_app"
run --role-owner "${db}_owner" --role-app "${db}_app" --role-auditor "${db}_auditor" setup-roles
status "setup-roles" 0
like "setup-roles: the roles made and recorded" "$out" \
    "created role ${db}_owner .*created role ${db}_app .*created role ${db}_auditor .*owner ${db}_owner, app ${db}_app, auditor ${db}_auditor"
run --role-owner "${db}_owner" --role-app "${db}_app" --role-auditor "${db}_auditor" setup-roles
status "setup-roles again" 0
case $url in
*://*) pass "tokenctl as the owner # SKIP the URL is not keywords" ;;
*)
	run_raw --admin-database-url "$url user=${db}_owner" client list
	status "tokenctl as the owner role: client list" 0
	run_raw --admin-database-url "$url user=${db}_app" \
	    --role-owner "${db}_owner" --role-app "${db}_app" --role-auditor "${db}_auditor" setup-roles
	status "setup-roles without CREATEROLE: exit 1" 1
	like "setup-roles without CREATEROLE: says so" "$err" "needs the CREATEROLE privilege"
	run_raw --admin-database-url "$url user=${db}_app" client list
	status "the app role may not list clients" 1
	;;
esac

# where the database comes from ----------------------------------------

out=$(TOKEND_ADMIN_DATABASE_URL=$url "$TOKENCTL" client list 2>&1)
rc=$?
like "TOKEND_ADMIN_DATABASE_URL" "$rc $out" "^0 ID "
run_raw --database-url "$url" client list
like "database_url when admin_database_url is not set" "$rc $out" "^0 ID "
run_raw --database-url "host=/nonexistent-socket-dir" --admin-database-url "$url" client list
like "admin_database_url wins over database_url" "$rc $out" "^0 ID "
printf 'admin_database_url = %s\n' "$url" >"$tmp/tokend.conf"
run_raw --config "$tmp/tokend.conf" client list
like "admin_database_url from --config" "$rc $out" "^0 ID "
run_raw --admin-database-url "$(scratch_url "$base_url" "${db}_missing")" client list
status "a database that does not exist: exit 1" 1
like "a database that does not exist: said why" "$err" "^tokenctl: could not connect to database: "
case $base_url in
*://* | *\'* | *\"*) pass "libpq's PG* variables # SKIP the URL is not simple keywords" ;;
*)
	# A service file holds the same keywords as PG* variables would.
	printf '[tkctl]\n%s\ndbname=%s\n' \
	    "$(tr ' ' '\n' <<<"$base_url" | grep . | grep -v '^dbname=')" "$db" \
	    >"$tmp/pg_service.conf"
	out=$(PGSERVICEFILE=$tmp/pg_service.conf PGSERVICE=tkctl "$TOKENCTL" client list 2>&1)
	rc=$?
	like "libpq's PG* variables when no URL is set" "$rc $out" "^0 ID "
	;;
esac

echo "1..$n"
if [ "$failed" -gt 0 ]; then
	echo "# $failed of $n failed"
	exit 1
fi
echo "# all $n passed"
exit 0
