#!/usr/bin/env bash
# The kill/resume soak: runs tests/soak/soak.yaml once uninterrupted (the reference), then
# CYCLES times starts the same sweep at RANKS ranks under mpirun and SIGKILLs it at a random
# moment once the run has started writing (alternately the whole job, as a node loss or `scancel -s KILL` would, and the
# coordinator rank alone, mid-write), then resumes it to the end. Passes when the final file
# equals the reference (same rows and values, no duplicates; tests/support/compare_results.py)
# and every kill left a file that the next run resumed.
# Usage: tests/soak/soak.sh BUILD_DIR [CYCLES=20] [RANKS=3]
#   SOAK_SEED (random seed, default 1), SOAK_MIN_MS/SOAK_MAX_MS (kill window, counted from
#   the moment the run appends to the journal, i.e. after MPI start-up and config checks).
set -uo pipefail
build=$(cd "$1" && pwd)
cycles=${2:-20}
ranks=${3:-3}
here=$(cd "$(dirname "$0")" && pwd)
emsweep=$build/bin/emsweep
RANDOM=${SOAK_SEED:-1}
min_ms=${SOAK_MIN_MS:-0}
max_ms=${SOAK_MAX_MS:-700}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_rmaps_base_oversubscribe=1
/usr/bin/python3 -c 'import h5py' 2>/dev/null || { echo "SKIP: /usr/bin/python3 has no h5py"; exit 77; }
command -v mpirun >/dev/null || { echo "SKIP: no mpirun"; exit 77; }

work=$(mktemp -d "${TMPDIR:-/tmp}/emsweep-soak.XXXXXX")
job=
cleanup() {
  [[ -n $job ]] && pkill -KILL -s "$job" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cfg=$here/soak.yaml
out=$work/soak.h5
fail() { echo "SOAK FAILED: $*"; echo "--- last run log:"; tail -20 "$work/run.log"; exit 1; }

# Starts the sweep in its own session: mpirun puts each rank in a process group of its own,
# so the whole job is killed by session id (pkill -s), never by name.
start_run() {
  : >"$work/run.log"
  setsid mpirun --oversubscribe -np "$ranks" "$emsweep" run "$cfg" --output "$1" -q \
    >"$work/run.log" 2>&1 &
  job=$!
}
# Waits up to 120 s for the job started last; sets rc; kills leftovers of its session.
wait_run() {
  local waited=0
  while kill -0 "$job" 2>/dev/null && ((waited < 1200)); do sleep 0.1; ((waited++)); done
  kill -0 "$job" 2>/dev/null && { pkill -KILL -s "$job"; fail "the job did not end within 120 s"; }
  wait "$job"
  rc=$?
  pkill -KILL -s "$job" 2>/dev/null
  job=
}
rank_pid() {  # pid of MPI rank $1 of the running job (a child of mpirun), or ""
  local p
  for p in $(pgrep -P "$job"); do
    if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1"; then
      echo "$p"
      return
    fi
  done
}
done_points() {
  "$emsweep" status "$out" --json 2>/dev/null | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["done"])' 2>/dev/null || echo 0
}

t0=$(date +%s.%N)
start_run "$work/reference.h5"
wait_run
[[ $rc == 0 ]] || fail "the reference run exited $rc"
t1=$(date +%s.%N)
printf 'reference run: %.1f s, exit 0\n' "$(echo "$t1 - $t0" | bc)"

killed=0 finished_early=0 coordinator_kills=0 job_kills=0
for ((c = 1; c <= cycles; c++)); do
  before=$(done_points)
  delay_ms=$((min_ms + (RANDOM * 32768 + RANDOM) % (max_ms - min_ms + 1)))
  size0=$(stat -c %s "$out.journal" 2>/dev/null || echo 0)
  start_run "$out"
  # Wait until this run writes its journal header (up to 60 s), then the random delay.
  for ((w = 0; w < 1200; w++)); do
    (($(stat -c %s "$out.journal" 2>/dev/null || echo 0) > size0)) && break
    kill -0 "$job" 2>/dev/null || break
    sleep 0.05
  done
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  mode=job
  if ((c % 2 == 0)); then
    victim=$(rank_pid 0)
    if [[ -n $victim ]]; then mode=coordinator; fi
  fi
  if ! kill -0 "$job" 2>/dev/null; then
    wait_run
    finished_early=$((finished_early + 1))
    echo "cycle $c: the run ended (exit $rc) before the kill at ${delay_ms} ms"
    [[ $rc == 0 ]] || fail "cycle $c: a run that was not killed exited $rc"
    continue
  fi
  if [[ $mode == coordinator ]]; then
    kill -KILL "$victim" 2>/dev/null
    coordinator_kills=$((coordinator_kills + 1))
  else
    pkill -KILL -s "$job" 2>/dev/null
    job_kills=$((job_kills + 1))
  fi
  killed=$((killed + 1))
  wait_run
  after=$(done_points)
  damaged=$(ls "$work" | grep -c 'journal.damaged-' || true)
  echo "cycle $c: SIGKILL to the $mode ${delay_ms} ms after it started writing (job exit $rc); points done $before -> $after; torn tails recovered so far: $damaged"
done

start_run "$out"
wait_run
[[ $rc == 0 ]] || fail "the final resume exited $rc"
echo "final resume: exit 0, points done $(done_points)"
"$emsweep" status "$out" >"$work/status.txt" 2>&1 || fail "emsweep status failed: $(cat "$work/status.txt")"
grep -q "finished" "$work/status.txt" || fail "status does not say finished: $(cat "$work/status.txt")"
/usr/bin/python3 "$here/../support/compare_results.py" "$work/reference.h5" "$out" || fail "the resumed file differs from the reference"
damaged=$(ls "$work" | grep -c 'journal.damaged-' || true)
echo "SOAK PASSED: $killed kills ($job_kills whole job, $coordinator_kills coordinator only), $finished_early runs finished before their kill, $damaged torn journal tails recovered; file equals the uninterrupted run"
