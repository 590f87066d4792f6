#!/usr/bin/env bash
# The probe sweep under `mpirun -np N` equals the same sweep run without mpirun, bit for bit.
# Usage: ranks.sh N
source "$(dirname "$0")/common.sh"
n=$1
cfg="$EMSWEEP_SRC/configs/probe-quickstart.yaml"
"$EMSWEEP" run "$cfg" -o ref.h5 --set task.sleep_ms=0 --quiet
if [ "$n" = 1 ]; then
  mpi 1 "$EMSWEEP" run "$cfg" -o cand.h5 --set task.sleep_ms=0 --quiet
else
  mpi "$n" "$EMSWEEP" run "$cfg" -o cand.h5 --set task.sleep_ms=0 --quiet
fi
$PY "$COMPARE" ref.h5 cand.h5 --expect 204
$PY - <<'PY'
import h5py
f = h5py.File("cand.h5", "r", swmr=True)
ranks = set(f["points"]["rank"])
print("ranks that ran points:", sorted(ranks), "ranks attr:", f.attrs["ranks"])
n = int(f.attrs["ranks"])
assert (ranks == {0}) if n == 1 else (0 not in ranks and len(ranks) >= 1), ranks
PY
echo "ranks.sh $n: ok"
