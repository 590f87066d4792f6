#!/usr/bin/env bash
# What run.isolation: process costs on the default organism point: the same two points
# (bench/isolation/organism.yaml; their base pre-trained once, before timing, into a shared
# cache) run in-process (isolation none) and each in a fresh child `emsweep-run --run-point`
# (isolation process), alternately, REPEATS times, on one rank without mpirun. Reports the mean
# seconds per point of each (from /points.seconds, the worker's own clock) and the overhead.
# Usage: bench/isolation/run_bench.sh BUILD_DIR [REPEATS=3]
set -euo pipefail
build=$(realpath "${1:?usage: run_bench.sh BUILD_DIR [REPEATS]}")
repeats=${2:-3}
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
emsweep="$build/bin/emsweep"
export OPENBLAS_NUM_THREADS=1
cfg=bench/isolation/organism.yaml
echo "pre-training the base into $work/cache (not timed)"
"$emsweep" run "$cfg" -o "$work/warm.h5" --cache-dir "$work/cache" --quiet
for ((r = 1; r <= repeats; r++)); do
  for iso in none process; do
    "$emsweep" run "$cfg" -o "$work/$iso-$r.h5" --cache-dir "$work/cache" --quiet --set run.isolation=$iso
  done
done
/usr/bin/python3 - "$work" "$repeats" <<'PY'
import sys, h5py, statistics
work, repeats = sys.argv[1], int(sys.argv[2])
mean = {}
for iso in ("none", "process"):
    secs = []
    for r in range(1, repeats + 1):
        p = h5py.File(f"{work}/{iso}-{r}.h5", "r")["points"][:]
        assert (p["status"] == 1).all(), p
        secs += list(p["seconds"])
    mean[iso] = statistics.mean(secs)
    print(f"isolation {iso:8s}: {len(secs)} points, {mean[iso]:.2f} s/point (min {min(secs):.2f}, max {max(secs):.2f})")
over = mean["process"] - mean["none"]
print(f"overhead of isolation: process: {over:+.2f} s/point = {100 * over / mean['none']:+.1f}% of the in-process point")
print(f"| {mean['none']:.2f} s | {mean['process']:.2f} s | {over:+.2f} s ({100 * over / mean['none']:+.1f}%) |")
PY
