#!/bin/bash
# The C++ vs Python PyTorch step benchmark at the default size and a small size, one thread
# each, same BLAS. Usage: bench/organism/run_bench.sh BUILD_DIR [STEPS]
set -euo pipefail
build=${1:?usage: run_bench.sh BUILD_DIR [STEPS]}
steps=${2:-200}
here=$(cd "$(dirname "$0")" && pwd)
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '| size | C++ steps/s | Python steps/s | C++/Python | loss C++ | loss Python | |Δloss| | C++ GFLOP/s | GEMM GFLOP/s | share of GEMM |\n'
printf '|---|---|---|---|---|---|---|---|---|---|\n'
for size in "64 4 4 256 32" "32 4 4 128 8"; do
  read -r d layers heads ff batch <<<"$size"
  cpp=$("$build/bench/organism/organism_bench" --d "$d" --layers "$layers" --heads "$heads" \
        --ff "$ff" --batch "$batch" --steps "$steps" --out "$work/$d")
  py=$(/usr/bin/python3 "$here/step_bench.py" "$work/$d" "$steps" "$d" "$layers" "$heads" "$ff")
  /usr/bin/python3 - "$cpp" "$py" "d=$d L=$layers ff=$ff batch=$batch" <<'PY'
import json, sys
c, p, name = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
diff = abs(c["loss0"] - p["loss0"])
assert diff < 1e-5, f"losses differ by {diff}"
print(f"| {name} seq={c['seq']} | {c['steps_per_s']:.1f} | {p['steps_per_s']:.1f} | "
      f"{c['steps_per_s'] / p['steps_per_s']:.2f}x | {c['loss0']:.7f} | {p['loss0']:.7f} | {diff:.1e} | "
      f"{c['achieved_gflops_s']:.2f} | {c['gemm_gflops_s']:.1f} | {100 * c['share_of_gemm']:.0f}% |")
PY
done
