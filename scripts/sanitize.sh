#!/usr/bin/env bash
# The ASan+UBSan pass: builds emsweep with EMSWEEP_SANITIZE=ON and without LibTorch in
# build-asan/, then runs the unit tests, the fuzz regression inputs and the MPI fault tests
# under the sanitizers (the kill/resume soak too with --soak). Open MPI and HDF5 leaks are
# suppressed (tests/sanitizer/lsan.supp); any other leak, memory error or UB fails the run.
# The LibTorch worker is left out: LibTorch is not instrumented (its CPU kernels and allocator
# would report or hide errors that are not ours) and its one big file takes ~36 s and 1.3 GB
# to compile, ASan doubling that; the probe task exercises the same engine paths.
# Usage: scripts/sanitize.sh [--soak] [ctest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
labels=(-LE soak)
if [[ ${1:-} == --soak ]]; then
  labels=()
  shift
fi
build=${EMSWEEP_ASAN_BUILD_DIR:-build-asan}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEMSWEEP_SANITIZE=ON -DEMSWEEP_WITH_TORCH=OFF >/dev/null
cmake --build "$build" -j "$(nproc)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1
export LSAN_OPTIONS=suppressions=$PWD/tests/sanitizer/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
cd "$build"
ctest --output-on-failure "${labels[@]}" "$@"
