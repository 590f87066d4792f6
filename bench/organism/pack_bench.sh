#!/bin/bash
# Packing benchmark (run.pack): the autograd path one point at a time against the same points
# run K at a time as one batched model (organism_point --pack K), and the hand-written flat path
# one at a time, on one core (one BLAS thread) with the base cached, alternating the runs REPEATS
# times. Prints per run: the median wall time per point, points per core-hour and the ratio to
# autograd unpacked; and the largest difference of any metric between each pack size and the
# unpacked run (exits 1 above 1e-4: packing only reorders float sums).
# Usage: [ORGANISM_CACHE=DIR] bench/organism/pack_bench.sh BUILD_DIR CONFIG [POINTS] [PACKS] [REPEATS] [--set k=v]...
#   POINTS: comma-separated indices (default: every point); PACKS: pack sizes (default "4 16").
set -euo pipefail
usage="usage: pack_bench.sh BUILD_DIR CONFIG [POINTS] [PACKS] [REPEATS] [--set k=v]..."
build=${1:?$usage}
config=${2:?$usage}
points=${3:-}
packs=${4:-4 16}
repeats=${5:-1}
shift $(($# < 5 ? $# : 5))
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
work=$(mktemp -d)
cache=${ORGANISM_CACHE:-$work/cache}
trap 'rm -rf "$work"' EXIT
runner=$build/bench/organism/organism_point
select=()
[ -n "$points" ] && select=(--points "$points")
first=${points%%,*}
# The base first (pre-training is not what this measures).
"$runner" "$config" --points "${first:-0}" --cache "$cache" "$@" >/dev/null
for r in $(seq "$repeats"); do
  "$runner" "$config" "${select[@]}" --cache "$cache" "$@" --set task.finetune_step=autograd \
    >>"$work/autograd-1.jsonl"
  for k in $packs; do
    "$runner" "$config" "${select[@]}" --cache "$cache" "$@" --set task.finetune_step=autograd \
      --pack "$k" >>"$work/autograd-$k.jsonl"
  done
  "$runner" "$config" "${select[@]}" --cache "$cache" "$@" --set task.finetune_step=flat \
    >>"$work/flat-1.jsonl"
done
/usr/bin/python3 - "$work" "$config" "${points:-all}" "$packs" "$repeats" <<'PY'
import json, statistics, sys
work, config, points, packs, repeats = sys.argv[1:]
runs = [("autograd", 1)] + [("autograd", int(k)) for k in packs.split()] + [("flat", 1)]
rows = {r: [json.loads(l) for l in open(f"{work}/{r[0]}-{r[1]}.jsonl")] for r in runs}
print(f"{config}, points {points}, {repeats} run(s) of each, one core")
print("| path | pack | s/point | points/core-hour | vs autograd unpacked |")
print("|---|---|---|---|---|")
base = None
timing = {"wall_seconds", "train_seconds", "eval_seconds", "base_seconds", "tokens_per_second", "pack"}
for r in runs:
    ok = [x for x in rows[r] if "error" not in x]
    per_run = len(ok) // int(repeats)
    # A run's points share its wall time; the median point of all runs stands for it.
    s = statistics.median(x["wall_seconds"] for x in ok)
    rate = 3600 / s
    base = base or rate
    print(f"| {r[0]} | {r[1]} | {s:.2f} | {rate:.0f} | {rate / base:.2f}x |")
worst_all = 0.0
for r in runs[1:-1]:
    worst = (0.0, "")
    for a, p in zip(rows[runs[0]], rows[r]):
        assert a["index"] == p["index"]
        for k, v in a.items():
            if k in timing or not isinstance(v, (int, float)) or k in ("index", "replicate"):
                continue
            d = abs(v - p[k]) if p[k] is not None else float("inf")
            if d > worst[0]:
                worst = (d, f"{k} of point {a['index']}")
    worst_all = max(worst_all, worst[0])
    print(f"pack {r[1]}: largest metric difference from unpacked: {worst[0]:.3g} ({worst[1] or 'none'})")
if worst_all > 1e-4:
    sys.exit("FAILED: packed and unpacked points differ by more than 1e-4")
PY
