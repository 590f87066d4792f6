#!/usr/bin/env bash
# The kill/resume soak: runs a sweep once uninterrupted (the reference), then CYCLES times
# starts the same sweep at RANKS ranks under mpirun and SIGKILLs it at a random moment once the
# run has started writing, then resumes it to the end. Passes when the final file equals the
# reference (same rows and values, no duplicates; tests/support/compare_results.py) and every
# kill left a file that the next run resumed.
# Usage: tests/soak/soak.sh BUILD_DIR [CYCLES=20] [RANKS=3] [KIND=probe]
#   probe    tests/soak/soak.yaml, probe points; the kills alternate between the whole job (as a
#            node loss or `scancel -s KILL` would) and the coordinator rank alone, mid-write.
#   command  tests/soak/soak_command.yaml: children (tests/soak/soak_child.sh) that succeed,
#            exit non-zero, die by a signal, hang past their timeout or leave grandchildren.
#            The kills rotate between every rank and mpirun (their shims and children left to
#            clean up after them), the coordinator alone and one worker rank alone. After each
#            cycle, once the job has ended: every process of its session ends by itself within
#            a few seconds and no child or grandchild is left; the points recorded so far are
#            noted, and at the end none of them may have started again. The final file must
#            also give every point its cause (outcome, exit code, signal) as the reference does.
#   SOAK_SEED (random seed, default 1), SOAK_MIN_MS/SOAK_MAX_MS (kill window, counted from
#   the moment the run appends to the journal, i.e. after MPI start-up and config checks).
set -uo pipefail
build=$(cd "$1" && pwd)
cycles=${2:-20}
ranks=${3:-3}
kind=${4:-probe}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../support/proc.sh"
emsweep=$build/bin/emsweep
RANDOM=${SOAK_SEED:-1}
min_ms=${SOAK_MIN_MS:-0}
max_ms=${SOAK_MAX_MS:-700}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_rmaps_base_oversubscribe=1
/usr/bin/python3 -c 'import h5py' 2>/dev/null || { echo "SKIP: /usr/bin/python3 has no h5py"; exit 77; }
command -v mpirun >/dev/null || { echo "SKIP: no mpirun"; exit 77; }

work=$(mktemp -d "${TMPDIR:-/tmp}/emsweep-soak.XXXXXX")
cleanup() {
  proc_cleanup
  rm -rf "$work"
}
trap cleanup EXIT
case $kind in
probe) cfg=$here/soak.yaml ;;
command) cfg=$here/soak_command.yaml ;;
*)
  echo "unknown kind $kind (probe or command)"
  exit 2
  ;;
esac
# The reference and the soak run in directories of their own: a `command` child writes its
# logs and pid files relative to the directory `emsweep run` runs in.
mkdir -p "$work/ref" "$work/soak"
cp "$here/soak_child.sh" "$work/ref/"
cp "$here/soak_child.sh" "$work/soak/"
out=$work/soak/soak.h5
fail() { echo "SOAK FAILED: $*"; echo "--- last run log:"; tail -20 "$work/run.log"; exit 1; }

