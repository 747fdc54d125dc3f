# shellcheck shell=bash
#
# stack.sh - start and stop a private tokend stack: PostgreSQL 15 cluster,
# tokend under spawn-fcgi, lighttpd or Apache in front.  Sourced by
# tests/run.sh and deploy/run-local.sh, so both run the same code.
#
# The caller sets, before calling anything:
#   RUNDIR   every runtime file lives here: cluster, sockets, logs, pid
#            files, installed binaries, generated configs.  Never inside a
#            checkout under /root: the postgres and www-data users must be
#            able to reach it.
#   PGPORT   TCP port of the private cluster (127.0.0.1 only).
#
# Layout of RUNDIR:
#   bin/tokend bin/tokenctl share/sql/   installed by stack_install
#   pg/ pg.log pgsock/                   the cluster, its log, its socket dir
#   NAME.pid NAME.log                    one tokend (stack_tokend_start NAME)
#   lighttpd-PORT/                       one lighttpd: conf, pid, logs, www/
#   apache-PORT/                         one Apache: apache.conf, apache.pid,
#                                        logs, runtime files
#
# Everything started is found again through its pid file, so stack_stop
# also works from another process (deploy/run-local.sh stop).  Processes
# are stopped by pid only, after checking the pid still names the program
# started.  Callers install a trap:  trap stack_stop EXIT
#
# Functions return non-zero on failure with one "stack: ..." line on
# stderr; they never exit the caller's shell.  Call them as
# `stack_x || handle`, also under set -e.

STACK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STACK_PGBIN=/usr/lib/postgresql/15/bin
STACK_PGUSER=postgres		# cluster superuser (trust auth, loopback only)
STACK_WEBUSER=www-data		# tokend and lighttpd run as this user

stack_say() { printf 'stack: %s\n' "$*" >&2; }

