#!/usr/bin/env bash
# tests/authorizer/run.sh - tokend as a FastCGI authorizer, end to end:
# one tokend (spawn-fcgi), one lighttpd (deploy/lighttpd/tokend-authorizer.conf)
# and one Apache (deploy/apache/tokend-authorizer.conf), each guarding
# /app/ where deploy/app/env.cgi runs, and the API under /v1/.
#
#   - on both servers, every way a token can fail to open /app/ (no token,
#     malformed, long-term, client key, expired, revoked, child of a
#     revoked or of a rotated parent, disabled client, missing scope,
#     wrong audience): 401 or 403 with the right challenge and problem
#     document, and the application never runs; a valid token: 200, and
#     the application sees the token's variables;
#   - on both servers, a revocation is seen at once by every worker;
#   - POST /v1/auth/tokens/introspect (through lighttpd): who may ask,
#     what is active, and that only the caller's own failed
#     authentication counts toward rate limits.
#
# Needs a running cluster and installed binaries, as tests/run.sh has
# them: RUNDIR, PGPORT and STACK_BIN (and STACK_SQL_DIR, default
# STACK_BIN/../share/sql) in the environment.  Prints one line per check
# and a final "N passed, N failed"; exits non-zero on failure.
# shellcheck disable=SC2016	# jq programs are single-quoted on purpose
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../lib/stack.sh
. "$ROOT/tests/lib/stack.sh"
: "${RUNDIR:?}" "${PGPORT:?}" "${STACK_BIN:?}"
: "${STACK_SQL_DIR:=$(dirname "$STACK_BIN")/share/sql}"
RUNDIR=$RUNDIR/authorizer
mkdir -p "$RUNDIR"
chmod 755 "$RUNDIR"
TMP=$RUNDIR/tmp
mkdir -p "$TMP"

