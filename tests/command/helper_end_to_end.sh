#!/usr/bin/env bash
# The Python helper end to end: a /usr/bin/python3 child imports emsweep_child (found through
# the PYTHONPATH emsweep sets, nothing installed), reads typed params(), reports a curve with
# report() and its metrics with finish(); NaN and a failure after some reports included.
source "$(dirname "$0")/common.sh"

cat > train.py <<'PYCHILD'
import sys
import emsweep_child as es
p = es.params(defaults={"unused_default": 5})
assert isinstance(p["lr"], float) and isinstance(p["steps"], int), p
assert isinstance(p["nesterov"], bool) and isinstance(p["opt"], str), p
assert p["unused_default"] == 5 and es.attempt() == 1 and len(es.point_id()) == 16, p
loss = 1.0
for step in range(p["steps"]):
    loss *= 1 - p["lr"]
    es.report(step, loss=loss, acc=step / 10)
if p["opt"] == "crash":
    sys.exit("crashed after reporting")
es.finish(final_loss=loss, steps_run=p["steps"], flag=float(p["nesterov"]), gate=float("nan"))
PYCHILD
cat > helper.yaml <<'YAML'
sweep: {name: python-helper}
grid:
  lr: [0.5, 0.25]
  opt: [adam, crash]
task:
  kind: command
  argv: [/usr/bin/python3, train.py]
  params:
    lr: 0.1
    steps: 3
    nesterov: true
    opt: {default: adam, choices: [adam, crash]}
  metrics: [final_loss, steps_run, flag, {name: gate, nan: allowed}]
  curves: [loss, acc]
run: {max_retries: 0, timeout: 30}
YAML
set +e; PYTHONPATH='' "$EMSWEEP" run helper.yaml -o helper.h5 --quiet 2> run.err; rc=$?; set -e
[ $rc = 4 ] || { cat run.err; die "emsweep run exited $rc, expected 4 (the crash points fail)"; }
check helper.h5 <<'PY'
import math, sys
from results import *
cur = curves(sys.argv[1])
points = rows(sys.argv[1], "points")
expect("points", len(points), 4)
for p in points:
    lr, pid = p["lr"], p["point_id"]
    want = [(float(s), (1 - lr) ** (s + 1)) for s in range(3)]
    got = cur.get((pid, "loss"))
    assert got is not None and all(a[0] == b[0] and math.isclose(a[1], b[1], rel_tol=1e-15) for a, b in zip(got, want)) and len(got) == 3, (lr, got)
    expect(f"lr={lr} {p['opt']}: acc curve", cur.get((pid, "acc")), [(0.0, 0.0), (1.0, 0.1), (2.0, 0.2)])
    if p["opt"] == "crash":
        expect(f"lr={lr} crash: status", p["status"], FAILED)
        expect(f"lr={lr} crash: error", p["error"], "exit code 1 (stderr: crashed after reporting)")
        continue
    expect(f"lr={lr}: status", p["status"], DONE)
    assert math.isclose(p["final_loss"], (1 - lr) ** 3, rel_tol=1e-15), p["final_loss"]
    expect(f"lr={lr}: steps_run", p["steps_run"], 3.0)
    expect(f"lr={lr}: flag", p["flag"], 1.0)
    expect(f"lr={lr}: gate", p["gate"], float("nan"))
print("python helper: params typed, curves and metrics recorded, curves of a failed point kept")
PY
echo "helper_end_to_end.sh: ok"
