# shellcheck shell=bash
#
# checks.sh - the counted checks of one test suite.  Each check prints
# "ok - NAME" or "not ok - NAME"; the suite ends by printing
# "$passed passed, $failed failed", the line tests/run.sh reads
# (summary_of, tests/lib/report.sh).  Sourced by the suites under tests/.

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }
check() {	# check NAME COMMAND...: ok when the command succeeds
	local name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name"; fi
}
