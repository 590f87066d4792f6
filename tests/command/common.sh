# shellcheck shell=bash
# Shared setup for the `command` kind's end-to-end tests: the engine tests' setup (paths, mpirun
# as root, a scratch directory that is the current directory) plus helpers for children.
source "$(dirname "${BASH_SOURCE[0]}")/../engine/common.sh"
COMMAND_TESTS="$EMSWEEP_SRC/tests/command"

# spawn CMD...: runs CMD in the background in a session of its own ($! is its pid); if the test
# ends before it has waited for it (then SPAWNED=()), the whole session is killed, so no run or
# child outlives a failed test.
SPAWNED=()
spawn() { setsid "$@" & SPAWNED+=($!); }
kill_spawned() {
  local pid
  for pid in "${SPAWNED[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  rm -rf "$SCRATCH"
}
trap kill_spawned EXIT

# check FILE...: runs the Python on stdin with h5py and results.py importable, FILE... as argv.
check() { PYTHONPATH="$COMMAND_TESTS" "$PY" - "$@"; }

# wait_for FILE [TENTHS]: waits until FILE exists and is not empty (default 10 s).
wait_for() {
  for _ in $(seq 1 "${2:-100}"); do [ -s "$1" ] && return 0; sleep 0.1; done
  die "$1 never appeared"
}

# gone PID...: each process has ended within 10 s (a zombie counts as ended).
gone() {
  local pid state
  for pid in "$@"; do
    for _ in $(seq 1 100); do
      state=$(ps -o stat= -p "$pid" 2>/dev/null || true)
      [ -z "$state" ] || [[ $state == Z* ]] && break
      sleep 0.1
    done
    state=$(ps -o stat= -p "$pid" 2>/dev/null || true)
    [ -z "$state" ] || [[ $state == Z* ]] || die "process $pid is still running ($state): $(ps -o args= -p "$pid")"
  done
}
