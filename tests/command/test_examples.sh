#!/usr/bin/env bash
# The examples in examples/command/ run as `command` children: each is started the way emsweep
# starts it, by tests/command/drive_child.py (a stand-in for the protocol's emsweep side), and
# its metrics are checked. The shell example against values worked out by hand; train_kl.py
# for the direction of its effect: a larger kl_weight keeps domain B closer to the frozen model
# (smaller ood_shift) at the price of a worse fit of the narrow task (larger final_loss).
# train_kl.py needs Debian's python3-torch: without it that part is skipped (exit 77).
# Usage: tests/command/test_examples.sh [PYTHON=/usr/bin/python3]
set -euo pipefail
python=${1:-/usr/bin/python3}
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
drive() { "$python" tests/command/drive_child.py --root "$work" "$@"; }
field() { "$python" -c "import json, sys; print(json.load(sys.stdin)$1)"; }

# Shell: f(-2, 1) = (-2 - 1)^2 + 10 (1 + 0.5)^2 = 31.5. With rate 0.05, y reaches -0.5 in one
# step (1 - 20 * 0.05 = 0) and x - 1 shrinks by 0.9 a step: after 20 steps it is -3 * 0.9^20.
out=$(drive examples/command/shell/sweep.yaml --set x=-2 --set y=1)
[[ $(field "['metrics']['f_start']" <<<"$out") == 31.5 ]] || { echo "f_start: $out"; exit 1; }
"$python" - "$out" <<'PY'
import json, math, sys
d = json.loads(sys.argv[1])
dx = -3 * 0.9 ** 20
assert math.isclose(d["metrics"]["distance"], abs(dx), rel_tol=1e-12), d   # %.15g printed
assert math.isclose(d["metrics"]["f_final"], dx * dx, rel_tol=1e-12), d
assert d["curves"] == {"f": 21}, d
PY
echo "shell example: ok"

if ! "$python" -c "import torch" 2>/dev/null; then
  echo "train_kl.py: skipped ($python has no torch; Debian's python3-torch provides it)"
  exit 77
fi
plain=$(drive examples/command/sweep.yaml --set kl_weight=0)
held=$(drive examples/command/sweep.yaml --set kl_weight=10)
"$python" - "$plain" "$held" <<'PY'
import json, sys
plain, held = (json.loads(a)["metrics"] for a in sys.argv[1:])
for m in (plain, held):
    assert 0 < m["final_loss"] < 1.5 and m["narrow_acc"] > 0.5, m   # chance: ln 5 = 1.61, 0.2
assert held["ood_shift"] < 0.1 * plain["ood_shift"], (plain, held)
assert held["ood_acc"] > plain["ood_acc"] + 0.3, (plain, held)
assert held["final_loss"] > plain["final_loss"], (plain, held)
print(f"train_kl.py: ood_shift {plain['ood_shift']:.3f} -> {held['ood_shift']:.3f} nats "
      f"(kl_weight 0 -> 10), final_loss {plain['final_loss']:.3f} -> {held['final_loss']:.3f}: ok")
PY
