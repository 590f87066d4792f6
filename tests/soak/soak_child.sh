#!/bin/sh
# The child program of the `command` soak (tests/soak/soak_command.yaml). What it does is a
# function of its parameter x alone, so an uninterrupted run gives the expected results:
#   x % 20 == 3, 14   exits 3 (after a few lines of stderr)
#   x % 20 == 7       dies by SIGSEGV
#   x % 20 == 11      starts two grandchildren that outlive it (one in its process group, one in
#                     a session of its own), then succeeds
#   x % 20 == 17, x < 40   hangs past run.timeout with a grandchild; at x = 17 both ignore
#                     SIGTERM, so only the SIGKILL after run.kill_grace ends them
#   otherwise         succeeds: metric y and curve q
# Every start appends "start ATTEMPT PID" to logs/POINT_ID, and every process it starts writes
# its pid to pids/ (the soak checks that none outlives the sweep). Paths are relative to the
# directory `emsweep run` runs in.
x=$1
mkdir -p logs pids
echo "start $EMSWEEP_ATTEMPT $$" >>"logs/$EMSWEEP_POINT_ID"
echo "$x" >"pids/$$"
sleep 0.02
case $((x % 20)) in
3 | 14)
  echo "x=$x: giving up" >&2
  exit 3
  ;;
7)
  kill -SEGV $$
  ;;
11)
  sleep 30 &
  echo "$x grandchild" >"pids/$!"
  setsid sleep 30 &
  echo "$x escaped grandchild" >"pids/$!"
  ;;
17)
  if [ "$x" -lt 40 ]; then
    [ "$x" = 17 ] && trap '' TERM
    sleep 30 &
    echo "$x hanging grandchild" >"pids/$!"
    wait
  fi
  ;;
esac
printf '{"step": 1, "q": %d}\n{"step": 2, "q": %d}\n' "$x" "$((x + 1))" >>"$EMSWEEP_EVENTS"
printf '{"y": %d}' "$((x * x % 97))" >"$EMSWEEP_RESULT.tmp"
mv "$EMSWEEP_RESULT.tmp" "$EMSWEEP_RESULT"
