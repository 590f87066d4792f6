#!/bin/bash
# Per-point benchmark of the organism: the reference path (task.finetune_step: autograd, every
# pass through LibTorch's autograd module) against the hand-written one (flat: the fine-tuning
# step of worker/organism/finetune_step.h and evaluation through the inference copy), on the
# same points of CONFIG with their bases cached, one core (one BLAS thread), alternating the two
# paths REPEATS times so that load from other processes biases neither. Prints, per path, the
# median wall time of a point and its phases (fine-tuning, evaluation, the rest: drift,
# efficiency, stability), points per core-hour and their ratio, and the largest difference of
# any metric between the paths; exits 1 when that exceeds 1e-3 (the paths differ by rounding).
# Usage: [ORGANISM_CACHE=DIR] bench/organism/point_bench.sh BUILD_DIR CONFIG [POINTS] [REPEATS] [--set k=v]...
set -euo pipefail
build=${1:?usage: point_bench.sh BUILD_DIR CONFIG [POINTS] [REPEATS] [--set k=v]...}
config=${2:?usage: point_bench.sh BUILD_DIR CONFIG [POINTS] [REPEATS] [--set k=v]...}
points=${3:-0,1}
repeats=${4:-2}
shift $(($# < 4 ? $# : 4))
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
work=$(mktemp -d)
cache=${ORGANISM_CACHE:-$work/cache}  # (a kept cache skips the pre-training)
trap 'rm -rf "$work"' EXIT
runner=$build/bench/organism/organism_point
# The bases first (pre-training is not what this measures).
"$runner" "$config" --points "$points" --cache "$cache" "$@" >/dev/null
for r in $(seq "$repeats"); do
  for path in autograd flat; do
    "$runner" "$config" --points "$points" --cache "$cache" "$@" \
      --set task.finetune_step=$path >>"$work/$path.jsonl"
  done
done
/usr/bin/python3 - "$work" "$config" "$points" "$repeats" <<'PY'
import json, statistics, sys
work, config, points, repeats = sys.argv[1:]
runs = {p: [json.loads(l) for l in open(f"{work}/{p}.jsonl")] for p in ("autograd", "flat")}
timing = {"wall_seconds", "train_seconds", "eval_seconds", "base_seconds", "tokens_per_second"}
print(f"{config}, points {points}, {repeats} runs of each path, one core")
print("| path | s/point | fine-tuning s | evaluation s | rest s | points/core-hour |")
print("|---|---|---|---|---|---|")
rate = {}
for path, rows in runs.items():
    med = lambda k: statistics.median(r[k] for r in rows)
    wall, train, ev = med("wall_seconds"), med("train_seconds"), med("eval_seconds")
    rate[path] = 3600 / wall
    print(f"| {path} | {wall:.2f} | {train:.2f} | {ev:.2f} | {wall - train - ev:.2f} | {rate[path]:.0f} |")
print(f"flat / autograd points per core-hour: {rate['flat'] / rate['autograd']:.2f}x")
worst = (0.0, "")
for a, f in zip(runs["autograd"], runs["flat"]):
    assert a["index"] == f["index"]
    for k, v in a.items():
        if k in timing or not isinstance(v, (int, float)) or k in ("index", "replicate"):
            continue
        d = abs(v - f[k])
        if d > worst[0]:
            worst = (d, f"{k} of point {a['index']}")
print(f"largest metric difference between the paths: {worst[0]:.3g} ({worst[1] or 'none'})")
# The paths differ by float rounding only (1e-6 on the default points); far more is a defect.
if worst[0] > 1e-3:
    sys.exit(f"FAILED: the paths differ by more than 1e-3 ({worst[1]})")
PY
