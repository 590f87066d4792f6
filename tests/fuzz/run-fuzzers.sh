#!/usr/bin/env bash
# Builds the libFuzzer targets with Debian's clang (ASan + UBSan, no LibTorch) in build-fuzz/
# and runs each for SECONDS on one core. New corpus entries go to build-fuzz/corpus-TARGET/
# (the seeds in tests/fuzz/corpus/ are read, never written); crashing inputs land in
# build-fuzz/artifacts/. Copy a crashing input into tests/fuzz/regressions/TARGET/ once fixed:
# ctest replays that directory with the normal compiler.
# Usage: tests/fuzz/run-fuzzers.sh [SECONDS=600] [TARGET...]   (targets: spec journal json)
#        SECONDS=0 only configures and builds.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-600}
shift || true
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(spec journal json)
build=${EMSWEEP_FUZZ_BUILD_DIR:-build-fuzz}
san="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
if [[ ! -f $build/CMakeCache.txt ]]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -DEMSWEEP_WITH_TORCH=OFF -DEMSWEEP_FUZZ=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS="$san" -DCMAKE_C_FLAGS="$san" >/dev/null
fi
cmake --build "$build" -j 2 --target "${targets[@]/#/fuzz_}"
[[ $seconds != 0 ]] || exit 0
mkdir -p "$build/artifacts"
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0
status=0
for t in "${targets[@]}"; do
  mkdir -p "$build/corpus-$t"
  log="$build/fuzz-$t.log"
  echo "== fuzz_$t for ${seconds}s (log: $log)"
  start=$(date +%s)
  "$build/tests/fuzz/fuzz_$t" "$build/corpus-$t" "tests/fuzz/corpus/$t" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
    -print_final_stats=1 -artifact_prefix="$build/artifacts/$t-" >"$log" 2>&1 || status=1
  end=$(date +%s)
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  cov=$(grep -E '^#[0-9]+' "$log" | tail -1 | grep -o 'cov: [0-9]*' || true)
  echo "fuzz_$t: $((end - start)) s, $execs executions, $cov, corpus $(ls "$build/corpus-$t" | wc -l) files"
  grep -E 'ERROR|SUMMARY|property failed|Test unit written' "$log" || true
done
exit $status
