#!/usr/bin/env bash
# SIGKILL a whole `mpirun -np 3` sweep at several random moments, resume each time, and check
# the final file equals an uninterrupted run: the same rows, no duplicates, identical values.
source "$(dirname "$0")/common.sh"
cfg="$EMSWEEP_SRC/configs/probe-quickstart.yaml"
sets=(--set task.sleep_ms=40 --set run.max_retries=10)
"$EMSWEEP" run "$cfg" -o ref.h5 "${sets[@]}" --quiet
kills=0
journal_grew() { [ "$(stat -c %s cand.h5.journal 2>/dev/null || echo 0)" -gt "$before" ]; }
for cycle in 1 2 3 4; do
  before=$(stat -c %s cand.h5.journal 2>/dev/null || echo 0)
  proc_start mpirun --oversubscribe -np 3 "$EMSWEEP" run "$cfg" -o cand.h5 "${sets[@]}" --quiet
  pid=$!
  # Once the run has started writing, a random moment 0.1 to 1.5 s later.
  proc_wait_until 10 journal_grew || true
  sleep "$(awk -v s=$RANDOM 'BEGIN{srand(s); printf "%.2f", 0.1 + 1.4*rand()}')"
  if kill -0 $pid 2>/dev/null; then
    # By session id: mpirun puts each rank in a process group of its own, so a kill of mpirun's
    # group left the ranks (the coordinator holding the journal's lock) to die later.
    proc_kill_session $pid
    kills=$((kills + 1))
  fi
  proc_wait $pid 60 || die "the job did not end within 60 s"
  proc_session_gone $pid 10 || die "processes of the killed job are left"
  "$EMSWEEP" status cand.h5 | sed -n 3p
done
mpi 3 "$EMSWEEP" run "$cfg" -o cand.h5 "${sets[@]}" --quiet
$PY "$COMPARE" ref.h5 cand.h5 --expect 204
echo "kill_resume.sh: $kills kills survived"
