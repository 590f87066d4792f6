#!/usr/bin/env bash
# SIGKILL the worker rank of an `mpirun -np 2` sweep while its child runs: the child (and the
# shim between them) are gone within seconds, although nothing could tell them; a later
# `emsweep run` of the same config resumes and completes the point. Before the kill, the rank
# waiting for its child is checked to use under 1% of a core.
source "$(dirname "$0")/common.sh"

cat > sleeper.sh <<'SH'
#!/bin/sh
if [ -e resumed ]; then printf '{"f": 1}' > "$EMSWEEP_RESULT"; exit 0; fi
echo $$ > child.pid
exec sleep 60
SH
cat > killed.yaml <<'YAML'
sweep: {name: rank-killed}
grid:
  n: [1]
task:
  kind: command
  argv: [sh, ./sleeper.sh]
  params: {n: 0}
  metrics: [f]
run: {timeout: 120}
YAML
proc_start mpirun --oversubscribe -np 2 "$EMSWEEP" run killed.yaml -o killed.h5 --quiet 2> run.err
launcher=$!
wait_for child.pid
child=$(cat child.pid)
shim=$(ps -o ppid= -p "$child" | tr -d ' ')
rank=$(ps -o ppid= -p "$shim" | tr -d ' ')
[ "$(ps -o comm= -p "$shim")" = emsweep-shim ] || die "the child's parent is $(ps -o args= -p "$shim"), not emsweep-shim"
[[ "$(ps -o args= -p "$rank")" == *emsweep-run* ]] || die "the shim's parent is $(ps -o args= -p "$rank"), not an emsweep-run rank"
echo "  child $child <- shim $shim <- worker rank $rank: SIGKILL to the rank"
# Meanwhile the worker rank waits without spinning: under 1% of a core over 2 s.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
before=$(ticks "$rank"); sleep 2; used=$(( $(ticks "$rank") - before ))
[ $(( used * 100 )) -le $(( 2 * hz )) ] || die "the worker rank used $used of $((2 * hz)) clock ticks (over 1%) while its child slept"
echo "  worker rank used $used clock ticks (1/$hz s) of CPU in 2 s while its child ran"
t0=$(date +%s.%N)
kill -KILL "$rank"
gone "$child" "$shim"
echo "  child and shim gone after $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s"
# mpirun notices the lost rank and ends the job; if it hangs, that is not this test's concern.
proc_wait $launcher 10 || true  # (past 10 s, its session is killed)
proc_kill_session $launcher

touch resumed
"$EMSWEEP" run killed.yaml -o killed.h5 --quiet 2> resume.err || { cat resume.err; die "the resumed run failed"; }
check killed.h5 <<'PY'
import sys
from results import *
[p] = rows(sys.argv[1], "points")
expect("status", p["status"], DONE)
expect("f", p["f"], 1.0)
# A point in flight when its rank dies counts an attempt (docs/reliability.md: so that a point
# that kills its rank cannot crash-loop the sweep); the rerun is the second.
expect("attempts", p["attempts"], 2)
expect("/failures rows", rows(sys.argv[1], "failures"), [])
print("rank killed: the point resumed and completed")
PY
echo "rank_killed.sh: ok"
