#!/usr/bin/env bash
# Boundary search on the probe (configs/probe-search.yaml), whose crossing is known in closed
# form: every cell's critical kl_weight is within the tolerance of the truth; the results and
# the answer are the same on 1 and 3 ranks; a sweep SIGKILLed mid-search and resumed reaches
# the same answer with no point run twice; plan shows the search and its maximum.
source "$(dirname "$0")/common.sh"
mkdir configs && cp "$EMSWEEP_SRC/configs/probe-search.yaml" configs/
cfg=configs/probe-search.yaml
"$EMSWEEP" plan "$cfg" | tee plan.txt
grep -q "8 cells, up to 7 points each on a lattice of 33 values: at most 56 points" plan.txt ||
  die "plan does not show the search"
"$EMSWEEP" run "$cfg" && "$EMSWEEP" summary results/probe-search.h5 | tee one.txt
mpi 3 "$EMSWEEP" run "$cfg" -o three.h5 --quiet
"$EMSWEEP" summary three.h5 >three.txt
$PY "$COMPARE" results/probe-search.h5 three.h5
diff <(sed -n '/^boundary/,$p' one.txt) <(sed -n '/^boundary/,$p' three.txt) || die "3 ranks answer differently"
$PY - <<'PY'
import math, re
lines = open("one.txt").read().split("boundary of", 1)[1].splitlines()[1:]
cells = 0
for line in lines:
    m = re.match(r"\s+x=(\S+) seed=(\d+)\s+kl_weight = (\S+) in \[(\S+), (\S+)\]\s+\((\d+) points\)", line)
    assert m, line
    x, crit, lo, hi, used = float(m[1]), float(m[3]), float(m[4]), float(m[5]), int(m[6])
    truth = 3 - x * x - math.sin(0.5) - 0.2
    assert lo <= truth <= hi, (line, truth)
    assert max(crit / truth, truth / crit) < 1.5, (line, truth)
    assert used <= 7
    cells += 1
    print(f"x={x}: critical {crit:.4g}, truth {truth:.4g}, {used} points")
assert cells == 8, cells
PY
# The answers are in the file too (/boundary), and status knows the search has ended.
"$EMSWEEP" status results/probe-search.h5 --json >status.json
$PY - <<'PY'
import json, math
import h5py
s = json.load(open("status.json"))
assert s["search"] and s["total"] == 56 and s["searches"] == 8 and s["searches_open"] == 0, s
assert s["state"] == "finished" and s["eta_seconds"] == 0, s
with h5py.File("results/probe-search.h5", "r") as f:
    b = f["boundary"][:]
assert len(b) == 8, b
printed = [l.split("kl_weight = ")[1].split()[0] for l in open("one.txt").read().split("boundary of", 1)[1].splitlines()[1:]]
for row, text in zip(b, printed):
    truth = 3 - row["x"] ** 2 - math.sin(0.5) - 0.2
    assert row["status"] == b"found" and row["bracket_low"] <= truth <= row["bracket_high"], row
    assert abs(row["critical"] - float(text)) <= 1e-9 * abs(row["critical"]), (row, text)
    assert row["points_used"] <= 7 and row["increasing"] == 1, row
print(f"/boundary: {len(b)} cells found, equal to summary's answers; status: finished, 56 at most")
PY
# The same answers as CSV.
"$EMSWEEP" export results/probe-search.h5 --boundary boundary.csv
$PY - <<'PY'
import csv, h5py
rows = list(csv.DictReader(open("boundary.csv")))
b = h5py.File("results/probe-search.h5", "r")["boundary"][:]
assert len(rows) == len(b) == 8, rows
for row, h in zip(rows, b):
    assert float(row["x"]) == h["x"] and int(row["seed"]) == h["replicate"], (row, h)
    assert row["status"] == h["status"].decode() and abs(float(row["critical"]) - h["critical"]) < 1e-12, (row, h)
