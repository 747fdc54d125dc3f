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
# stack_tokend_start on database DB, tokend under WRAPPER (everything
# before "--", such as valgrind) when given.
soak_tokend_start() {
	local name=$1 fcgi=$2 db=$3 wrap=()
	shift 3
	if [[ " $* " == *" -- "* ]]; then
		while [ "$1" != -- ]; do wrap+=("$1"); shift; done
		shift
	fi
	STACK_DB=$db STACK_TOKEND_WRAP="${wrap[*]}" stack_tokend_start "$name" "$fcgi" "$@"
}

# soak_workers MASTER: the pids of its request workers, sorted.
soak_workers() { pgrep -P "$1" -x tokend-worker | sort -n | tr '\n' ' ' | sed 's/ $//'; }

# soak_tokend_stop NAME SECS: SIGTERM to the master of RUNDIR/NAME.pid and
# wait up to SECS for it and its children to leave; true when they did.
# Past SECS they are killed (SIGKILL), and it is false.
soak_tokend_stop() {
	local pidf=$RUNDIR/$1.pid secs=$2 master kids left
	master=$(cat "$pidf" 2>/dev/null)
	stack_tokend_is "$master" || { rm -f "$pidf"; return 0; }
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
