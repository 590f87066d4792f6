#!/usr/bin/env bash
# A timeout where the child ignores SIGTERM and has started a grandchild (which ignores it too):
# after run.timeout the group gets SIGTERM, after run.kill_grace SIGKILL, and both processes are
# gone when the run ends. The point is recorded as a timeout stopped with SIGKILL.
source "$(dirname "$0")/common.sh"

cat > stubborn.sh <<'SH'
#!/bin/sh
trap '' TERM          # ignored, and so ignored by the grandchild too
sleep 60 &
echo "$$ $!" > "$1"
wait
SH
cat > tree.yaml <<'YAML'
sweep: {name: timeout-tree}
grid:
  n: [1]
task:
  kind: command
  argv: [sh, ./stubborn.sh, "pids-{n}.txt"]
  params: {n: 0}
  metrics: [f]
run: {max_retries: 0, timeout: 1, kill_grace: 1}
YAML
t0=$(date +%s.%N)
set +e; "$EMSWEEP" run tree.yaml -o tree.h5 --quiet 2> run.err; rc=$?; set -e
t1=$(date +%s.%N)
[ $rc = 4 ] || { cat run.err; die "emsweep run exited $rc, expected 4"; }
read -r child grandchild < pids-1.txt
for pid in $child $grandchild; do
  if kill -0 "$pid" 2>/dev/null; then
    die "process $pid ($(ps -o stat=,args= -p "$pid")) outlived its timed-out point"
  fi
done
awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a < 8) }' || die "the run took $t0..$t1, expected about 2 s"
check tree.h5 <<'PY'
import sys
from results import *
[p] = rows(sys.argv[1], "points")
expect("status", p["status"], FAILED)
expect("outcome", p["outcome"], "timeout")
expect("signal", p["signal"], 9)
expect("error", p["error"], "timeout after 1 s (stopped with SIGKILL)")
assert 1.9 < p["seconds"] < 5, f"seconds {p['seconds']}: expected timeout 1 s + kill_grace 1 s"
print(f"timeout tree: recorded {p['error']!r} after {p['seconds']:.2f} s")
PY
echo "timeout_tree.sh: child $child and grandchild $grandchild gone; ok"
