#!/usr/bin/env bash
# `emsweep slurm` without a cluster: the files it writes parse as bash, carry the #SBATCH
# lines asked for and the job-script body of slurm/emsweep.sbatch, and bad requests fail
# with exit status 2 and a message. (tests/slurm/run-scenarios.sh submits one for real.)
# Usage: tests/slurm/check-generated.sh --emsweep PATH/TO/emsweep
set -euo pipefail
[[ ${1:-} == --emsweep && -n ${2:-} ]] || {
  echo "usage: $0 --emsweep PATH" >&2
  exit 2
}
emsweep=$(readlink -f "$2")
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=$(mktemp -d /tmp/emsweep-slurmgen.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
failed=0
passed=0
check() { # description, then a command that must succeed
  local what=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $what"
  fi
}
has() { grep -qxF -- "$2" "$1"; }
generate() { # emsweep slurm arguments; a failure is counted and reported
  local rc=0
  "$emsweep" slurm "$@" || rc=$?
  check "emsweep slurm $* exits 0 (got $rc)" test "$rc" -eq 0
}

cat >sweep.yaml <<'EOF'
sweep: {name: gen-test, output: out/gen.h5}
grid:
  kl_weight: [0, 1]
  seed: {replicates: 30}
task: {kind: probe, sleep_ms: 60000}
EOF
# 60 points x 60 s = 1 h of core time.

# One job, time limit from the estimate: 3600 s / 7 workers ~ 514 s, +25%, +120 s, +600 s
# = 1363 s, rounded up to 15 minutes: 00:30:00.
generate sweep.yaml --nodes 2 --ntasks-per-node 4 --partition cpu --account lab \
  --set task.curve_points=2 --sbatch=--mem=2G -o one.sbatch 2>one.err
check "one.sbatch parses" bash -n one.sbatch
check "one.sbatch is executable" test -x one.sbatch
check "nodes" has one.sbatch "#SBATCH --nodes=2"
check "ranks per node" has one.sbatch "#SBATCH --ntasks-per-node=4"
check "time limit from the estimate" has one.sbatch "#SBATCH --time=00:30:00"
check "partition" has one.sbatch "#SBATCH --partition=cpu"
check "account" has one.sbatch "#SBATCH --account=lab"
check "extra option" has one.sbatch "#SBATCH --mem=2G"
check "signal" has one.sbatch "#SBATCH --signal=B:USR1@120"
check "requeue" has one.sbatch "#SBATCH --requeue"
check "chdir" has one.sbatch "#SBATCH --chdir=$work"
check "job name from the sweep name" has one.sbatch "#SBATCH --job-name=emsweep-gen-test"
check "no array" bash -c "! grep -q '^#SBATCH --array' one.sbatch"
check "absolute config" has one.sbatch "EMSWEEP_CONFIG=$work/sweep.yaml"
check "absolute results" has one.sbatch "EMSWEEP_RESULTS=$work/out/gen.h5"
check "emsweep path" has one.sbatch "EMSWEEP=$emsweep"
check "--set passed on" has one.sbatch "emsweep_run_args=(--set task.curve_points=2)"
check "estimate in the header" grep -q '^# Estimate: ~1h 00m of core time' one.sbatch
check "summary on stderr" grep -q 'wrote one.sbatch: 60 points, 8 ranks' one.err
# Everything from the body marker on is slurm/emsweep.sbatch verbatim.
check "body is the template's" cmp -s <(sed -n '/^# ---- emsweep.sbatch body/,$p' one.sbatch) \
  <(sed -n '/^# ---- emsweep.sbatch body/,$p' "$repo/slurm/emsweep.sbatch")

# An array of 4 shards via mpirun, time as asked.
generate sweep.yaml --array 4 --launcher mpirun --time 2:00:00 --results r.h5 \
  -o arr.sbatch 2>arr.err
check "arr.sbatch parses" bash -n arr.sbatch
check "array line" has arr.sbatch "#SBATCH --array=0-3"
check "time as asked" has arr.sbatch "#SBATCH --time=02:00:00"
check "launcher" has arr.sbatch "EMSWEEP_LAUNCHER=mpirun"
check "results option" has arr.sbatch "EMSWEEP_RESULTS=$work/r.h5"
check "array submit hint" grep -q 'submit with: bash arr.sbatch' arr.err

# To standard output without -o.
check "stdout" bash -c "'$emsweep' slurm sweep.yaml | grep -qxF '#SBATCH --ntasks-per-node=4'"

# Bad requests: exit status 2 and a message naming the problem.
bad() { # expected message fragment, then arguments
  local want=$1 rc=0
  shift
  "$emsweep" slurm "$@" >/dev/null 2>bad.err || rc=$?
  if [[ $rc -eq 2 ]] && grep -q -- "$want" bad.err; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: emsweep slurm $* exited $rc: $(cat bad.err)"
  fi
}
bad "not a Slurm time limit" sweep.yaml --time 1:xx
bad "must last at least --signal-seconds (120 s) + 5 min" sweep.yaml --time 6
bad "more shards than the 60 points" sweep.yaml --array 61
bad "expected one sbatch option" sweep.yaml --sbatch=mem=2G
bad "srun" sweep.yaml --launcher ssh
bad "sleep_ms" sweep.yaml --set task.sleep_ms=-1

echo "check-generated: $passed passed, $failed failed"
((failed == 0))
