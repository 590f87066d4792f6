#!/usr/bin/env bash
# The scale model's check (docs/scaling.md): probe points that sleep SLEEP_MS, 8 per worker, at
# each rank count, under mpirun --oversubscribe on this machine. Per run it prints the sweep's
# efficiency (ideal time points x sleep / workers against the span from the first start to the
# last end, read back from the results file, and against the whole wall time with MPI start-up),
# the coordinator's CPU and peak memory (its own summary line) and its open file descriptors
# (sampled from /proc mid-run).
# Usage: bench/scaling/run.sh BUILD_DIR [SLEEP_MS=100] [ranks...=3 9 33 65]
set -uo pipefail
build=$(cd "$1" && pwd)
sleep_ms=${2:-100}
shift 2 2>/dev/null || shift $#
ranks=("$@")
((${#ranks[@]})) || ranks=(3 9 33 65)
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../tests/support/proc.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
work=$(mktemp -d "${TMPDIR:-/tmp}/emsweep-scaling.XXXXXX")
trap 'proc_cleanup; rm -rf "$work"' EXIT
cd "$work"
echo "| ranks | points | sleep | span efficiency | wall efficiency | wall | coordinator CPU | coordinator peak memory | coordinator fds |"
echo "|---|---|---|---|---|---|---|---|---|"
for n in "${ranks[@]}"; do
  points=$((8 * (n - 1)))
  rm -f s.h5 s.h5.journal
  t0=$(date +%s.%N)
  proc_start mpirun --oversubscribe -np "$n" "$build/bin/emsweep" run "$here/scaling.yaml" -o s.h5 \
    --set task.sleep_ms="$sleep_ms" --set "grid.x={linspace: [0, 1, $points]}" >run.log 2>&1
  job=$!
  # Mid-run (a quarter of the ideal time after start-up), rank 0's open descriptors.
  fds=-
  started() { [ -s s.h5.journal ] || proc_ended "$job"; }
  proc_wait_until 120 started
  sleep "$(echo "$points * $sleep_ms / 1000 / ($n - 1) / 4" | bc -l)"
  r0=$(proc_mpi_rank "$job" 0)
  [[ -n $r0 && -d /proc/$r0/fd ]] && fds=$(ls "/proc/$r0/fd" | wc -l)
  proc_wait "$job" 600 || { echo "ranks $n: the run did not end"; exit 1; }
  t1=$(date +%s.%N)
  [[ $PROC_RC == 0 ]] || { echo "ranks $n: exit $PROC_RC"; tail -5 run.log; exit 1; }
  cpu=$(grep -o 'CPU [0-9.]* s over [0-9.]* s wall ([0-9.]*%)' run.log)
  mem=$(grep -o 'peak memory [0-9]* MB' run.log | grep -o '[0-9]* MB')
  /usr/bin/python3 - "$n" "$points" "$sleep_ms" "$t0" "$t1" "$cpu" "$mem" "$fds" <<'PY' || exit 1
import sys, h5py
n, points, ms, t0, t1 = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
p = h5py.File("s.h5", "r")["points"][:]
assert len(p) == points and (p["status"] == 1).all()
span = p["end_time"].max() - p["start_time"].min()
ideal = points * ms / 1000 / (n - 1)
print(f"| {n} | {points} | {ms:g} ms | {ideal / span:.3f} | {ideal / (t1 - t0):.3f} | {t1 - t0:.1f} s | "
      f"{sys.argv[6]} | {sys.argv[7]} | {sys.argv[8]} |")
PY
done
