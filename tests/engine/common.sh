# Shared setup for the engine's shell tests: paths, mpirun as root, a scratch directory, and
# the process helpers of tests/support/proc.sh (what they start is killed when the test ends).
set -euo pipefail
: "${EMSWEEP_BIN:?set EMSWEEP_BIN to the sweep/ directory of the build}"
: "${EMSWEEP_SRC:?set EMSWEEP_SRC to the source tree}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
EMSWEEP="$EMSWEEP_BIN/emsweep"
PY=/usr/bin/python3
COMPARE="$EMSWEEP_SRC/tests/support/compare_results.py"
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/emsweep-test.XXXXXX")
source "$EMSWEEP_SRC/tests/support/proc.sh"
trap 'proc_cleanup; rm -rf "$SCRATCH"' EXIT
cd "$SCRATCH"
mpi() { mpirun --oversubscribe -np "$@"; }
die() { echo "FAIL: $*" >&2; exit 1; }
