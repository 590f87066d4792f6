#!/usr/bin/env bash
# The examples in examples/command/ swept by emsweep itself (the `command` kind), from the
# repository root as the README says: the shell sweep in full, checked against values worked out
# by hand, and the PyTorch sweep cut to 2 points (kl_weight 0 and 10, one lr, one seed), checked
# for the direction of its effect. Exit 77 (skipped) when this emsweep has no `command` kind;
# the PyTorch part is skipped when PYTHON has no torch.
# Usage: tests/command/test_examples_emsweep.sh EMSWEEP [PYTHON=/usr/bin/python3]
set -euo pipefail
emsweep=$(realpath "${1:?usage: test_examples_emsweep.sh EMSWEEP [PYTHON]}")
python=${2:-/usr/bin/python3}
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
kinds=$("$emsweep" kinds)
if ! grep -q '^command:' <<<"$kinds"; then
  echo "skipped: $emsweep has no command kind"
  exit 77
fi

"$emsweep" run examples/command/shell/sweep.yaml -o "$work/shell.h5" --quiet
"$python" - "$work/shell.h5" <<'PY'
import sys
import h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
p, c = f["points"][:], f["curves"][:]
assert len(p) == 15 and (p["status"] == 1).all(), p
# From x0 the distance to x = 1 shrinks by 1 - 2 * 0.05 = 0.9 a step; y lands on -0.5 in one.
for row in p:
    dx = (row["x"] - 1) * 0.9 ** 20
    assert np.isclose(row["f_final"], dx * dx, rtol=1e-12, atol=1e-300), row
    assert np.isclose(row["f_start"], (row["x"] - 1) ** 2 + 10 * (row["y"] + 0.5) ** 2), row
assert len(c) == 15 * 21 and set(c["curve"]) == {b"f"}, len(c)
print("shell example under emsweep: 15 points, 315 curve points: ok")
PY

if ! "$python" -c "import torch" 2>/dev/null; then
  echo "train_kl.py: skipped ($python has no torch)"
  exit 0
fi
"$emsweep" run examples/command/sweep.yaml -o "$work/kl.h5" --quiet \
  --set 'grid.kl_weight=[0, 10]' --set 'grid.lr=[0.003]' --set 'grid.seed={replicates: 1}'
"$python" - "$work/kl.h5" <<'PY'
import sys
import h5py
f = h5py.File(sys.argv[1], "r")
p, c = f["points"][:], f["curves"][:]
assert len(p) == 2 and (p["status"] == 1).all(), p
plain, held = sorted(p, key=lambda r: r["kl_weight"])
assert held["ood_shift"] < 0.1 * plain["ood_shift"], (plain, held)
assert held["final_loss"] > plain["final_loss"], (plain, held)
assert len(c) == 2 * 2 * 31, len(c)  # loss and kl every 10 of 300 steps, step 0 included
print(f"train_kl.py under emsweep: ood_shift {plain['ood_shift']:.3f} -> {held['ood_shift']:.3f}: ok")
PY
