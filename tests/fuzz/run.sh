#!/usr/bin/env bash
#
# run.sh - fuzz one harness of tests/fuzz/ with libFuzzer.
#
#   tests/fuzz/run.sh [--merge] TARGET SECONDS [-- LIBFUZZER_FLAGS...]
#
# TARGET is one of json_long json_short json_introspect json_scan route
# cred token config (tests/fuzz/fuzz_TARGET.c).  Builds with clang-14,
# libFuzzer, ASan and UBSan (-DTOKEND_FUZZ=ON) into build/fuzz, then
# runs fuzz_TARGET for SECONDS over tests/fuzz/corpus/TARGET/, which it
# only reads: new inputs land in build/fuzz/work/TARGET/new/ (emptied
# first).  --merge then adds those that bring new coverage to the
# committed corpus (libFuzzer -merge=1).  Missing packages (clang-14,
# libfuzzer-14-dev, llvm-14) are installed with apt-get.
#
# Exit status: 0 when the run ended without a crash; 1 on a crash, leak,
# timeout (an input over 10 s) or out-of-memory, with the reproducer's
# path printed (run build/fuzz/fuzz_TARGET FILE to see it again, and keep
# it as tests/fuzz/corpus/TARGET/regress-NAME once fixed); 2 on usage.
# The whole libFuzzer output is in build/fuzz/work/TARGET/fuzz.log.
set -uo pipefail

# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
	echo "usage: tests/fuzz/run.sh [--merge] TARGET SECONDS [-- LIBFUZZER_FLAGS...]" >&2
	echo "targets: $FUZZ_TARGETS" >&2
	exit 2
}

MERGE=0
if [ "${1:-}" = --merge ]; then
	MERGE=1
	shift
fi
[ $# -ge 2 ] || usage
TARGET=$1 SECS=$2
shift 2
[ "${1:-}" = -- ] && shift
[[ " $FUZZ_TARGETS " == *" $TARGET "* ]] || usage
[[ $SECS =~ ^[1-9][0-9]*$ ]] || usage

BUILD=$FUZZ_ROOT/build/fuzz
CORPUS=$FUZZ_ROOT/tests/fuzz/corpus/$TARGET
WORK=$BUILD/work/$TARGET
BIN=$BUILD/fuzz_$TARGET

fuzz_deps || exit 1
fuzz_build "$BUILD" -DTOKEND_FUZZ=ON -- "fuzz_$TARGET" || exit 1

rm -rf "$WORK/new"
mkdir -p "$WORK/new" "$WORK/artifacts"
COMMON=(-timeout=10 -rss_limit_mb=2048 -max_len=4096)
# tk_config says why it refuses a setting on stderr: thousands of lines.
[ "$TARGET" = config ] && COMMON+=(-close_fd_mask=2)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

touch "$WORK/stamp"
echo "fuzz_$TARGET: $SECS s over $CORPUS (new inputs: $WORK/new)"
"$BIN" "${COMMON[@]}" -max_total_time="$SECS" -print_final_stats=1 \
    -artifact_prefix="$WORK/artifacts/" "$@" "$WORK/new" "$CORPUS" >"$WORK/fuzz.log" 2>&1
rc=$?
grep -E '^(#[0-9]+[[:space:]]+(INITED|DONE)|stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb))' \
    "$WORK/fuzz.log"
if [ $rc -ne 0 ]; then
	tail -n 60 "$WORK/fuzz.log"
	echo
	found=0
	while read -r f; do
		found=1
		echo "reproducer: $f"
		echo "  hex: $(od -An -tx1 -v "$f" | tr -d ' \n' | cut -c1-400)"
		echo "  again: $BIN $f"
	done < <(find "$WORK/artifacts" -type f -newer "$WORK/stamp")
	[ $found = 1 ] ||
	    echo "fuzz_$TARGET exited $rc without a reproducer: see $WORK/fuzz.log"
	echo "fuzz_$TARGET: FAILED"
	exit 1
fi
echo "fuzz_$TARGET: no crash in $SECS s; $(find "$WORK/new" -type f | wc -l) new inputs in $WORK/new"
if [ $MERGE = 1 ]; then
	n=$(find "$CORPUS" -type f | wc -l)
	"$BIN" -merge=1 "${COMMON[@]}" "$CORPUS" "$WORK/new" >"$WORK/merge.log" 2>&1 || {
		tail -n 20 "$WORK/merge.log"
		exit 1
	}
	echo "merged: $(( $(find "$CORPUS" -type f | wc -l) - n )) inputs added to $CORPUS"
fi
exit 0