print("export --boundary: 8 rows equal to /boundary")
PY
# The phase diagram: found cells as dots with their mean; a cell whose crossing lies below the
# range (x = 3: f - u > 3 at both bounds, rising) is marked at the low bound.
"$EMSWEEP" plot results/probe-search.h5 --boundary -o phase | tee plot.txt
grep -q "wrote phase.png" plot.txt || die "no phase diagram"
[ "$(sed -n '/^\$CELLS/,/^EOD/p' phase.gp | grep -c '^[0-9]')" = 8 ] || die "the diagram does not show 8 cells"
[ "$(sed -n '/^\$MEAN/,/^EOD/p' phase.gp | grep -c '^[0-9]')" = 4 ] || die "the diagram does not show 4 means"
"$EMSWEEP" run "$cfg" -o wide.h5 --set 'grid.x=[0, 3]' --quiet
"$EMSWEEP" plot wide.h5 --boundary --x x -o wide
sed -n '/^\$LOW/,/^EOD/p' wide.gp | grep -q '^3 0.01$' || die "the out-of-range cell is not marked at the low bound"
grep -q "crossing below 0.01 (2 cells)" wide.gp || die "the out-of-range cells are not counted"

# SIGKILL a slower 3-rank run mid-search (by session), resume, and compare.
sets=(--set task.sleep_ms=150)
"$EMSWEEP" run "$cfg" -o ref.h5 "${sets[@]}" --quiet
"$EMSWEEP" summary ref.h5 >ref.txt
journal_started() { [ "$(stat -c %s cand.h5.journal 2>/dev/null || echo 0)" -gt 2000 ]; }
proc_start mpirun --oversubscribe -np 3 "$EMSWEEP" run "$cfg" -o cand.h5 "${sets[@]}" --quiet
pid=$!
proc_wait_until 10 journal_started || true
sleep 1
proc_kill_session $pid
proc_wait $pid 60 || die "the job did not end within 60 s"
proc_session_gone $pid 10 || die "processes of the killed job are left"
"$EMSWEEP" status cand.h5 | sed -n 1,3p
mpi 3 "$EMSWEEP" run "$cfg" -o cand.h5 "${sets[@]}" --quiet
"$EMSWEEP" summary cand.h5 >cand.txt
$PY "$COMPARE" ref.h5 cand.h5
$PY -c 'import h5py, numpy as np, sys; a, b = (h5py.File(p, "r")["boundary"][:] for p in ("ref.h5", "cand.h5")); sys.exit(0 if np.array_equal(a, b) else "the resumed /boundary differs")'
diff <(sed -n '/^boundary/,$p' ref.txt) <(sed -n '/^boundary/,$p' cand.txt) || die "the resumed search answers differently"
"$EMSWEEP" verify cand.h5 | tail -1   # non-zero on a point recorded twice
# Shards split by cell; merged, they give the unsharded answers and /boundary.
"$EMSWEEP" run "$cfg" -o shard0.h5 --shard 0/2 --quiet
"$EMSWEEP" run "$cfg" -o shard1.h5 --shard 1/2 --quiet
"$EMSWEEP" merge merged.h5 shard0.h5 shard1.h5
$PY -c 'import h5py, sys; n = [len(h5py.File(f, "r")["boundary"]) for f in ("shard0.h5", "shard1.h5")]; sys.exit(0 if sum(n) == 8 and min(n) > 0 else f"shards hold {n} cells")'
cmp <("$EMSWEEP" export merged.h5 --boundary -) <("$EMSWEEP" export results/probe-search.h5 --boundary -) ||
  die "the merged shards answer differently"
"$EMSWEEP" verify merged.h5 | tail -1
# verify checks /boundary against the points; repair rewrites it.
$PY -c 'import h5py; b = h5py.File("cand.h5", "r+")["boundary"]; r = b[2]; r["critical"] *= 1.01; b[2] = r'
if "$EMSWEEP" verify cand.h5 >verify.txt; then die "verify missed a changed /boundary"; fi
grep -q "/boundary rows that differ" verify.txt || die "verify does not name /boundary"
"$EMSWEEP" repair cand.h5 >/dev/null
"$EMSWEEP" verify cand.h5 | tail -1
echo "search.sh: ok"
