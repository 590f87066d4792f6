#!/usr/bin/env bash
# Throughput of the `command` task kind with a trivial child (bench/command/trivial.c: write
# {"x": 1} to $EMSWEEP_RESULT, exit), at 3 ranks (a coordinator and W = 2 workers), against
# `xargs -P W` starting the same compiled program N times in the same script with the same
# variables per point. Every emsweep result must be durable and recorded: `emsweep status
# --json` (the journal) must count N done, and /points must hold N rows of x = 1.
#
# Rates are points per second, the best of REPEATS alternating runs of each:
#   xargs            N / wall time of the whole xargs command
#   emsweep (run)    N / wall time of the whole mpirun command (MPI start-up, file creation and
#                    the final flush included)
#   emsweep (steady) N / (last end_time - first start_time) in /points
# The ratio uses the whole run. The supervision overhead per point is what each worker spends
# per point beyond xargs: 1000 * W * (1/steady - 1/xargs) ms (spawning a process is in both;
# work directory, parameters file, environment, output capture, result parsing, recording and
# the messages to the coordinator are emsweep's own).
#
# Usage: bench/command/run_bench.sh BUILD_DIR [N=2000] [REPEATS=3]
# Needs cc, mpirun, BUILD_DIR/bin/emsweep{,-run}, and Python 3 with h5py ($EMSWEEP_PYTHON,
# default /usr/bin/python3). Prints the details, then a markdown row for docs/benchmarks.md.
set -euo pipefail
build=$(realpath "${1:?usage: bench/command/run_bench.sh BUILD_DIR [N=2000] [REPEATS=3]}")
n=${2:-2000}
repeats=${3:-3}
ranks=3
workers=$((ranks - 1))
python=${EMSWEEP_PYTHON:-/usr/bin/python3}
src=$(cd "$(dirname "$0")/../.." && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cc -O2 -Wall -o "$work/trivial" "$src/bench/command/trivial.c"
cat >"$work/bench.yaml" <<EOF
# Written by bench/command/run_bench.sh: N trivial points.
sweep:
  name: command-bench
grid:
  i: {range: [0, $n]}
task:
  kind: command
  argv: ["$work/trivial"]
  params: {i: 0}
  metrics: [x]
run:
  timeout: 60
  keep_workdirs: failed
  log_seconds: 3600
EOF

now() { date +%s.%N; }
rate() { "$python" -c "import sys; print(f'{$n / ($2 - $1):.1f}')" "$@"; }
best() { printf '%s\n' "$@" | sort -g | tail -1; }

# N points through xargs: `trivial --point I DIR` sets the point's variables itself (see
# trivial.c) and writes DIR/result-I.json; each point's own file is checked afterwards.
run_xargs() {
  local dir=$work/xargs t0 t1
  rm -rf "$dir" && mkdir "$dir"
  t0=$(now)
  seq 0 $((n - 1)) | xargs -P "$workers" -I{} "$work/trivial" --point {} "$dir"
  t1=$(now)
  local count
  count=$(find "$dir" -name 'result-*.json' -size +0 | wc -l)
  [[ $count == "$n" ]] || { echo "xargs wrote $count results of $n" >&2; exit 1; }
  rate "$t0" "$t1"
}

# The same, with the variables set by `env` (a second exec per point), for comparison.
run_xargs_env() {
  local dir=$work/xargs-env t0 t1
  rm -rf "$dir" && mkdir "$dir"
  t0=$(now)
  seq 0 $((n - 1)) | xargs -P "$workers" -I{} env EMSWEEP_RESULT="$dir/result-{}.json" \
    EMSWEEP_PARAM_I={} EMSWEEP_POINT_ID={} EMSWEEP_ATTEMPT=1 EMSWEEP_REPLICATE=0 \
    EMSWEEP_WORKDIR="$dir" EMSWEEP_EVENTS="$dir/events-{}.jsonl" \
    EMSWEEP_PARAMS="$dir/params-{}.json" "$work/trivial"
  t1=$(now)
  [[ $(find "$dir" -name 'result-*.json' | wc -l) == "$n" ]] || { echo "xargs+env lost results" >&2; exit 1; }
  rate "$t0" "$t1"
}

# N points through emsweep at 3 ranks; prints "RUN_RATE STEADY_RATE".
run_emsweep() {
  local out=$work/emsweep.h5 t0 t1
  rm -rf "$out" "$out.journal" "$out.runs"
  t0=$(now)
  if ! mpirun -np "$ranks" --oversubscribe "$build/bin/emsweep-run" "$work/bench.yaml" \
      -o "$out" --quiet >"$work/emsweep.log" 2>&1; then
    echo "emsweep run failed:" >&2
    tail -20 "$work/emsweep.log" >&2
    exit 1
  fi
  t1=$(now)
  "$build/bin/emsweep" status "$out" --json >"$work/status.json"
  "$python" - "$out" "$work/status.json" "$n" "$(rate "$t0" "$t1")" <<'PY'
import json, sys
import h5py, numpy as np
path, status_path, n, run_rate = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
status = json.load(open(status_path))
if status["done"] != n or status["failed"] != 0:
    sys.exit(f"journal: {status['done']} done, {status['failed']} failed of {n}: {status['failures'][:3]}")
p = h5py.File(path, "r")["points"][:]
if len(p) != n or not (p["status"] == 1).all() or not (p["x"] == 1).all():
    sys.exit(f"/points: {len(p)} rows, {(p['status'] == 1).sum()} done, {(p['x'] == 1).sum()} with x = 1, of {n}")
print(run_rate, f"{n / (p['end_time'].max() - p['start_time'].min()):.1f}")
PY
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "N = $n points, $ranks ranks (W = $workers workers), best of $repeats"
xs=() xe=() er=() es=()
for r in $(seq "$repeats"); do
  x=$(run_xargs)
  x_env=$(run_xargs_env)
  e=$(run_emsweep)  # "RUN STEADY"
  xs+=("$x") xe+=("$x_env") er+=("${e% *}") es+=("${e#* }")
  echo "  run $r: xargs ${xs[-1]}, xargs+env ${xe[-1]}, emsweep ${er[-1]} (steady ${es[-1]}) points/s"
done
x=$(best "${xs[@]}") x_env=$(best "${xe[@]}") e_run=$(best "${er[@]}") e_steady=$(best "${es[@]}")
ratio=$("$python" -c "print(f'{100 * $e_run / $x:.0f}%')")
overhead=$("$python" -c "print(f'{1000 * $workers * (1 / $e_steady - 1 / $x):.2f}')")
echo "xargs -P $workers: $x points/s (with env per point: $x_env)"
echo "emsweep, $ranks ranks: $e_run points/s whole run, $e_steady first start to last end"
echo "emsweep / xargs: $ratio (target >= 50%); supervision overhead ${overhead} ms per point per worker"
echo
echo "| date | N | workers | xargs -P W (points/s) | emsweep, whole run (points/s) | emsweep, first start to last end (points/s) | emsweep / xargs | overhead (ms/point) |"
echo "|---|---|---|---|---|---|---|---|"
echo "| $(date -u +%F) | $n | $workers | $x | $e_run | $e_steady | $ratio | $overhead |"
