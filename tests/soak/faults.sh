#!/usr/bin/env bash
# Fault injection against a real `emsweep run` (3 ranks under mpirun, or alone): each scenario
# checks the documented behaviour (docs/reliability.md) and prints what it measured.
# Usage: tests/soak/faults.sh BUILD_DIR SCENARIO
#   worker_kill  SIGKILL one worker rank mid-sweep: the whole job ends; a resume recovers all
#   task_abort   a task calls abort() / task_segfault: a task raises SIGSEGV, at one point
#   readonly     output directory on a read-only bind mount (root ignores mode bits)
#   diskfull     the output file system fills up mid-sweep (a small tmpfs), then frees up
#   bad_inputs   huge, deep, binary and alias-bomb configs; output at a directory or /dev/null
# readonly and diskfull need mount rights in a private mount namespace (unshare -m); without
# them they print SKIP and exit 77.
set -uo pipefail
build=$(cd "$1" && pwd)
scenario=$2
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../support/proc.sh"
emsweep=$build/bin/emsweep
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_rmaps_base_oversubscribe=1
cfg=$here/faults.yaml
work=$(mktemp -d "${TMPDIR:-/tmp}/emsweep-faults.XXXXXX")
cleanup() {
  proc_cleanup
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAILED ($scenario): $*"; [[ -f $work/run.log ]] && { echo "--- run log:"; tail -15 "$work/run.log"; }; exit 1; }
need_h5py() { /usr/bin/python3 -c 'import h5py' 2>/dev/null || { echo "SKIP: no h5py"; exit 77; }; }

# start_run OUTPUT [args...]: the sweep at 3 ranks, in its own session.
start_run() {
  local o=$1
  shift
  proc_start mpirun --oversubscribe -np 3 "$emsweep" run "$cfg" --output "$o" -q "$@" >"$work/run.log" 2>&1
  job=$!
}
wait_run() {  # waits up to 120 s; sets rc; kills what is left of the job's session
  proc_wait_launcher "$job" 120 || fail "the job did not end within 120 s"
  rc=$PROC_RC
  proc_kill_session "$job"
  [[ $rc == launcher_hang ]] || return 0
  # Every rank ended, mpirun did not (Open MPI 4.1's PMIx teardown, docs/reliability.md): an
  # abnormal end of the job when a rank was killed by a signal, a failure otherwise.
  grep -q "exited on signal" "$work/run.log" || fail "mpirun outlived every rank by 15 s, none of them killed by a signal"
  echo "(mpirun hung in its teardown after every rank had ended; killed it)"
}
run_sync() { start_run "$@"; wait_run; }
# wait_points FILE N: waits (up to 60 s) until the running job has recorded N points in FILE.
wait_points() { proc_wait_until 60 points_or_ended "$1" "$2" || true; }
points_or_ended() {
  local n
  n=$("$emsweep" status "$1" --json 2>/dev/null | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["done"])' 2>/dev/null)
  [[ -n $n ]] && ((n >= $2)) && return 0
  proc_ended "$job"
}
reference() {
  run_sync "$work/reference.h5"
  [[ $rc == 0 ]] || fail "the reference run exited $rc"
}
compare() { /usr/bin/python3 "$here/../support/compare_results.py" "$work/reference.h5" "$@" || fail "results differ from the reference"; }
# Runs the private-mount-namespace part of a scenario (this script again, as root inside).
in_mount_ns() {
  unshare -m --propagation private true 2>/dev/null || { echo "SKIP: cannot create a mount namespace"; exit 77; }
  unshare -m --propagation private bash "$0" "$build" "$scenario-ns" "$work" || exit $?
}

case $scenario in
worker_kill)
  need_h5py
  reference
  start_run "$work/w.h5"
  wait_points "$work/w.h5" 20
  victim=$(proc_mpi_rank "$job" 1)
  [[ -n $victim ]] || fail "no rank 1 found"
  kill -0 "$job" || fail "the run ended before the kill"
  t0=$(date +%s.%N)
  kill -KILL "$victim"
  wait_run
  t1=$(date +%s.%N)
  [[ $rc != 0 ]] || fail "the job exited 0 although a rank was killed"
  printf 'worker rank 1 killed: the job ended %.1f s later (mpirun exit %d)\n' "$(echo "$t1 - $t0" | bc)" "$rc"
  run_sync "$work/w.h5"
  [[ $rc == 0 ]] || fail "the resume exited $rc"
  compare "$work/w.h5"
  echo "PASSED: resume after a killed worker rank equals the uninterrupted run"
  ;;
