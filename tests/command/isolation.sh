#!/usr/bin/env bash
# run.isolation: process on the probe kind: a point that segfaults or aborts fails alone (the
# sweep goes on, outcome `signal`, the child's stderr kept), a point that hangs past run.timeout
# is stopped (outcome `timeout`), and every other point's metrics equal an in-process run's.
# Needs EMSWEEP_BIN and EMSWEEP_SRC (as tests/engine/*.sh).
set -euo pipefail
bin=${EMSWEEP_BIN:?}
# Under the sanitizer pass, ASan would turn the probe's segfault into a report and exit code 1;
# the point of this test is a process killed by SIGSEGV.
if [[ -n ${ASAN_OPTIONS:-} ]]; then export ASAN_OPTIONS=$ASAN_OPTIONS:handle_segv=0; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
cat >iso.yaml <<'YAML'
sweep: {name: iso, output: iso.h5}
grid:
  x: [1, 2, 3, 4, 5]
  fail: [none, segfault, abort]
task: {kind: probe, fail_x: 3}
run: {max_retries: 1}
YAML
"$bin/emsweep" run iso.yaml --quiet -o inproc-ok.h5 --set 'grid.fail=[none]'
rc=0
"$bin/emsweep" run iso.yaml --quiet --set run.isolation=process || rc=$?
test "$rc" -eq 4  # finished, some points failed
"$bin/emsweep" status iso.h5 | tee status.txt
grep -q "killed by SIGSEGV" status.txt
grep -q "killed by SIGABRT" status.txt
/usr/bin/python3 - <<'PY'
import h5py, numpy as np, pandas as pd
p = pd.DataFrame(h5py.File("iso.h5", "r")["points"][:])
ok = pd.DataFrame(h5py.File("inproc-ok.h5", "r")["points"][:])
# 15 points: x=3 fails with segfault and abort (2 points); the other 13 are done.
assert len(p) == 15 and (p.status == 2).sum() == 2, p[["x", "fail", "status", "outcome"]]
failed = p[p.status == 2]
assert (failed.x == 3).all() and set(failed.outcome) == {b"signal"}, failed
assert set(failed.signal) == {11, 6}, failed.signal
assert (failed.attempts == 2).all()
# Every isolated point's provenance says so; metrics equal the in-process run's bit for bit.
done = p[(p.status == 1) & (p.fail == b"none")].sort_values("x")
assert done.provenance.apply(lambda b: b"isolation=process" in b).all(), done.provenance
ref = ok.sort_values("x")
assert np.array_equal(done.f.values, ref.f.values), (done.f.values, ref.f.values)
assert (done.peak_rss_mb > 0).all()
f = pd.DataFrame(h5py.File("iso.h5", "r")["failures"][:])
assert len(f) == 4 and set(f.final) == {0, 1}, f  # two attempts each
PY
# A point that hangs past the timeout is stopped and recorded as such.
cat >hang.yaml <<'YAML'
sweep: {name: hang, output: hang.h5}
grid:
  sleep_ms: [0, 60000]
task: {kind: probe}
run: {isolation: process, timeout: 2, kill_grace: 1, max_retries: 0}
YAML
rc=0
"$bin/emsweep" run hang.yaml --quiet || rc=$?
test "$rc" -eq 4
/usr/bin/python3 - <<'PY'
import h5py, pandas as pd
p = pd.DataFrame(h5py.File("hang.h5", "r")["points"][:]).sort_values("sleep_ms")
assert list(p.status) == [1, 2], p
row = p.iloc[1]
assert row.outcome == b"timeout" and row.error.startswith(b"timeout after 2 s"), row
assert row.seconds < 30, row.seconds
PY
echo "isolation: crashes and a hang cost only their own attempts"
