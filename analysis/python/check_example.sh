#!/usr/bin/env bash
# CI check: runs a small probe sweep with emsweep, then verifies that summary_example.py
# (h5py + pandas, Debian's python3) reproduces `emsweep summary --csv` for several groupings.
# Usage: check_example.sh EMSWEEP PYTHON WORKDIR
set -euo pipefail
emsweep=$1
python=$2
work=$3
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work"
mkdir -p "$work"
cat >"$work/probe.yaml" <<YAML
sweep:
  name: python-example
  output: $work/probe.h5
  seed: 3
grid:
  x: [-1, 0, 2]
  kl_weight: [0, 0.5]
  gate_noise: [0.0, 0.4]
  seed: {replicates: 3}
task:
  kind: probe
  fail: throw
  fail_x: -1
run:
  max_retries: 0
YAML
status=0
"$emsweep" run "$work/probe.yaml" >"$work/run.log" 2>&1 || status=$?
if [[ $status -ne 0 && $status -ne 4 ]]; then  # 4: finished with (the injected) failures
  cat "$work/run.log"
  exit 1
fi
for by in "" "kl_weight" "gate_noise,x"; do
  args=()
  [[ -n $by ]] && args=(--by "$by")
  "$emsweep" summary "$work/probe.h5" "${args[@]}" --csv >"$work/summary.csv"
  "$python" "$here/summary_example.py" "$work/probe.h5" "${args[@]}" --check "$work/summary.csv"
done
