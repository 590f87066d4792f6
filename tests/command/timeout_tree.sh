#!/usr/bin/env bash
# A timeout where the child ignores SIGTERM and has started a grandchild (which ignores it too):
# after run.timeout the group gets SIGTERM, after run.kill_grace SIGKILL, and both processes are
# gone when the run ends; the point is recorded as a timeout stopped with SIGKILL. And a child
# that exits 0 leaving a grandchild behind: the point is done at once and the grandchild gone.
source "$(dirname "$0")/common.sh"

cat > tree.sh <<'SH'
#!/bin/sh
if [ "$1" = stubborn ]; then
  trap '' TERM          # ignored, and so ignored by the grandchild too
  sleep 60 &
  echo "$$ $!" > "pids-$1"
  wait
else                    # leaves: a background grandchild outlives the child
  sleep 60 &
  echo "$!" > "pids-$1"
  printf '{"f": 1}' > "$EMSWEEP_RESULT"
fi
SH
cat > tree.yaml <<'YAML'
sweep: {name: process-tree}
grid:
  mode: [stubborn, leaves]
task:
  kind: command
  argv: [sh, ./tree.sh, "{mode}"]
  params: {mode: x}
  metrics: [f]
run: {max_retries: 0, timeout: 1, kill_grace: 1}
YAML
t0=$(date +%s.%N)
set +e; "$EMSWEEP" run tree.yaml -o tree.h5 --quiet 2> run.err; rc=$?; set -e
t1=$(date +%s.%N)
[ $rc = 4 ] || { cat run.err; die "emsweep run exited $rc, expected 4"; }
for pid in $(cat pids-stubborn pids-leaves); do
  if kill -0 "$pid" 2>/dev/null; then
    die "process $pid ($(ps -o stat=,args= -p "$pid")) outlived its point"
  fi
done
awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a < 8) }' || die "the run took $t0..$t1, expected about 2 s"
check tree.h5 <<'PY'
import sys
from results import *
points = by(sys.argv[1], "points", "mode")
p = points["stubborn"]
expect("stubborn: status", p["status"], FAILED)
expect("stubborn: outcome", p["outcome"], "timeout")
expect("stubborn: signal", p["signal"], 9)
expect("stubborn: error", p["error"], "timeout after 1 s (stopped with SIGKILL)")
assert 1.9 < p["seconds"] < 5, f"seconds {p['seconds']}: expected timeout 1 s + kill_grace 1 s"
p = points["leaves"]
expect("leaves: status", p["status"], DONE)
assert p["seconds"] < 5, f"leaves: {p['seconds']} s, the point waited for its grandchild (sleep 60)"
print(f"process tree: {points['stubborn']['error']!r} after {points['stubborn']['seconds']:.2f} s; "
      f"a left-behind grandchild did not delay its point ({p['seconds']:.2f} s)")
PY
echo "timeout_tree.sh: ok: $(wc -w < pids-stubborn) + $(wc -w < pids-leaves) processes gone"
