#!/bin/sh
# A `command` child in POSIX shell and awk: gradient descent on the quadratic
#   f(x, y) = (x - 1)^2 + 10 (y + 0.5)^2      (minimum 0 at (1, -0.5))
# from the starting point (x, y) the sweep chooses, with step size `rate` for `steps` steps.
# Parameters arrive as EMSWEEP_PARAM_<NAME> (written as the results file records them:
# "0.5", "-2", "1e-05"); f after each step is appended to $EMSWEEP_EVENTS as a JSON line
# ({"step": 3, "f": 0.42}, the curve `f`), and the metrics go to $EMSWEEP_RESULT as one JSON
# object, written to a temporary file and renamed so that emsweep never reads half of it:
#   f_start   f at the starting point
#   f_final   f after the last step
#   distance  Euclidean distance from the last point to the minimum (1, -0.5)
# By hand (no EMSWEEP_RESULT): sh quadratic.sh prints the events to stderr, the result to stdout.
set -eu

x=${EMSWEEP_PARAM_X:-0}
y=${EMSWEEP_PARAM_Y:-0}
rate=${EMSWEEP_PARAM_RATE:-0.05}
steps=${EMSWEEP_PARAM_STEPS:-20}
events=${EMSWEEP_EVENTS:-/dev/stderr}
result=${EMSWEEP_RESULT:-}

descend() {
  awk -v x="$x" -v y="$y" -v rate="$rate" -v steps="$steps" -v events="$events" '
    # A number as JSON: awk prints NaN and infinities as "nan"/"inf", which JSON does not know;
    # emsweep reads them as Python writes them.
    function num(v,   s) {
      s = sprintf("%.15g", v)
      if (s ~ /nan/) return "NaN"
      if (s ~ /^-inf/) return "-Infinity"
      if (s ~ /inf/) return "Infinity"
      return s
    }
    function f(x, y) { return (x - 1) ^ 2 + 10 * (y + 0.5) ^ 2 }
    BEGIN {
      x += 0; y += 0; rate += 0; steps += 0
      f_start = f(x, y)
      printf "{\"step\": 0, \"f\": %s}\n", num(f_start) >> events
      fflush(events)
      for (step = 1; step <= steps; step++) {
        gx = 2 * (x - 1); gy = 20 * (y + 0.5)
        x -= rate * gx; y -= rate * gy
        printf "{\"step\": %d, \"f\": %s}\n", step, num(f(x, y)) >> events
        fflush(events)
      }
      printf "{\"f_start\": %s, \"f_final\": %s, \"distance\": %s}\n", num(f_start), num(f(x, y)),
             num(sqrt((x - 1) ^ 2 + (y + 0.5) ^ 2))
    }'
}

if [ -n "$result" ]; then
  descend >"$result.tmp.$$"
  mv -f "$result.tmp.$$" "$result"
else
  descend
fi
