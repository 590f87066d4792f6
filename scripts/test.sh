#!/usr/bin/env bash
# Builds emsweep (Release with debug info, ccache) and runs the whole test suite with ctest, then
# the ASan + UBSan pass of scripts/sanitize.sh (a second build without LibTorch in build-asan/).
# Usage: scripts/test.sh [ctest args...]
#   With ctest arguments (e.g. -R engine) only the main suite runs, filtered.
#   EMSWEEP_SKIP_SANITIZE=1 skips the sanitizer pass; EMSWEEP_WERROR=ON (CI) makes any compiler
#   warning an error, in both builds.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${EMSWEEP_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEMSWEEP_WERROR="${EMSWEEP_WERROR:-OFF}" >/dev/null
cmake --build "$build" -j "$(nproc)"
(
  cd "$build"
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
  ctest --output-on-failure "$@"
)
if [[ $# -eq 0 && ${EMSWEEP_SKIP_SANITIZE:-0} != 1 ]]; then
  echo "== the sanitizer pass (scripts/sanitize.sh)"
  bash scripts/sanitize.sh
fi
