#!/usr/bin/env bash
# A sampled sweep (configs/probe-sample.yaml, the commands of docs/config.md, section `sample:`): the
# same results on 1 and 3 ranks,
# `--extend` to a larger n keeps and does not rerun the points already recorded, the grown file
# equals a fresh run of the larger sample, and a Latin hypercube refuses to grow.
source "$(dirname "$0")/common.sh"
mkdir configs && cp "$EMSWEEP_SRC/configs/probe-sample.yaml" configs/
cfg=configs/probe-sample.yaml
"$EMSWEEP" plan "$cfg" | tee plan.txt
grep -q "sampled: 64 points by sobol" plan.txt || die "plan does not show the sample"
"$EMSWEEP" run "$cfg" --quiet
mpi 3 "$EMSWEEP" run "$cfg" -o three.h5 --quiet
$PY "$COMPARE" results/probe-sample.h5 three.h5 --expect 256

# Grow 64 -> 128 per cell with the command docs/config.md shows: 256 more points, the first 256
# untouched; the grown file equals a fresh 3-rank run of the larger sample.
cp results/probe-sample.h5 before.h5
"$EMSWEEP" run configs/probe-sample.yaml --set sample.n=128 --extend
mpi 3 "$EMSWEEP" run "$cfg" -o fresh128.h5 --set sample.n=128 --quiet
$PY "$COMPARE" fresh128.h5 results/probe-sample.h5 --expect 512
$PY - <<'PY'
import h5py
def starts(path):
    p = h5py.File(path, "r")["points"]
    return {int(i): float(t) for i, t in zip(p["point_id"], p["start_time"])}
before, after = starts("before.h5"), starts("results/probe-sample.h5")
assert len(before) == 256 and len(after) == 512, (len(before), len(after))
# --extend reran nothing: every point recorded before keeps its original start time.
rerun = [i for i, t in before.items() if after.get(i) != t]
assert not rerun, f"{len(rerun)} recorded points ran again"
print("kept", len(before), "points unchanged; grown to", len(after))
PY
"$EMSWEEP" verify results/probe-sample.h5 | tail -1   # exits non-zero on a duplicate or orphan row

# A Latin hypercube depends on n: growing it is refused, and the file is left alone.
"$EMSWEEP" run "$cfg" -o lhs.h5 --set sample.kind=lhs --quiet
before=$(sha256sum lhs.h5.journal)
set +e
"$EMSWEEP" run "$cfg" -o lhs.h5 --set sample.kind=lhs --set sample.n=128 --extend --quiet 2>err.txt
rc=$?
set -e
cat err.txt
[ "$rc" != 0 ] || die "extending a latin hypercube succeeded"
grep -q "latin hypercube" err.txt || die "no latin hypercube message"
[ "$(sha256sum lhs.h5.journal)" = "$before" ] || die "the refused --extend changed the journal"
echo "sample.sh: ok"
