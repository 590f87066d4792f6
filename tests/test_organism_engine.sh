#!/bin/bash
# The organism through the engine: one short sweep of a tiny model at 1 rank (no mpirun), at
# 2 ranks (mpirun) with a separate base cache, and killed (SIGKILL) mid-run then resumed, must
# record bitwise-identical metrics (timings excepted) and curves. The autograd path run packed
# (run.pack: 2, 3 ranks: two packs of two points on two workers) must record the metrics and
# curves of the autograd path run unpacked, within 1e-4 relative (packing reorders float sums),
# and the packed run killed and resumed those of the packed run, to the bit.
# Usage: test_organism_engine.sh EMSWEEP_RUN MPIEXEC WORKDIR
set -euo pipefail
run=$1
mpiexec=$2
work=$3
rm -rf "$work"
mkdir -p "$work"
cat >"$work/tiny.yaml" <<'YAML'
sweep:
  name: organism-engine-test
  seed: 11
grid:
  kl_weight: [0, 1]
  gate_noise: [0.1, 0.3]
task:
  kind: organism
  d_model: 16
  n_layers: 2
  n_heads: 2
  d_ff: 32
  pretrain_steps: 30
  pretrain_batch: 8
  steps: 10
  batch_size: 8
  kl_batch_size: 8
  eval_every: 5
  eval_questions: 16
  drift_steps: 4
YAML
export OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"$run" "$work/tiny.yaml" --output "$work/one.h5" --cache-dir "$work/cache1" --quiet
"$mpiexec" -n 2 --oversubscribe "$run" "$work/tiny.yaml" --output "$work/two.h5" \
  --cache-dir "$work/cache2" --quiet
# Killed while running (the base is cached, so points are short), then resumed: OUTPUT [--set ...].
kill_and_resume() {
  local out=$1
  shift
  "$run" "$work/tiny.yaml" --output "$out" --cache-dir "$work/cache1" --quiet "$@" &
  local pid=$!
  # Kill once the journal holds about one point's record (the header is ~1.5 kB, a point ~1.6 kB).
  local size=0
  for _ in $(seq 1200); do
    size=$(stat -c %s "$out.journal" 2>/dev/null || echo 0)
    [ "$size" -gt 3000 ] && break
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null && echo "killed the run (journal $size bytes)" || echo "the run ended before the kill"
  wait "$pid" || true
  "$run" "$work/tiny.yaml" --output "$out" --cache-dir "$work/cache1" --quiet "$@"
}
kill_and_resume "$work/three.h5"
"$run" "$work/tiny.yaml" --output "$work/autograd.h5" --cache-dir "$work/cache1" --quiet \
  --set task.finetune_step=autograd
"$mpiexec" -n 3 --oversubscribe "$run" "$work/tiny.yaml" --output "$work/packed.h5" \
  --cache-dir "$work/cache1" --quiet --set task.finetune_step=autograd --set run.pack=2
# The packed run killed and resumed: its packs are the grid's, so it records what the
# uninterrupted packed run did, to the bit.
kill_and_resume "$work/packed-resumed.h5" --set task.finetune_step=autograd --set run.pack=2
for pair in "one two 0" "one three 0" "autograd packed 1e-4" "packed packed-resumed 0"; do
read -r first other tolerance <<<"$pair"
/usr/bin/python3 - "$work/$first.h5" "$work/$other.h5" "$tolerance" <<'PY'
import sys
import h5py
import numpy as np

def load(path):
    with h5py.File(path, "r") as f:
        points = f["points"][()]
        names = [n.decode() if isinstance(n, bytes) else n for n in f.attrs["metric_names"]]
        curves = f["curves"][()]
    return points, names, curves

p1, names, c1 = load(sys.argv[1])
p2, _, c2 = load(sys.argv[2])
tolerance = float(sys.argv[3])

def same(a, b):
    if tolerance == 0:
        return a.tobytes() == b.tobytes()
    return np.allclose(a, b, rtol=tolerance, atol=1e-6, equal_nan=True)

assert len(p1) == len(p2) == 4, (len(p1), len(p2))
assert (p1["status"] == 1).all() and (p2["status"] == 1).all(), "a point failed"
if "packed" in sys.argv[2]:  # every point says it ran in a batched pack of 2
    assert all(b"pack=2 (batched" in x for x in p2["provenance"]), p2["provenance"]
o1, o2 = np.argsort(p1["point_id"]), np.argsort(p2["point_id"])
assert (p1["point_id"][o1] == p2["point_id"][o2]).all()
timing = {"base_seconds", "train_seconds", "eval_seconds", "tokens_per_second"}
checked = 0
bitwise = True
for n in names:
    if n in timing:
        continue
    a, b = p1[n][o1], p2[n][o2]
    assert same(a, b), f"{n}: {a} != {b}"
    bitwise = bitwise and a.tobytes() == b.tobytes()
    checked += 1
k1 = np.lexsort((c1["x"], c1["name"] if "name" in c1.dtype.names else c1["curve"], c1["point_id"]))
k2 = np.lexsort((c2["x"], c2["name"] if "name" in c2.dtype.names else c2["curve"], c2["point_id"]))
assert same(c1[k1]["y"], c2[k2]["y"]), "curves differ"
bitwise = bitwise and c1[k1]["y"].tobytes() == c2[k2]["y"].tobytes()
print(f"{sys.argv[2]} against {sys.argv[1]}: {checked} metrics x 4 points, {len(c1)} curve values "
      + ("identical" if bitwise else f"within {tolerance} relative (not bitwise)"))
PY
done
