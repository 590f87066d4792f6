#!/bin/bash
# The C++ vs Python PyTorch step benchmark (emsweep's hand-written step, and the same step
# through LibTorch's autograd) at the default size and a small size, one thread
# each, same BLAS. C++ and Python alternate REPEATS times and the best rate of each is kept, so
# that load from other processes biases neither side.
# Usage: bench/organism/run_bench.sh BUILD_DIR [STEPS] [REPEATS]
set -euo pipefail
build=${1:?usage: run_bench.sh BUILD_DIR [STEPS] [REPEATS]}
steps=${2:-200}
repeats=${3:-3}
here=$(cd "$(dirname "$0")" && pwd)
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '| size | emsweep steps/s | LibTorch autograd steps/s | Python steps/s | emsweep/Python | autograd/Python | loss emsweep | loss Python | |Δloss| | emsweep GFLOP/s | GEMM GFLOP/s | share of GEMM |\n'
printf '|---|---|---|---|---|---|---|---|---|---|---|---|\n'
for size in "64 4 4 256 32" "32 4 4 128 8"; do
  read -r d layers heads ff batch <<<"$size"
  : >"$work/cpp.jsonl"
  : >"$work/py.jsonl"
  for _ in $(seq "$repeats"); do
    "$build/bench/organism/organism_bench" --d "$d" --layers "$layers" --heads "$heads" \
      --ff "$ff" --batch "$batch" --steps "$steps" --out "$work/$d" >>"$work/cpp.jsonl"
    /usr/bin/python3 "$here/step_bench.py" "$work/$d" "$steps" "$d" "$layers" "$heads" "$ff" \
      >>"$work/py.jsonl"
  done
  /usr/bin/python3 - "$work/cpp.jsonl" "$work/py.jsonl" "d=$d L=$layers ff=$ff batch=$batch" <<'PY'
import json, sys
cs = [json.loads(l) for l in open(sys.argv[1])]
ps = [json.loads(l) for l in open(sys.argv[2])]
name = sys.argv[3]
c = max(cs, key=lambda r: r["steps_per_s"])
a = max(r["autograd_steps_per_s"] for r in cs)
p = max(ps, key=lambda r: r["steps_per_s"])
gemm = max(r["gemm_gflops_s"] for r in cs)
diff = max(abs(a["loss0"] - b["loss0"]) for a in cs for b in ps)
assert diff < 1e-5, f"losses differ by {diff}"
assert all(abs(r["loss0"] - r["autograd_loss0"]) < 1e-5 for r in cs), "emsweep's step and autograd differ"
print(f"| {name} seq={c['seq']} | {c['steps_per_s']:.1f} | {a:.1f} | {p['steps_per_s']:.1f} | "
      f"{c['steps_per_s'] / p['steps_per_s']:.2f}x | {a / p['steps_per_s']:.2f}x | "
      f"{c['loss0']:.7f} | {p['loss0']:.7f} | {diff:.1e} | "
      f"{c['achieved_gflops_s']:.2f} | {gemm:.1f} | {100 * c['achieved_gflops_s'] / gemm:.0f}% |")
PY
done
