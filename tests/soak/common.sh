# shellcheck shell=bash
#
# common.sh - what tests/soak/valgrind.sh and tests/soak/run.sh share:
# tokend started under spawn-fcgi through a wrapper (valgrind, or none),
# its processes found again, stopped by pid, and its count of checks.
# Sourced after tests/lib/stack.sh, with RUNDIR set.

# shellcheck source=../lib/checks.sh
. "$ROOT/tests/lib/checks.sh"
summary() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; }

# soak_tokend_start NAME FCGI DB [WRAPPER... --] [tokend flags...]
# stack_tokend_start's way (spawn-fcgi on 127.0.0.1:FCGI, as www-data, log
# in RUNDIR/NAME.log, master's pid in RUNDIR/NAME.pid), but tokend may run
# under a wrapper such as valgrind: everything before "--" comes first on
# the command line.  Under valgrind the master's /proc/PID/comm is
# valgrind's, not tokend's, so the pid is checked by its command line.
soak_tokend_start() {
	local name=$1 fcgi=$2 db=$3 pidf log out wrap=()
	shift 3
	if [[ " $* " == *" -- "* ]]; then
		while [ "$1" != -- ]; do wrap+=("$1"); shift; done
		shift
	fi
	pidf=$RUNDIR/$name.pid
	log=$RUNDIR/$name.log
	touch "$log"
	chown "$STACK_WEBUSER:" "$log"
	chmod 640 "$log"
	if stack_port_busy "$fcgi"; then
		stack_say "port $fcgi is in use; tokend not started"
		return 1
	fi
	rm -f "$pidf"
	# shellcheck disable=SC2016	# $0 and $@ are for that shell
	if ! out=$(STACK_LOG_FILE=$log spawn-fcgi -a 127.0.0.1 -p "$fcgi" -F 1 \
	    -u "$STACK_WEBUSER" -g "$STACK_WEBUSER" -P "$pidf" -- \
	    /bin/sh -c 'exec "$0" "$@" 2>>"$STACK_LOG_FILE"' \
	    "${wrap[@]}" "$STACK_BIN/tokend" --workers 2 \
	    --database-url "$(stack_db_url "$db")" --log-file "$log" "$@" \
	    2>&1 </dev/null); then
		printf '%s\n' "$out" >&2
		stack_say "spawn-fcgi could not start tokend"
		return 1
	fi
	for _ in $(seq 1 50); do
		[ -s "$pidf" ] && break
		sleep 0.1
	done
	sleep 1
	if ! soak_is_tokend "$(cat "$pidf" 2>/dev/null)"; then
		tail -n 20 "$log" >&2
		stack_say "tokend exited at start (log: $log)"
		return 1
	fi
}

# soak_is_tokend PID: a live process whose command line runs our tokend.
soak_is_tokend() {
	local pid=$1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$STACK_BIN/tokend " || return 1
	[[ $(cat "/proc/$pid/stat" 2>/dev/null) != *") Z "* ]]
}

# soak_workers MASTER: the pids of its request workers, sorted.
soak_workers() { pgrep -P "$1" -x tokend-worker | sort -n | tr '\n' ' ' | sed 's/ $//'; }

# soak_tokend_stop NAME SECS: SIGTERM to the master of RUNDIR/NAME.pid and
# wait up to SECS for it and its children to leave; true when they did.
# Past SECS they are killed (SIGKILL), and it is false.
soak_tokend_stop() {
	local pidf=$RUNDIR/$1.pid secs=$2 master kids left
	master=$(cat "$pidf" 2>/dev/null)
	soak_is_tokend "$master" || { rm -f "$pidf"; return 0; }
	kids=$(pgrep -P "$master" | tr '\n' ' ')
	kill -TERM "$master"
	for _ in $(seq 1 $((secs * 10))); do
		left=0
		for p in $master $kids; do
			[ -d "/proc/$p" ] && [[ $(cat "/proc/$p/stat" 2>/dev/null) != *") Z "* ]] && left=1
		done
		[ $left = 0 ] && { rm -f "$pidf"; return 0; }
		sleep 0.1
	done
	stack_say "tokend $master (children $kids) still running after ${secs}s; killing it"
	# shellcheck disable=SC2086
	kill -KILL $master $kids 2>/dev/null
	rm -f "$pidf"
	return 1
}

# soak_lighttpd_stop: stop the lighttpds started in RUNDIR.
soak_lighttpd_stop() {
	local f
	for f in "$RUNDIR"/lighttpd-*/lighttpd.pid; do
		[ -e "$f" ] || continue
		stack_kill_wait "$(cat "$f" 2>/dev/null)" lighttpd 10
		rm -f "$f"
	done
}
