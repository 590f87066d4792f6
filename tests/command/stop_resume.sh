#!/usr/bin/env bash
# Stop, then resume: SIGUSR1 to `mpirun -np 2` and SIGTERM to a lone `emsweep run`, while
# children sleep far longer than run.grace_seconds. The run exits 3, the children are gone (the
# lone run's child ignores SIGTERM and has a grandchild: SIGKILL after run.kill_grace), the points
# in flight are not attempts (nothing recorded, nothing in /failures), and a second run completes
# every point with attempts == 1.
source "$(dirname "$0")/common.sh"

cat > nap.sh <<'SH'
#!/bin/sh
# $1: the run's tag. Before the resume, sleep "forever" (the lone run's child ignores SIGTERM
# and waits for a grandchild); after it, the result at once.
if [ -e "resume-$1" ]; then printf '{"f": %s}' "$EMSWEEP_PARAM_N" > "$EMSWEEP_RESULT"; exit 0; fi
if [ "$1" = lone ]; then
  trap '' TERM
  sleep 30 &
  echo "$$ $!" >> "pids-$1"
  wait
else
  echo $$ >> "pids-$1"
  exec sleep 30
fi
SH
cat > nap.yaml <<'YAML'
sweep: {name: stop-resume}
grid:
  n: [1, 2, 3]
task:
  kind: command
  argv: [sh, ./nap.sh, "{tag}"]
  params: {n: 0, tag: x}
  metrics: [f]
run: {grace_seconds: 1, kill_grace: 1, timeout: 60}
YAML

stop_then_resume() {  # TAG SIGNAL LAUNCHER...: start, stop on the first child, check, resume
  local tag=$1 sig=$2; shift 2
  local t0 rc pid took p
  proc_start "$@" "$EMSWEEP" run nap.yaml -o "$tag.h5" --set task.tag="$tag" --quiet 2> "$tag.err"
  pid=$!
  wait_for "pids-$tag"
  sleep 0.3
  t0=$(date +%s.%N)
  kill -"$sig" $pid
  proc_wait $pid 50 || die "$tag: the run did not end within 50 s of SIG$sig"
  rc=$PROC_RC
  [ $rc = 3 ] || { cat "$tag.err"; die "$tag: the run exited $rc after SIG$sig, expected 3"; }
  # run.grace_seconds (1 s) for the points in flight, then SIGTERM (and for the lone run's
  # stubborn child, SIGKILL after run.kill_grace, 1 s more).
  took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
  awk -v t="$took" 'BEGIN { exit !(t >= 0.9 && t < 10) }' || die "$tag: the stop took $took s"
  # The run ends after its children: none is left running (or being killed) behind it.
  for p in $(cat "pids-$tag"); do
    ! kill -0 "$p" 2>/dev/null || die "$tag: process $p ($(ps -o stat=,args= -p "$p")) outlived the stopped run"
  done
  "$EMSWEEP" status "$tag.h5" --json | $PY -c '
import json, sys
d = json.load(sys.stdin)
assert d["in_flight"] == 0 and d["done"] == 0 and d["failed"] == 0, d'
  touch "resume-$tag"
  "$@" "$EMSWEEP" run nap.yaml -o "$tag.h5" --set task.tag="$tag" --quiet 2>> "$tag.err" \
    || { cat "$tag.err"; die "$tag: the resumed run failed"; }
  check "$tag.h5" <<'PY'
import sys
from results import *
points = by(sys.argv[1], "points", "n")
expect("points", sorted(points), [1, 2, 3])
for n, p in points.items():
    expect(f"n={n}: status", p["status"], DONE)
    expect(f"n={n}: f", p["f"], float(n))
    expect(f"n={n}: attempts", p["attempts"], 1)
expect("/failures rows", rows(sys.argv[1], "failures"), [])
PY
  echo "  $tag: SIG$sig -> exit 3 after $took s, $(wc -w < "pids-$tag") stopped process(es) gone, resumed: 3 done, attempts 1"
}

stop_then_resume mpirun USR1 mpirun --oversubscribe -np 2
stop_then_resume lone TERM
echo "stop_resume.sh: ok"
