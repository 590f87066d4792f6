#!/bin/bash
# The organism on a GPU (docs/benchmarks.md, "On a GPU"): for a machine with an NVIDIA GPU and
# PyTorch's CUDA LibTorch (its CMake config, as `pip install torch` ships it). Builds only the
# point runner against that LibTorch, then runs the default organism's points on the GPU one at a
# time and in packs of 64 and 1024 (every metric computed; points per GPU-hour; the base
# pre-trained on the GPU first and cached), checks that packed points equal unpacked ones, and
# shows how far the GPU's metrics are from the CPU's hand-written path (whose base is trained
# on the CPU: another base, so only a report). Stops starting runs past TIME_BUDGET seconds.
# Usage: bench/organism/gpu_check.sh [BUILD_DIR] [TIME_BUDGET] [--set k=v]...
#   PREBUILT=1: use BUILD_DIR as it is (no configure, no build); DEVICE (default cuda) and
#   PACKS (default "64 1024") change what runs: tests/CMakeLists.txt runs the script this way on
#   the CPU (DEVICE=auto) with a tiny organism.
# Not yet run on a GPU: no GPU machine was lent when it was written (docs/benchmarks.md).
set -euo pipefail
build=${1:-build-gpu}
budget=${2:-480}
shift $(($# < 2 ? $# : 2))
device=${DEVICE:-cuda}
packs=${PACKS:-64 1024}
start=$(date +%s)
if [ "${PREBUILT:-0}" != 1 ]; then
  torch_prefix=$(python3 -c "import torch; print(torch.utils.cmake_prefix_path)")
  echo "LibTorch: $torch_prefix ($(python3 -c 'import torch; print(torch.__version__, torch.version.cuda)'))"
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
  # -DFMT_HEADER_ONLY: a LibTorch that ships its own fmt headers must not meet the system's fmt
  # library at link time.
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
    -DCMAKE_PREFIX_PATH="$torch_prefix" -DCMAKE_CXX_FLAGS=-DFMT_HEADER_ONLY >"$build.cmake.log" 2>&1 ||
    { tail -30 "$build.cmake.log"; exit 1; }
  cmake --build "$build" --target organism_point >"$build.build.log" 2>&1 ||
    { tail -30 "$build.build.log"; exit 1; }
fi
runner=$build/bench/organism/organism_point
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cache=$work/cache
config=bench/organism/pack.yaml
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
# N points of one base: kl_weight spread over [0, 15]. The bases first (not what this measures).
for dev in cpu "$device"; do
  "$runner" "$config" --set "grid.kl_weight={linspace: [0, 15, 1]}" --points 0 --cache "$cache" \
    --set task.device="$dev" "$@" >/dev/null
done
names="cpu $device-1"
run() {  # NAME N PACK DEVICE STEP POINTS [--set k=v]...: of N points, POINTS ("" all), PACK at a time
  local name=$1 n=$2 pack=$3 dev=$4 step=$5 points=$6
  shift 6
  if [ $(($(date +%s) - start)) -gt "$budget" ]; then
    echo "skipped $name: past the time budget"
    return
  fi
  local select=()
  [ -n "$points" ] && select=(--points "$points")
  "$runner" "$config" --set "grid.kl_weight={linspace: [0, 15, $n]}" "${select[@]}" \
    --cache "$cache" --pack "$pack" --set task.device="$dev" --set task.finetune_step="$step" \
    "$@" >"$work/$name.jsonl"
}
run cpu 64 1 cpu flat 0,1,2,3 "$@"
run "$device-1" 64 1 "$device" autograd 0,1,2,3 "$@"
for k in $packs; do
  run "$device-$k" "$k" "$k" "$device" autograd "" "$@"
  names="$names $device-$k"
done
python3 - "$work" "$device" $names <<'PY'
import json, os, statistics, sys
work, device, names = sys.argv[1], sys.argv[2], sys.argv[3:]
rows = {}
for name in names:
    path = f"{work}/{name}.jsonl"
    if os.path.exists(path):
        rows[name] = [json.loads(l) for l in open(path)]
print("| run | points | s/point | points/hour | failed |")
print("|---|---|---|---|---|")
for name, rs in rows.items():
    ok = [r for r in rs if "error" not in r]
    s = statistics.median(r["wall_seconds"] for r in ok) if ok else float("nan")
    print(f"| {name} | {len(rs)} | {s:.4f} | {3600 / s:.0f} | {len(rs) - len(ok)} |")
    if ok:
        print(f"  provenance: {ok[0]['provenance']}")
timing = {"wall_seconds", "train_seconds", "eval_seconds", "base_seconds", "tokens_per_second", "pack", "index", "replicate"}
one = f"{device}-1"

def largest_difference(xs, ys):
    worst = (0.0, "none")
    by_index = {y["index"]: y for y in ys}
    for a in xs:
        b = by_index.get(a["index"])
        if b is None or "error" in a or "error" in b:
            continue
        for k, v in a.items():
            if k in timing or not isinstance(v, (int, float)) or not isinstance(b.get(k), (int, float)):
                continue
            d = abs(v - b[k]) / max(1.0, abs(v))
            if d > worst[0]:
                worst = (d, f"{k} of point {a['index']}")
    return worst

failed = False
if one in rows:
    for name in names[2:]:
        if name in rows and rows[name][0].get("pack", 1) == 64:
            d, where = largest_difference(rows[one], rows[name])
            print(f"{name} against {one} (the same points and base): largest difference {d:.3g} ({where})")
            failed = failed or d > 1e-4  # packing reorders float sums; far more is a defect
if "cpu" in rows and one in rows:
    d, where = largest_difference(rows["cpu"], rows[one])
    print(f"{one} (autograd) against the CPU (flat), 4 points: largest difference {d:.3g} ({where})"
          + ("" if device == "auto" else "; bases trained on different devices, for information"))
    failed = failed or (device == "auto" and d > 1e-3)  # the same base: the paths' rounding
if failed:
    sys.exit("FAILED: metrics differ beyond float rounding")
PY
