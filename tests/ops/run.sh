#!/usr/bin/env bash
# tests/ops/run.sh - tokend run as a real FastCGI service.
#
#   tests/ops/run.sh          the default tier (about 40 s)
#   tests/ops/run.sh --full   also the slow and heavy cases (about 2 min more)
#
# Default tier:
#  - deploy/systemd: every unit passes `systemd-analyze verify` (copies
#    whose paths point into the run directory); each service's commands
#    run by hand as systemd would run them (tests/ops/unit_exec.py: user
#    tokend, the environment file, ExecStartPre, standard streams, the
#    socket of tokend.socket on fd 0), tokend answering through lighttpd
#    (and Apache on the unix socket); the database password only in
#    PGPASSFILE; reload (SIGHUP) and stop (SIGTERM) as the units send
#    them; a bad setting stopping the start in ExecStartPre; the audit
#    job when tokenctl has it; deploy/README.md's tokenctl commands.
#  - spawn-fcgi's own forking: -F 3 with --workers 1.
#  - through lighttpd: a worker killed under load, SIGHUP under a wrk load
#    of at least 200 requests/s (no failed request, every worker new),
#    --request-timeout against a row lock and against a stopped
#    PostgreSQL backend (503 within S + 1 s, then the worker serves on).
#  - body and header limits of tokend, lighttpd and Apache, and
#    deploy/README.md's Apache site.
#  - the back-off of dying workers: 3 replaced at once, then 1, 2, 4 s.
# --full adds: the back-off on to 8, 16, 30, 30 s and a burst of 10
# deaths; the same supervision checks through Apache; two tokend pools
# behind one lighttpd; a streaming hot standby (readyz "read-only",
# target_session_attrs=read-write, a fenced primary); pgbouncer 1.18 in
# session and transaction pooling.
#
# Needs what tests/run.sh has made: a running cluster and installed
# binaries (RUNDIR, PGPORT, STACK_BIN, and STACK_SQL_DIR or
# STACK_BIN/../share/sql).  Installs wrk and systemd (for
# systemd-analyze; pgbouncer with --full) if missing, and makes the
# system user tokend if missing (as deploy/README.md does).  Adds a
# pg_hba.conf line and three roles to the cluster for the run, and
# removes them.  Its files go to RUNDIR/ops.  One line per check ("ok - ",
# "not ok - ", "skip - ") and a final "N passed, N failed"; exits non-zero
# on failure.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/tests/ops
# shellcheck source=../lib/stack.sh
. "$ROOT/tests/lib/stack.sh"
: "${RUNDIR:?}" "${PGPORT:?}" "${STACK_BIN:?}"
: "${STACK_SQL_DIR:=$(dirname "$STACK_BIN")/share/sql}"
FULL=0
for arg in "$@"; do
	case $arg in
	--full) FULL=1 ;;
	*) echo "usage: tests/ops/run.sh [--full]" >&2; exit 2 ;;
	esac
done
RUNDIR=$RUNDIR/ops
OPS=$RUNDIR
# A directory of its own, new each run (a run cut short may have left
# servers: stop them first).
if [ -d "$OPS" ]; then
	stack_stop_servers
	stack_pg_standby_stop "$OPS/standby"
	rm -rf "$OPS"
fi
mkdir -p "$OPS"
chmod 755 "$OPS"
PY=/usr/bin/python3
DB=ops
START=$SECONDS

# shellcheck source=../lib/checks.sh
. "$ROOT/tests/lib/checks.sh"
skip() { echo "skip - $*"; }
section() { printf '# %s (%d s)\n' "$*" $((SECONDS - START)); }
# le A B: A <= B, decimals allowed.
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 <= b + 0) }'; }
now() { date +%s.%N; }
since() { awk -v t="$1" -v n="$(now)" 'BEGIN { printf "%.2f", n - t }'; }

# ------------------------------------------------------------- cleanup
STOPPED=()		# PostgreSQL backends stopped with SIGSTOP
HBA=""			# pg_hba.conf of the cluster, when lines were added
cleanup() {
	local p
	for p in "${STOPPED[@]}"; do kill -CONT "$p" 2>/dev/null; done
	stop_forked
	stack_stop_servers
	stack_pg_standby_stop "$OPS/standby"
	stack_kill_wait "$(cat "$OPS/pgbouncer/pgbouncer.pid" 2>/dev/null)" pgbouncer 10
	if [ -n "$HBA" ]; then
		sed -i '/# tests\/ops$/d' "$HBA"
		stack_psql postgres -c 'SELECT pg_reload_conf()' >/dev/null 2>&1
	fi
	stack_db_drop $DB >/dev/null 2>&1
	stack_psql postgres -c 'DROP ROLE IF EXISTS tokend_ops_app, tokend_ops_owner, tokend_ops_auditor' >/dev/null 2>&1
}
trap cleanup EXIT
trap 'echo "tests/ops/run.sh: interrupted"; exit 130' INT TERM

# The tokend masters of spawn-fcgi -F N, one pid a line.
stop_forked() {
	local p
	[ -f "$OPS/forked.pids" ] || return 0
	for p in $(tr -s '\n' ' ' <"$OPS/forked.pids"); do
		stack_kill_wait "$p" tokend 15
	done
	rm -f "$OPS/forked.pids"
}

