#!/usr/bin/env bash
# Stop signals: points in flight get run.grace_seconds to finish and are recorded, the exit
# status is 3 (resumable), and the same command completes the sweep. Under mpirun via SIGUSR1
# (which mpirun forwards intact) and alone via SIGINT; a second SIGINT stops at once and still
# leaves a readable file. SIGTERM to mpirun reaches the ranks too, but mpirun follows it with
# SIGKILL after odls_base_sigkill_timeout (1 s by default, and a raised value makes mpirun sleep
# that long even when the ranks are done): points that finish within it are recorded, and the
# run resumes; mpirun's own exit status then is not emsweep's.
source "$(dirname "$0")/common.sh"
cfg="$EMSWEEP_SRC/tests/engine/signal.yaml"

started() {  # FILE: wait until a run has written its first result
  for _ in $(seq 1 200); do
    [ -f "$1.journal" ] && "$EMSWEEP" status "$1" --json 2>/dev/null | grep -q '"done":[1-9]' && return 0
    sleep 0.1
  done
  die "the run never recorded a point"
}

partial() {  # FILE: some but not all points recorded, none in flight, file readable by h5py
  $PY - "$1" <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1], "r", swmr=True)
n = len(f["points"])
print(f"  {sys.argv[1]}: {n} of 24 points recorded after the stop")
assert 0 < n < 24, n
PY
  "$EMSWEEP" status "$1" --json | $PY -c '
import json, sys
d = json.load(sys.stdin)
assert d["in_flight"] == 0 and d["state"].startswith("stopped"), d'
}

for sig in USR1 TERM; do
  mpirun --oversubscribe -np 3 "$EMSWEEP" run "$cfg" -o $sig.h5 --quiet &
  pid=$!
  started $sig.h5
  kill -$sig $pid
  set +e; wait $pid; rc=$?; set -e
  if [ $sig = USR1 ]; then
    [ $rc = 3 ] || die "mpirun after SIGUSR1 exited $rc, expected 3"
  else
    [ $rc != 0 ] || die "mpirun after SIGTERM exited 0"
  fi
  partial $sig.h5
  mpi 3 "$EMSWEEP" run "$cfg" -o $sig.h5 --quiet || die "resume after SIG$sig failed"
  "$EMSWEEP" status $sig.h5 | grep -q "24 done" || die "resume after SIG$sig did not finish"
  echo "SIG$sig under mpirun: stopped (exit $rc), in-flight points recorded, resumed to 24/24"
done

# Alone: SIGINT, exit 3, resume.
"$EMSWEEP" run "$cfg" -o solo.h5 --quiet &
pid=$!
started solo.h5
kill -INT $pid
set +e; wait $pid; rc=$?; set -e
[ $rc = 3 ] || die "single rank after SIGINT exited $rc, expected 3"
partial solo.h5
"$EMSWEEP" run "$cfg" -o solo.h5 --quiet
echo "SIGINT alone: graceful stop, exit 3, resumed"

# A second SIGINT stops at once, although the point in flight would take 60 s.
"$EMSWEEP" run "$cfg" -o hard.h5 --set task.sleep_ms=60000 --quiet &
pid=$!
for _ in $(seq 1 100); do [ -s hard.h5 ] && break; sleep 0.1; done
sleep 0.5
t0=$(date +%s)
kill -INT $pid; sleep 0.3; kill -INT $pid
set +e; wait $pid; rc=$?; set -e
[ $rc = 3 ] || die "second SIGINT: exit $rc, expected 3"
[ $(( $(date +%s) - t0 )) -lt 20 ] || die "second SIGINT did not stop at once"
$PY -c 'import h5py; f=h5py.File("hard.h5","r",swmr=True); print("  hard stop left a readable file:", len(f["points"]), "points")'
"$EMSWEEP" status hard.h5 | sed -n 2,3p
echo "signals.sh: ok"
