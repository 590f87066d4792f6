#!/usr/bin/env bash
# The Slurm scenarios, on a private one-node Slurm this script starts (local-slurm.sh) and
# tears down again, with the probe task kind as the workload:
#   1. `emsweep slurm` writes an sbatch file; sbatch runs the sweep at 3 ranks through
#      srun --mpi=pmix; the same sweep through the mpirun variant gives the same points;
#   2. a job whose time-limit signal (--signal=B:USR1@N) stops it requeues itself and resumes
#      to completion, and so does a job that gets `scontrol requeue`: no lost and no duplicate
#      points, and the first run's points kept;
#   3. an array of 3 shards plus the merge job (afterok); the merged file equals the single
#      run of scenario 1;
#   4. preemption of a `command` sweep: `scancel --batch --signal=USR1` while its children run
#      (half of them ignore SIGTERM); every child present at the signal is gone within
#      run.grace_seconds + run.kill_grace (+ 1 s of polling), the job requeues itself and the
#      requeued run completes the sweep (no lost, duplicate or failed point; no child left).
# Usage: tests/slurm/run-scenarios.sh --emsweep PATH/TO/emsweep [--python PYTHON] [--keep]
#   --python: a Python 3 with h5py (default /usr/bin/python3, Debian's, where h5py is)
#   --keep: leave the work directory (configs, results, job logs, Slurm logs) in place.
# Installs nothing: scripts/install-deps.sh --dev installs Slurm, munge, tini and h5py.
# Exit status: 0 all passed; 1 a scenario failed or Slurm could not start (the reason is
# printed); 77 skipped, only when the person running it set EMSWEEP_SKIP_SLURM=1.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/../support/proc.sh"
repo=$(cd "$here/../.." && pwd)
emsweep=""
python=/usr/bin/python3
[[ -x $python ]] || python=python3
keep=0
while (($#)); do
  case $1 in
  --emsweep)
    emsweep=$2
    shift 2
    ;;
  --python)
    python=$2
    shift 2
    ;;
  --keep)
    keep=1
    shift
    ;;
  *)
    echo "usage: $0 --emsweep PATH [--python PYTHON] [--keep]" >&2
    exit 2
    ;;
  esac
done
[[ -n $emsweep ]] || {
  echo "usage: $0 --emsweep PATH [--keep]" >&2
  exit 2
}
emsweep=$(readlink -f "$emsweep")

say() { echo "slurm-scenarios: $*"; }

