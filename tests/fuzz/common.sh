# common.sh - sourced by tests/fuzz/run.sh and tests/fuzz/coverage.sh.
#
# FUZZ_TARGETS, the harnesses (as in CMakeLists.txt), and fuzz_deps,
# which installs with apt-get what is missing: clang-14, libFuzzer,
# llvm-14 (llvm-cov-14, llvm-profdata-14) and the build's libraries.
# Tests for commands and files, not packages.

FUZZ_TARGETS="json_long json_short json_introspect json_scan route cred token config"
FUZZ_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

fuzz_say() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }

# fuzz_has_libfuzzer: can clang-14 link a libFuzzer program?
fuzz_has_libfuzzer() {
	local tmp rc
	tmp=$(mktemp -d) || return 1
	printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
	    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
	    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
	    >"$tmp/t.c"
	clang-14 -fsanitize=fuzzer "$tmp/t.c" -o "$tmp/t" >/dev/null 2>&1
	rc=$?
	rm -rf "$tmp"
	return $rc
}

fuzz_deps() {
	local pkgs=() log
	command -v clang-14 >/dev/null || pkgs+=(clang-14)
	{ command -v llvm-cov-14 && command -v llvm-profdata-14; } >/dev/null ||
	    pkgs+=(llvm-14)
	if ! command -v clang-14 >/dev/null || ! fuzz_has_libfuzzer; then
		pkgs+=(libfuzzer-14-dev libclang-rt-14-dev)
	fi
	command -v cmake >/dev/null || pkgs+=(cmake)
	command -v pkg-config >/dev/null || pkgs+=(pkg-config)
	[ -r /usr/include/fcgiapp.h ] || pkgs+=(libfcgi-dev)
	if command -v pkg-config >/dev/null; then
		pkg-config --exists json-c || pkgs+=(libjson-c-dev)
		pkg-config --exists libcrypto || pkgs+=(libssl-dev)
		pkg-config --exists libpq || pkgs+=(libpq-dev)
		pkg-config --exists zlib || pkgs+=(zlib1g-dev)
	else
		pkgs+=(libjson-c-dev libssl-dev libpq-dev zlib1g-dev)
	fi
	[ ${#pkgs[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		fuzz_say "missing packages (run as root to install): ${pkgs[*]}"
		return 1
	fi
	fuzz_say "installing ${pkgs[*]}"
	log=$(mktemp /tmp/tokend-fuzz-apt.XXXXXX)
	if ! { apt-get update &&
	    DEBIAN_FRONTEND=noninteractive apt-get install -y \
	    --no-install-recommends "${pkgs[@]}"; } >"$log" 2>&1; then
		tail -n 20 "$log" >&2
		rm -f "$log"
		fuzz_say "apt-get failed"
		return 1
	fi
	rm -f "$log"
}

# fuzz_build DIR CMAKE_ARGS... -- TARGETS...: configure DIR with clang-14
# and build the targets, quietly unless it fails.
fuzz_build() {
	local dir=$1 log args=() targets=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do args+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	targets=("$@")
	log=$(mktemp /tmp/tokend-fuzz-build.XXXXXX)
	if ! { cmake -S "$FUZZ_ROOT" -B "$dir" -DCMAKE_C_COMPILER=clang-14 \
	    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTOKEND_TESTS=OFF "${args[@]}" &&
	    cmake --build "$dir" -j "$(nproc)" --target "${targets[@]}"; } \
	    >"$log" 2>&1; then
		tail -n 40 "$log" >&2
		rm -f "$log"
		fuzz_say "build in $dir failed"
		return 1
	fi
	rm -f "$log"
}