task_abort | task_segfault)
  need_h5py
  mode=${scenario#task_}
  crashes=0
  for attempt in 1 2 3 4 5 6 7; do
    # One crashing point (x = 0.5 of a 21-point grid): each crash ends the whole job and
    # counts an attempt for every point in flight (up to 4 here); max_retries 3 = 4 crashes,
    # then recorded. The innocent points in flight with it must not run out of attempts: a
    # point charged twice runs isolated from the other suspects.
    run_sync "$work/c.h5" --set task.fail="$mode" --set task.fail_x=0.5 \
      --set 'grid.x={linspace: [0, 1, 21]}' --set 'grid.seed={replicates: 1}' --set 'grid.gate_noise=[0.0]'
    echo "run $attempt: exit $rc"
    [[ $rc == 0 || $rc == 4 ]] && break
    [[ $rc == 2 || $rc == 5 || $rc == 6 ]] && fail "run $attempt: exit $rc"
    crashes=$((crashes + 1))
  done
  [[ $rc == 4 ]] || fail "the sweep did not end with exit 4 (points failed) after $crashes crashes"
  [[ $crashes == 4 ]] || fail "expected 4 job-ending crashes (max_retries 3), saw $crashes"
  "$emsweep" status "$work/c.h5" >"$work/status.txt" 2>&1
  cat "$work/status.txt" | head -12
  /usr/bin/python3 - "$work/c.h5" <<'PY' || fail "the final file is wrong"
import sys, h5py, numpy as np
p = h5py.File(sys.argv[1], "r")["points"][:]
ids, n = np.unique(p["point_id"], return_counts=True)
assert (n == 1).all(), "duplicate rows"
assert len(p) == 21, f"{len(p)} rows, expected 21"
crash = p["x"] == 0.5
failed = p["status"] == 2
print(f"{int(failed.sum())} failed points (all at x=0.5: {bool((crash == failed).all())}); "
      f"{int((~failed).sum())} done; attempts of failed points {sorted(set(p['attempts'][failed].tolist()))}, "
      f"most attempts of a done point {int(p['attempts'][~failed].max())}")
assert (failed == crash).all(), "only and all points at x=0.5 must fail"
assert all(b"crash" in e or b"without a report" in e for e in p["error"][failed]), p["error"][failed][:3]
PY
  echo "PASSED: $crashes job-ending crashes, then exactly the x=0.5 points recorded failed (exit 4)"
  ;;
readonly)
  need_h5py
  reference
  in_mount_ns
  ;;
readonly-ns)
  rmdir "$work"  # this copy's own temporary directory: the outer run's is used
  work=$3
  trap - EXIT
  ro=$work/ro
  mkdir -p "$ro"
  mount --bind "$ro" "$ro" && mount -o remount,bind,ro "$ro" || { echo "SKIP: cannot bind-mount"; exit 77; }
  "$emsweep" run "$cfg" --output "$ro/new.h5" -q >"$work/run.log" 2>&1
  rc=$?
  echo "new file in a read-only directory: exit $rc: $(grep -m1 error "$work/run.log")"
  [[ $rc == 5 ]] || fail "expected exit 5"
  # A half-done file, then its directory turns read-only.
  umount "$ro"
  start_run "$ro/r.h5"
  wait_points "$ro/r.h5" 20
  proc_kill_session "$job"
  wait_run
  mount --bind "$ro" "$ro" && mount -o remount,bind,ro "$ro"
  before=$(/usr/bin/python3 -c "import h5py,sys; print(len(h5py.File(sys.argv[1],'r',swmr=True)['points']))" "$ro/r.h5") ||
    fail "the half-done file is not readable"
  "$emsweep" run "$cfg" --output "$ro/r.h5" -q >"$work/run.log" 2>&1
  rc=$?
  echo "resume in a read-only directory: exit $rc: $(grep -m1 error "$work/run.log")"
  [[ $rc == 5 ]] || fail "expected exit 5"
  after=$(/usr/bin/python3 -c "import h5py,sys; print(len(h5py.File(sys.argv[1],'r',swmr=True)['points']))" "$ro/r.h5") ||
    fail "the file is not readable after the refused resume"
  [[ $before == "$after" ]] || fail "the refused resume changed the file ($before -> $after rows)"
  "$emsweep" status "$ro/r.h5" >/dev/null || fail "status cannot read the journal in a read-only directory"
  umount "$ro"
  run_sync "$ro/r.h5"
  [[ $rc == 0 ]] || fail "the resume once writable exited $rc"
  compare "$ro/r.h5"
  echo "PASSED: read-only output refused with exit 5 and a message; file readable ($before rows) and resumable"
  ;;
diskfull)
  need_h5py
  reference
  in_mount_ns
  ;;
diskfull-ns)
  rmdir "$work"  # this copy's own temporary directory: the outer run's is used
  work=$3
  trap - EXIT
  d=$work/small
  mkdir -p "$d"
  mount -t tmpfs -o size=4m tmpfs "$d" || { echo "SKIP: cannot mount a tmpfs"; exit 77; }
  start_run "$d/full.h5"
  wait_points "$d/full.h5" 20
  # Fill the file system while the sweep runs.
  dd if=/dev/zero of="$d/filler" bs=64k 2>/dev/null
  echo "file system full: $(df -h "$d" | tail -1)"
  wait_run
  echo "the run on a full disk: exit $rc: $(grep -m1 -i error "$work/run.log")"
  [[ $rc == 5 || $rc == 0 ]] || fail "expected exit 5 (results-file problem), got $rc"
  [[ $rc == 5 ]] || echo "note: the run finished before the disk filled"
  /usr/bin/python3 -c "import h5py,sys; print('the file is readable:', len(h5py.File(sys.argv[1],'r',swmr=True)['points']), 'rows')" "$d/full.h5" ||
    fail "the file is not readable after the disk filled"
  # A resume while the disk is still full: a clear error, no damage.
  "$emsweep" run "$cfg" --output "$d/full.h5" -q >"$work/run2.log" 2>&1
  rc2=$?
  echo "resume while still full: exit $rc2: $(grep -m1 -i error "$work/run2.log")"
  [[ $rc2 == 5 || $rc2 == 0 ]] || fail "expected exit 5 while full, got $rc2"
  rm -f "$d/filler"
  run_sync "$d/full.h5"
  [[ $rc == 0 ]] || fail "the resume after freeing space exited $rc"
  compare "$d/full.h5"
  umount "$d"
  echo "PASSED: disk full gave exit 5 and a readable file; resume after freeing space equals the uninterrupted run"
  ;;
bad_inputs)
  bash "$here/bad_inputs.sh" "$build" "$work"
  ;;
*)
  echo "unknown scenario $scenario"
  exit 2
  ;;
esac
