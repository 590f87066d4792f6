#!/usr/bin/env bash
# Every row of docs' outcome table on real child processes: what each kind of ending records in
# /points (status, outcome, exit_code, signal, error), in /failures and in /curves, and the
# warning about an undeclared metric (named once per sweep). One rank, no retries.
source "$(dirname "$0")/common.sh"

cat > child.sh <<'SH'
#!/bin/sh
# One behaviour per value of the `case` axis.
result() { printf '%s' "$1" > "$EMSWEEP_RESULT"; }
curve() { echo '{"step": 1, "loss": 0.25}' >> "$EMSWEEP_EVENTS"; echo '{"step": 2, "loss": 0.125}' >> "$EMSWEEP_EVENTS"; }
case "$1" in
  ok)         curve; result '{"f": 1.5, "g": 2}' ;;
  exit3)      curve; result '{"f": 1, "g": 2}'; echo "failing on purpose" >&2; exit 3 ;;
  segv)       curve; kill -SEGV $$ ;;
  sigkill)    kill -KILL $$ ;;
  timeout)    curve; sleep 30 ;;
  no_result)  echo "forgot the result" ;;
  bad_json)   result '{"f": 1, "g": ' ;;
  lacks)      result '{"g": 2}' ;;
  nan_bad)    result '{"f": NaN, "g": 2}' ;;
  nan_ok)     result '{"f": 1, "g": NaN}' ;;
  undeclared|undeclared2) result '{"f": 1, "g": 2, "surplus_metric": 3}' ;;
esac
SH
cat > outcomes.yaml <<'YAML'
sweep: {name: outcomes}
grid:
  case: [ok, exit3, segv, sigkill, timeout, no_result, bad_json, lacks, nan_bad, nan_ok, undeclared, undeclared2]
task:
  kind: command
  argv: [sh, ./child.sh, "{case}"]
  params: {case: ok}
  metrics: [f, {name: g, nan: allowed}]
  curves: [loss]
run: {max_retries: 0, timeout: 2, kill_grace: 1}
YAML
set +e; "$EMSWEEP" run outcomes.yaml -o out.h5 --quiet 2> run.err; rc=$?; set -e
cat run.err
[ $rc = 4 ] || die "emsweep run exited $rc, expected 4 (some points failed)"
[ "$(grep -c "surplus_metric" run.err)" = 1 ] || die "the undeclared metric is not named exactly once on stderr"
grep -q "warning.*surplus_metric" run.err || die "no warning names the undeclared metric"

check out.h5 <<'PY'
import math, sys
from results import *
points = by(sys.argv[1], "points", "case")
failures = by(sys.argv[1], "failures", "point_id")
cur = curves(sys.argv[1])
NAN = float("nan")
# case: (status, outcome, exit_code, signal, error prefix)
want = {
    "ok":          (DONE, "", 0, 0, ""),
    "nan_ok":      (DONE, "", 0, 0, ""),
    "undeclared":  (DONE, "", 0, 0, ""),
    "undeclared2": (DONE, "", 0, 0, ""),
    "exit3":       (FAILED, "exit", 3, 0, "exit code 3 (stderr: failing on purpose)"),
    "segv":        (FAILED, "signal", -1, 11, "killed by SIGSEGV"),
    "sigkill":     (FAILED, "signal", -1, 9, "killed by SIGKILL"),
    "timeout":     (FAILED, "timeout", -1, 15, "timeout after 2 s (stopped with SIGTERM)"),
    "no_result":   (FAILED, "no_result", 0, 0, "no result: the program exited 0 without writing $EMSWEEP_RESULT"),
    "bad_json":    (FAILED, "bad_result", 0, 0, "bad result: line 1, column 15: expected a JSON value, found the end of the text"),
    "lacks":       (FAILED, "bad_metric", 0, 0, "the result lacks metric 'f'"),
    "nan_bad":     (FAILED, "bad_metric", 0, 0, "metric 'f' is nan"),
}
expect("cases recorded", sorted(points), sorted(want))
for case, (status, outcome, code, sig, error) in want.items():
    p = points[case]
    expect(f"{case}: status", p["status"], status)
    expect(f"{case}: attempts", p["attempts"], 1)
    expect(f"{case}: outcome", p["outcome"], outcome)
    expect(f"{case}: exit_code", p["exit_code"], code)
    expect(f"{case}: signal", p["signal"], sig)
    assert p["error"].startswith(error), f"{case}: error {p['error']!r} does not start with {error!r}"
    assert p["peak_rss_mb"] > 0, f"{case}: peak_rss_mb {p['peak_rss_mb']}"
    if status == DONE:
        assert p["point_id"] not in failures, f"{case}: done but in /failures"
        continue
    f = failures.get(p["point_id"])
    assert f is not None, f"{case}: failed but not in /failures"
    for col in ("outcome", "exit_code", "signal", "error"):
        expect(f"{case}: /failures.{col}", f[col], p[col])
    expect(f"{case}: /failures.final", f["final"], 1)
    expect(f"{case}: /failures.attempt", f["attempt"], 1)
    expect(f"{case}: /failures.argv", f["argv"], f"sh ./child.sh {case}")
    assert f["workdir"].endswith(f"/a1") and ".runs/" in f["workdir"], f"{case}: workdir {f['workdir']!r}"
