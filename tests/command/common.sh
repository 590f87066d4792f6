# shellcheck shell=bash
# Shared setup for the `command` kind's end-to-end tests: the engine tests' setup (paths, mpirun
# as root, a scratch directory that is the current directory) plus helpers for children. Runs in the background start with proc_start: should the test end
# before it has waited for one (proc_wait), its whole session is killed, so no run or child
# outlives a failed test.
source "$(dirname "${BASH_SOURCE[0]}")/../engine/common.sh"
COMMAND_TESTS="$EMSWEEP_SRC/tests/command"

# check FILE...: runs the Python on stdin with h5py and results.py importable, FILE... as argv.
check() { PYTHONPATH="$COMMAND_TESTS" "$PY" - "$@"; }

# wait_for FILE [TENTHS]: waits until FILE exists and is not empty (default 10 s).
wait_for() { proc_wait_for "$1" $(((${2:-100} + 9) / 10)) || die "$1 never appeared"; }

# gone PID...: each process has ended within 10 s (a zombie counts as ended).
gone() { proc_gone 10 "$@" || die "processes outlived their point"; }
