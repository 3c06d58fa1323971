#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the libFuzzer targets with clang (tests/fuzz/CMakeLists.txt) and runs each one for a
# while over its corpus. Fails when clang is missing, when a target crashes, leaks, hangs or
# breaks one of its checks, or when it leaves a new file in the crash directory.
#   tests/fuzz/run.sh [--smoke] [--seconds N] [--build-dir DIR] [--targets "fuzz_json ..."]
#   --smoke      the `make test` run (ctest fuzz.smoke): FUZZ_SMOKE_SECONDS (4) per target, and the
#                corpus it grows goes to a scratch directory that is removed afterwards
#   default      the `make fuzz` run: FUZZ_SECONDS (60) per target, grown corpus kept in
#                BUILD_DIR/corpus/<target> (merge it into tests/fuzz/corpus by hand, see
#                docs/fuzzing.md)
# Crashes go to BUILD_DIR/crashes/<target>-crash-<sha1> (leak-, timeout-, oom- likewise); logs to
# BUILD_DIR/logs/<target>.log. Environment: CC (a clang), FUZZ_JOBS (build jobs), BX_FUZZ_LENIENT=1
# (known findings named by fuzz_known pass, counted; docs/fuzzing.md).
set -euo pipefail

src="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$src/../.." && pwd)"
smoke=0
seconds="${FUZZ_SECONDS:-60}"
build="$root/build/fuzz"
targets="fuzz_json fuzz_token fuzz_jwks fuzz_router fuzz_validators fuzz_qr_payload fuzz_log
  fuzz_http_request"
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) smoke=1; seconds="${FUZZ_SMOKE_SECONDS:-4}" ;;
    --seconds) seconds="$2"; shift ;;
    --build-dir) build="$2"; shift ;;
    --targets) targets="$2"; shift ;;
    *) echo "fuzz: unknown argument $1 (see the top of $0)" >&2; exit 2 ;;
  esac
  shift
done
case "$seconds" in ''|*[!0-9]*) echo "fuzz: seconds must be a whole number, got '$seconds'" >&2; exit 2 ;; esac

# clang with libFuzzer: $CC when it is a clang, else clang, else clang-14.
cc=""
for c in "${CC:-}" clang clang-14; do
  if [ -n "$c" ] && command -v "$c" >/dev/null 2>&1 && "$c" --version 2>/dev/null | grep -qi clang; then
    cc="$(command -v "$c")"; break
  fi
done
if [ -z "$cc" ]; then
  echo "fuzz: clang is not installed; the fuzz targets need it (libFuzzer)." >&2
  echo "fuzz: install it with scripts/deps.sh --test (or: apt-get install clang)." >&2
  exit 1
fi
probe="$(mktemp -d)"
trap 'rm -rf "$probe"' EXIT
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' >"$probe/p.c"
if ! "$cc" -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" 2>"$probe/err"; then
  echo "fuzz: $cc cannot build a libFuzzer target:" >&2
  cat "$probe/err" >&2
  exit 1
fi

jobs="${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}"
mkdir -p "$build"
build="$(cd "$build" && pwd)"
if ! cmake -S "$src" -B "$build" -DCMAKE_C_COMPILER="$cc" >"$build/configure.log" 2>&1; then
  cat "$build/configure.log" >&2
  echo "fuzz: configuring $build failed" >&2
  exit 1
fi
if ! cmake --build "$build" -j "$jobs" >"$build/build.log" 2>&1; then
  tail -n 60 "$build/build.log" >&2
  echo "fuzz: building the targets failed (full log: $build/build.log)" >&2
  exit 1
fi

crashes="$build/crashes"
logs="$build/logs"
mkdir -p "$crashes" "$logs"
if [ "$smoke" = 1 ]; then
  work="$(mktemp -d)"
  trap 'rm -rf "$probe" "$work"' EXIT
else
  work="$build/corpus"
fi

# Per-target libFuzzer options: the longest input worth trying, and a dictionary.
options() {
  case "$1" in
    fuzz_json) echo "-max_len=8192 -dict=$src/dict/json.dict" ;;
    fuzz_token) echo "-max_len=2048 -dict=$src/dict/token.dict" ;;
    fuzz_jwks) echo "-max_len=4096 -dict=$src/dict/json.dict" ;;
    fuzz_router) echo "-max_len=1024 -dict=$src/dict/http.dict" ;;
    fuzz_validators) echo "-max_len=256 -dict=$src/dict/validators.dict" ;;
    fuzz_qr_payload) echo "-max_len=1024" ;;
    fuzz_log) echo "-max_len=8192 -dict=$src/dict/http.dict" ;;
    fuzz_http_request) echo "-max_len=16384 -dict=$src/dict/http.dict" ;;
  esac
}

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
status=0
printf '%-18s %8s %10s %10s  %s\n' target seconds execs exec/s result
for t in $targets; do
  bin="$build/bin/$t"
  if [ ! -x "$bin" ]; then
    echo "fuzz: no target $t (have: $(find "$build/bin" -name 'fuzz_*' -printf '%f ' | sort))" >&2
    exit 2
  fi
  mkdir -p "$work/$t" "$src/corpus/$t"
  before="$(find "$crashes" -maxdepth 1 -name "$t-*" -printf '%f\n' | sort)"
  rc=0
  # shellcheck disable=SC2046 # options() is a list of words
  "$bin" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$crashes/$t-" $(options "$t") "$work/$t" "$src/corpus/$t" \
    >"$logs/$t.log" 2>&1 || rc=$?
  after="$(find "$crashes" -maxdepth 1 -name "$t-*" -printf '%f\n' | sort)"
  new="$(comm -13 <(echo "$before") <(echo "$after") | sed '/^$/d' || true)"
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log" | tail -n 1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logs/$t.log" | tail -n 1)"
  failed=0
  if [ "$rc" = 0 ] && [ -z "$new" ]; then
    result="ok"
  else
    result="FAILED (exit $rc)"
    failed=1
    status=1
  fi
  # known findings (docs/fuzzing.md) fail, or with BX_FUZZ_LENIENT=1 pass, never silently
  known="$(sed -n 's/^known finding \(F[0-9]*\) .* seen \([0-9]*\) times$/\1 x\2/p' "$logs/$t.log" |
    tr '\n' ' ' | sed 's/ $//')"
  [ -n "$known" ] && result="$result (known findings: $known)"
  printf '%-18s %8s %10s %10s  %s\n' "$t" "$seconds" "${execs:-?}" "${rate:-?}" "$result"
  if [ "$failed" = 1 ]; then
    for f in $new; do echo "  new artifact: $crashes/$f"; done
    echo "  log ($logs/$t.log), the report:"
    grep -n -m 1 -A 30 -E '^==[0-9]+==ERROR|fuzz check failed|runtime error|assertion failed|ERROR: libFuzzer' \
      "$logs/$t.log" | sed 's/^/    /' || tail -n 40 "$logs/$t.log" | sed 's/^/    /'
    echo "  reproduce: $bin <artifact>   (BX_FUZZ_LENIENT=1 lets known findings pass)"
  fi
done
if [ "$status" != 0 ]; then
  echo "fuzz: FAILED; see docs/fuzzing.md for what to do with a crash"
else
  echo "fuzz: all targets ok"
fi
exit "$status"
