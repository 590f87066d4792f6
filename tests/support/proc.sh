# shellcheck shell=bash
# Process control for the shell tests, sourced by tests/engine, tests/command, tests/soak and
# tests/slurm: start a command in a session of its own, wait for a condition or a job with a
# timeout, kill a session, and check that processes are gone. Every wait is bounded; processes
# are found by session, parent or recorded pid, never by name. Sets no shell options.

PROC_SESSIONS=()  # sessions proc_start began and nobody has reaped yet (proc_cleanup kills them)
PROC_RC=          # exit status of the job proc_wait waited for last

# proc_start CMD...: runs CMD in the background in a session of its own; $! is its pid, which is
# also its session id (mpirun puts each rank in a process group of its own, so a whole job is
# reached by session, not by group). Redirect the call to redirect CMD's output.
proc_start() {
  setsid "$@" &
  PROC_SESSIONS+=("$!")
}

# proc_kill_session SID: SIGKILL to every process still in session SID.
proc_kill_session() { pkill -KILL -s "$1" 2>/dev/null || true; }

# proc_forget SID: SID has been reaped; proc_cleanup leaves it alone (its id may be reused).
proc_forget() {
  local s kept=()
  for s in "${PROC_SESSIONS[@]}"; do [[ $s == "$1" ]] || kept+=("$s"); done
  PROC_SESSIONS=("${kept[@]}")
}

# proc_cleanup: SIGKILL to what is left of every session proc_start began (for an EXIT trap), so
# that no run or child outlives a failed test.
proc_cleanup() {
  local s
  for s in "${PROC_SESSIONS[@]}"; do proc_kill_session "$s"; done
  PROC_SESSIONS=()
}

# proc_wait_until SECONDS CMD...: polls CMD every 0.1 s until it succeeds (returns 0) or SECONDS
# have passed (returns 1).
proc_wait_until() {
  local limit=$1 t
  shift
  for ((t = 0; t <= limit * 10; t++)); do
    "$@" && return 0
    sleep 0.1
  done
  return 1
}

# proc_wait_for FILE SECONDS [PID]: waits until FILE exists and is not empty; returns 1 after
# SECONDS or, with PID, as soon as PID has ended without FILE.
proc_wait_for() {
  local t
  for ((t = 0; t <= $2 * 10; t++)); do
    [[ -s $1 ]] && return 0
    [[ -n ${3:-} ]] && ! kill -0 "$3" 2>/dev/null && { [[ -s $1 ]]; return; }
    sleep 0.1
  done
  return 1
}

# proc_wait PID SECONDS: waits for background job PID, at most SECONDS, and sets PROC_RC to its
# exit status. Past SECONDS it kills PID's session and returns 1 (PROC_RC=timeout).
proc_wait() {
  local pid=$1
  proc_wait_until "$2" proc_ended "$pid" || {
    proc_kill_session "$pid"
    wait "$pid" 2>/dev/null
    proc_forget "$pid"
    PROC_RC=timeout
    return 1
  }
  PROC_RC=0
  wait "$pid" 2>/dev/null || PROC_RC=$?  # (2>/dev/null: no "Killed" line from the shell)
  proc_forget "$pid"
  return 0
}

# proc_wait_launcher PID SECONDS: proc_wait for a launcher (mpirun) started by proc_start. Also
# returns when the launcher outlives every process it started by 15 s (Open MPI 4.1's mpirun can
# hang in its own PMIx teardown after a rank died on a signal, with all ranks already ended):
# then it kills the session, sets PROC_RC=launcher_hang and returns 0.
proc_wait_launcher() {
  local pid=$1 t seen=0 idle=0
  for ((t = 0; t <= $2 * 10; t++)); do
    if proc_ended "$pid"; then
      PROC_RC=0
      wait "$pid" 2>/dev/null || PROC_RC=$?
      proc_forget "$pid"
      return 0
    fi
    if proc_session_others_live "$pid"; then
      seen=1 idle=0
    elif ((seen && ++idle > 150)); then
      proc_kill_session "$pid"
      wait "$pid" 2>/dev/null
      proc_forget "$pid"
      PROC_RC=launcher_hang
      return 0
    fi
    sleep 0.1
  done
  proc_kill_session "$pid"
  wait "$pid" 2>/dev/null
  proc_forget "$pid"
  PROC_RC=timeout
  return 1
}

# proc_session_others_live SID: true when a process of session SID other than SID itself is
# running (zombies do not count).
proc_session_others_live() {
  ps -o pid=,stat= -s "$1" 2>/dev/null | awk -v sid="$1" '$1 != sid && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}

# proc_ended PID: true when PID has ended (a zombie counts as ended).
proc_ended() {
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) || return 0
  [[ -z $state || $state == Z* ]]
}

# proc_gone SECONDS PID...: waits until every PID has ended (a zombie counts as ended); returns 1
# after SECONDS, printing each survivor with its state and command line.
proc_gone() {
  local limit=$1 pid
  shift
  proc_wait_until "$limit" proc_all_ended "$@" && return 0
  for pid in "$@"; do
    proc_ended "$pid" || echo "process $pid is still running: $(ps -o stat=,args= -p "$pid" 2>/dev/null)"
  done
  return 1
}

# proc_all_ended PID...: true when every PID has ended.
proc_all_ended() {
  local pid
  for pid in "$@"; do proc_ended "$pid" || return 1; done
}

# proc_session_gone SID SECONDS: waits until no process of session SID is left; returns 1 after
# SECONDS, printing the survivors.
proc_session_gone() {
  proc_wait_until "$2" proc_session_empty "$1" && return 0
  echo "still running in session $1:"
  ps -o pid=,stat=,args= -s "$1" 2>/dev/null | sed 's/^/  /'
  return 1
}

# proc_session_empty SID: true when no process of session SID is left.
proc_session_empty() { ! pgrep -s "$1" >/dev/null; }

# proc_stop PID SECONDS: SIGTERM to PID, up to SECONDS for it to end, then SIGKILL (saying so).
proc_stop() {
  kill -TERM "$1" 2>/dev/null || return 0
  proc_gone "$2" "$1" >/dev/null && return 0
  echo "pid $1 ignored SIGTERM for $2 s; sending SIGKILL" >&2
  kill -KILL "$1" 2>/dev/null || true
}

# proc_descendants PID: every descendant of PID, each after its parent.
proc_descendants() {
  local child
  for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    echo "$child"
    proc_descendants "$child"
  done
}

# proc_mpi_rank LAUNCHER RANK: the pid of MPI rank RANK among the children of mpirun LAUNCHER
# (by OMPI_COMM_WORLD_RANK in its environment), or nothing.
proc_mpi_rank() {
  local p
  for p in $(pgrep -P "$1"); do
    if tr '\0' '\n' 2>/dev/null <"/proc/$p/environ" | grep -qx "OMPI_COMM_WORLD_RANK=$2"; then
      echo "$p"
      return
    fi
  done
}