# stack_deps [build] [runtime] [test]  (default: all three)
# Installs with apt-get only what is missing, testing for commands and
# files rather than packages.  Never starts a service: if no policy-rc.d
# is in place, one is put there for the duration of the install, so the
# packages' default servers (port 80, 5432) are not started.
stack_deps() {
	local groups=" ${*:-build runtime test} " pkgs=() log rc=0 added_policy=0

	want() { pkgs+=("$@"); }
	if [[ $groups == *" build "* ]]; then
		{ command -v cc && command -v make; } >/dev/null || want build-essential
		command -v cmake >/dev/null || want cmake
		command -v pkg-config >/dev/null || want pkg-config
		[ -r /usr/include/fcgiapp.h ] || want libfcgi-dev
		if command -v pkg-config >/dev/null; then
			pkg-config --exists json-c || want libjson-c-dev
			pkg-config --exists libcrypto || want libssl-dev
			pkg-config --exists libpq || want libpq-dev
			pkg-config --exists zlib || want zlib1g-dev
			[[ $groups == *" test "* ]] && ! pkg-config --exists cmocka && want libcmocka-dev
		else
			want libjson-c-dev libssl-dev libpq-dev zlib1g-dev
			[[ $groups == *" test "* ]] && want libcmocka-dev
		fi
	fi
	if [[ $groups == *" runtime "* ]]; then
		[ -x "$STACK_PGBIN/pg_ctl" ] || want postgresql-15
		command -v psql >/dev/null || want postgresql-client-15
		command -v lighttpd >/dev/null || want lighttpd
		command -v spawn-fcgi >/dev/null || want spawn-fcgi
		command -v curl >/dev/null || want curl
		command -v jq >/dev/null || want jq
		command -v runuser >/dev/null || want util-linux
	fi
	if [[ $groups == *" test "* ]]; then
		[ -r /usr/share/postgresql/15/extension/pgtap.control ] || want postgresql-15-pgtap
		command -v apache2 >/dev/null || [ -x /usr/sbin/apache2 ] || want apache2
		# libfaketime, preloaded into PostgreSQL by tests/faults/run.sh.
		[ -r /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 ] || want faketime
		if [ -x /usr/bin/python3 ]; then
			/usr/bin/python3 -c 'import jsonschema' 2>/dev/null || want python3-jsonschema
			/usr/bin/python3 -c 'import psycopg2' 2>/dev/null || want python3-psycopg2
			/usr/bin/python3 -c 'import yaml' 2>/dev/null || want python3-yaml
		else
			want python3 python3-jsonschema python3-psycopg2 python3-yaml
		fi
		# Node.js and npm are needed by the OpenAPI lint; installing
		# Debian's npm would fight an existing Node.js, so never do it.
		command -v npm >/dev/null || stack_say "npm not found: the OpenAPI lint will fail (install Node.js 18+)"
	fi
	unset -f want
	[ ${#pkgs[@]} -eq 0 ] && return 0

	if [ "$(id -u)" -ne 0 ]; then
		stack_say "missing packages (run as root to install): ${pkgs[*]}"
		return 1
	fi
	log=$(mktemp /tmp/tokend-apt.XXXXXX)
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		added_policy=1
	fi
	# No default cluster on 5432 when postgresql-common comes in fresh.
	if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
		mkdir -p /etc/postgresql-common
		echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.conf
	fi
	{
		apt-get update &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y \
		    -o Dpkg::Options::=--force-confold --no-install-recommends "${pkgs[@]}"
	} >"$log" 2>&1 || rc=$?
	[ $added_policy -eq 1 ] && rm -f /usr/sbin/policy-rc.d
	if [ $rc -ne 0 ]; then
		tail -n 20 "$log" >&2
		stack_say "apt-get install ${pkgs[*]} failed (log: $log)"
		return 1
	fi
	rm -f "$log"
}

# stack_build DIR [cmake args...]
# Configures and builds into DIR; the output goes to DIR/build.log and is
# shown only on failure.  Sets STACK_BUILD_DIR.
stack_build() {
	local dir=$1
	shift
	mkdir -p "$dir"
	STACK_BUILD_DIR=$(cd "$dir" && pwd)
	if ! { cmake -S "$STACK_ROOT" -B "$STACK_BUILD_DIR" "$@" &&
	    cmake --build "$STACK_BUILD_DIR" -j "$(nproc)"; } \
	    >"$STACK_BUILD_DIR/build.log" 2>&1; then
		grep -E 'error|Error|warning' "$STACK_BUILD_DIR/build.log" | head -n 40 >&2
		tail -n 15 "$STACK_BUILD_DIR/build.log" >&2
		stack_say "build failed (log: $STACK_BUILD_DIR/build.log)"
		return 1
	fi
}

# Make RUNDIR and check that the postgres and www-data users can reach it.
stack_rundir() {
	: "${RUNDIR:?RUNDIR is not set}"
	mkdir -p "$RUNDIR" || return 1
	chmod 755 "$RUNDIR"
	local u
	for u in "$STACK_PGUSER" "$STACK_WEBUSER"; do
		if ! runuser -u "$u" -- test -x "$RUNDIR"; then
			stack_say "user $u cannot reach $RUNDIR; choose a TOKEND_RUNDIR outside /root"
			return 1
		fi
	done
}

# stack_install [BUILD_DIR]
# Copies tokend, tokenctl and sql/ into RUNDIR (bin/, share/sql/), where
# www-data can run them.  Replaces files by rename, so a running tokend
# is not disturbed.
stack_install() {
	local build=${1:-${STACK_BUILD_DIR:-}} f
	if [ -z "$build" ]; then
		stack_say "nothing to install: run stack_build first"
		return 1
	fi
	stack_rundir || return 1
	mkdir -p "$RUNDIR/bin" "$RUNDIR/share/sql"
	for f in tokend tokenctl; do
		if [ ! -x "$build/$f" ]; then
			stack_say "$build/$f not built"
			return 1
		fi
		cmp -s "$build/$f" "$RUNDIR/bin/$f" && continue
		install -m 755 "$build/$f" "$RUNDIR/bin/.$f.new" &&
		    mv -f "$RUNDIR/bin/.$f.new" "$RUNDIR/bin/$f" || return 1
	done
	rm -f "$RUNDIR"/share/sql/*.sql
	install -m 644 "$STACK_ROOT"/sql/*.sql "$RUNDIR/share/sql/"
	STACK_BIN=$RUNDIR/bin
	STACK_SQL_DIR=$RUNDIR/share/sql
}

# stack_free_port: print a TCP port nobody on this host is using.
stack_free_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 12000))
		if ! ss -Htan "( sport = :$p )" | grep -q .; then
			echo "$p"
			return 0
		fi
	done
	stack_say "no free port found"
	return 1
}

# stack_port_busy PORT: true when something listens on 127.0.0.1:PORT.
stack_port_busy() {
	ss -Hltn "( sport = :$1 )" | grep -q .
}

# stack_db_url NAME: libpq conninfo of the cluster superuser on NAME.
stack_db_url() {
	echo "host=127.0.0.1 port=$PGPORT user=$STACK_PGUSER dbname=$1"
}

# stack_pg_start
# Creates (first time) and starts a private cluster in RUNDIR/pg, port
# PGPORT on 127.0.0.1, socket in RUNDIR/pgsock.  Reuses a cluster that
# exists, and one that is already running.
stack_pg_start() {
	local pg=$RUNDIR/pg sock=$RUNDIR/pgsock
	: "${PGPORT:?PGPORT is not set}"
	stack_rundir || return 1
	install -d -o "$STACK_PGUSER" -g "$STACK_PGUSER" -m 700 "$pg"
	install -d -o "$STACK_PGUSER" -g "$STACK_PGUSER" -m 755 "$sock"
	touch "$RUNDIR/pg.log"
	chown "$STACK_PGUSER:" "$RUNDIR/pg.log"
	chmod 600 "$RUNDIR/pg.log"
	if [ ! -s "$pg/PG_VERSION" ]; then
		if ! runuser -u "$STACK_PGUSER" -- "$STACK_PGBIN/initdb" -D "$pg" \
		    -U "$STACK_PGUSER" --auth=trust -E UTF8 --no-locale \
		    >"$RUNDIR/initdb.log" 2>&1; then
			cat "$RUNDIR/initdb.log" >&2
			stack_say "initdb failed"
			return 1
		fi
		# Durable like production: fsync and synchronous_commit on.
		# Trust auth is for this private, loopback-only cluster.
		cat >>"$pg/postgresql.conf" <<-EOF

		# tokend stack (tests/lib/stack.sh)
		listen_addresses = '127.0.0.1'
		fsync = on
		synchronous_commit = on
		full_page_writes = on
		max_connections = 200
		shared_buffers = 64MB
		log_min_messages = warning
		log_line_prefix = '%m [%p] %q%u@%d '
		EOF
	fi
	if runuser -u "$STACK_PGUSER" -- "$STACK_PGBIN/pg_ctl" -D "$pg" status >/dev/null 2>&1; then
		:	# already running (run-local.sh started twice)
	elif ! eval "$(stack_pg_ctl_prefix) start" >/dev/null; then
		tail -n 20 "$RUNDIR/pg.log" >&2
		stack_say "PostgreSQL did not start on port $PGPORT (log: $RUNDIR/pg.log)"
		return 1
	fi
	for _ in $(seq 1 100); do
		"$STACK_PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" && return 0
		sleep 0.2
	done
	stack_say "PostgreSQL not ready on port $PGPORT after 20 s"
	return 1
}

# stack_pg_ctl_prefix: a shell command that, followed by " start" or
# " stop", starts or stops the cluster (for tests that stop the database).
stack_pg_ctl_prefix() {
	printf 'runuser -u %q -- %q -D %q -l %q -w -t 60 -m fast -o %q' \
	    "$STACK_PGUSER" "$STACK_PGBIN/pg_ctl" "$RUNDIR/pg" "$RUNDIR/pg.log" \
	    "-p $PGPORT -k $RUNDIR/pgsock -c listen_addresses=127.0.0.1"
}

stack_psql() {	# stack_psql DB args...: psql as the superuser, quiet
	local db=$1
	shift
	psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U "$STACK_PGUSER" -d "$db" "$@"
}

# stack_db_create NAME: create the database if missing, then apply the
# migrations with tokenctl (harmless when already applied).
stack_db_create() {
	local name=$1 out
	[ -n "${STACK_BIN:-}" ] || stack_install "" || return 1
	if [ -z "$(stack_psql postgres -At -c "SELECT 1 FROM pg_database WHERE datname = '$name'")" ]; then
		"$STACK_PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U "$STACK_PGUSER" "$name" || return 1
	fi
	if ! out=$("$STACK_BIN/tokenctl" --admin-database-url "$(stack_db_url "$name")" \
	    migrate --sql-dir "$STACK_SQL_DIR" 2>&1); then
		printf '%s\n' "$out" >&2
		stack_say "tokenctl migrate failed on database $name"
		return 1
	fi
}

# stack_db_drop NAME: drop the database if it exists.
stack_db_drop() {
	stack_psql postgres -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)"
}

# stack_tokend_start NAME FCGI [tokend flags...]
# Starts tokend under spawn-fcgi on FCGI (a port on 127.0.0.1, or a unix
# socket path), as www-data, on database NAME (or $STACK_DB if set), with
# 2 workers; extra flags follow and win.  Logs to RUNDIR/NAME.log; the
# master's pid is in RUNDIR/NAME.pid.  With STACK_TOKEND_WRAP set (words,
# such as a valgrind command line) tokend runs under that program.
stack_tokend_start() {
	local name=$1 fcgi=$2 db=${STACK_DB:-$1} pidf log out wrap=()
	shift 2
	[ -n "${STACK_BIN:-}" ] || stack_install "" || return 1
	read -ra wrap <<<"${STACK_TOKEND_WRAP:-}"
	pidf=$RUNDIR/$name.pid
	log=$RUNDIR/$name.log
	if stack_tokend_is "$(cat "$pidf" 2>/dev/null)"; then
		stack_say "tokend $name is already running (pid $(cat "$pidf"))"
		return 1
	fi
	touch "$log"
	chown "$STACK_WEBUSER:" "$log"
	chmod 640 "$log"
	local where=(-a 127.0.0.1 -p "$fcgi")
	if [[ $fcgi == /* ]]; then
		rm -f "$fcgi"
		where=(-s "$fcgi" -M 0660 -U "$STACK_WEBUSER" -G "$STACK_WEBUSER")
	elif stack_port_busy "$fcgi"; then
		stack_say "port $fcgi is in use; tokend not started"
		return 1
	fi
	rm -f "$pidf"
	# tokend writes its log to --log-file; spawn-fcgi points stderr at
	# /dev/null when it forks, so the shell re-points it at the same file
	# (for anything said before the log is open), then becomes tokend
	# (same pid).
	# shellcheck disable=SC2016	# $0 and $@ are for that shell
	if ! out=$(STACK_LOG_FILE=$log spawn-fcgi "${where[@]}" -F 1 -u "$STACK_WEBUSER" -g "$STACK_WEBUSER" \
	    -P "$pidf" -- /bin/sh -c 'exec "$0" "$@" 2>>"$STACK_LOG_FILE"' \
	    "${wrap[@]}" "$STACK_BIN/tokend" --workers 2 \
	    --database-url "$(stack_db_url "$db")" --log-file "$log" "$@" \
	    2>&1 </dev/null); then
		printf '%s\n' "$out" >&2
		stack_say "spawn-fcgi could not start tokend"
		return 1
	fi
	# The listening socket exists before tokend runs, so a web server
	# can connect at once; here only check that the master stays up.
	for _ in $(seq 1 50); do
		[ -s "$pidf" ] && break
		sleep 0.1
	done
	sleep 0.5
	[ ${#wrap[@]} -eq 0 ] || sleep 0.5	# a wrapper starts slower
	if ! stack_tokend_is "$(cat "$pidf" 2>/dev/null)"; then
		tail -n 20 "$log" >&2
		stack_say "tokend exited at start (log: $log)"
		return 1
	fi
}

# stack_tokend_is PID: true when PID is a live tokend of STACK_BIN, also
# one under a wrapper (whose /proc/PID/comm is the wrapper's, so its
# command line is read).
stack_tokend_is() {
	local pid=$1
	stack_pid_is "$pid" tokend && return 0
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$STACK_BIN/tokend " || return 1
	[[ $(cat "/proc/$pid/stat" 2>/dev/null) != *") Z "* ]]
}
# stack_pid_is PID NAME: true when PID is a live process running NAME.
stack_pid_is() {
	local pid=$1 name=$2 comm
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
	[ "$comm" = "$name" ] || return 1
	# A zombie has exited; its parent (often pid 1) has not reaped it yet.
	[[ $(cat "/proc/$pid/stat" 2>/dev/null) != *") Z "* ]]
}

# stack_lighttpd_start HTTP_PORT FCGI
# Generates RUNDIR/lighttpd-HTTP_PORT/lighttpd.conf from
# deploy/lighttpd/tokend.conf (FCGI a port) or tokend-unix.conf (FCGI a
# socket path), rewriting only its var.tokend_* lines, starts lighttpd
# and waits until a request reaches tokend through it.
stack_lighttpd_start() {
	local src=$STACK_ROOT/deploy/lighttpd/tokend.conf
	[[ $2 == /* ]] && src=$STACK_ROOT/deploy/lighttpd/tokend-unix.conf
	stack_lighttpd_start_conf "$src" "$1" "$2"
}

# stack_apache_start HTTP_PORT FCGI
# Generates RUNDIR/apache-HTTP_PORT/apache.conf from
# deploy/apache/tokend.conf (FCGI a port) or tokend-unix.conf (FCGI a
# socket path) by filling in its placeholders only: @HTTP_PORT@,
# @FCGI_PORT@, @RUNDIR@ (the generated config's own directory: pid file,
# logs, runtime files) and, in tokend-unix.conf, the socket path
# "@RUNDIR@/tokend.sock" (made FCGI).  Starts Apache as root with
# `apache2 -f CONF -k start` (it drops to www-data) and waits until a
# request reaches tokend through it.  Nothing under /etc/apache2 is read
# beyond what the config names, nothing is written there.
stack_apache_start() {
	local src=$STACK_ROOT/deploy/apache/tokend.conf
	if [[ $2 == /* ]]; then
		src=$STACK_ROOT/deploy/apache/tokend-unix.conf
		if ! grep -q '@RUNDIR@/tokend\.sock' "$src"; then
			stack_say "$src names no @RUNDIR@/tokend.sock"
			return 1
		fi
	fi
	stack_apache_start_conf "$src" "$1" "$2"
}

# stack_lighttpd_start_conf SRC HTTP_PORT FCGI
# As stack_lighttpd_start, from the lighttpd config SRC (a path, e.g.
# deploy/lighttpd/tokend-authorizer.conf) instead of the one chosen by
# FCGI's kind: RUNDIR/lighttpd-HTTP_PORT/lighttpd.conf is SRC with its
# var.tokend_* lines rewritten (FCGI a port or a socket path); waits until
# a request reaches tokend under /v1/ through it.  Files the config
# serves (under www/) may be put in RUNDIR/lighttpd-HTTP_PORT/www before
# the call.
stack_lighttpd_start_conf() {
	local src=$1 http=$2 fcgi=$3 dir code
	dir=$RUNDIR/lighttpd-$http
	stack_rundir || return 1
	if [ ! -r "$src" ]; then
		stack_say "no lighttpd config $src"
		return 1
	fi
	if stack_port_busy "$http"; then
		stack_say "port $http is in use; lighttpd not started"
		return 1
	fi
	mkdir -p "$dir/www"
	chmod 755 "$dir" "$dir/www"
	touch "$dir/lighttpd-error.log" "$dir/lighttpd-access.log"
	chown "$STACK_WEBUSER:" "$dir/lighttpd-error.log" "$dir/lighttpd-access.log"
	sed -e "s|^var\.tokend_rundir[[:space:]]*=.*|var.tokend_rundir    = \"$dir\"|" \
	    -e "s|^var\.tokend_http_port[[:space:]]*=.*|var.tokend_http_port = $http|" \
	    -e "s|^var\.tokend_fcgi_port[[:space:]]*=.*|var.tokend_fcgi_port = $fcgi|" \
	    -e "s|^var\.tokend_socket[[:space:]]*=.*|var.tokend_socket    = \"$fcgi\"|" \
	    "$src" >"$dir/lighttpd.conf"
	if ! lighttpd -tt -f "$dir/lighttpd.conf" >"$dir/check.log" 2>&1; then
		cat "$dir/check.log" >&2
		stack_say "lighttpd rejects $dir/lighttpd.conf"
		return 1
	fi
	rm -f "$dir/lighttpd.pid"
	if ! lighttpd -f "$dir/lighttpd.conf" >"$dir/start.log" 2>&1 </dev/null; then
		cat "$dir/start.log" "$dir/lighttpd-error.log" >&2
		stack_say "lighttpd did not start"
		return 1
	fi
	for _ in $(seq 1 150); do
		code=$(curl -s -o /dev/null -D - -X POST -d '' --max-time 2 \
		    "http://127.0.0.1:$http/v1/" 2>/dev/null | grep -ci '^x-request-id:')
		[ "${code:-0}" -gt 0 ] && return 0
		sleep 0.2
	done
	tail -n 20 "$dir/lighttpd-error.log" >&2
	stack_say "no answer from tokend through lighttpd on port $http after 30 s"
	return 1
}

# stack_apache_start_conf SRC HTTP_PORT FCGI
# As stack_apache_start, from the Apache config SRC (a path, e.g.
# deploy/apache/tokend-authorizer.conf): RUNDIR/apache-HTTP_PORT/apache.conf
# is SRC with @HTTP_PORT@, @FCGI_PORT@ (FCGI, a port) and @RUNDIR@ (that
# directory) filled in; waits until a request reaches tokend under /v1/
# through it.  Files the config serves (under @RUNDIR@) may be put in
# RUNDIR/apache-HTTP_PORT before the call.
stack_apache_start_conf() {
	local src=$1 http=$2 fcgi=$3 dir conf code i
	dir=$RUNDIR/apache-$http
	conf=$dir/apache.conf
	stack_rundir || return 1
	if ! command -v apache2 >/dev/null; then
		stack_say "apache2 not found (apt-get install apache2)"
		return 1
	fi
	if [ ! -r "$src" ]; then
		stack_say "no Apache config $src"
		return 1
	fi
	if stack_port_busy "$http"; then
		stack_say "port $http is in use; Apache not started"
		return 1
	fi
	if stack_pid_is "$(cat "$dir/apache.pid" 2>/dev/null)" apache2; then
		stack_say "Apache on port $http is already running (pid $(cat "$dir/apache.pid"))"
		return 1
	fi
	mkdir -p "$dir"
	chmod 755 "$dir"
	# A socket path FCGI takes the place of "@RUNDIR@/tokend.sock".
	local sock=@RUNDIR@/tokend.sock
	[[ $fcgi == /* ]] && sock=$fcgi
	sed -e "s|@RUNDIR@/tokend\.sock|$sock|g" \
	    -e "s|@HTTP_PORT@|$http|g" \
	    -e "s|@FCGI_PORT@|$fcgi|g" \
	    -e "s|@RUNDIR@|$dir|g" \
	    "$src" >"$conf"
	if grep -n '@[A-Z_]*@' "$conf" >&2; then
		stack_say "placeholders left in $conf"
		return 1
	fi
	if ! apache2 -t -f "$conf" >"$dir/check.log" 2>&1; then
		cat "$dir/check.log" >&2
		stack_say "Apache rejects $conf"
		return 1
	fi
	rm -f "$dir/apache.pid"
	if ! apache2 -f "$conf" -k start >"$dir/start.log" 2>&1 </dev/null; then
		cat "$dir/start.log" "$dir/apache-error.log" >&2 2>/dev/null
		stack_say "Apache did not start"
		return 1
	fi
	for i in $(seq 1 150); do
		code=$(curl -s -o /dev/null -D - -X POST -d '' --max-time 2 \
		    "http://127.0.0.1:$http/v1/" 2>/dev/null | grep -ci '^x-request-id:')
		[ "${code:-0}" -gt 0 ] && return 0
		if [ "$i" -gt 10 ] && ! stack_pid_is "$(cat "$dir/apache.pid" 2>/dev/null)" apache2; then
			tail -n 20 "$dir/apache-error.log" >&2
			stack_say "Apache exited at start (log: $dir/apache-error.log)"
			return 1
		fi
		sleep 0.2
	done
	tail -n 20 "$dir/apache-error.log" >&2
	stack_say "no answer from tokend through Apache on port $http after 30 s"
	return 1
}

# stack_smoke BASE_URL DB
# The README's walkthrough in short, through a front end: a new client
# (tokenctl, on database DB), a long-term token against its key (201), a
# short-term token against the long-term one as a Bearer (201: the
# Authorization header reached tokend), revoking it with that Bearer
# (204), and the revoked token refused (401).
stack_smoke() {
	local base=$1 db=$2 creds id key out code long short sid
	[ -n "${STACK_BIN:-}" ] || stack_install "" || return 1
	creds=$("$STACK_BIN/tokenctl" --admin-database-url "$(stack_db_url "$db")" \
	    client create --name "smoke-$RANDOM" --scope "read" --default-scope "read") || {
		stack_say "smoke: tokenctl client create failed"
		return 1
	}
	id=$(awk '$1 == "client_id:" { print $2 }' <<<"$creds")
	key=$(awk '$1 == "client_key:" { print $2 }' <<<"$creds")
	out=$(curl -s --max-time 10 -w '\n%{http_code}' -X POST "$base/auth/tokens/long" \
	    -H 'Content-Type: application/json' -H "X-Client-Key: $key" \
	    -d "{\"grant_type\":\"client_credentials\",\"client_id\":\"$id\"}")
	code=${out##*$'\n'}
	long=$(jq -r .long_token <<<"${out%$'\n'*}" 2>/dev/null)
	if [ "$code" != 201 ] || [[ $long != tkl_* ]]; then
		stack_say "smoke: long-term token via $base: HTTP $code: ${out%$'\n'*}"
		return 1
	fi
	out=$(curl -s --max-time 10 -w '\n%{http_code}' -X POST "$base/auth/tokens/short" \
	    -H "Authorization: Bearer $long" -H 'Content-Type: application/json' -d '{}')
	code=${out##*$'\n'}
	short=$(jq -r .access_token <<<"${out%$'\n'*}" 2>/dev/null)
	sid=$(jq -r .token_id <<<"${out%$'\n'*}" 2>/dev/null)
	if [ "$code" != 201 ] || [[ $short != tks_* ]]; then
		stack_say "smoke: Bearer call via $base: HTTP $code (is Authorization passed on?): ${out%$'\n'*}"
		return 1
	fi
	code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' -X POST \
	    "$base/auth/tokens/$sid/revoke" -H "Authorization: Bearer $short" -d '')
	if [ "$code" != 204 ]; then
		stack_say "smoke: revoke via $base: HTTP $code, not 204"
		return 1
	fi
	code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' -X POST \
	    "$base/auth/tokens/$sid/revoke" -H "Authorization: Bearer $short" -d '')
	if [ "$code" != 401 ]; then
		stack_say "smoke: revoked token via $base: HTTP $code, not 401"
		return 1
	fi
}

# Send SIGTERM to PID (if it still runs NAME) and wait up to SECS for it
# to go; then SIGKILL it and the children it left.
stack_kill_wait() {
	local pid=$1 name=$2 secs=$3 kids
	stack_pid_is "$pid" "$name" || return 0
	kids=$(ps -o pid= --ppid "$pid" 2>/dev/null || true)
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 $((secs * 10))); do
		stack_pid_is "$pid" "$name" || return 0
		sleep 0.1
	done
	stack_say "$name $pid still running after ${secs}s; killing it"
	# shellcheck disable=SC2086
	kill -KILL "$pid" $kids 2>/dev/null || true
	sleep 0.2
}

# stack_stop_servers: stop every lighttpd, Apache and tokend started in
# RUNDIR.
stack_stop_servers() {
	local f
	[ -n "${RUNDIR:-}" ] && [ -d "$RUNDIR" ] || return 0
	for f in "$RUNDIR"/lighttpd-*/lighttpd.pid; do
		[ -e "$f" ] || continue
		stack_kill_wait "$(cat "$f" 2>/dev/null)" lighttpd 10
		rm -f "$f"
	done
	# Apache's parent stops its children on SIGTERM (= apache2 -k stop).
	for f in "$RUNDIR"/apache-*/apache.pid; do
		[ -e "$f" ] || continue
		stack_kill_wait "$(cat "$f" 2>/dev/null)" apache2 10
		rm -f "$f"
	done
	for f in "$RUNDIR"/*.pid; do
		[ -e "$f" ] || continue
		# tokend drains, then kills its workers after shutdown_timeout
		# (30 s by default): wait a little longer than that.
		stack_kill_wait "$(cat "$f" 2>/dev/null)" tokend 40
		rm -f "$f"
	done
}

# stack_stop: stop the servers, then the cluster (fast shutdown).
stack_stop() {
	stack_stop_servers
	[ -n "${RUNDIR:-}" ] && [ -s "$RUNDIR/pg/postmaster.pid" ] || return 0
	runuser -u "$STACK_PGUSER" -- "$STACK_PGBIN/pg_ctl" -D "$RUNDIR/pg" \
	    -m fast -w -t 60 stop >/dev/null 2>&1 ||
	    stack_say "pg_ctl stop failed (log: $RUNDIR/pg.log)"
}

# ------------------------------------------------------------ standby
# A hot standby of the private cluster, for tests that need a read-only
# server (tests/ops/run.sh).  Replication over loopback relies on
# initdb's own pg_hba.conf ("host replication all 127.0.0.1/32 trust",
# from --auth=trust) and on PostgreSQL 15's defaults (wal_level =
# replica, max_wal_senders = 10): stack_pg_start sets neither.

# stack_pg_standby_start DIR PORT
# pg_basebackup -R of the cluster on PGPORT into DIR (made, owned by
# postgres), then starts it on PORT (127.0.0.1, its socket directory
# DIR.sock, its log DIR.log) and waits until it accepts connections.  It streams
# from the primary as the postgres user; pg_is_in_recovery() is true.
stack_pg_standby_start() {
	local dir=$1 port=$2
	: "${PGPORT:?PGPORT is not set}"
	if [ -s "$dir/PG_VERSION" ]; then
		stack_say "$dir already holds a cluster"
		return 1
	fi
	install -d -o "$STACK_PGUSER" -g "$STACK_PGUSER" -m 700 "$dir" || return 1
	if ! runuser -u "$STACK_PGUSER" -- "$STACK_PGBIN/pg_basebackup" -h 127.0.0.1 \
	    -p "$PGPORT" -U "$STACK_PGUSER" -D "$dir" -R -X stream -c fast \
	    >"$dir.basebackup.log" 2>&1; then
		cat "$dir.basebackup.log" >&2
		stack_say "pg_basebackup from port $PGPORT failed"
		return 1
	fi
	install -d -o "$STACK_PGUSER" -g "$STACK_PGUSER" -m 755 "$dir.sock"
	touch "$dir.log"
	chown "$STACK_PGUSER:" "$dir.log"
	if ! runuser -u "$STACK_PGUSER" -- "$STACK_PGBIN/pg_ctl" -D "$dir" -l "$dir.log" \
	    -w -t 60 -o "-p $port -k $dir.sock -c listen_addresses=127.0.0.1" start >/dev/null; then
		tail -n 20 "$dir.log" >&2
		stack_say "the standby did not start on port $port (log: $dir.log)"
		return 1
	fi
	for _ in $(seq 1 100); do
		"$STACK_PGBIN/pg_isready" -q -h 127.0.0.1 -p "$port" && return 0
		sleep 0.2
	done
	stack_say "the standby is not ready on port $port after 20 s"
	return 1
}

# stack_pg_standby_stop DIR: stop the cluster in DIR (fast), if running.
stack_pg_standby_stop() {
	[ -s "$1/postmaster.pid" ] || return 0
	runuser -u "$STACK_PGUSER" -- "$STACK_PGBIN/pg_ctl" -D "$1" -m fast -w -t 60 \
	    stop >/dev/null 2>&1 || stack_say "pg_ctl stop failed for $1"
}
