#!/usr/bin/env bash
#
# coverage.sh - does each fuzz harness reach the parser it names?
#
#   tests/fuzz/coverage.sh [TARGET...]      (default: every target)
#
# Builds the replay programs with clang-14 -fprofile-instr-generate
# -fcoverage-mapping (-DTOKEND_FUZZ_COVERAGE=ON) into build/fuzz-cov,
# replays each corpus tests/fuzz/corpus/TARGET/, and reports with
# llvm-cov-14 the line coverage of the parser's source file: the lines
# of the functions that the harness can reach (for tk_json.c, the other
# endpoints' decoders are out of reach: they are listed below and left
# out of the figure), beside the whole file's figure.  The four JSON
# harnesses together are also held to the whole of tk_json.c.  Exits 1
# if a figure held to the bar is below 80%.  Missing packages are
# installed with apt-get.
set -uo pipefail

# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

MIN=80
BUILD=$FUZZ_ROOT/build/fuzz-cov

# Functions of tk_json.c that only one endpoint's decoder, or only the
# decoders, call.
LONG_ONLY="tk_json_parse_long tk_long_req_clear decode_long_member get_grant get_uuid"
SHORT_ONLY="tk_json_parse_short tk_short_req_clear decode_short_member"
INTRO_ONLY="tk_json_parse_introspect tk_introspect_req_clear"
DECODERS="decode_object skip_blank unknown_member get_text get_scope get_seconds
    tk_utf8_count tk_json_scope_is_valid is_scope_char"

# TARGET: its source file, then the functions out of its reach.
spec() {
	case $1 in
	json_long) echo "tk_json.c $SHORT_ONLY $INTRO_ONLY" ;;
	json_short) echo "tk_json.c $LONG_ONLY $INTRO_ONLY" ;;
	json_introspect) echo "tk_json.c $LONG_ONLY $SHORT_ONLY get_scope get_seconds
	    tk_json_scope_is_valid is_scope_char" ;;
	json_scan) echo "tk_json.c $LONG_ONLY $SHORT_ONLY $INTRO_ONLY $DECODERS" ;;
	route) echo "tk_route.c" ;;
	cred) echo "tk_cred.c" ;;
	token) echo "tk_token.c" ;;
	config) echo "tk_config.c" ;;
	esac
}

# lines PROFDATA FILE [EXCLUDED...]: "covered total" of the lines of
# FILE's functions, but the excluded ones, in the programs of BINS.
lines() {
	local prof=$1 file=$2 objs=() b
	shift 2
	for b in "${BINS[@]:1}"; do objs+=(-object "$b"); done
	llvm-cov-14 report -show-functions "${BINS[0]}" "${objs[@]}" -instr-profile="$prof" \
	    "$FUZZ_ROOT/lib/$file" | awk -v skip=" $* " '
		$2 ~ /^[0-9]+$/ && $5 ~ /^[0-9]+$/ && $1 != "TOTAL" {
			name = $1; sub(/^.*:/, "", name)
			if (index(skip, " " name " ") == 0) { total += $5; missed += $6 }
		}
		END { printf "%d %d\n", total - missed, total }'
}

pct() { awk -v c="$1" -v t="$2" 'BEGIN { printf "%.2f", t ? 100 * c / t : 0 }'; }
below() { awk -v p="$1" -v m="$MIN" 'BEGIN { exit !(p < m) }'; }

TARGETS=${*:-$FUZZ_TARGETS}
for t in $TARGETS; do
	[ -n "$(spec "$t")" ] || { echo "coverage.sh: unknown target $t" >&2; exit 2; }
done
fuzz_deps || exit 1
# shellcheck disable=SC2046
fuzz_build "$BUILD" -DTOKEND_FUZZ_COVERAGE=ON -- \
    $(for t in $TARGETS; do printf 'fuzz_%s_replay ' "$t"; done) || exit 1

FAIL=0
JSON_BINS=() JSON_PROFS=()
printf '%-16s %-12s %22s %22s\n' target file "reachable lines" "whole file"
for t in $TARGETS; do
	# shellcheck disable=SC2046
	set -- $(spec "$t")
	file=$1
	shift
	bin=$BUILD/fuzz_${t}_replay
	rm -f "$BUILD/$t".prof*
	if ! LLVM_PROFILE_FILE=$BUILD/$t.profraw "$bin" \
	    "$FUZZ_ROOT/tests/fuzz/corpus/$t" >/dev/null 2>"$BUILD/$t.log"; then
		tail -n 20 "$BUILD/$t.log"
		echo "coverage.sh: the replay of $t failed"
		FAIL=1
		continue
	fi
	llvm-profdata-14 merge -o "$BUILD/$t.profdata" "$BUILD/$t.profraw"
	BINS=("$bin")
	read -r c n < <(lines "$BUILD/$t.profdata" "$file" "$@")
	read -r wc wn < <(lines "$BUILD/$t.profdata" "$file")
	p=$(pct "$c" "$n")
	status=ok
	if below "$p" || [ "$n" -eq 0 ]; then status=LOW; FAIL=1; fi
	printf '%-16s %-12s %6s%% (%4d of %4d) %6s%% (%4d of %4d)  %s\n' "$t" "$file" \
	    "$p" "$c" "$n" "$(pct "$wc" "$wn")" "$wc" "$wn" "$status"
	[ $# -gt 0 ] && echo "    not counted, out of its reach: $*"
	if [[ $t == json_* ]]; then
		JSON_BINS+=("$bin")
		JSON_PROFS+=("$BUILD/$t.profraw")
	fi
done
if [ ${#JSON_BINS[@]} -eq 4 ]; then
	llvm-profdata-14 merge -o "$BUILD/json.profdata" "${JSON_PROFS[@]}"
	BINS=("${JSON_BINS[@]}")
	read -r c n < <(lines "$BUILD/json.profdata" tk_json.c)
	p=$(pct "$c" "$n")
	status=ok
	if below "$p"; then status=LOW; FAIL=1; fi
	printf '%-16s %-12s %6s%% (%4d of %4d)  %s\n' "json_* together" tk_json.c "$p" "$c" "$n" "$status"
fi
[ $FAIL = 0 ] && echo "coverage: every harness at or above $MIN%" ||
    echo "coverage: FAILED (below $MIN%, or a replay failed)"
exit $FAIL