# What would stop Slurm from starting here, or nothing.
missing_reason() {
  local missing=() t
  for t in munged slurmctld slurmd tini sbatch srun scontrol mpirun "$python"; do
    command -v "$t" >/dev/null || missing+=("$t")
  done
  "$python" -c 'import h5py' 2>/dev/null || missing+=("h5py for $python (python3-h5py)")
  if ((${#missing[@]})); then
    echo "not installed: ${missing[*]} (scripts/install-deps.sh --dev installs them)"
  elif [[ $(id -u) -ne 0 ]]; then
    echo "not root: slurmd must run as root to start jobs"
  fi
}

if [[ ${EMSWEEP_SKIP_SLURM:-} == 1 ]]; then
  reason=$(missing_reason)
  say "SKIPPED: EMSWEEP_SKIP_SLURM=1 is set${reason:+; besides, $reason}"
  exit 77
fi
reason=$(missing_reason)
if [[ -n $reason ]]; then
  say "FAILED: Slurm cannot start: $reason"
  say "to skip the Slurm scenarios on purpose, set EMSWEEP_SKIP_SLURM=1"
  exit 1
fi
[[ -x $emsweep && -x $(dirname "$emsweep")/emsweep-run ]] || {
  say "FAILED: $emsweep or emsweep-run beside it is missing: build the project first"
  exit 1
}

work=$(mktemp -d /tmp/emsweep-slurm.XXXXXX)
chmod 0755 "$work" # munged wants every directory above its socket searchable by all
slurm_dir=$work/slurm
jobs_dir=$work/jobs
mkdir -p "$jobs_dir"
passed=0
failed=0
failures=()

watchdog=""
cleanup() {
  local rc=$?
  "$here/local-slurm.sh" down "$slurm_dir" || true
  [[ -z $watchdog ]] || kill "$watchdog" 2>/dev/null || true
  if ((failed > 0 || rc != 0)) && ((rc != 77)); then
    say "Slurm daemon logs:"
    "$here/local-slurm.sh" logs "$slurm_dir" || true
    say "work directory kept for inspection: $work"
  elif ((keep)); then
    say "work directory kept: $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t_start=$SECONDS
say "starting a private Slurm under $slurm_dir"
if ! up_out=$("$here/local-slurm.sh" up "$slurm_dir" 2>&1); then
  say "FAILED: Slurm cannot start: $up_out"
  say "to skip the Slurm scenarios on purpose, set EMSWEEP_SKIP_SLURM=1"
  exit 1
fi
export SLURM_CONF=$slurm_dir/etc/slurm.conf
# Should this script be killed outright (a test runner's SIGKILL), a watchdog in its own
# session still stops the daemons once this shell is gone.
# shellcheck disable=SC2016 # $1..$3 belong to the inner bash
setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 2; done; "$2" down "$3"' \
  watchdog $$ "$here/local-slurm.sh" "$slurm_dir" >/dev/null 2>&1 </dev/null &
watchdog=$!
say "Slurm is up after $((SECONDS - t_start)) s ($(sinfo -h -o '%n %c CPUs %t'))"

# What every job inherits (sbatch passes the environment on).
export EMSWEEP=$emsweep
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
# Many ranks share two cores here: idle MPI ranks yield instead of spinning.
export OMPI_MCA_mpi_yield_when_idle=1
sbatch_script=$repo/slurm/emsweep.sbatch

pass() {
  passed=$((passed + 1))
  say "PASS: $*"
}
fail() {
  failed=$((failed + 1))
  failures+=("$*")
  say "FAIL: $*"
}

# Field $2 (e.g. JobState) of job $1, or "".
job_field() { scontrol -o show job "$1" 2>/dev/null | head -n 1 | grep -o "\b$2=[^ ]*" | cut -d= -f2- || true; }

# Waits until job $1 (every task of an array) has left the queue, at most $2 seconds.
wait_gone() {
  local jid=$1 limit=$2 t0=$SECONDS
  while [[ -n $(squeue -h -j "$jid" -o %i 2>/dev/null) ]]; do
    if ((SECONDS - t0 > limit)); then
      say "job $jid still queued after $limit s: $(squeue -h -j "$jid" -o '%i %T %r')"
      return 1
    fi
    sleep 1
  done
}

# Every "JobState ExitCode Restarts" line of job $1 (one per array task).
job_states() {
  scontrol -o show job "$1" 2>/dev/null |
    sed -E 's/.*JobState=([^ ]*).*Restarts=([^ ]*).*ExitCode=([^ ]*).*/\1 \3 restarts=\2/'
}

indent() { sed 's/^/    /'; }

# Checks results file $1 with check_results.py and the options that follow.
check_file() { "$python" "$here/check_results.py" "$@" 2>&1 | indent; }

show_log() {
  local f
  for f in "$@"; do
    [[ -f $f ]] || continue
    echo "    ---- $f"
    sed 's/^/    | /' "$f" | tail -n 40
  done
}

cd "$jobs_dir"

# ---- configs ---------------------------------------------------------------------------
# s1: 24 short points; also the config the shards of scenario 3 split.
cat >s1.yaml <<'EOF'
sweep: {name: slurm-s1, output: s1-default.h5}
grid:
  kl_weight: [0, 0.1, 1]
  gate_noise: [0.0, 0.5]
  seed: {replicates: 4}
task: {kind: probe, sleep_ms: 50, curve_points: 3}
EOF
s1_points=24
# s2a: ~56 s of work on 2 workers, longer than the latest the time-limit signal can come.
cat >s2a.yaml <<'EOF'
sweep: {name: slurm-s2a, output: s2a.h5}
grid:
  kl_weight: {linspace: [0, 1, 8]}
  gate_noise: {linspace: [0, 0.6, 7]}
  seed: {replicates: 4}
task: {kind: probe, sleep_ms: 500}
run: {grace_seconds: 10}
EOF
s2a_points=224
# s2b: ~15 s of work on 2 workers; requeued by hand after ~6 s.
cat >s2b.yaml <<'EOF'
sweep: {name: slurm-s2b, output: s2b.h5}
grid:
  kl_weight: {linspace: [0, 1, 6]}
  seed: {replicates: 16}
task: {kind: probe, sleep_ms: 300}
run: {grace_seconds: 10}
EOF
s2b_points=96
# s4: 12 `command` points of 4 s on 2 workers (~24 s); preempted once its children run.
cat >s4_child.sh <<'EOF'
#!/bin/sh
# A child of scenario 4: pid files under s4-pids/, odd x ignore SIGTERM, 4 s of work, result.
mkdir -p s4-pids
echo "$1" >"s4-pids/$$"
[ $(($1 % 2)) = 1 ] && trap '' TERM
sleep 4 &
echo "$1 grandchild" >"s4-pids/$!"
wait
printf '{"y": %d}' "$(($1 * 3))" >"$EMSWEEP_RESULT"
EOF
cat >s4.yaml <<'EOF'
sweep: {name: slurm-s4, output: s4.h5}
grid:
  x: {range: [0, 12]}
task:
  kind: command
  argv: [sh, ./s4_child.sh, "{x}"]
  params: {x: 0}
  metrics: [y]
run: {grace_seconds: 1, kill_grace: 2, timeout: 60}
EOF
s4_points=12
s4_stop_limit=4.5 # grace_seconds + kill_grace + 1.5 s for this script's polling (each second)
for c in s1 s2a s2b s4; do
  n=$("$emsweep" plan "$c.yaml" --json | "$python" -c 'import json,sys; print(json.load(sys.stdin)["points"])')
  want_var=${c}_points
  [[ $n == "${!want_var}" ]] || {
    say "FAILED: $c.yaml plans $n points, the scenarios expect ${!want_var}"
    exit 1
  }
done

# ---- submit everything (the long scenario 2 jobs first; they mostly wait) --------------
# 2a: the time limit is 1 min and USR1 is due 5 s before it. slurmctld checks limits every
# 30 s and signals once fewer than N + 30 s remain, so USR1 comes 25-55 s after the start:
# after emsweep's start-up (5-15 s here) and before its ~56 s of work are done.
j2a=$(sbatch --parsable --ntasks-per-node=3 --time=1 --signal=B:USR1@5 --job-name=s2a \
  --output=s2a-%j.out "$sbatch_script" s2a.yaml s2a.h5)
j2b=$(sbatch --parsable --ntasks-per-node=3 --time=10 --job-name=s2b --output=s2b-%j.out \
  "$sbatch_script" s2b.yaml s2b.h5)
j4=$(sbatch --parsable --ntasks-per-node=3 --time=10 --job-name=s4 --output=s4-%j.out \
  "$sbatch_script" s4.yaml s4.h5)
"$emsweep" slurm s1.yaml --results s1.h5 --ntasks-per-node 3 --time 10 -o s1.sbatch
j1a=$(sbatch --parsable s1.sbatch)
j1b=$(EMSWEEP_LAUNCHER=mpirun sbatch --parsable --ntasks-per-node=3 --time=10 --job-name=s1b \
  --output=s1b-%j.out "$sbatch_script" s1.yaml s1-mpirun.h5)
submit_out=$(bash "$sbatch_script" --shards 3 --ntasks-per-node=2 --time=10 --job-name=s3 \
  s1.yaml s3.h5)
indent <<<"$submit_out"
j3=$(sed -n -E 's/.*submitted array job ([0-9]+) .*/\1/p' <<<"$submit_out")
j3m=$(sed -n -E 's/.* and merge job ([0-9]+) .*/\1/p' <<<"$submit_out")
say "submitted: 1a=$j1a 1b=$j1b 2a=$j2a 2b=$j2b 3=$j3 (merge $j3m) 4=$j4"

# While the jobs run: requeue 2b by hand once it has recorded points for a few seconds, as
# an admin or a preemption would; once 2a has requeued itself, give its next run a longer
# limit so that the suite waits for one signal, not for one per minute.
t0=$SECONDS
requeued_2b=0
extended_2a=0
all_jobs=("$j1a" "$j1b" "$j2a" "$j2b" ${j3:+"$j3"} ${j3m:+"$j3m"} "$j4")
started_2b=""
# Scenario 4: once the first 2 points are done and the next 2 run (8 pid files: a child and
# a grandchild each), the preemption signal; then, each second, whether every process alive
# at the signal has ended.
preempted_4="" stopped_4="" pids_4=()
while ((SECONDS - t0 < 300)); do
  if [[ -z $preempted_4 ]] && (($(ls s4-pids 2>/dev/null | wc -l) >= 8)); then
    for f in s4-pids/*; do proc_ended "${f#s4-pids/}" || pids_4+=("${f#s4-pids/}"); done
    preempted_4=$(date +%s.%N)
    scancel --batch --signal=USR1 "$j4" &&
      say "scancel --batch --signal=USR1 $j4 with ${#pids_4[@]} child processes running"
  fi
  if [[ -n $preempted_4 && -z $stopped_4 ]] && proc_all_ended "${pids_4[@]}"; then
    stopped_4=$(awk -v a="$preempted_4" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    say "job $j4: the ${#pids_4[@]} child processes ended within $stopped_4 s of the signal"
  fi
  if ((!requeued_2b)); then
    if [[ -z $started_2b ]] && grep -qs 'points (0 already recorded)' s2b-"$j2b".out; then
      started_2b=$SECONDS
    fi
    if [[ -n $started_2b ]] && ((SECONDS - started_2b >= 5)); then
      scontrol requeue "$j2b" && say "scontrol requeue $j2b, 5 s after emsweep started"
      requeued_2b=1
    fi
  fi
  restarts_2a=$(job_field "$j2a" Restarts)
  if ((!extended_2a && ${restarts_2a:-0} >= 1)); then
    scontrol update JobId="$j2a" TimeLimit=10 &&
      say "job $j2a requeued itself; its next run gets a 10 min limit"
    extended_2a=1
  fi
  [[ -n $(squeue -h -j "$(IFS=,; echo "${all_jobs[*]}")" -o %i 2>/dev/null) ]] || break
  sleep 1
done
say "all jobs left the queue after $((SECONDS - t0)) s"

# ---- scenario 1 --------------------------------------------------------------------------
if wait_gone "$j1a" 120 && wait_gone "$j1b" 120; then
  st_a=$(job_states "$j1a")
  st_b=$(job_states "$j1b")
  if [[ $st_a == "COMPLETED 0:0 restarts=0" ]] &&
    check_file s1.h5 --points $s1_points --runs 1 --single-attempt &&
    grep -q 'ranks on .* via srun' emsweep-slurm-s1-"$j1a".out; then
    pass "1a: emsweep slurm + sbatch, 3 ranks via srun --mpi=pmix ($st_a)"
  else
    fail "1a: emsweep slurm + sbatch via srun ($st_a)"
    show_log emsweep-slurm-s1-"$j1a".out
  fi
  if [[ $st_b == "COMPLETED 0:0 restarts=0" ]] &&
    check_file s1-mpirun.h5 --points $s1_points --runs 1 --same-as s1.h5; then
    pass "1b: the mpirun variant, same points as 1a ($st_b)"
  else
    fail "1b: the mpirun variant ($st_b)"
    show_log s1b-"$j1b".out
  fi
else
  fail "1: jobs did not finish in time"
fi

# ---- scenario 3 --------------------------------------------------------------------------
if [[ -n $j3 && -n $j3m ]] && wait_gone "$j3" 120 && wait_gone "$j3m" 60; then
  st3=$(job_states "$j3" | sort | uniq -c | sed 's/^ *//' | tr '\n' ';')
  st3m=$(job_states "$j3m")
  shards_ok=1
  for i in 0 1 2; do
    # Each shard holds its share: together the 24 points, checked through the merge.
    [[ -f s3.shard-$i-of-3.h5 ]] || shards_ok=0
  done
  if [[ $st3 == "3 COMPLETED 0:0 restarts=0;" && $st3m == "COMPLETED 0:0 restarts=0" ]] &&
    ((shards_ok)) && check_file s3.h5 --points $s1_points --same-as s1.h5; then
    pass "3: array of 3 shards + merge job; merged file equals the single run"
  else
    fail "3: array + merge (array: $st3 merge: $st3m shard files: $shards_ok)"
    show_log s3-*.out emsweep-merge-"$j3m".out
  fi
else
  fail "3: the array (${j3:-not submitted}) or merge job (${j3m:-not submitted}) did not finish"
  show_log s3-*.out
fi

# ---- scenario 2 --------------------------------------------------------------------------
if wait_gone "$j2b" 150; then
  st=$(job_states "$j2b")
  if [[ $st == "COMPLETED 0:0 restarts=1" ]] &&
    check_file s2b.h5 --points $s2b_points --runs 2 --resumed --single-attempt; then
    pass "2b: scontrol requeue -> resumed to completion, no lost or duplicate points ($st)"
  else
    fail "2b: scontrol requeue ($st)"
    show_log s2b-"$j2b".out
  fi
else
  fail "2b: job $j2b did not finish"
  show_log s2b-"$j2b".out
fi
if wait_gone "$j2a" 240; then
  st=$(job_states "$j2a")
  restarts=$(job_field "$j2a" Restarts)
  restarts=${restarts:-0}
  if [[ $st == COMPLETED\ 0:0\ restarts=* ]] && ((restarts >= 1)) &&
    grep -q 'USR1: time limit near' s2a-"$j2a".out &&
    grep -q 'requeueing job' s2a-"$j2a".out &&
    check_file s2a.h5 --points $s2a_points --runs $((restarts + 1)) --resumed --single-attempt; then
    pass "2a: time-limit USR1 -> clean stop, self-requeue, resumed to completion ($st)"
  else
    fail "2a: time-limit signal and self-requeue ($st)"
    show_log s2a-"$j2a".out
  fi
else
  fail "2a: job $j2a did not finish"
  show_log s2a-"$j2a".out
fi

# ---- scenario 4 --------------------------------------------------------------------------
if wait_gone "$j4" 150; then
  st=$(job_states "$j4")
  left=()
  for f in s4-pids/*; do proc_ended "${f#s4-pids/}" || left+=("${f#s4-pids/}"); done
  if [[ -n $preempted_4 && -n $stopped_4 ]] && ((${#pids_4[@]} >= 2)) &&
    awk -v t="$stopped_4" -v l="$s4_stop_limit" 'BEGIN { exit !(t <= l) }'  &&
    [[ $st == "COMPLETED 0:0 restarts=1" ]] && ((${#left[@]} == 0)) &&
    grep -q 'USR1: time limit near' s4-"$j4".out && grep -q 'requeueing job' s4-"$j4".out &&
    check_file s4.h5 --points $s4_points --runs 2 --resumed --single-attempt; then
    pass "4: preempted command sweep: ${#pids_4[@]} children gone within $stopped_4 s (limit $s4_stop_limit), requeued, completed ($st)"
  else
    fail "4: preemption of a command sweep (signal sent: ${preempted_4:+yes}; children gone after: ${stopped_4:-never} s of $s4_stop_limit; left at the end: ${left[*]:-none}; $st)"
    show_log s4-"$j4".out
  fi
else
  fail "4: job $j4 did not finish"
  show_log s4-"$j4".out
fi

say "$passed passed, $failed failed ($((SECONDS - t_start)) s)"
((failed == 0))
