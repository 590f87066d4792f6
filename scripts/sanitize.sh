#!/usr/bin/env bash
# The ASan+UBSan pass: builds emsweep with EMSWEEP_SANITIZE=ON and without LibTorch in
# build-asan/, then runs the unit tests, the fuzz regression inputs and the MPI fault tests
# under the sanitizers (the kill/resume soak too with --soak). Open MPI and HDF5 leaks are
# suppressed (tests/sanitizer/lsan.supp); any other leak, memory error or UB fails the run.
# The LibTorch worker is left out: LibTorch is not instrumented (its CPU kernels and allocator
# would report or hide errors that are not ours) and its one big file takes ~36 s and 1.3 GB
# to compile, ASan doubling that; the probe task exercises the same engine paths.
# Leak checking is on for every test that runs in one process (the unit tests, the in-process
# engine, the analysis, `emsweep run` alone). Under mpirun it is off: Open MPI dlcloses its
# components in MPI_Finalize, so the allocations it keeps for the process lifetime show up as
# "<unknown module>" frames that no suppression can name. Memory errors and UB still fail there.
# Usage: scripts/sanitize.sh [--soak] [--slurm] [ctest args...]
#   --soak adds the kill/resume soak, --slurm the Slurm scenarios (slow under ASan).
set -euo pipefail
cd "$(dirname "$0")/.."
extra=()
while [[ ${1:-} == --soak || ${1:-} == --slurm ]]; do
  extra+=("${1#--}")
  shift
done
build=${EMSWEEP_ASAN_BUILD_DIR:-build-asan}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEMSWEEP_SANITIZE=ON -DEMSWEEP_WITH_TORCH=OFF \
  -DEMSWEEP_WERROR="${EMSWEEP_WERROR:-OFF}" >/dev/null
cmake --build "$build" -j "$(nproc)"
asan=abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1
export LSAN_OPTIONS=suppressions=$PWD/tests/sanitizer/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
cd "$build"
multi="mpi|faults|soak|slurm"
with=$(IFS='|'; echo "mpi|faults${extra[*]:+|${extra[*]}}")
status=0
echo "== one process per test: ASan + LeakSanitizer + UBSan"
ASAN_OPTIONS=detect_leaks=1:$asan ctest --output-on-failure -LE "$multi" "$@" || status=1
echo "== under mpirun ($with): ASan + UBSan"
# fault_bad_inputs bounds each run's memory with `ulimit -v`, where ASan cannot reserve its
# shadow memory; the fuzzers run the same parser under ASan instead.
skip=()
[[ " ${extra[*]} " == *" soak "* ]] || skip=(-LE soak)
ASAN_OPTIONS=detect_leaks=0:$asan ctest --output-on-failure -L "$with" "${skip[@]}" -E fault_bad_inputs "$@" ||
  status=1
exit $status
