#!/usr/bin/env bash
# Dispatch throughput of emsweep with zero-work probe points against two baselines measured in
# the same run: (a) a minimal C++ MPI master/worker loop, one task per message; (b) Python's
# mpi4py.futures pool with chunksize 1 and 256. Also the coordinator's CPU share with 1 s tasks.
# Usage: bench/dispatch/run.sh BUILD_DIR [ranks...]   (default ranks: 2 3 9 33)
set -euo pipefail
build=$(realpath "${1:?build dir}"); shift
ranks=("${@:-2 3 9 33}"); read -r -a ranks <<<"${ranks[*]}"
src=$(cd "$(dirname "$0")/../.." && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mpicxx -O2 -o "$work/mpi_baseline" "$src/bench/dispatch/mpi_baseline.cpp"
run() { mpirun --oversubscribe -np "$@"; }

rate_of() {  # FILE: points per second between the first start and the last end in the file
  /usr/bin/python3 - "$1" <<'PY'
import sys, h5py, numpy as np
p = h5py.File(sys.argv[1], "r")["points"]
print(f"{len(p) / (p['end_time'].max() - p['start_time'].min()):.0f}")
PY
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
printf "%-6s %12s %12s %12s %14s %14s %10s %10s\n" ranks "(a) C++ MPI" "(b) py c=1" "(b) py c=256" "emsweep b=1" "emsweep auto" "b1/(a)" "auto/c256"
for n in "${ranks[@]}"; do
  tasks=$(( n <= 3 ? 200000 : 100000 ))
  a=$(run "$n" "$work/mpi_baseline" $tasks)
  b1=$(run "$n" /usr/bin/python3 -m mpi4py.futures "$src/bench/dispatch/mpi4py_pool.py" 20000 1)
  b256=$(run "$n" /usr/bin/python3 -m mpi4py.futures "$src/bench/dispatch/mpi4py_pool.py" $tasks 256)
  run "$n" "$build/bin/emsweep" run "$src/bench/dispatch/bench.yaml" -o "$work/b1-$n.h5" \
    --set run.batch=1 --set 'grid.seed={replicates: 50}' --quiet 2>/dev/null
  e1=$(rate_of "$work/b1-$n.h5")
  run "$n" "$build/bin/emsweep" run "$src/bench/dispatch/bench.yaml" -o "$work/auto-$n.h5" --quiet 2>/dev/null
  ea=$(rate_of "$work/auto-$n.h5")
  printf "%-6s %12s %12s %12s %14s %14s %10.2f %10.2f\n" "$n" "$a" "$b1" "$b256" "$e1" "$ea" \
    "$(echo "$e1 / $a" | bc -l)" "$(echo "$ea / $b256" | bc -l)"
done

echo
echo "coordinator CPU with 1 s tasks (2 ranks, 20 points):"
run 2 "$build/bin/emsweep" run "$src/bench/dispatch/bench.yaml" -o "$work/cpu.h5" \
  --set 'grid.x={range: [0, 20]}' --set 'grid.seed={replicates: 1}' --set task.sleep_ms=1000 2>&1 | grep coordinator
echo
echo "1M-point probe sweep at 3 ranks (coordinator peak memory; target <= 40 MB):"
run 3 "$build/bin/emsweep" run "$src/bench/dispatch/bench.yaml" -o "$work/million.h5" \
  --set 'grid.seed={replicates: 1000}' 2>&1 | grep -E "coordinator|finished" | tee "$work/million.txt"
peak=$(sed -n 's/.*peak memory \([0-9]*\) MB.*/\1/p' "$work/million.txt")
echo "coordinator peak ${peak} MB: $([[ $peak -le 40 ]] && echo "within" || echo "OVER") the 40 MB target"
