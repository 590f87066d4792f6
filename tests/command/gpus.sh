#!/usr/bin/env bash
# run.gpus_per_point with a stand-in device list (no GPU needed): under `mpirun -np 3` with
# CUDA_VISIBLE_DEVICES=4,7 the two worker ranks hand out 4 and 7, one each, and no device is
# used by two points at once; asking for 2 devices per point with 2 workers is an error that
# names run.gpus_per_point.
source "$(dirname "$0")/common.sh"

cat > gpu.sh <<'SH'
#!/bin/sh
sleep 0.2
# The first device and how many (the list itself is not a number).
printf '{"device": %s, "devices": %s}' "${CUDA_VISIBLE_DEVICES%%,*}" \
  "$(echo "$CUDA_VISIBLE_DEVICES" | tr ',' '\n' | wc -l)" > "$EMSWEEP_RESULT"
SH
cat > gpu.yaml <<'YAML'
sweep: {name: gpus}
grid:
  n: [1, 2, 3, 4, 5, 6, 7, 8]
task:
  kind: command
  argv: [sh, ./gpu.sh]
  params: {n: 0}
  metrics: [device, devices]
run: {max_retries: 0, gpus_per_point: 1, batch: 1}
YAML
export CUDA_VISIBLE_DEVICES=4,7
mpi 3 -x CUDA_VISIBLE_DEVICES "$EMSWEEP" run gpu.yaml -o one.h5 --quiet
check one.h5 <<'PY'
import sys
from results import *
points = rows(sys.argv[1], "points")
expect("points done", sorted(p["status"] for p in points), [DONE] * 8)
by_rank = {}
for p in points:
    by_rank.setdefault(p["rank"], set()).add(p["device"])
expect("ranks that ran points", sorted(by_rank), [1, 2])
expect("devices per point", {p["devices"] for p in points}, {1.0})
expect("devices of the worker ranks", sorted(d for s in by_rank.values() for d in s), [4.0, 7.0])
for d in (4.0, 7.0):
    spans = sorted((p["start_time"], p["end_time"]) for p in points if p["device"] == d)
    for (s0, e0), (s1, e1) in zip(spans, spans[1:]):
        assert s1 >= e0, f"device {d} used by two points at once: {s0}-{e0} and {s1}-{e1}"
print("gpus: " + ", ".join(f"rank {r} -> device {int(min(s))}" for r, s in sorted(by_rank.items())))
PY

# Two devices per point, two devices, two workers: the second worker has none left.
set +e
mpi 3 -x CUDA_VISIBLE_DEVICES "$EMSWEEP" run gpu.yaml -o two.h5 --set run.gpus_per_point=2 --quiet 2> two.err
rc=$?; set -e
[ $rc = 4 ] || { cat two.err; die "gpus_per_point=2 run exited $rc, expected 4 (points failed)"; }
check two.h5 <<'PY'
import sys
from results import *
points = rows(sys.argv[1], "points")
failed = [p for p in points if p["status"] == FAILED]
done = [p for p in points if p["status"] == DONE]
assert failed, "no point failed although the second worker has no devices"
for p in failed:
    assert p["error"].startswith("run.gpus_per_point is 2 but this node's 2 worker ranks share 2 devices"), p["error"]
    expect("failed point's outcome", p["outcome"], "error")
expect("ranks with failures", sorted({p["rank"] for p in failed}), [2])
for p in done:
    expect("done point's rank", p["rank"], 1)
    expect("done point's devices (4,7)", (p["device"], p["devices"]), (4.0, 2.0))
print(f"gpus_per_point 2: {len(failed)} points failed on rank 2 with {failed[0]['error']!r}")
PY
echo "gpus.sh: ok"