# Starts the sweep in its own session (proc_start) from the current directory, output $1;
# sets job. Exit statuses 0 and, for the command kind, 4 (some points failed) are normal ends.
start_run() {
  proc_start mpirun --oversubscribe -np "$ranks" "$emsweep" run "$cfg" --output "$1" -q \
    >"$work/run.log" 2>&1
  job=$!
}
normal_end() { [[ $1 == 0 || ($kind == command && $1 == 4) ]]; }
# Waits up to 120 s for the job started last; sets rc. The probe kind has no children: what is
# left of the session is killed. A command job's session must empty by itself (the shims end
# their children within run.kill_grace of losing their rank), and no child may be left.
wait_run() {
  proc_wait_launcher "$job" 120 || fail "the job did not end within 120 s"
  rc=$PROC_RC  # (launcher_hang: every rank ended, mpirun did not; an abnormal end, resumed)
  if [[ $kind == command ]]; then
    proc_session_gone "$job" 15 || { proc_kill_session "$job"; fail "processes of the job outlived it by 15 s"; }
    no_children_left
  fi
  proc_kill_session "$job"
  proc_forget "$job"
}
# Every process a child started wrote its pid file under pids/; none may still run. (A pid
# counts only while its environment is a child's, so a reused pid is not mistaken for one.)
no_children_left() {
  local f pid alive=()
  for f in "$PWD"/pids/*; do
    [[ -e $f ]] || continue
    pid=${f##*/}
    if ! proc_ended "$pid" && tr '\0' '\n' 2>/dev/null <"/proc/$pid/environ" | grep -q '^EMSWEEP_POINT_ID='; then
      alive+=("$pid ($(cat "$f"): $(ps -o stat=,args= -p "$pid"))")
    fi
  done
  ((${#alive[@]} == 0)) || fail "children outlived the sweep: ${alive[*]}"
  checked_pids=$(ls "$PWD/pids" 2>/dev/null | wc -l)
}
done_points() {
  "$emsweep" status "$out" --json 2>/dev/null | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["done"])' 2>/dev/null || echo 0
}
# Notes the points the journal holds a final record of, with the number of starts in each
# one's log: at the end, none of them may have started again (tests/soak/check_command.py).
snapshot_recorded() {
  local snap=$work/snap
  rm -rf "$snap" && mkdir -p "$snap"
  cp "$out.journal" "$snap/s.h5.journal" 2>/dev/null || return 0
  "$emsweep" repair "$snap/s.h5" >/dev/null 2>&1 || fail "emsweep repair of a copy of the journal failed"
  /usr/bin/python3 "$here/check_command.py" snapshot "$snap/s.h5" logs >>"$work/recorded.txt" ||
    fail "cannot read the recorded points"
}

t0=$(date +%s.%N)
cd "$work/ref"
start_run "$work/ref/reference.h5"
wait_run
normal_end "$rc" || fail "the reference run exited $rc"
t1=$(date +%s.%N)
printf 'reference run: %.1f s, exit %d\n' "$(echo "$t1 - $t0" | bc)" "$rc"
cd "$work/soak"

killed=0 finished_early=0 coordinator_kills=0 job_kills=0 worker_kills=0 checked_pids=0
journal_grew() { (($(stat -c %s "$out.journal" 2>/dev/null || echo 0) > size0)) || proc_ended "$job"; }
for ((c = 1; c <= cycles; c++)); do
  before=$(done_points)
  delay_ms=$((min_ms + (RANDOM * 32768 + RANDOM) % (max_ms - min_ms + 1)))
  size0=$(stat -c %s "$out.journal" 2>/dev/null || echo 0)
  start_run "$out"
  # Wait until this run writes its journal header (up to 60 s), then the random delay.
  proc_wait_until 60 journal_grew
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  # probe: odd cycles the whole job, even ones the coordinator. command: every rank and mpirun
  # (not the shims or children), the coordinator, a worker rank, in turn.
  mode=job victims=()
  if [[ $kind == probe ]]; then
    ((c % 2 == 0)) && victims=($(proc_mpi_rank "$job" 0)) && mode=coordinator
  else
    case $((c % 3)) in
    1) victims=("$job" $(pgrep -P "$job")) ;;
    2) victims=($(proc_mpi_rank "$job" 0)) && mode=coordinator ;;
    0) victims=($(proc_mpi_rank "$job" $((1 + RANDOM % (ranks - 1))))) && mode=worker ;;
    esac
  fi
  if proc_ended "$job"; then
    wait_run
    finished_early=$((finished_early + 1))
    echo "cycle $c: the run ended (exit $rc) before the kill at ${delay_ms} ms"
    normal_end "$rc" || fail "cycle $c: a run that was not killed exited $rc"
    [[ $kind == command ]] && snapshot_recorded
    continue
  fi
  if ((${#victims[@]})); then
    kill -KILL "${victims[@]}" 2>/dev/null
  else
    mode=job
    proc_kill_session "$job"
  fi
  case $mode in
  job) job_kills=$((job_kills + 1)) ;;
  coordinator) coordinator_kills=$((coordinator_kills + 1)) ;;
  worker) worker_kills=$((worker_kills + 1)) ;;
  esac
  killed=$((killed + 1))
  wait_run
  after=$(done_points)
  [[ $kind == command ]] && snapshot_recorded
  damaged=$(ls "$work/soak" | grep -c 'journal.damaged-' || true)
  echo "cycle $c: SIGKILL to the $mode ${delay_ms} ms after it started writing (job exit $rc); points done $before -> $after; torn tails recovered so far: $damaged${checked_pids:+; children checked gone: $checked_pids}"
done

start_run "$out"
wait_run
normal_end "$rc" || fail "the final resume exited $rc"
echo "final resume: exit $rc, points done $(done_points)"
"$emsweep" status "$out" >"$work/status.txt" 2>&1
grep -q "finished" "$work/status.txt" || fail "status does not say finished: $(cat "$work/status.txt")"
/usr/bin/python3 "$here/../support/compare_results.py" "$work/ref/reference.h5" "$out" || fail "the resumed file differs from the reference"
if [[ $kind == command ]]; then
  /usr/bin/python3 "$here/check_command.py" final "$out" logs "$work/recorded.txt" "$work/ref/reference.h5" ||
    fail "the command checks failed"
fi
damaged=$(ls "$work/soak" | grep -c 'journal.damaged-' || true)
echo "SOAK PASSED ($kind): $killed kills ($job_kills whole job, $coordinator_kills coordinator only, $worker_kills worker only), $finished_early runs finished before their kill, $damaged torn journal tails recovered; file equals the uninterrupted run"
