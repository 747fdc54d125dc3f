#!/usr/bin/env bash
#
# run-local.sh - run tokend on this machine, for trying it out.
#
#   deploy/run-local.sh         install what is missing, build, start, and
#                               print commands to paste into a shell
#   deploy/run-local.sh stop    stop everything it started
#   deploy/run-local.sh reset   stop, and delete the run directory (database
#                               included)
#
# For Debian 12, as root.  Everything it makes lives under one directory,
# ${TOKEND_RUNDIR:-/var/tmp/tokend-local}: a private PostgreSQL 15 cluster
# on 127.0.0.1:${TOKEND_PGPORT:-55433}, tokend under spawn-fcgi on
# 127.0.0.1:${TOKEND_FCGI_PORT:-9000}, lighttpd on
# 127.0.0.1:${TOKEND_HTTP_PORT:-8080} (deploy/lighttpd/tokend.conf).
# Nothing listens beyond loopback and no system service is started.
# Running it again restarts tokend and lighttpd with a fresh build, keeps
# the database, and gives the demo client a new key.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNDIR=${TOKEND_RUNDIR:-/var/tmp/tokend-local}
PGPORT=${TOKEND_PGPORT:-55433}
HTTP_PORT=${TOKEND_HTTP_PORT:-8080}
FCGI_PORT=${TOKEND_FCGI_PORT:-9000}
DB=tokend
# shellcheck source-path=SCRIPTDIR source=../tests/lib/stack.sh
source "$ROOT/tests/lib/stack.sh"

die() {
	printf 'run-local.sh: %s\n' "$*" >&2
	exit 1
}

case "${1:-start}" in
stop)
	stack_stop || exit 1
	exit 0
	;;
reset)
	stack_stop || exit 1
	# Only a directory this script made: it holds the cluster or binaries.
	if [ -d "$RUNDIR" ]; then
		[ -e "$RUNDIR/pg/PG_VERSION" ] || [ -e "$RUNDIR/bin/tokend" ] ||
		    die "$RUNDIR does not look like a tokend run directory; not removing it"
		rm -rf "$RUNDIR"
	fi
	exit 0
	;;
start) ;;
*)
	echo "usage: deploy/run-local.sh [stop|reset]" >&2
	exit 2
	;;
esac

[ "$(id -u)" -eq 0 ] || die "run me as root (I install packages and switch to the postgres and www-data users)"

stack_deps build runtime || die "could not install the packages needed"
stack_build "$ROOT/build/release" -DCMAKE_BUILD_TYPE=Release -DTOKEND_TESTS=OFF ||
    die "build failed"

# A second run: stop the previous tokend and lighttpd, keep the cluster.
stack_stop_servers || die "could not stop the running tokend or lighttpd"
for port in "$HTTP_PORT" "$FCGI_PORT"; do
	stack_port_busy "$port" && die "port $port is in use by another program;" \
	    "set TOKEND_HTTP_PORT / TOKEND_FCGI_PORT"
done

# From here on, a failure stops what was started.
# shellcheck disable=SC2154
trap 'rc=$?; [ $rc -eq 0 ] || { stack_stop || true; echo "run-local.sh: failed; stopped everything (logs: $RUNDIR)" >&2; }' EXIT

stack_install "$STACK_BUILD_DIR" || exit 1
stack_pg_start || exit 1
stack_db_create "$DB" ||
    die "could not migrate the database; to start over with an empty one: $0 reset"

# The demo client: created once, then given a new key on each run (a key
# is shown once and only its SHA-256 is stored, so an old one cannot be
# printed again).
ctl() { "$STACK_BIN/tokenctl" --admin-database-url "$(stack_db_url "$DB")" "$@"; }
idfile=$RUNDIR/demo-client-id
if [ -s "$idfile" ] && ctl client show "$(cat "$idfile")" >/dev/null 2>&1; then
	ctl client enable "$(cat "$idfile")" >/dev/null
	creds=$(ctl client rotate-key "$(cat "$idfile")")
else
	creds=$(ctl client create --name demo \
	    --scope "read write tokend:rotate tokend:revoke" --default-scope "read")
fi
CLIENT_ID=$(awk '$1 == "client_id:" { print $2 }' <<<"$creds")
CLIENT_KEY=$(awk '$1 == "client_key:" { print $2 }' <<<"$creds")
if [ -z "$CLIENT_ID" ] || [ -z "$CLIENT_KEY" ]; then
	die "tokenctl printed no client_id/client_key"
fi
echo "$CLIENT_ID" >"$idfile"

stack_tokend_start tokend "$FCGI_PORT" || exit 1
stack_lighttpd_start "$HTTP_PORT" "$FCGI_PORT" || exit 1

cat <<EOF
tokend is running: http://127.0.0.1:$HTTP_PORT/v1
  lighttpd 127.0.0.1:$HTTP_PORT -> tokend (spawn-fcgi) 127.0.0.1:$FCGI_PORT -> PostgreSQL 127.0.0.1:$PGPORT, database $DB
  files and logs: $RUNDIR (tokend.log, lighttpd-$HTTP_PORT/, pg.log)
  admin:          $RUNDIR/bin/tokenctl --admin-database-url '$(stack_db_url "$DB")' client list
  stop:           TOKEND_RUNDIR=$RUNDIR $ROOT/deploy/run-local.sh stop

Paste into bash (needs curl and jq):

CLIENT_ID=$CLIENT_ID
CLIENT_KEY=$CLIENT_KEY
BASE=http://127.0.0.1:$HTTP_PORT/v1
EOF
cat <<'EOF'

# 1. A long-term token, against the client key
LONG=$(curl -s -w '%{stderr}HTTP %{http_code}\n' -X POST "$BASE/auth/tokens/long" -H 'Content-Type: application/json' -H "X-Client-Key: $CLIENT_KEY" -d "{\"grant_type\":\"client_credentials\",\"client_id\":\"$CLIENT_ID\"}"); echo "$LONG" | jq .
LONG_TOKEN=$(echo "$LONG" | jq -r .long_token); LONG_ID=$(echo "$LONG" | jq -r .token_id)

# 2. A short-term access token, against the long-term token
SHORT=$(curl -s -w '%{stderr}HTTP %{http_code}\n' -X POST "$BASE/auth/tokens/short" -H "Authorization: Bearer $LONG_TOKEN" -H 'Content-Type: application/json' -d '{}'); echo "$SHORT" | jq .
ACCESS_TOKEN=$(echo "$SHORT" | jq -r .access_token); SHORT_ID=$(echo "$SHORT" | jq -r .token_id)

# 3. Rotate the long-term token (the old one stays valid for 60 s)
ROTATED=$(curl -s -w '%{stderr}HTTP %{http_code}\n' -X POST "$BASE/auth/tokens/long" -H 'Content-Type: application/json' -H "X-Client-Key: $CLIENT_KEY" -d "{\"grant_type\":\"rotate\",\"client_id\":\"$CLIENT_ID\",\"token_id\":\"$LONG_ID\"}"); echo "$ROTATED" | jq .
LONG_TOKEN=$(echo "$ROTATED" | jq -r .long_token); LONG_ID=$(echo "$ROTATED" | jq -r .token_id)

# 4. Revoke the short-term token (204, no body)
curl -s -o /dev/null -w 'HTTP %{http_code}\n' -X POST "$BASE/auth/tokens/$SHORT_ID/revoke" -H "Authorization: Bearer $LONG_TOKEN" -H 'Content-Type: application/json' -d ''
EOF