expect("ok: f", points["ok"]["f"], 1.5)
expect("ok: g", points["ok"]["g"], 2.0)
expect("nan_ok: g", points["nan_ok"]["g"], NAN)
expect("undeclared: f", points["undeclared"]["f"], 1.0)
expect("exit3: stderr_tail", failures[points["exit3"]["point_id"]]["stderr_tail"], "failing on purpose\n")
assert 1.9 < points["timeout"]["seconds"] < 6, f"timeout took {points['timeout']['seconds']} s"
# Curves are kept for the point that finished and for those killed (by a signal, by the timeout).
for case in ("ok", "segv", "timeout", "exit3"):
    expect(f"{case}: /curves loss", cur.get((points[case]["point_id"], "loss")), [(1.0, 0.25), (2.0, 0.125)])
# run.keep_workdirs: failed (the default): a failed attempt's work directory stays with its
# capture files, a done point's is removed.
import os
for case, p in points.items():
    if p["status"] == DONE:
        assert not any(f.startswith(f"{p['point_id']:016x}") for f in os.listdir("out.h5.runs")), f"{case}: workdir kept"
    else:
        wd = failures[p["point_id"]]["workdir"]
        assert wd.endswith(f"out.h5.runs/{p['point_id']:016x}/a1"), wd
        assert os.path.isfile(os.path.join(wd, "stderr.txt")) and os.path.isfile(os.path.join(wd, "params.json")), wd
print("outcomes: every row of the table recorded as documented")
PY

# Programs that cannot be started: none by that name (with a path, and on PATH), and a file
# without execute permission. Each is "could not start" with the errno text.
printf '#!/bin/sh\nexit 0\n' > not-executable.sh
chmod 644 not-executable.sh
cat > start.yaml <<'YAML'
sweep: {name: start-failures}
grid:
  prog: [./no-such-program, no-such-program-on-path, ./not-executable.sh]
task:
  kind: command
  argv: ["{prog}", --flag]
  params: {prog: x}
  metrics: [f]
run: {max_retries: 1}
YAML
set +e; "$EMSWEEP" run start.yaml -o start.h5 --quiet 2> start.err; rc=$?; set -e
[ $rc = 4 ] || { cat start.err; die "emsweep run of start.yaml exited $rc, expected 4"; }
check start.h5 <<'PY'
import sys
from results import *
points = by(sys.argv[1], "points", "prog")
failures = rows(sys.argv[1], "failures")
want = {"./no-such-program": "No such file or directory",
        "no-such-program-on-path": "No such file or directory",
        "./not-executable.sh": "Permission denied"}
for prog, errno_text in want.items():
    p = points[prog]
    expect(f"{prog}: status", p["status"], FAILED)
    expect(f"{prog}: attempts (retried as any failure)", p["attempts"], 2)
    expect(f"{prog}: outcome", p["outcome"], "start_failed")
    text = f"could not start: cannot execute '{prog}': {errno_text}"
    assert p["error"].startswith(text), f"{prog}: error {p['error']!r} does not start with {text!r}"
    if "/" not in prog:
        assert "not found on the child's PATH=" in p["error"], p["error"]
    mine = sorted((f["attempt"], f["final"], f["outcome"], f["error"]) for f in failures if f["point_id"] == p["point_id"])
    expect(f"{prog}: /failures rows", mine, [(1, 0, "start_failed", p["error"]), (2, 1, "start_failed", p["error"])])
print("start failures: could not start, with the errno text")
PY
echo "outcomes.sh: ok"
