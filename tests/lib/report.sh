# shellcheck shell=bash
#
# report.sh - count the parts of a test run and print its table, ending
# with the one line "N passed, N failed".  Sourced by tests/run.sh and
# tests/sanitize/run.sh.
#
# The caller may set, before sourcing:
#   REPORT_PREFIX         put before every section title ("sanitize: ")
#   REPORT_SKIP_FAILS=1   a test that skipped itself counts as a failure
#   REPORT_CTEST_TIMEOUT  seconds per ctest program (default 180)
# and sets BUILD (the build directory) before calling run_ctest.

PASSED=0
FAILED=0
SUMMARY=()
START=$SECONDS

# record STATUS NAME [PASSED FAILED]: count a part.
record() {
	local status=$1 name=$2 p=${3:-} f=${4:-}
	if [ -z "$p" ]; then
		if [ "$status" = pass ]; then p=1 f=0; else p=0 f=1; fi
	fi
	PASSED=$((PASSED + p))
	FAILED=$((FAILED + f))
	SUMMARY+=("$(printf '%-4s  %-40s %3d passed, %d failed' "$status" "$name" "$p" "$f")")
}
note() { SUMMARY+=("$(printf 'skip  %s' "$*")"); }
section() { printf '\n==== %s%s\n' "${REPORT_PREFIX:-}" "$*"; }

# summary_of FILE RC NAME: count a part from the "N passed, N failed"
# line its output ends with; a non-zero RC is at least one failure.
summary_of() {
	local out=$1 rc=$2 name=$3 line p f
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
	if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
		p=${BASH_REMATCH[1]}
		f=${BASH_REMATCH[2]}
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
		record "$([ "$f" -eq 0 ] && echo pass || echo fail)" "$name" "$p" "$f"
	else
		record fail "$name (exit $rc, no summary line)"
	fi
}

# run_ctest LABEL NAME: run the ctest programs labelled LABEL in BUILD;
# each program counts.
run_ctest() {
	local label=$1 name=$2 out rc line n m
	out=$(mktemp)
	(cd "$BUILD" && ctest -L "^$label\$" --output-on-failure \
	    --timeout "${REPORT_CTEST_TIMEOUT:-180}") 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	line=$(grep -E '[0-9]+ tests? failed out of [0-9]+' "$out" | tail -n 1)
	if [[ $line =~ ([0-9]+)\ tests?\ failed\ out\ of\ ([0-9]+) ]]; then
		n=${BASH_REMATCH[1]}
		m=${BASH_REMATCH[2]}
		if [ "$n" -eq 0 ] && [ "$rc" -ne 0 ]; then n=1; fi
		record "$([ "$n" -eq 0 ] && echo pass || echo fail)" "$name" $((m - n < 0 ? 0 : m - n)) "$n"
	elif grep -q 'No tests were found' "$out" && [ "$rc" -eq 0 ]; then
		note "$name: no tests registered"
	else
		record fail "$name (ctest exit $rc)"
	fi
	if [ "${REPORT_SKIP_FAILS:-0}" = 1 ] && grep -q '\*\*\*Skipped' "$out"; then
		record fail "$name: some tests were skipped"
	fi
	rm -f "$out"
}

# report_table: the table of parts and the final line; true when none failed.
report_table() {
	section "summary ($((SECONDS - START)) s)"
	printf '%s\n' "${SUMMARY[@]}"
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
}