# --------------------------------------------------------------- tools
# Debian's wrk (load) and systemd (systemd-analyze; systemd need not be
# PID 1 for it).  No service is started by the install.
ops_deps() {
	local pkgs=() log rc=0 added=0
	command -v wrk >/dev/null || pkgs+=(wrk)
	command -v systemd-analyze >/dev/null || pkgs+=(systemd)
	[ $FULL = 1 ] && ! command -v pgbouncer >/dev/null && pkgs+=(pgbouncer)
	[ ${#pkgs[@]} -eq 0 ] && return 0
	log=$OPS/apt.log
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		added=1
	fi
	{
		apt-get update &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y \
		    -o Dpkg::Options::=--force-confold --no-install-recommends "${pkgs[@]}"
	} >"$log" 2>&1 || rc=$?
	[ $added -eq 1 ] && rm -f /usr/sbin/policy-rc.d
	[ $rc -eq 0 ] || tail -n 5 "$log"
	return $rc
}
section "tools"
check "wrk and systemd-analyze are installed" ops_deps
# The service's user, as deploy/README.md makes it.
if ! id tokend >/dev/null 2>&1; then
	adduser --system --group --home /nonexistent --no-create-home tokend >/dev/null 2>&1 ||
	    useradd --system --user-group --home-dir /nonexistent --no-create-home \
	    --shell /usr/sbin/nologin tokend
fi
check "system user tokend exists" eval 'id tokend >/dev/null'

# ports N: N distinct free ports on one line.
ports() {
	local out=() p
	while [ ${#out[@]} -lt "$1" ]; do
		p=$(stack_free_port) || return 1
		[[ " ${out[*]} " == *" $p "* ]] || out+=("$p")
	done
	echo "${out[@]}"
}

# workers MASTER: its request workers' pids, sorted, space-separated.
workers() { pgrep -P "$1" -x tokend-worker | sort -n | tr '\n' ' '; }
nworkers() { pgrep -P "$1" -x tokend-worker | wc -l; }
# none_common "A" "B": the two pid lists share no pid.
none_common() {
	[ -z "$(comm -12 <(tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort) \
	    <(tr ' ' '\n' <<<"$2" | sed '/^$/d' | sort))" ]
}
# wait_for SECONDS COMMAND...: poll every 0.1 s until the command succeeds.
wait_for() {
	local n=$(($1 * 10))
	shift
	while [ $n -gt 0 ]; do
		"$@" && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}

# front_start KIND HTTP FCGI: lighttpd or Apache in front of tokend.
front_start() {
	case $1 in
	lighttpd) stack_lighttpd_start "$2" "$3" ;;
	apache) stack_apache_start "$2" "$3" ;;
	esac
}

# ------------------------------------------------------------ database
section "database $DB, roles with passwords"
stack_db_drop $DB >/dev/null 2>&1
stack_db_create $DB >/dev/null || { echo "could not create database"; exit 1; }
URL=$(stack_db_url $DB)
read -r CLIENT_ID CLIENT_KEY < <("$STACK_BIN/tokenctl" --admin-database-url "$URL" \
    client create --name ops --scope "read tokend:rotate tokend:revoke" --default-scope read |
    awk '/^client_id:/ {id=$2} /^client_key:/ {key=$2} END {print id, key}')

# Roles that log in with a password (scram, as in production), their
# pg_hba lines first (cleanup removes them): as deploy/README.md says,
# `tokenctl setup-roles` makes the owner, app and auditor roles when
# tokenctl has it; else an app role that reads and writes every table and
# a superuser for the owner.
PW_APP=app-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
PW_OWNER=owner-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
HBA_FILE=$(stack_psql postgres -At -c 'SHOW hba_file')
ROLES_SQL="SET client_min_messages = warning;
    DROP ROLE IF EXISTS tokend_ops_app, tokend_ops_owner, tokend_ops_auditor;"
if "$STACK_BIN/tokenctl" --help 2>&1 | grep -q 'setup-roles'; then
	ROLES_HOW="tokenctl setup-roles"
	ROLES_SQL+="
	    SELECT 1;"
else
	ROLES_HOW="CREATE ROLE"
	ROLES_SQL+="
	    CREATE ROLE tokend_ops_app LOGIN IN ROLE pg_read_all_data, pg_write_all_data;
	    CREATE ROLE tokend_ops_owner LOGIN SUPERUSER;"
fi
if stack_psql postgres -c "$ROLES_SQL" >/dev/null &&
    { [ "$ROLES_HOW" = "CREATE ROLE" ] ||
	"$STACK_BIN/tokenctl" --admin-database-url "$URL" --role-owner tokend_ops_owner \
	    --role-app tokend_ops_app --role-auditor tokend_ops_auditor setup-roles >"$OPS/setup-roles.out"; } &&
    stack_psql postgres -c "ALTER ROLE tokend_ops_app PASSWORD '$PW_APP'" \
	-c "ALTER ROLE tokend_ops_owner PASSWORD '$PW_OWNER'" >/dev/null &&
    [ -w "$HBA_FILE" ] &&
    sed -i "1i host all tokend_ops_app,tokend_ops_owner 127.0.0.1/32 scram-sha-256 # tests/ops" "$HBA_FILE" &&
    HBA=$HBA_FILE &&
    stack_psql postgres -c 'SELECT pg_reload_conf()' >/dev/null; then
	ok "roles tokend_ops_app and tokend_ops_owner ($ROLES_HOW) log in with a password only"
else
	not_ok "roles tokend_ops_app and tokend_ops_owner ($ROLES_HOW) log in with a password only"
fi
code=$(psql -X -w -At -h 127.0.0.1 -p "$PGPORT" -U tokend_ops_app -d $DB -c 'SELECT 1' 2>&1)
check "without the password, tokend_ops_app is refused ($code)" grep -q 'password' <<<"$code"

# long_token BASE: print "TOKEN_ID LONG_TOKEN" of a fresh long-term token.
long_token() {
	curl -s --max-time 10 -X POST "$1/auth/tokens/long" -H 'Content-Type: application/json' \
	    -H "X-Client-Key: $CLIENT_KEY" \
	    -d "{\"grant_type\":\"client_credentials\",\"client_id\":\"$CLIENT_ID\"}" |
	    jq -r '"\(.token_id) \(.long_token)"'
}
# short BASE BEARER: HTTP status of one short-term token request.
short() {
	curl -s -o /dev/null -w '%{http_code}' --max-time 15 -X POST "$1/auth/tokens/short" \
	    -H "Authorization: Bearer $2" -H 'Content-Type: application/json' -d '{}'
}

# wrk_run SECONDS URL BEARER OUT: POST short-term token requests with wrk
# (2 threads, 8 connections, 2 s timeout), its report in OUT.
wrk_run() {
	TOKEND_BEARER=$3 wrk -t2 -c8 -d"$1s" --timeout 2s -s "$HERE/short.lua" \
	    "$2/auth/tokens/short" >"$4" 2>&1
}
wrk_rate() { awk '/^Requests\/sec:/ { printf "%d", $2 }' "$1"; }
wrk_total() { awk '/ requests in / { print $1 }' "$1"; }
# Responses other than 2xx/3xx, and socket errors (wrk prints them only
# when there are some).
wrk_bad() { awk '/Non-2xx or 3xx responses:/ { print $NF; f = 1 } END { if (!f) print 0 }' "$1"; }
wrk_sockerr() {
	awk '/Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10; f = 1 } END { if (!f) print 0 }' "$1"
}

# ------------------------------------------------------------- systemd
# Copies of deploy/systemd with the paths of an install pointed into the
# run directory: /usr/local/bin -> STACK_BIN, /etc/tokend, /var/log/tokend
# and /run/tokend -> OPS/etc/tokend, OPS/log, OPS/run; port 9000 -> a free
# one.  Nothing else changes.
section "deploy/systemd"
UNITS=$OPS/units
ETC=$OPS/etc/tokend
LOGDIR=$OPS/log
read -r P_SPAWN P_SOCK H_SPAWN H_SOCK H_UNIX A_UNIX < <(ports 6)
rm -rf "$UNITS"
mkdir -p "$UNITS/spawn" "$UNITS/socket" "$UNITS/unix" "$ETC" "$OPS/run"
unit_copy() {	# unit_copy SRC DEST PORT
	sed -e "s|/usr/local/bin/|$STACK_BIN/|g" -e "s|/etc/tokend/|$ETC/|g" \
	    -e "s|/var/log/tokend|$LOGDIR|g" -e "s|/run/tokend/|$OPS/run/|g" \
	    -e "s|-a 127.0.0.1 -p 9000 |-a 127.0.0.1 -p $3 |" \
	    -e "s|^ListenStream=127.0.0.1:9000$|ListenStream=127.0.0.1:$3|" "$1" >"$2"
}
unit_copy "$ROOT/deploy/systemd/tokend.service" "$UNITS/spawn/tokend.service" "$P_SPAWN"
unit_copy "$ROOT/deploy/systemd/tokend-audit.service" "$UNITS/spawn/tokend-audit.service" 0
unit_copy "$ROOT/deploy/systemd/tokend-audit.timer" "$UNITS/spawn/tokend-audit.timer" 0
unit_copy "$ROOT/deploy/systemd/socket/tokend.service" "$UNITS/socket/tokend.service" 0
unit_copy "$ROOT/deploy/systemd/socket/tokend.socket" "$UNITS/socket/tokend.socket" "$P_SOCK"
# The unix-socket variant, as tokend.socket's comment says: the four
# commented lines instead of the TCP ListenStream=.
cp "$UNITS/socket/tokend.service" "$UNITS/unix/tokend.service"
sed -e 's|^ListenStream=127\.0\.0\.1:.*|#&|' -e 's|^#\(ListenStream=/\)|\1|' \
    -e 's/^#\(Socket\(User\|Group\|Mode\)=\)/\1/' \
    "$UNITS/socket/tokend.socket" >"$UNITS/unix/tokend.socket"
SOCK=$(sed -n 's|^ListenStream=\(/.*\)|\1|p' "$UNITS/unix/tokend.socket")
check "the copies point into the run directory (ExecStart, port, socket path)" \
    eval 'grep -q "^ExecStart=/usr/bin/spawn-fcgi -n -a 127.0.0.1 -p $P_SPAWN -- $STACK_BIN/tokend\$" "$UNITS/spawn/tokend.service" &&
    grep -q "^ListenStream=127.0.0.1:$P_SOCK\$" "$UNITS/socket/tokend.socket" &&
    [ "$SOCK" = "$OPS/run/tokend.sock" ] &&
    ! cat "$UNITS"/*/* | grep -v "^[#;]" | grep -Eq "[= ](/usr/local/bin|/etc/tokend|/var/log/tokend|/run/tokend)"'

# systemd-analyze verify: exit 0 and not a line of complaint (unknown
# keys and bad values are only warnings to it).
verify() {	# verify DIR UNIT...
	local dir=$1 out
	shift
	out=$(cd "$dir" && systemd-analyze verify "$@" 2>&1)
	local rc=$?
	[ -n "$out" ] && printf '  %s\n' "$out"
	[ $rc -eq 0 ] && [ -z "$out" ]
}
check "systemd-analyze verify tokend.service tokend-audit.service tokend-audit.timer" \
    verify "$UNITS/spawn" tokend.service tokend-audit.service tokend-audit.timer
check "systemd-analyze verify socket/tokend.socket socket/tokend.service" \
    verify "$UNITS/socket" tokend.socket tokend.service
check "systemd-analyze verify the unix-socket variant of tokend.socket" \
    verify "$UNITS/unix" tokend.socket tokend.service
check "the units run tokend as user tokend with NoNewPrivileges, ProtectSystem=strict, PrivateTmp" \
    eval 'for u in "$ROOT"/deploy/systemd/tokend.service "$ROOT"/deploy/systemd/tokend-audit.service \
	    "$ROOT"/deploy/systemd/socket/tokend.service; do
	grep -q "^User=tokend\$" "$u" && grep -q "^NoNewPrivileges=yes\$" "$u" &&
	    grep -q "^ProtectSystem=strict\$" "$u" && grep -q "^PrivateTmp=yes\$" "$u" &&
	    grep -q "^EnvironmentFile=/etc/tokend/tokend.env\$" "$u" || exit 1
    done'

# The environment file: deploy/systemd/tokend.env with this cluster's
# roles, port and database, PGPASSFILE and log file in the run directory.
sed -e "s|postgresql://tokend_app@127.0.0.1:5432/tokend|postgresql://tokend_ops_app@127.0.0.1:$PGPORT/$DB|" \
    -e "s|postgresql://tokend_owner@127.0.0.1:5432/tokend|postgresql://tokend_ops_owner@127.0.0.1:$PGPORT/$DB|" \
    -e "s|/etc/tokend/|$ETC/|g" -e "s|/var/log/tokend/|$LOGDIR/|g" \
    "$ROOT/deploy/systemd/tokend.env" >"$ETC/tokend.env"
printf '127.0.0.1:%s:%s:tokend_ops_app:%s\n127.0.0.1:%s:%s:tokend_ops_owner:%s\n' \
    "$PGPORT" $DB "$PW_APP" "$PGPORT" $DB "$PW_OWNER" >"$ETC/pgpass"
chown root:tokend "$ETC/tokend.env"
chmod 640 "$ETC/tokend.env"
chown tokend:tokend "$ETC/pgpass"
chmod 600 "$ETC/pgpass"
# LogsDirectory=tokend: systemd makes it, owned by the unit's user.
install -d -o tokend -g tokend -m 750 "$LOGDIR"
check "tokend.env: URLs without a password, PGPASSFILE set" \
    eval 'grep -q "^TOKEND_DATABASE_URL=postgresql://tokend_ops_app@127.0.0.1:$PGPORT/$DB\$" "$ETC/tokend.env" &&
    grep -q "^PGPASSFILE=$ETC/pgpass\$" "$ETC/tokend.env" &&
    ! grep -Eq "://[^/@]*:[^/@]*@|password=" "$ETC/tokend.env"'

# deploy/README.md, step 5: tokenctl as user tokend with the environment
# file (migrate again: harmless; the owner role's password from PGPASSFILE).
# shellcheck disable=SC2046	# the file's lines are NAME=value words
out=$(runuser -u tokend -- env $(grep -v '^#' "$ETC/tokend.env") TOKEND_SQL_DIR="$STACK_SQL_DIR" \
    "$STACK_BIN/tokenctl" migrate 2>&1 &&
    runuser -u tokend -- env $(grep -v '^#' "$ETC/tokend.env") "$STACK_BIN/tokenctl" \
    client create --name readme --scope read 2>&1)
check "README step 5: tokenctl migrate and client create as tokend, with the environment file" \
    grep -q '^client_id: ' <<<"$out"

# unit_start NAME UNIT [--socket FILE]: unit_exec.py in the background,
# its pid (the service's main pid) in OPS/NAME.pid, so that
# stack_stop_servers stops it; waits until it is tokend.
unit_start() {
	local name=$1 unit=$2 pid
	shift 2
	rm -f "$OPS/journal-$name.log"
	"$PY" "$HERE/unit_exec.py" --journal "$OPS/journal-$name.log" "$@" "$unit" \
	    </dev/null >/dev/null 2>&1 &
	pid=$!
	echo "$pid" >"$OPS/$name.pid"
	if ! wait_for 10 stack_pid_is "$pid" tokend || ! wait_for 10 eval '[ "$(nworkers "$pid")" -ge 1 ]'; then
		echo "  $unit did not start; journal:"
		sed 's/^/  | /' "$OPS/journal-$name.log" 2>/dev/null | tail -n 20
		return 1
	fi
}
# written_files PID...: regular files the processes hold open for
# writing (but the journal: journald's stream socket, under systemd).
written_files() {
	local p fd f flags
	for p in "$@"; do
		for fd in /proc/"$p"/fd/*; do
			fd=${fd##*/}
			f=$(readlink "/proc/$p/fd/$fd") || continue
			[[ $f == /* && $f != /dev/null && $f != "$OPS"/journal-* ]] || continue
			flags=$(awk '/^flags:/ { print $2 }' "/proc/$p/fdinfo/$fd")
			[ $((8#$flags & 3)) -ne 0 ] && echo "$f"
		done
	done | sort -u
}
# reload_cmd UNIT MAINPID: the unit's ExecReload= with $MAINPID filled in.
reload_cmd() {
	sed -n 's/^ExecReload=//p' "$1" | sed "s/\\\$MAINPID/$2/g; s/\\\${MAINPID}/$2/g"
}

# --- tokend.service: spawn-fcgi -n, as user tokend.
if unit_start spawn "$UNITS/spawn/tokend.service" && stack_lighttpd_start "$H_SPAWN" "$P_SPAWN" >/dev/null; then
	ok "tokend.service: ExecStart run by hand as systemd would (spawn-fcgi -n), answering through lighttpd"
	MAIN=$(cat "$OPS/spawn.pid")
	BASE=http://127.0.0.1:$H_SPAWN/v1
	W=$(workers "$MAIN")
	check "ExecStartPre (tokend --check-config) wrote the settings to the journal" \
	    grep -q "^database_url = postgresql://tokend_ops_app@" "$OPS/journal-spawn.log"
	check "spawn-fcgi -n exec'd tokend: the main pid is tokend's master, with TOKEND_WORKERS=2 workers ($W)" \
	    test "$(cat "/proc/$MAIN/comm")" = tokend -a "$(nworkers "$MAIN")" -eq 2
	check "master and workers run as tokend" \
	    test "$(ps -o user= -p "$(echo $MAIN $W | tr ' ' ',')" | sort -u | tr -d ' ')" = tokend
	code=$(curl -s -o "$OPS/readyz.out" -w '%{http_code}' "$BASE/readyz")
	check "readyz 200: connected as tokend_ops_app with the password from PGPASSFILE ($code $(cat "$OPS/readyz.out"))" \
	    test "$code" = 200
	check "pg_stat_activity: tokend's connections are tokend_ops_app's" \
	    test "$(stack_psql postgres -At -c "SELECT string_agg(DISTINCT usename, ',') FROM pg_stat_activity WHERE application_name = 'tokend' AND datname = '$DB'")" = tokend_ops_app
	check "the walkthrough through lighttpd (stack_smoke)" stack_smoke "$BASE" $DB
	# shellcheck disable=SC2034	# read by the eval below
	env_all=$(for p in $MAIN $W; do tr '\0' '\n' <"/proc/$p/environ"; done)
	check "the environment holds PGPASSFILE and the URL, never a password" \
	    eval 'grep -q "^PGPASSFILE=$ETC/pgpass\$" <<<"$env_all" &&
	    grep -q "^TOKEND_DATABASE_URL=" <<<"$env_all" &&
	    ! grep -qF -e "$PW_APP" -e "$PW_OWNER" <<<"$env_all"'
	check "log_file in the log directory: owned by tokend, mode 640 (UMask=0027), requests logged" \
	    eval '[ "$(stat -c "%U %a" "$LOGDIR/tokend.log")" = "tokend 640" ] &&
	    grep -q "status=201" "$LOGDIR/tokend.log"'
	# shellcheck disable=SC2086
	wf=$(written_files "$MAIN" $W | tr '\n' ' ')
	check "the log file is the only file tokend writes ($wf)" test "$wf" = "$LOGDIR/tokend.log "
	cmd=$(reload_cmd "$UNITS/spawn/tokend.service" "$MAIN")
	eval "$cmd"
	wait_for 10 eval '[ "$(nworkers "$MAIN")" -eq 2 ] && none_common "$W" "$(workers "$MAIN")"'
	check "ExecReload ($cmd) replaces every worker ($W-> $(workers "$MAIN"))" \
	    eval '[ "$(nworkers "$MAIN")" -eq 2 ] && none_common "$W" "$(workers "$MAIN")"'
	check "and tokend answers after it" test "$(short "$BASE" "$(long_token "$BASE" | cut -d' ' -f2)")" = 201
	t0=$(now)
	kill -TERM "$MAIN"	# KillMode=mixed: SIGTERM to the main process only
	wait_for 40 eval '! stack_pid_is "$MAIN" tokend'
	check "stop (SIGTERM to the main pid): the master drains and exits in $(since "$t0") s (TimeoutStopSec=$(sed -n 's/^TimeoutStopSec=//p' "$UNITS/spawn/tokend.service"))" \
	    eval '! stack_pid_is "$MAIN" tokend && [ -z "$(pgrep -u tokend -x tokend-worker)" ]'
else
	not_ok "tokend.service: ExecStart run by hand as systemd would (spawn-fcgi -n), answering through lighttpd"
fi
stack_stop_servers

# A bad setting: ExecStartPre fails, naming it; tokend never starts.
sed 's/^TOKEND_WORKERS=.*/TOKEND_WORKERS=many/' "$ETC/tokend.env" >"$ETC/bad.env"
sed "s|$ETC/tokend.env|$ETC/bad.env|" "$UNITS/spawn/tokend.service" >"$UNITS/bad.service"
"$PY" "$HERE/unit_exec.py" --journal "$OPS/journal-bad.log" "$UNITS/bad.service" </dev/null >/dev/null 2>&1
rc=$?
check "a bad setting (TOKEND_WORKERS=many) stops the start in ExecStartPre (exit $rc): $(grep -m1 'setting' "$OPS/journal-bad.log")" \
    eval '[ $rc -ne 0 ] && grep -q "setting workers" "$OPS/journal-bad.log" && ! stack_port_busy "$P_SPAWN"'

# --- socket/tokend.service + tokend.socket over TCP.
if unit_start socket "$UNITS/socket/tokend.service" --socket "$UNITS/socket/tokend.socket" &&
    stack_lighttpd_start "$H_SOCK" "$P_SOCK" >/dev/null; then
	ok "socket-activated tokend.service: the socket of tokend.socket on fd 0, answering through lighttpd"
	MAIN=$(cat "$OPS/socket.pid")
	check "fd 0 of the master is the listening socket; no spawn-fcgi, no --listen" \
	    eval '[[ $(readlink /proc/$MAIN/fd/0) == socket:* ]] &&
	    ! grep -q -- "--listen" /proc/$MAIN/cmdline && [ "$(ps -o user= -p $MAIN | tr -d " ")" = tokend ]'
	check "standard output goes to the journal, not down the socket (StandardOutput=journal)" \
	    grep -q "^database_url = " "$OPS/journal-socket.log"
	check "the walkthrough through lighttpd (stack_smoke)" stack_smoke "http://127.0.0.1:$H_SOCK/v1" $DB
	kill -TERM "$MAIN"
	wait_for 40 eval '! stack_pid_is "$MAIN" tokend'
	check "stop: the master exits" eval '! stack_pid_is "$MAIN" tokend'
else
	not_ok "socket-activated tokend.service: the socket of tokend.socket on fd 0, answering through lighttpd"
fi
stack_stop_servers

# --- the unix-socket variant: SocketUser/SocketGroup/SocketMode.
if unit_start unix "$UNITS/unix/tokend.service" --socket "$UNITS/unix/tokend.socket" &&
    stack_lighttpd_start "$H_UNIX" "$SOCK" >/dev/null; then
	ok "socket-activated tokend on a unix socket ($SOCK), through lighttpd (deploy/lighttpd/tokend-unix.conf)"
	check "the socket is tokend:www-data, mode 660" test "$(stat -c '%U:%G %a' "$SOCK")" = "tokend:www-data 660"
	check "the walkthrough through lighttpd (stack_smoke)" stack_smoke "http://127.0.0.1:$H_UNIX/v1" $DB
	if stack_apache_start "$A_UNIX" "$SOCK" >/dev/null; then
		check "the walkthrough through Apache (deploy/apache/tokend-unix.conf)" \
		    stack_smoke "http://127.0.0.1:$A_UNIX/v1" $DB
	else
		not_ok "Apache in front of the unix socket"
	fi
else
	not_ok "socket-activated tokend on a unix socket ($SOCK), through lighttpd (deploy/lighttpd/tokend-unix.conf)"
fi
stack_stop_servers

# --- tokend-audit.service, as its timer would start it.
if "$STACK_BIN/tokenctl" --help 2>&1 | grep -q 'audit partitions'; then
	"$PY" "$HERE/unit_exec.py" --journal "$OPS/journal-audit.log" "$UNITS/spawn/tokend-audit.service" \
	    </dev/null >/dev/null 2>&1
	rc=$?
	check "tokend-audit.service (tokenctl audit partitions --ahead 3, as tokend, owner role from PGPASSFILE): exit $rc" \
	    test $rc -eq 0
	[ $rc -eq 0 ] || sed 's/^/  | /' "$OPS/journal-audit.log" | tail -n 10
else
	skip "tokend-audit.service: tokenctl has no 'audit partitions' yet"
fi

# ---------------------------------------------------- spawn-fcgi -F N
# spawn-fcgi forks 3 tokend, each supervising a single worker, all on
# one socket: the command line of deploy/README.md.
section "spawn-fcgi -F 3 with --workers 1"
read -r P_F H_F < <(ports 2)
touch "$OPS/forked.log"
chown "$STACK_WEBUSER:" "$OPS/forked.log"
spawn-fcgi -a 127.0.0.1 -p "$P_F" -F 3 -u "$STACK_WEBUSER" -g "$STACK_WEBUSER" -P "$OPS/forked.pids" -- \
    "$STACK_BIN/tokend" --workers 1 --threads 2 --database-url "$URL" \
    --log-file "$OPS/forked.log" >/dev/null 2>&1 </dev/null
sleep 0.5
MASTERS=$(tr -s '\n' ' ' <"$OPS/forked.pids" 2>/dev/null)
check "3 tokend masters ($MASTERS), one worker each" \
    eval 'n=0; for m in $MASTERS; do stack_pid_is $m tokend && [ "$(nworkers $m)" -eq 1 ] && n=$((n + 1)); done; [ $n -eq 3 ]'
if stack_lighttpd_start "$H_F" "$P_F" >/dev/null; then
	BASE=http://127.0.0.1:$H_F/v1
	read -r _ TOK < <(long_token "$BASE")
	wrk_run 2 "$BASE" "$TOK" "$OPS/wrk-forked"
	check "a 2 s wrk load through lighttpd: $(wrk_total "$OPS/wrk-forked") requests, none failed" \
	    test "$(wrk_bad "$OPS/wrk-forked")" -eq 0 -a "$(wrk_sockerr "$OPS/wrk-forked")" -eq 0 -a "$(wrk_total "$OPS/wrk-forked")" -gt 0
	served=$(grep 'status=201' "$OPS/forked.log" | grep -o ' pid=[0-9]*' | sort | uniq -c | wc -l)
	check "the requests were shared by the workers of several masters ($served)" test "$served" -ge 2
	before=""
	for m in $MASTERS; do before+="$(workers "$m")"; done
	for m in $MASTERS; do kill -HUP "$m"; done
	wait_for 10 eval 'a=""; for m in $MASTERS; do a+="$(workers $m)"; done; [ "$(wc -w <<<"$a")" -eq 3 ] && none_common "$before" "$a"'
	after=""
	for m in $MASTERS; do after+="$(workers "$m")"; done
	check "SIGHUP to each master replaces its worker ($before-> $after)" \
	    eval '[ "$(wc -w <<<"$after")" -eq 3 ] && none_common "$before" "$after"'
	check "and they answer" test "$(short "$BASE" "$TOK")" = 201
else
	not_ok "lighttpd in front of spawn-fcgi -F 3"
fi
stop_forked
check "SIGTERM to each master stops them all" test -z "$(pgrep -f -- "--log-file $OPS/forked.log")"
stack_stop_servers

# ---------------------------------------------------------- supervision
# supervise FRONT: the prefork master through lighttpd or Apache.
#  - "load": 2 workers x 4 threads, under wrk: a worker killed, SIGHUP.
#  - "slow": 1 worker x 1 thread, pool of 1, --request-timeout 2 (and a
#    statement_timeout above it, so that tokend's own deadline acts):
#    a row lock, then a stopped backend.
S=2
LOAD_FCGI="" LOAD_HTTP="" LOAD_TOKEN=""
supervise() {
	local front=$1 fl fs hl hs ml ms base basel tok victim before after out w \
	    tid code t port bpids i codes
	section "supervision through $front"
	read -r fl fs hl hs < <(ports 4)
	if ! { STACK_DB=$DB stack_tokend_start "load-$front" "$fl" --workers 2 --threads 4 --shutdown-timeout 10 &&
	    front_start "$front" "$hl" "$fl" >/dev/null; }; then
		not_ok "$front: tokend (2 workers) and $front start"
		return
	fi
	ml=$(cat "$OPS/load-$front.pid")
	basel=http://127.0.0.1:$hl/v1
	read -r _ tok < <(long_token "$basel")

	# A worker killed under load: replaced, only its own requests lost.
	before=$(workers "$ml")
	victim=${before%% *}
	wrk_run 4 "$basel" "$tok" "$OPS/wrk-kill-$front" &
	sleep 1.5
	kill -KILL "$victim"
	sleep 0.5
	after=$(workers "$ml")
	wait $!
	check "$front: a worker killed under load is replaced within 0.5 s ($before-> $after)" \
	    eval '[ "$(wc -w <<<"$after")" -eq 2 ] && [[ " $after" != *" $victim "* ]]'
	check "$front: the death is logged with its signal" \
	    grep -q "worker $victim killed by signal 9" "$OPS/load-$front.log"
	out=$OPS/wrk-kill-$front
	check "$front: only the killed worker's requests fail ($(wrk_bad "$out") non-2xx, $(wrk_sockerr "$out") socket errors of $(wrk_total "$out"), at most 4)" \
	    test $(($(wrk_bad "$out") + $(wrk_sockerr "$out"))) -le 4 -a "$(wrk_total "$out")" -gt 100

	# SIGHUP under a load of at least 200 requests/s.
	before=$(workers "$ml")
	out=$OPS/wrk-hup-$front
	wrk_run 6 "$basel" "$tok" "$out" &
	sleep 2
	kill -HUP "$ml"
	wait $!
	after=$(workers "$ml")
	echo "# wrk through $front, 6 s with SIGHUP at 2 s: $(wrk_total "$out") requests, $(wrk_rate "$out") requests/s"
	check "$front: the load is at least 200 requests/s ($(wrk_rate "$out")/s)" test "$(wrk_rate "$out")" -ge 200
	check "$front: SIGHUP under load changes every worker pid ($before-> $after)" \
	    eval '[ "$(wc -w <<<"$after")" -eq 2 ] && none_common "$before" "$after"'
	check "$front: no request fails during SIGHUP ($(wrk_bad "$out") non-2xx, $(wrk_sockerr "$out") socket errors)" \
	    test "$(wrk_bad "$out")" -eq 0 -a "$(wrk_sockerr "$out")" -eq 0

	# --request-timeout: a row lock held by another session.
	if ! { STACK_DB=$DB stack_tokend_start "slow-$front" "$fs" --workers 1 --threads 1 --pool-size 1 \
	    --request-timeout $S --statement-timeout-ms 20000 && front_start "$front" "$hs" "$fs" >/dev/null; }; then
		not_ok "$front: tokend (--request-timeout $S) and $front start"
		return
	fi
	ms=$(cat "$OPS/slow-$front.pid")
	base=http://127.0.0.1:$hs/v1
	read -r tid _ < <(long_token "$base")
	read -r _ tok < <(long_token "$base")
	w=$(workers "$ms")
	stack_psql $DB -c "BEGIN; SELECT 1 FROM tokens WHERE id = '$tid' FOR UPDATE; SELECT pg_sleep($((S + 3))); COMMIT;" >/dev/null &
	local locker=$!
	wait_for 5 eval '[ "$(stack_psql $DB -At -c "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.locktype = '"'"'transactionid'"'"' AND a.pid <> pg_backend_pid() AND a.query LIKE '"'"'%FOR UPDATE%'"'"'")" -ge 1 ]'
	out=$(curl -s -o "$OPS/lock.body" -w '%{http_code} %{time_total}' --max-time 20 -X POST "$base/auth/tokens/long" \
	    -H 'Content-Type: application/json' -H "X-Client-Key: $CLIENT_KEY" \
	    -d "{\"grant_type\":\"rotate\",\"client_id\":\"$CLIENT_ID\",\"token_id\":\"$tid\"}")
	code=${out% *} t=${out#* }
	check "$front: a rotation waiting on a row lock answers 503 in $t s (request_timeout $S s: at most $((S + 1)))" \
	    eval '[ "$code" = 503 ] && le "$t" $((S + 1)) && grep -q service_unavailable "$OPS/lock.body"'
	codes=$(for i in 1 2 3; do short "$base" "$tok"; echo -n " "; done)
	check "$front: the worker serves on at once, lock still held ($codes)" \
	    eval '[ "$codes" = "201 201 201 " ] && kill -0 $locker 2>/dev/null && [ "$(workers "$ms")" = "$w" ]'
	wait $locker

	# --request-timeout: the PostgreSQL backend serving tokend stopped.
	[ "$(short "$base" "$tok")" = 201 ]	# the pool's connection is open
	port=$(ss -Htnp "( dport = :$PGPORT )" | awk -v w="pid=${w% }," 'index($0, w) { n = split($4, a, ":"); print a[n] }' | head -n 1)
	bpids=$(stack_psql $DB -At -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'tokend' AND datname = '$DB' AND client_port = ${port:-0}")
	if [ -z "$bpids" ]; then
		echo "# backend of worker $w not found by its port: stopping every tokend backend of $DB"
		bpids=$(stack_psql $DB -At -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'tokend' AND datname = '$DB'")
	fi
	read -r -a STOPPED <<<"$bpids"
	kill -STOP $bpids
	out=$(curl -s -o "$OPS/stop.body" -w '%{http_code} %{time_total}' --max-time 20 -X POST "$base/auth/tokens/short" \
	    -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' -d '{}')
	code=${out% *} t=${out#* }
	check "$front: with its backend ($bpids) stopped (SIGSTOP), a request answers 503 in $t s (at most $((S + 1)))" \
	    eval '[ "$code" = 503 ] && le "$t" $((S + 1)) && grep -q service_unavailable "$OPS/stop.body"'
	codes=$(for i in 1 2 3; do short "$base" "$tok"; echo -n " "; done)
	check "$front: the pool drops that connection and serves on a new one, backend still stopped ($codes)" \
	    eval '[ "$codes" = "201 201 201 " ] && [ "$(workers "$ms")" = "$w" ]'
	kill -CONT $bpids
	STOPPED=()
	codes=$(for i in 1 2 3; do short "$base" "$tok"; echo -n " "; done)
	check "$front: and after SIGCONT ($codes); the same worker throughout" \
	    eval '[ "$codes" = "201 201 201 " ] && [ "$(workers "$ms")" = "$w" ]'
	check "$front: the log says why (statement cancelled: request timed out)" \
	    test "$(grep -c 'cancelled: request timed out' "$OPS/slow-$front.log")" -ge 2
	LOAD_FCGI=$fl LOAD_HTTP=$hl LOAD_TOKEN=$tok
}
supervise lighttpd

# ---------------------------------------------------------------- limits
# The load tokend (max_body_bytes 16384) behind lighttpd and behind an
# Apache started for it.
section "body and header limits"
H_AP=$(stack_free_port)
if [ -n "$LOAD_FCGI" ] && stack_apache_start "$H_AP" "$LOAD_FCGI" >/dev/null; then
	head -c 16385 /dev/zero | tr '\0' ' ' >"$OPS/body-16k"	# spaces: valid JSON whitespace around nothing
	head -c 71680 /dev/zero | tr '\0' ' ' >"$OPS/body-70k"
	big=$(head -c 9000 /dev/zero | tr '\0' 'x')
	# req BASE OUT curl-args...: print the status; headers in OUT.
	req() {
		local base=$1 out=$2
		shift 2
		curl -s -o "$out.body" -D "$out" -w '%{http_code}' --max-time 15 -X POST \
		    "$base/auth/tokens/short" -H "Authorization: Bearer $LOAD_TOKEN" \
		    -H 'Content-Type: application/json' "$@"
	}
	from_tokend() { grep -qi '^x-request-id:' "$1"; }
	for front in lighttpd apache; do
		[ $front = lighttpd ] && base=http://127.0.0.1:$LOAD_HTTP/v1 || base=http://127.0.0.1:$H_AP/v1
		code=$(req "$base" "$OPS/h" --data-binary @"$OPS/body-16k")
		check "$front: a body of 16385 bytes gets tokend's 413 (max_body_bytes 16384): $code" \
		    eval '[ "$code" = 413 ] && from_tokend "$OPS/h" && grep -q payload_too_large "$OPS/h.body"'
		code=$(req "$base" "$OPS/h" -H 'Transfer-Encoding: chunked' --data-binary @"$OPS/body-16k")
		check "$front: the same body chunked (no Content-Length) gets tokend's 413: $code" \
		    eval '[ "$code" = 413 ] && from_tokend "$OPS/h"'
	done
	code=$(req "http://127.0.0.1:$LOAD_HTTP/v1" "$OPS/h" --data-binary @"$OPS/body-70k")
	check "lighttpd: a body of 70 KiB gets lighttpd's own 413 (server.max-request-size = 64): $code" \
	    eval '[ "$code" = 413 ] && ! from_tokend "$OPS/h"'
	code=$(req "http://127.0.0.1:$H_AP/v1" "$OPS/h" --data-binary @"$OPS/body-70k")
	check "Apache: a body of 70 KiB reaches tokend, which answers 413 (LimitRequestBody does not bound proxied bodies): $code" \
	    eval '[ "$code" = 413 ] && from_tokend "$OPS/h"'
	code=$(req "http://127.0.0.1:$H_AP/v1" "$OPS/h" -H "X-Big: $big" -d '{}')
	check "Apache: a 9000-byte header field gets Apache's 400 (LimitRequestFieldSize 8190): $code" \
	    eval '[ "$code" = 400 ] && ! from_tokend "$OPS/h"'
	code=$(req "http://127.0.0.1:$LOAD_HTTP/v1" "$OPS/h" -H "X-Big: $big" -d '{}')
	check "lighttpd: 9000 bytes of headers get lighttpd's 431 (server.max-request-field-size = 8192): $code" \
	    eval '[ "$code" = 431 ] && ! from_tokend "$OPS/h"'
	code=$(req "http://127.0.0.1:$H_AP/v1" "$OPS/h" -H "X-Big: ${big:0:7000}" -d '{}')
	check "Apache: a 7000-byte header field still reaches tokend: $code" \
	    eval '[ "$code" = 201 ] && from_tokend "$OPS/h"'
	# deploy/README.md's Apache site, in a server made of
	# deploy/apache/tokend.conf less its Listen line and its <Location>.
	H_SITE=$(stack_free_port)
	SITE_DIR=$OPS/apache-site
	mkdir -p "$SITE_DIR"
	sed -e '/^Listen /d' -e '/^<Location "\/v1\/">/,/^<\/Location>/d' -e "s|@RUNDIR@|$SITE_DIR|g" \
	    "$ROOT/deploy/apache/tokend.conf" >"$SITE_DIR/apache.conf"
	awk '/^cat >\/etc\/apache2\/sites-available\/tokend.conf <<.EOF.$/ { f = 1; next }
	    f && /^EOF$/ { exit } f' "$ROOT/deploy/README.md" |
	    sed -e "s|127.0.0.1:8080|127.0.0.1:$H_SITE|g" -e "s|127.0.0.1:9000/|127.0.0.1:$LOAD_FCGI/|" \
	    >>"$SITE_DIR/apache.conf"
	if grep -q '^<VirtualHost 127.0.0.1:'"$H_SITE"'>' "$SITE_DIR/apache.conf" &&
	    apache2 -t -f "$SITE_DIR/apache.conf" >"$SITE_DIR/check.log" 2>&1 &&
	    apache2 -f "$SITE_DIR/apache.conf" -k start >/dev/null 2>&1 </dev/null &&
	    wait_for 10 eval '[ "$(curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$H_SITE/v1/healthz")" = 200 ]'; then
		check "deploy/README.md's Apache site: the walkthrough (Authorization passed on)" \
		    stack_smoke "http://127.0.0.1:$H_SITE/v1" $DB
		code=$(req "http://127.0.0.1:$H_SITE/v1" "$OPS/h" -H "X-Big: $big" -d '{}')
		check "deploy/README.md's Apache site: its LimitRequestFieldSize holds (400 for 9000 bytes): $code" \
		    test "$code" = 400
	else
		not_ok "deploy/README.md's Apache site starts in front of tokend"
		cat "$SITE_DIR/check.log" 2>/dev/null | head -n 5
	fi
else
	not_ok "Apache in front of the load tokend"
fi
stack_stop_servers

# ------------------------------------------------------------- back-off
# CONTRACT §10: the first 3 deaths within 10 s are replaced at once, then
# the delay doubles up to 30 s; each death is logged with its status.
# One worker, killed each time it appears.
section "back-off of dying workers"
EXPECT=(0 0 0 1 2 4)
[ $FULL = 1 ] && EXPECT+=(8 16 30 30)
F_BO=$(stack_free_port)
if STACK_DB=$DB stack_tokend_start backoff "$F_BO" --workers 1 --threads 1; then
	M=$(cat "$OPS/backoff.pid")
	LOGB=$OPS/backoff.log
	w=$(workers "$M")
	for i in "${!EXPECT[@]}"; do
		d=$((i + 1)) e=${EXPECT[$i]}
		w=${w% }
		t0=$(now)
		kill -KILL "$w"
		# One look at a time: the killed pid may still be listed (not yet
		# reaped) in one look and gone in the next.
		wait_for $((e + 10)) eval 'x=$(workers $M); [ -n "$x" ] && [ "$x" != "$w " ]'
		t=$(since "$t0")
		nw=$(workers "$M")
		line=$(grep -A1 "worker $w killed by signal 9" "$LOGB" | tail -n +2 | grep -o 'next start in [0-9]* s')
		# At once: within 0.5 s; a delay of E s: between E - 0.2 and
		# E + 0.7 s (the master wakes every 100 ms).
		if [ "$e" = 0 ]; then lo=0 hi=0.5; else lo=$(awk -v e="$e" 'BEGIN { print e - 0.2 }') hi=$e.7; fi
		if grep -q "worker $w killed by signal 9" "$LOGB" && [ -n "$nw" ] && le "$lo" "$t" && le "$t" "$hi" &&
		    { [ "$e" = 0 ] && [ -z "$line" ] || [ "$line" = "next start in $e s" ]; }; then
			ok "death $d: replaced after $t s (expected $e s), logged \"worker $w killed by signal 9\"${line:+, \"$line\"}"
		else
			not_ok "death $d: replaced after $t s (expected $e s), logged \"worker $w killed by signal 9\": $(grep -c "worker $w killed by signal 9" "$LOGB"), delay: \"${line:-none}\""
			echo "# stopping the sequence: the back-off no longer follows the contract"
			break
		fi
		w=$nw
	done
else
	not_ok "tokend for the back-off test"
fi
stack_stop_servers

if [ $FULL = 1 ]; then
	# A burst: 10 workers killed at once.  Deaths 4 to 10 double the
	# delay, capped: 1, 2, 4, 8, 16, 30, 30 s.  The first deaths the
	# master reaps (up to 3, depending on how SIGCHLD falls) are replaced
	# at once; the others 30 s after the last death.
	F_BU=$(stack_free_port)
	if STACK_DB=$DB stack_tokend_start burst "$F_BU" --workers 10 --threads 1 &&
	    wait_for 5 eval '[ "$(nworkers "$(cat "$OPS/burst.pid")")" -eq 10 ]'; then
		M=$(cat "$OPS/burst.pid")
		t0=$(now)
		# shellcheck disable=SC2046
		kill -KILL $(workers "$M")
		sleep 1
		at1=$(nworkers "$M")
		while le "$(since "$t0")" 29 && [ "$(nworkers "$M")" -eq "$at1" ]; do sleep 0.2; done
		t29=$(since "$t0") at29=$(nworkers "$M")
		wait_for 5 eval '[ "$(nworkers "$M")" -eq 10 ]'
		all=$(since "$t0")
		delays=$(grep -o 'next start in [0-9]* s' "$OPS/burst.log" | awk '{ printf "%s ", $4 }')
		check "burst of 10 deaths: delays logged $delays(1 2 4 8 16 30 30)" test "$delays" = "1 2 4 8 16 30 30 "
		check "burst of 10 deaths: 10 lines \"killed by signal 9\"" \
		    test "$(grep -c 'killed by signal 9' "$OPS/burst.log")" -eq 10
		check "burst of 10 deaths: $at1 replaced at once (at most 3), no other before 29 s ($at29 at $t29 s), all 10 after $all s (30 s)" \
		    eval '[ "$at1" -le 3 ] && [ "$at29" -eq "$at1" ] && le 29 "$t29" && le "$all" 31 && [ "$(nworkers $M)" -eq 10 ]'
	else
		not_ok "tokend with 10 workers for the burst"
	fi
	stack_stop_servers

	supervise apache
	stack_stop_servers
fi

# ------------------------------------------------------------ scaling out
if [ $FULL = 1 ]; then
	section "two tokend pools behind one lighttpd"
	# lighttpd_pools HTTP PORT_A PORT_B: deploy/lighttpd/tokend.conf with
	# both pools in its fastcgi.server entry.
	lighttpd_pools() {
		local http=$1 pa=$2 pb=$3 dir=$OPS/lighttpd-$1 code
		mkdir -p "$dir/www"
		chmod 755 "$dir" "$dir/www"
		touch "$dir/lighttpd-error.log" "$dir/lighttpd-access.log"
		chown "$STACK_WEBUSER:" "$dir/lighttpd-error.log" "$dir/lighttpd-access.log"
		sed -e "s|^var\.tokend_rundir[[:space:]]*=.*|var.tokend_rundir    = \"$dir\"|" \
		    -e "s|^var\.tokend_http_port[[:space:]]*=.*|var.tokend_http_port = $http|" \
		    -e "s|^var\.tokend_fcgi_port[[:space:]]*=.*|var.tokend_fcgi_port = $pa\nvar.tokend_fcgi_port2 = $pb|" \
		    "$ROOT/deploy/lighttpd/tokend.conf" |
		    awk '
			/^[ \t]*"\/v1\/" => \(\($/ { inb = 1; sub(/\(\($/, "("); print; next }
			inb && /^[ \t]*\)\),$/ {
				print "\t\t("; printf "%s", body; print "\t\t),"
				print "\t\t("; b2 = body; gsub(/var\.tokend_fcgi_port,/, "var.tokend_fcgi_port2,", b2)
				printf "%s", b2; print "\t\t),"
				print "\t),"; inb = 0; done = 1; next
			}
			inb { body = body $0 "\n"; next }
			{ print }
			END { if (!done) exit 1 }' >"$dir/lighttpd.conf" || {
			echo "  deploy/lighttpd/tokend.conf: no \"/v1/\" => (( ... )), block found"
			return 1
		}
		lighttpd -tt -f "$dir/lighttpd.conf" >"$dir/check.log" 2>&1 || { cat "$dir/check.log"; return 1; }
		lighttpd -f "$dir/lighttpd.conf" </dev/null >"$dir/start.log" 2>&1 || return 1
		for _ in $(seq 1 100); do
			code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$http/v1/healthz")
			[ "$code" = 200 ] && return 0
			sleep 0.1
		done
		return 1
	}
	read -r PA PB HA HB HS < <(ports 5)
	if STACK_DB=$DB stack_tokend_start pool-a "$PA" --workers 2 &&
	    STACK_DB=$DB stack_tokend_start pool-b "$PB" --workers 2 &&
	    lighttpd_pools "$HS" "$PA" "$PB" &&
	    stack_lighttpd_start "$HA" "$PA" >/dev/null && stack_lighttpd_start "$HB" "$PB" >/dev/null; then
		ok "two pools (spawn-fcgi each, own socket and log), one lighttpd listing both"
		BS=http://127.0.0.1:$HS/v1 BA=http://127.0.0.1:$HA/v1 BB=http://127.0.0.1:$HB/v1
		read -r _ TOK < <(long_token "$BS")
		ca=$(grep -c 'status=201' "$OPS/pool-a.log") cb=$(grep -c 'status=201' "$OPS/pool-b.log")
		wrk_run 3 "$BS" "$TOK" "$OPS/wrk-pools"
		ca=$(($(grep -c 'status=201' "$OPS/pool-a.log") - ca)) cb=$(($(grep -c 'status=201' "$OPS/pool-b.log") - cb))
		check "a wrk load through the shared lighttpd: $(wrk_total "$OPS/wrk-pools") requests, none failed" \
		    test "$(wrk_bad "$OPS/wrk-pools")" -eq 0 -a "$(wrk_sockerr "$OPS/wrk-pools")" -eq 0
		check "each pool's log shows requests served (a: $ca, b: $cb)" test "$ca" -gt 0 -a "$cb" -gt 0
		for pair in "a b" "b a"; do
			read -r one other <<<"$pair"
			[ "$one" = a ] && b1=$BA b2=$BB || b1=$BB b2=$BA
			read -r lid ltok < <(long_token "$b1")
			code=$(short "$b2" "$ltok")
			code2=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$b1/auth/tokens/$lid/revoke" \
			    -H "Authorization: Bearer $ltok" -d '')
			code3=$(short "$b2" "$ltok")
			check "a token revoked through pool $one ($code2) is refused by pool $other on the very next request ($code -> $code3)" \
			    test "$code" = 201 -a "$code2" = 204 -a "$code3" = 401
		done
	else
		not_ok "two pools (spawn-fcgi each, own socket and log), one lighttpd listing both"
	fi
	stack_stop_servers
fi

# -------------------------------------------------------------- standby
if [ $FULL = 1 ]; then
	section "hot standby"
	read -r SP FP FS FR FF HP HSB HR HF < <(ports 9)
	STANDBY=$OPS/standby
	stack_pg_standby_stop "$STANDBY"
	rm -rf "$STANDBY" "$STANDBY.sock" "$STANDBY.log"
	if stack_pg_standby_start "$STANDBY" "$SP"; then
		ok "pg_basebackup -R over loopback, standby on port $SP"
		spsql() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$SP" -U "$STACK_PGUSER" -d "$DB" "$@"; }
		check "pg_is_in_recovery() is true on the standby" test "$(spsql -At -c 'SELECT pg_is_in_recovery()')" = t
		wait_for 10 eval '[ "$(stack_psql postgres -At -c "SELECT count(*) FROM pg_stat_replication WHERE state = '"'"'streaming'"'"'")" -ge 1 ]'
		check "pg_stat_replication on the primary shows it streaming" \
		    test "$(stack_psql postgres -At -c "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND client_addr = '127.0.0.1'")" -ge 1
		# The DBA's views read on the standby, the same rows as on the
		# primary, while the primary serves tokend.
		for v in active_tokens revocation_log client_activity; do
			wait_for 10 eval '[ "$(spsql -At -c "SELECT count(*) FROM $v")" = "$(stack_psql $DB -At -c "SELECT count(*) FROM $v")" ]'
			check "the standby answers the audit view $v like the primary ($(spsql -At -c "SELECT count(*) FROM $v") rows)" \
			    test "$(spsql -At -c "SELECT count(*) FROM $v")" = "$(stack_psql $DB -At -c "SELECT count(*) FROM $v")"
		done
		SURL="host=127.0.0.1 port=$SP user=$STACK_PGUSER dbname=$DB"
		if STACK_DB=$DB stack_tokend_start on-standby "$FS" --workers 1 --database-url "$SURL" &&
		    stack_lighttpd_start "$HSB" "$FS" >/dev/null &&
		    STACK_DB=$DB stack_tokend_start on-primary "$FP" --workers 1 &&
		    stack_lighttpd_start "$HP" "$FP" >/dev/null; then
			code=$(curl -s -o "$OPS/ready.s" -D "$OPS/ready.sh" -w '%{http_code}' "http://127.0.0.1:$HSB/v1/readyz")
			check "tokend on the standby: readyz $code $(tr -d '\n' <"$OPS/ready.s")" \
			    eval '[ "$code" = 503 ] && [ "$(jq -r .database "$OPS/ready.s")" = read-only ] && grep -qi "^retry-after:" "$OPS/ready.sh"'
			code=$(curl -s -o "$OPS/ready.p" -w '%{http_code}' "http://127.0.0.1:$HP/v1/readyz")
			check "tokend on the primary: readyz $code $(tr -d '\n' <"$OPS/ready.p")" \
			    eval '[ "$code" = 200 ] && [ "$(jq -r .database "$OPS/ready.p")" = ok ]'
			code=$(curl -s -o "$OPS/w.s" -w '%{http_code}' -X POST "http://127.0.0.1:$HSB/v1/auth/tokens/long" \
			    -H 'Content-Type: application/json' -H "X-Client-Key: $CLIENT_KEY" \
			    -d "{\"grant_type\":\"client_credentials\",\"client_id\":\"$CLIENT_ID\"}")
			check "tokend on the standby: a write answers 503 service_unavailable ($code)" \
			    eval '[ "$code" = 503 ] && grep -q service_unavailable "$OPS/w.s"'
		else
			not_ok "tokend on the standby and on the primary, each behind lighttpd"
		fi
		# Standby listed first: libpq skips it for the primary.
		RWURL="host=127.0.0.1,127.0.0.1 port=$SP,$PGPORT user=$STACK_PGUSER dbname=$DB target_session_attrs=read-write"
		if STACK_DB=$DB stack_tokend_start read-write "$FR" --workers 1 --database-url "$RWURL" &&
		    stack_lighttpd_start "$HR" "$FR" >/dev/null; then
			code=$(curl -s -o "$OPS/ready.r" -w '%{http_code}' "http://127.0.0.1:$HR/v1/readyz")
			read -r lid _ < <(long_token "http://127.0.0.1:$HR/v1")
			check "standby,primary with target_session_attrs=read-write: readyz $code, a write lands on the primary" \
			    eval '[ "$code" = 200 ] && [ -n "$lid" ] && [ "$(stack_psql $DB -At -c "SELECT count(*) FROM tokens WHERE id = '"'"'$lid'"'"'")" = 1 ]'
		else
			not_ok "tokend with target_session_attrs=read-write"
		fi
		# Failover: the standby promoted, tokend on it (listed first);
		# then it is fenced read-only, and writes must move to the
		# other writable server (the primary) after at most one 503 per
		# pooled connection (the pool resets a connection that meets a
		# read-only server; target_session_attrs then skips it).
		runuser -u "$STACK_PGUSER" -- "$STACK_PGBIN/pg_ctl" -D "$STANDBY" -w -t 30 promote >/dev/null
		wait_for 10 eval '[ "$(spsql -At -c "SELECT pg_is_in_recovery()")" = f ]'
		check "the standby is promoted" test "$(spsql -At -c 'SELECT pg_is_in_recovery()')" = f
		if STACK_DB=$DB stack_tokend_start failover "$FF" --workers 1 --threads 1 --pool-size 1 \
		    --database-url "$RWURL" && stack_lighttpd_start "$HF" "$FF" >/dev/null; then
			BF=http://127.0.0.1:$HF/v1
			read -r lid _ < <(long_token "$BF")
			check "tokend writes to the promoted standby, listed first" \
			    test "$(spsql -At -c "SELECT count(*) FROM tokens WHERE id = '$lid'")" = 1
			spsql -c 'ALTER SYSTEM SET default_transaction_read_only = on' -c 'SELECT pg_reload_conf()' >/dev/null
			sleep 0.5
			codes="" lid=""
			for i in 1 2 3; do
				out=$(curl -s -w '\n%{http_code}' -X POST "$BF/auth/tokens/long" \
				    -H 'Content-Type: application/json' -H "X-Client-Key: $CLIENT_KEY" \
				    -d "{\"grant_type\":\"client_credentials\",\"client_id\":\"$CLIENT_ID\"}")
				codes+="${out##*$'\n'} "
				[ "${out##*$'\n'}" = 201 ] && lid=$(jq -r .token_id <<<"${out%$'\n'*}")
			done
			check "the promoted server fenced read-only: writes move to the primary after at most one 503 ($codes)" \
			    eval '[[ "$codes" == "201 201 201 " || "$codes" == "503 201 201 " ]] &&
			    [ "$(stack_psql $DB -At -c "SELECT count(*) FROM tokens WHERE id = '"'"'$lid'"'"'")" = 1 ]'
			[[ $codes == *"503 503"* ]] && grep -E 'level=(error|warn)' "$OPS/failover.log" | tail -n 2 | sed 's/^/  | /'
		else
			not_ok "tokend for the failover"
		fi
	else
		not_ok "pg_basebackup -R over loopback, standby on port $SP"
	fi
	stack_stop_servers
	stack_pg_standby_stop "$STANDBY"
	rm -rf "$STANDBY" "$STANDBY.sock"
fi

# ------------------------------------------------------------ pgbouncer
# Debian 12's pgbouncer (1.18) between tokend and the cluster, as
# deploy/README.md sets it up: ignore_startup_parameters = options (tokend
# sets statement_timeout in the startup packet, which pgbouncer refuses
# otherwise); session pooling as is, transaction pooling with
# prepared_statements off.
if [ $FULL = 1 ]; then
	section "pgbouncer"
	if command -v pgbouncer >/dev/null; then
		read -r BP FPS FPT HPS HPT < <(ports 5)
		D=$OPS/pgbouncer
		install -d -o "$STACK_PGUSER" -g "$STACK_PGUSER" -m 755 "$D"
		cat >"$D/pgbouncer.ini" <<-EOF
		[databases]
		ops_session = host=127.0.0.1 port=$PGPORT dbname=$DB pool_mode=session
		ops_transaction = host=127.0.0.1 port=$PGPORT dbname=$DB pool_mode=transaction
		[pgbouncer]
		listen_addr = 127.0.0.1
		listen_port = $BP
		unix_socket_dir =
		auth_type = trust
		auth_file = $D/userlist.txt
		logfile = $D/pgbouncer.log
		pidfile = $D/pgbouncer.pid
		ignore_startup_parameters = options
		EOF
		echo "\"$STACK_PGUSER\" \"\"" >"$D/userlist.txt"
		chown "$STACK_PGUSER:" "$D"/*
		if runuser -u "$STACK_PGUSER" -- pgbouncer -d "$D/pgbouncer.ini" >/dev/null 2>&1 &&
		    STACK_DB=$DB stack_tokend_start pgb-session "$FPS" --workers 2 \
			--database-url "host=127.0.0.1 port=$BP user=$STACK_PGUSER dbname=ops_session" &&
		    stack_lighttpd_start "$HPS" "$FPS" >/dev/null &&
		    STACK_DB=$DB stack_tokend_start pgb-transaction "$FPT" --workers 2 --prepared-statements off \
			--database-url "host=127.0.0.1 port=$BP user=$STACK_PGUSER dbname=ops_transaction" &&
		    stack_lighttpd_start "$HPT" "$FPT" >/dev/null; then
			for mode in session transaction; do
				[ $mode = session ] && base=http://127.0.0.1:$HPS/v1 || base=http://127.0.0.1:$HPT/v1
				code=$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz")
				read -r _ tok < <(long_token "$base")
				wrk_run 2 "$base" "$tok" "$OPS/wrk-pgb-$mode"
				out=$OPS/wrk-pgb-$mode
				check "pgbouncer, $mode pooling$([ $mode = transaction ] && echo ', prepared_statements off'): readyz $code, $(wrk_total "$out") requests under wrk, $(wrk_bad "$out") failed" \
				    eval '[ "$code" = 200 ] && [ -n "$tok" ] && [ "$(wrk_bad "$out")" -eq 0 ] && [ "$(wrk_sockerr "$out")" -eq 0 ] && [ "$(wrk_total "$out")" -gt 0 ]'
			done
		else
			not_ok "pgbouncer and two tokend through it"
			tail -n 5 "$D/pgbouncer.log" 2>/dev/null
		fi
		stack_stop_servers
		stack_kill_wait "$(cat "$D/pgbouncer.pid" 2>/dev/null)" pgbouncer 10
	else
		not_ok "pgbouncer is installed"
	fi
fi

section "done"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