# shellcheck source=../lib/checks.sh
. "$ROOT/tests/lib/checks.sh"
# verdict NAME: ok when WHY (the reasons gathered by the checks of one
# case) is empty, else not ok with them.
WHY=()
verdict() {
	if [ ${#WHY[@]} -eq 0 ]; then ok "$1"; else not_ok "$1: $(IFS=';'; echo "${WHY[*]}")"; fi
	WHY=()
}
want() {	# want REASON COMMAND...: add REASON unless the command succeeds
	local why=$1
	shift
	"$@" || WHY+=(" $why")
}
quiet() { "$@" >/dev/null 2>&1; }
lacks() { ! grep -qE -- "$1" "$2"; }		# lacks ERE FILE
lacks_text() { ! grep -qF -- "$1" "$2"; }	# lacks TEXT FILE

DB=authz
trap 'stack_stop_servers; stack_db_drop $DB >/dev/null 2>&1' EXIT
trap 'exit 1' INT TERM
stack_db_drop $DB >/dev/null 2>&1
stack_db_create $DB >/dev/null || { echo "could not create database"; exit 1; }
URL=$(stack_db_url $DB)
tokenctl() { "$STACK_BIN/tokenctl" --admin-database-url "$URL" "$@"; }

# One tokend for both roles and both servers.  Every refusal below counts
# as a failed authentication from 127.0.0.1: the budget is raised.
WORKERS=2 THREADS=4
FCGI=$(stack_free_port)
HTTP_L=$(stack_free_port)
HTTP_A=$(stack_free_port)
while [ "$HTTP_L" = "$FCGI" ]; do HTTP_L=$(stack_free_port); done
while [ "$HTTP_A" = "$FCGI" ] || [ "$HTTP_A" = "$HTTP_L" ]; do HTTP_A=$(stack_free_port); done
# The application: deploy/app/env.cgi where each config serves /app/.
for d in "$RUNDIR/lighttpd-$HTTP_L" "$RUNDIR/apache-$HTTP_A"; do
	mkdir -p "$d/www/app"
	chmod 755 "$d" "$d/www" "$d/www/app"
	install -m 755 "$ROOT/deploy/app/env.cgi" "$d/www/app/env.cgi"
done
if ! stack_tokend_start $DB "$FCGI" --workers $WORKERS --threads $THREADS \
    --rate-limit-budget 1000 >/dev/null; then
	echo "could not start tokend"
	exit 1
fi
servers=()
if stack_lighttpd_start_conf "$ROOT/deploy/lighttpd/tokend-authorizer.conf" "$HTTP_L" "$FCGI" >/dev/null; then
	ok "lighttpd starts from deploy/lighttpd/tokend-authorizer.conf"
	servers+=(lighttpd)
else
	not_ok "lighttpd starts from deploy/lighttpd/tokend-authorizer.conf"
fi
if stack_apache_start_conf "$ROOT/deploy/apache/tokend-authorizer.conf" "$HTTP_A" "$FCGI" >/dev/null; then
	ok "Apache starts from deploy/apache/tokend-authorizer.conf"
	servers+=(apache)
else
	not_ok "Apache starts from deploy/apache/tokend-authorizer.conf"
fi
[ ${#servers[@]} -gt 0 ] || { echo "$passed passed, $failed failed"; exit 1; }
declare -A ORIGIN=([lighttpd]=http://127.0.0.1:$HTTP_L [apache]=http://127.0.0.1:$HTTP_A)
API=${ORIGIN[${servers[0]}]}/v1	# where fixtures are made

# ------------------------------------------------------------- helpers
# fetch URL [curl args...]: CODE, and the headers and body in TMP/h, TMP/b.
fetch() {
	local url=$1
	shift
	CODE=$(curl -s --max-time 15 -D "$TMP/h" -o "$TMP/b" -w '%{http_code}' "$@" "$url")
}
# header NAME: the value of the last response header NAME.
header() {
	tr -d '\r' <"$TMP/h" | awk -v n="$(tr '[:upper:]' '[:lower:]' <<<"$1")" '
		{ i = index($0, ":"); if (i && tolower(substr($0, 1, i - 1)) == n) { v = substr($0, i + 1); sub(/^[ \t]+/, "", v) } }
		END { print v }'
}
# new_client NAME SCOPE: prints "client_id client_key".
new_client() {
	tokenctl client create --name "$1" --scope "$2" --default-scope "$2" |
	    awk '$1 == "client_id:" { id = $2 } $1 == "client_key:" { key = $2 } END { print id, key }'
}
# long CLIENT_ID KEY: prints "token_id long_token".
long() {
	curl -s --max-time 10 -X POST "$API/auth/tokens/long" -H 'Content-Type: application/json' \
	    -H "X-Client-Key: $2" -d "{\"grant_type\":\"client_credentials\",\"client_id\":\"$1\"}" |
	    jq -r '"\(.token_id) \(.long_token)"'
}
# short LONG_TOKEN JSON: the whole response (token_id, access_token, ...).
short() {
	curl -s --max-time 10 -X POST "$API/auth/tokens/short" -H "Authorization: Bearer $1" \
	    -H 'Content-Type: application/json' -d "$2"
}
revoke() {	# revoke TOKEN_ID BEARER: prints the status
	curl -s --max-time 10 -o /dev/null -w '%{http_code}' -X POST \
	    "$API/auth/tokens/$1/revoke" -H "Authorization: Bearer $2" -d ''
}
# well_formed_unknown PREFIX: a token of a well-formed shape and checksum
# (CONTRACT §2) for an id that exists nowhere.
well_formed_unknown() {
	/usr/bin/python3 - "$1" <<-'EOF'
	import os, sys, uuid, zlib
	A = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	def b62(n, width):
	    s = ""
	    while n:
	        n, r = divmod(n, 62)
	        s = A[r] + s
	    return s.rjust(width, "0")
	p = sys.argv[1]
	body = b62(int.from_bytes(uuid.uuid4().bytes + os.urandom(32), "big"), 65)
	print(p + body + b62(zlib.crc32((p + body).encode()), 6))
	EOF
}
auth_failed_total() {
	stack_psql $DB -At -c "SELECT coalesce(sum(count), 0) FROM token_events WHERE event = 'auth_failed'"
}
# auth_failed_settled: the total once the flusher has written everything
# (the same value twice, 1.2 s apart; the flusher writes once a second).
auth_failed_settled() {
	local a b
	b=$(auth_failed_total)
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		sleep 1.2
		a=$b
		b=$(auth_failed_total)
		[ "$a" = "$b" ] && break
	done
	echo "$b"
}

# ------------------------------------------------------------ fixtures
# The protected location requires scope "read" and the audience word
# "example-app" (deploy/*/tokend-authorizer.conf).
OK_REQ='{"scope":"read write","audience":"other example-app"}'
read -r A_ID A_KEY < <(new_client app "read write")
read -r D_ID D_KEY < <(new_client app-disabled "read")
read -r A_LONG_ID A_LONG < <(long "$A_ID" "$A_KEY")
check "fixtures: a client and a long-term token ($A_LONG_ID)" test -n "$A_LONG" -a "$A_LONG" != null

VALID_JSON=$(short "$A_LONG" "$OK_REQ")
VALID=$(jq -r .access_token <<<"$VALID_JSON")
VALID_ID=$(jq -r .token_id <<<"$VALID_JSON")
VALID_EXP=$(jq -r .expires_at <<<"$VALID_JSON")
EXPIRED=$(short "$A_LONG" '{"audience":"example-app","ttl_seconds":1}' | jq -r .access_token)
NO_SCOPE=$(short "$A_LONG" '{"scope":"write","audience":"example-app"}' | jq -r .access_token)
EMPTY_SCOPE=$(short "$A_LONG" '{"scope":"","audience":"example-app"}' | jq -r .access_token)
WRONG_AUD=$(short "$A_LONG" '{"audience":"other"}' | jq -r .access_token)
NEAR_AUD=$(short "$A_LONG" '{"audience":"example-apps"}' | jq -r .access_token)
NO_AUD=$(short "$A_LONG" '{}' | jq -r .access_token)
REVOKED_JSON=$(short "$A_LONG" '{"audience":"example-app"}')
REVOKED=$(jq -r .access_token <<<"$REVOKED_JSON")
# A second long-term token to revoke, a third to rotate with no overlap.
read -r P2_ID P2 < <(long "$A_ID" "$A_KEY")
CHILD_REVOKED=$(short "$P2" '{"audience":"example-app"}' | jq -r .access_token)
read -r P3_ID P3 < <(long "$A_ID" "$A_KEY")
CHILD_ROTATED=$(short "$P3" '{"audience":"example-app"}' | jq -r .access_token)
read -r _ D_LONG < <(long "$D_ID" "$D_KEY")
DISABLED=$(short "$D_LONG" '{"audience":"example-app"}' | jq -r .access_token)
UNKNOWN=$(well_formed_unknown tks_)
BAD_CHECK=${VALID%?}$([ "${VALID: -1}" = A ] && echo B || echo A)
all=1
for t in "$VALID" "$EXPIRED" "$NO_SCOPE" "$EMPTY_SCOPE" "$WRONG_AUD" "$NEAR_AUD" "$NO_AUD" \
    "$REVOKED" "$CHILD_REVOKED" "$CHILD_ROTATED" "$DISABLED"; do
	[[ $t == tks_* ]] || all=0
done
check "fixtures: short-term tokens issued" test $all = 1
check "fixtures: a well-formed unknown token passes tokenctl token check" \
    quiet tokenctl token check "$UNKNOWN"

# Before they are ended, the tokens about to be ended open the location:
# their refusal below is the end's doing.
for s in "${servers[@]}"; do
	codes=""
	for t in "$REVOKED" "$CHILD_REVOKED" "$CHILD_ROTATED" "$DISABLED"; do
		fetch "${ORIGIN[$s]}/app/env.cgi" -H "Authorization: Bearer $t"
		codes+="$CODE "
	done
	check "$s: before their end, the tokens to be ended open /app/ ($codes)" \
	    test "$codes" = "200 200 200 200 "
done

# End them: revoke one; revoke a parent; rotate a parent with no overlap
# (only its child is presented below: presenting the parent would be
# reuse); disable a client.
code=$(revoke "$(jq -r .token_id <<<"$REVOKED_JSON")" "$A_LONG")
check "fixtures: a short-term token revoked (HTTP $code)" test "$code" = 204
code=$(revoke "$P2_ID" "$A_LONG")
check "fixtures: a parent revoked (HTTP $code)" test "$code" = 204
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$API/auth/tokens/long" \
    -H 'Content-Type: application/json' -H "X-Client-Key: $A_KEY" \
    -d "{\"grant_type\":\"rotate\",\"client_id\":\"$A_ID\",\"token_id\":\"$P3_ID\",\"overlap_seconds\":0}")
check "fixtures: a parent rotated with overlap_seconds 0 (HTTP $code)" test "$code" = 201
check "fixtures: a client disabled (tokenctl client disable)" \
    quiet tokenctl client disable "$D_ID"
sleep 2	# the 1-second token has expired, the overlap of 0 s has passed

# ------------------------------------------------ the protected location
# deny SERVER NAME STATUS ERROR CHALLENGE [curl args...]: GET /app/env.cgi
# answers STATUS with WWW-Authenticate CHALLENGE and tokend's problem
# document for ERROR, and the application does not run.
deny() {
	local s=$1 name=$2 status=$3 error=$4 challenge=$5 ch ct rid title
	shift 5
	fetch "${ORIGIN[$s]}/app/env.cgi" "$@"
	ch=$(header WWW-Authenticate)
	ct=$(header Content-Type)
	rid=$(header X-Request-Id)
	case $error in
	invalid_token) title="Invalid token" ;;
	insufficient_scope) title="Insufficient scope" ;;
	esac
	want "HTTP $CODE" test "$CODE" = "$status"
	want "WWW-Authenticate: $ch" test "$ch" = "$challenge"
	want "the application ran" lacks '^(TOKEN_[A-Z_]*|REMOTE_USER|REQUEST_URI)=' "$TMP/b"
	want "Content-Type: $ct" test "${ct%%;*}" = application/problem+json
	want "problem document: $(head -c 300 "$TMP/b")" jq -e --arg e "$error" --arg t "$title" \
	    --argjson s "$status" --arg rid "$rid" \
	    '.type == "urn:tokend:problem:" + $e and .title == $t and .status == $s and
	     .error == $e and .request_id == $rid and (.detail | type) == "string" and
	     (keys | length) == 6' "$TMP/b" >/dev/null
	verdict "$s: $name: $status $error, the application does not run"
}

NO_CH='Bearer realm="tokend"'
BAD_CH='Bearer realm="tokend", error="invalid_token"'
SCOPE_CH='Bearer realm="tokend", error="insufficient_scope"'
for s in "${servers[@]}"; do
	deny "$s" "no token" 401 invalid_token "$NO_CH"
	deny "$s" "another scheme (Basic)" 401 invalid_token "$NO_CH" -H 'Authorization: Basic dXNlcjpwYXNz'
	deny "$s" "malformed token" 401 invalid_token "$BAD_CH" -H 'Authorization: Bearer tks_notatoken'
	deny "$s" "bad checksum" 401 invalid_token "$BAD_CH" -H "Authorization: Bearer $BAD_CHECK"
	deny "$s" "unknown token" 401 invalid_token "$BAD_CH" -H "Authorization: Bearer $UNKNOWN"
	deny "$s" "long-term token" 401 invalid_token "$BAD_CH" -H "Authorization: Bearer $A_LONG"
	deny "$s" "client key as Bearer" 401 invalid_token "$BAD_CH" -H "Authorization: Bearer $A_KEY"
	deny "$s" "client key in X-Client-Key (no credential)" 401 invalid_token "$NO_CH" \
	    -H "X-Client-Key: $A_KEY"
	deny "$s" "expired token" 401 invalid_token "$BAD_CH" -H "Authorization: Bearer $EXPIRED"
	deny "$s" "revoked token" 401 invalid_token "$BAD_CH" -H "Authorization: Bearer $REVOKED"
	deny "$s" "child of a revoked parent" 401 invalid_token "$BAD_CH" \
	    -H "Authorization: Bearer $CHILD_REVOKED"
	deny "$s" "child of a parent rotated past its overlap" 401 invalid_token "$BAD_CH" \
	    -H "Authorization: Bearer $CHILD_ROTATED"
	deny "$s" "token of a disabled client" 401 invalid_token "$BAD_CH" \
	    -H "Authorization: Bearer $DISABLED"
	deny "$s" "missing scope read" 403 insufficient_scope "$SCOPE_CH" \
	    -H "Authorization: Bearer $NO_SCOPE"
	deny "$s" "empty scope" 403 insufficient_scope "$SCOPE_CH" \
	    -H "Authorization: Bearer $EMPTY_SCOPE"
	deny "$s" "wrong audience" 403 insufficient_scope "$SCOPE_CH" \
	    -H "Authorization: Bearer $WRONG_AUD"
	deny "$s" "audience only like the required word" 403 insufficient_scope "$SCOPE_CH" \
	    -H "Authorization: Bearer $NEAR_AUD"
	deny "$s" "no audience" 403 insufficient_scope "$SCOPE_CH" \
	    -H "Authorization: Bearer $NO_AUD"

	# Other spellings of the protected path are guarded too (or not
	# served at all): the web server matches the location after
	# normalizing the path.
	bad=""
	for p in '//app/env.cgi' '/./app/env.cgi' '/x/../app/env.cgi' '/v1/../app/env.cgi' \
	    '/app/%2e%2e/app/env.cgi' '/%61pp/env.cgi' '/app%2fenv.cgi' '/app//env.cgi' \
	    '/app/env%2Ecgi' '/app/env.cgi/extra' '/app/env.cgi?x=1'; do
		fetch "${ORIGIN[$s]}$p" --path-as-is -H "Authorization: Bearer $NO_SCOPE"
		if { [ "$CODE" != 403 ] && [ "$CODE" != 404 ]; } ||
		    ! lacks '^(TOKEN_[A-Z_]*|REMOTE_USER|REQUEST_URI)=' "$TMP/b"; then
			bad+=" $p:$CODE"
		fi
	done
	check "$s: other spellings of /app/env.cgi are refused too (403 or 404, the application does not run)${bad:+:$bad}" \
	    test -z "$bad"

	# The valid token: 200, and the application sees exactly its values.
	fetch "${ORIGIN[$s]}/app/env.cgi" -H "Authorization: Bearer $VALID"
	want "HTTP $CODE" test "$CODE" = 200
	want "WWW-Authenticate: $(header WWW-Authenticate)" test -z "$(header WWW-Authenticate)"
	for line in "TOKEN_CLIENT_ID=$A_ID" "TOKEN_ID=$VALID_ID" "TOKEN_SCOPE=read write" \
	    "TOKEN_AUDIENCE=other example-app" "TOKEN_EXPIRES_AT=$VALID_EXP" "REQUEST_URI=/app/env.cgi"; do
		want "no line $line" grep -qxF "$line" "$TMP/b"
	done
	[ "$s" = apache ] && want "no line REMOTE_USER=$A_ID" grep -qxF "REMOTE_USER=$A_ID" "$TMP/b"
	want "the token itself reached the application's output" lacks_text "$VALID" "$TMP/b"
	verdict "$s: valid token: 200, the application sees TOKEN_CLIENT_ID, TOKEN_ID, TOKEN_SCOPE, TOKEN_AUDIENCE, TOKEN_EXPIRES_AT$([ "$s" = apache ] && echo ', REMOTE_USER')"
	# /v1/ beside /app/: tokend answers as a responder there, and the
	# requirements are /app/'s alone (a token without scope read is
	# accepted: revoking an unknown id answers 404, not 401).
	code=$(curl -s -o /dev/null -w '%{http_code}' -X POST \
	    "${ORIGIN[$s]}/v1/auth/tokens/00000000-0000-4000-8000-000000000000/revoke" \
	    -H "Authorization: Bearer $NO_SCOPE" -d '')
	check "$s: /v1/ is served by tokend as a responder beside /app/ (HTTP $code)" test "$code" = 404
done

# A revocation is seen at once by every worker and thread: no cache.
N=$((2 * WORKERS * THREADS + 8))
for s in "${servers[@]}"; do
	J=$(short "$A_LONG" '{"audience":"example-app"}')
	T=$(jq -r .access_token <<<"$J")
	hits() {
		seq 1 "$N" | xargs -P 8 -I{} curl -s -o /dev/null -w '%{http_code}\n' --max-time 15 \
		    -H "Authorization: Bearer $T" "${ORIGIN[$s]}/app/env.cgi" | sort | uniq -c | tr -s ' \n' ' '
	}
	before=$(hits)
	code=$(revoke "$(jq -r .token_id <<<"$J")" "$A_LONG")
	after=$(hits)
	check "$s: revoked (HTTP $code), then $N requests over $WORKERS workers x $THREADS threads: all 401 (before:$before; after:$after)" \
	    test "$code" = 204 -a "$before" = " $N 200 " -a "$after" = " $N 401 "
done

# --------------------------------------------------------- introspection
# A resource server (the only kind of client that may introspect); the
# introspected tokens must name it in their audience (its client id or its
# name, as a word) or belong to its own client.
if "$STACK_BIN/tokenctl" client create --help 2>&1 | grep -q -- '--resource-server'; then
	read -r R_ID R_KEY < <(tokenctl client create --name inventory --scope read \
	    --default-scope read --resource-server |
	    awk '$1 == "client_id:" { id = $2 } $1 == "client_key:" { key = $2 } END { print id, key }')
else
	read -r R_ID R_KEY < <(new_client inventory read)
	stack_psql $DB -c "UPDATE clients SET resource_server = true WHERE id = '$R_ID'"
fi
check "introspection: a resource-server client ($R_ID)" \
    test "$(stack_psql $DB -At -c "SELECT resource_server FROM clients WHERE id = '$R_ID'")" = t
read -r O_ID O_KEY < <(new_client billing read)
read -r _ O_LONG < <(long "$O_ID" "$O_KEY")
read -r _ R_LONG < <(long "$R_ID" "$R_KEY")

BY_NAME_JSON=$(short "$A_LONG" '{"scope":"read","audience":"inventory reports","ttl_seconds":600}')
BY_ID=$(short "$A_LONG" "{\"audience\":\"x $R_ID\"}" | jq -r .access_token)
OWN=$(short "$R_LONG" '{}' | jq -r .access_token)
OTHER_TENANT=$(short "$O_LONG" '{"audience":"billing-api"}' | jq -r .access_token)
NEAR_NAME=$(short "$A_LONG" '{"audience":"inventory-service"}' | jq -r .access_token)
# Tokens that do name the resource server but are not valid.
R_EXPIRED=$(short "$A_LONG" '{"audience":"inventory","ttl_seconds":1}' | jq -r .access_token)
R_REVOKED_JSON=$(short "$A_LONG" '{"audience":"inventory"}')
R_REVOKED=$(jq -r .access_token <<<"$R_REVOKED_JSON")
revoke "$(jq -r .token_id <<<"$R_REVOKED_JSON")" "$A_LONG" >/dev/null
# CHILD_REVOKED and DISABLED from above, made for "example-app": give the
# resource server tokens of those kinds of its own.
read -r P4_ID P4 < <(long "$A_ID" "$A_KEY")
R_CHILD_REVOKED=$(short "$P4" '{"audience":"inventory"}' | jq -r .access_token)
revoke "$P4_ID" "$A_LONG" >/dev/null
read -r D2_ID D2_KEY < <(new_client app-disabled-2 read)
read -r _ D2_LONG < <(long "$D2_ID" "$D2_KEY")
R_DISABLED=$(short "$D2_LONG" '{"audience":"inventory"}' | jq -r .access_token)
tokenctl client disable "$D2_ID" >/dev/null
sleep 2

# introspect KEY TOKEN: POST /v1/auth/tokens/introspect through lighttpd
# (the first server) with X-Client-Key KEY (none if empty).
introspect() {
	local key=$1 tok=$2 args
	args=(-X POST -H 'Content-Type: application/json'
	    --data-binary "$(jq -cn --arg t "$tok" '{token: $t}')")
	[ -n "$key" ] && args+=(-H "X-Client-Key: $key")
	fetch "$API/auth/tokens/introspect" "${args[@]}"
}

BY_NAME=$(jq -r .access_token <<<"$BY_NAME_JSON")
introspect "$R_KEY" "$BY_NAME"
exp=$(jq -r '.expires_at | fromdateiso8601' <<<"$BY_NAME_JSON")
want "HTTP $CODE" test "$CODE" = 200
want "Content-Type $(header Content-Type)" test "$(header Content-Type)" = application/json
want "Cache-Control $(header Cache-Control)" test "$(header Cache-Control)" = no-store
want "body $(cat "$TMP/b")" jq -e --arg c "$A_ID" --arg id "$(jq -r .token_id <<<"$BY_NAME_JSON")" \
    --argjson exp "$exp" '
    .active == true and .client_id == $c and .token_id == $id and .scope == "read" and
    .aud == "inventory reports" and .exp == $exp and (.iat | type) == "number" and
    .iat == (.iat | floor) and .exp - .iat == 600 and .token_type == "Bearer" and
    (keys | sort) == (["active","aud","client_id","exp","iat","scope","token_id","token_type"] | sort)' \
    "$TMP/b" >/dev/null
verdict "introspection: a token whose audience names the caller: active, with client_id, token_id, scope, aud, exp, iat (integers), token_type"

introspect "$R_KEY" "$BY_ID"
want "HTTP $CODE $(cat "$TMP/b")" test "$CODE" = 200
want "not active: $(cat "$TMP/b")" jq -e '.active == true' "$TMP/b" >/dev/null
verdict "introspection: a token whose audience names the caller's client id: active"

introspect "$R_KEY" "$OWN"
want "HTTP $CODE $(cat "$TMP/b")" test "$CODE" = 200
want "body $(cat "$TMP/b")" jq -e --arg c "$R_ID" '.active == true and .client_id == $c' "$TMP/b" >/dev/null
verdict "introspection: a token of the caller's own client, no audience: active"

# inactive NAME TOKEN: {"active": false} and nothing else.
inactive() {
	introspect "$R_KEY" "$2"
	want "HTTP $CODE" test "$CODE" = 200
	want "body $(head -c 300 "$TMP/b")" jq -e '. == {"active": false}' "$TMP/b" >/dev/null
	verdict "introspection: $1: {\"active\": false}"
}
base=$(auth_failed_settled)
inactive "unknown token" "$UNKNOWN"
inactive "expired token" "$R_EXPIRED"
inactive "revoked token" "$R_REVOKED"
inactive "child of a revoked parent" "$R_CHILD_REVOKED"
inactive "token of a disabled client" "$R_DISABLED"
inactive "malformed token" "tks_notatoken"
inactive "bad checksum" "$BAD_CHECK"
inactive "an empty string" ""
inactive "long-term token" "$A_LONG"
inactive "client key" "$A_KEY"
inactive "another tenant's token (audience names someone else)" "$OTHER_TENANT"
inactive "audience only like the caller's name" "$NEAR_NAME"
inactive "the caller's own client key" "$R_KEY"
after=$(auth_failed_settled)
check "introspection: inactive answers count no failed authentication (auth_failed total $base -> $after)" \
    test "$base" = "$after"

# The caller's own authentication.
introspect "$A_KEY" "$BY_NAME"
want "HTTP $CODE" test "$CODE" = 401
want "WWW-Authenticate $(header WWW-Authenticate)" test "$(header WWW-Authenticate)" = \
    'ClientKey realm="tokend", header="X-Client-Key", error="invalid_client"'
want "body $(head -c 300 "$TMP/b")" jq -e '.status == 401 and .error == "invalid_client"' "$TMP/b" >/dev/null
want "the answer tells about the token" lacks active "$TMP/b"
verdict "introspection: a client key that is not a resource server's: 401 invalid_client"
introspect "$(well_formed_unknown tkc_)" "$BY_NAME"
want "HTTP $CODE" test "$CODE" = 401
want "body $(head -c 300 "$TMP/b")" jq -e '.error == "invalid_client"' "$TMP/b" >/dev/null
verdict "introspection: an unknown client key: 401 invalid_client"
introspect "" "$BY_NAME"
want "HTTP $CODE" test "$CODE" = 401
want "WWW-Authenticate $(header WWW-Authenticate)" test "$(header WWW-Authenticate)" = \
    'ClientKey realm="tokend", header="X-Client-Key"'
verdict "introspection: no client key: 401 with a challenge and no error="
introspect "$BY_NAME" "$BY_NAME"
want "HTTP $CODE" test "$CODE" = 401
verdict "introspection: a short-term token as client key: 401"
after2=$(auth_failed_settled)
check "introspection: each refused caller counts as one failed authentication ($after -> $after2, 3 more)" \
    test "$after2" -eq $((after + 3))

# Requests that never get as far as the credential.
fetch "$API/auth/tokens/introspect" -X GET -H "X-Client-Key: $R_KEY"
check "introspection: GET: 405 with Allow: POST (HTTP $CODE)" \
    test "$CODE" = 405 -a "$(header Allow)" = POST
fetch "$API/auth/tokens/introspect" -X POST -H "X-Client-Key: $R_KEY" \
    -H 'Content-Type: text/plain' -d "{\"token\":\"$BY_NAME\"}"
check "introspection: a body that is not JSON: 415 (HTTP $CODE)" test "$CODE" = 415
for body in '{}' '{"token":null}' "{\"token\":\"$BY_NAME\",\"extra\":1}" \
    "{\"token\":\"$(printf 'a%.0s' $(seq 1 201))\"}" '[]' '{"token":"a","token":"b"}'; do
	fetch "$API/auth/tokens/introspect" -X POST -H "X-Client-Key: $R_KEY" \
	    -H 'Content-Type: application/json' --data-binary "$body"
	want "$(head -c 40 <<<"$body")...: HTTP $CODE" test "$CODE" = 400
	want "$(head -c 40 <<<"$body")...: $(head -c 200 "$TMP/b")" \
	    jq -e '.error == "invalid_request"' "$TMP/b" >/dev/null
done
verdict "introspection: missing, null, unknown, too long (201), duplicate member or not an object: 400 invalid_request"

# Through Apache too: the same tokend answers under /v1/.
if [ -n "${ORIGIN[apache]:-}" ] && [[ " ${servers[*]} " == *" apache "* ]]; then
	fetch "${ORIGIN[apache]}/v1/auth/tokens/introspect" -X POST -H "X-Client-Key: $R_KEY" \
	    -H 'Content-Type: application/json' --data-binary "{\"token\":\"$BY_NAME\"}"
	check "introspection through Apache: active (HTTP $CODE)" \
	    eval '[ "$CODE" = 200 ] && jq -e ".active == true" "$TMP/b" >/dev/null'
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
