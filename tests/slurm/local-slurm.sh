#!/usr/bin/env bash
# A private single-node Slurm cluster (munged + slurmctld + slurmd) for the Slurm tests and
# for trying slurm/ on one machine. Installs nothing (scripts/install-deps.sh --dev does);
# every file, socket and log lives under DIR; teardown signals only the processes whose
# pids this script recorded under DIR/run, never anything found by name.
#
# Usage: tests/slurm/local-slurm.sh up DIR     start; prints `export SLURM_CONF=...` to use it
#        tests/slurm/local-slurm.sh down DIR   cancel every job, stop the daemons
#        tests/slurm/local-slurm.sh logs DIR   tail of each daemon's log (for a failure report)
# Runs as root (slurmd must start jobs as the submitting user). Needs slurm-wlm, munge, tini.
# Exit status of `up`: 0 when the node takes jobs, 1 with the reason on stderr otherwise.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../support/proc.sh"

die() {
  echo "local-slurm: $*" >&2
  exit 1
}

# Two free TCP ports on 127.0.0.1 (slurmctld, slurmd), picked away from the defaults
# (6817/6818) so that a real Slurm on the machine is not disturbed.
free_port_pair() {
  local used p
  # Every local TCP port in use, from /proc (field 2 is ADDR:PORT in hex).
  used=$(tail -q -n +2 /proc/net/tcp /proc/net/tcp6 2>/dev/null |
    while read -r _ addr _; do echo $((16#${addr##*:})); done | sort -un)
  for ((i = 0; i < 200; i++)); do
    p=$((20000 + (RANDOM % 20000) * 2))
    if ! grep -qx -e "$p" -e "$((p + 1))" <<<"$used"; then
      echo "$p"
      return 0
    fi
  done
  die "no free pair of TCP ports found in 20000-59999"
}

# Is the process in pid file $1 alive?
alive() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Sends TERM to the pid in file $1, waits up to $2 s, then KILL.
stop_pid_file() {
  [[ -s $1 ]] || return 0
  proc_stop "$(cat "$1")" "${2:-10}"
  rm -f "$1"
}

check_tools() {
  local missing=() t
  for t in munged slurmctld slurmd tini sbatch srun scontrol squeue sinfo; do
    command -v "$t" >/dev/null || missing+=("$t")
  done
  ((${#missing[@]} == 0)) ||
    die "not installed: ${missing[*]} (run scripts/install-deps.sh --dev, which installs slurm-wlm, munge and tini)"
  [[ $(id -u) -eq 0 ]] || die "must run as root: slurmd starts jobs as the submitting user"
  local plugdir
  for plugdir in /usr/lib/x86_64-linux-gnu/slurm-wlm /usr/lib/slurm-wlm /usr/lib64/slurm; do
    [[ -e $plugdir/mpi_pmix.so ]] && return 0
  done
  echo "local-slurm: warning: Slurm's mpi_pmix plugin not found; srun --mpi=pmix will fail" >&2
}

write_config() {
  local dir=$1 port=$2 node=$3 cpus=$4
  cat >"$dir/etc/slurm.conf" <<EOF
# Written by tests/slurm/local-slurm.sh: a private one-node cluster under $dir.
ClusterName=emsweeptest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# A requeued job waits out cred_expire before it runs again: keep it short here.
AuthInfo=socket=$dir/munge/munge.socket.2,cred_expire=10
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
# No cgroups and no systemd here: process groups track jobs (linuxproc leaks background
# children of trapped batch scripts), no task binding, no accounting database.
ProctrackType=proctrack/pgid
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.txt
# The node may declare more CPUs than the machine has (tests run 3+ ranks on 2 cores).
SlurmdParameters=config_overrides
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_interval=5,bf_interval=5
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobRequeue=1
ReturnToService=2
MpiDefault=pmix
KillWait=15
MinJobAge=600
InactiveLimit=0
SlurmdTimeout=300
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus Sockets=1 CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
  # Stale /tmp/spmix_appdir_* directories from other runs break PMIx: keep ours private.
  cat >"$dir/etc/mpi.conf" <<EOF
PMIxCliTmpDirBase=$dir/pmix
EOF
}

up() {
  local dir=$1
  check_tools
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  for f in munged slurmctld slurmd tini; do
    if alive "$dir/run/$f.pid"; then
      die "$dir already runs $f (pid $(cat "$dir/run/$f.pid")); run: $0 down $dir"
    fi
  done
  rm -rf "${dir:?}"/{etc,state,spool,run,munge,pmix,log}
  mkdir -p "$dir"/{etc,state,spool,run,munge,pmix,log}
  # munged insists on a socket directory of mode 0755, a key only its owner can read, and
  # parent directories that everyone can search and nobody else can write to.
  chmod 0755 "$dir" "$dir/munge"
  local parent=$dir
  while [[ $parent != / ]]; do
    parent=$(dirname "$parent")
    if [[ $(($(stat -c '%#a' "$parent") & 8#001)) -eq 0 ]]; then
      die "munged needs every directory above its socket searchable by all: chmod o+x $parent"
    fi
  done
  chmod 0700 "$dir/log" "$dir/run"
  dd if=/dev/urandom of="$dir/etc/munge.key" bs=1024 count=1 status=none
  chmod 0400 "$dir/etc/munge.key"

  local node port cpus
  node=$(hostname -s)
  port=$(free_port_pair)
  cpus=${EMSWEEP_SLURM_CPUS:-8}
  write_config "$dir" "$port" "$node" "$cpus"

  munged --socket="$dir/munge/munge.socket.2" --key-file="$dir/etc/munge.key" \
    --pid-file="$dir/run/munged.pid" --log-file="$dir/log/munged.log" \
    --seed-file="$dir/run/munged.seed" ||
    die "munged did not start: $(tail -n 3 "$dir/log/munged.log" 2>/dev/null)"
  for ((i = 0; i < 50; i++)); do
    [[ -S $dir/munge/munge.socket.2 ]] && break
    sleep 0.1
  done
  [[ -S $dir/munge/munge.socket.2 ]] || die "munged made no socket in 5 s: $(tail -n 3 "$dir/log/munged.log")"

  export SLURM_CONF=$dir/etc/slurm.conf
  # Daemons in their own session, output to their logs; slurmd under tini as subreaper so
  # that finished job processes are reaped at once (pgid tracking waits for them).
  setsid slurmctld -D -i -f "$SLURM_CONF" >>"$dir/log/slurmctld.stdout" 2>&1 </dev/null &
  echo $! >"$dir/run/slurmctld.pid"
  setsid tini -s -- slurmd -D -f "$SLURM_CONF" >>"$dir/log/slurmd.stdout" 2>&1 </dev/null &
  echo $! >"$dir/run/tini.pid"

  # The node is up when it reports idle.
  local state=""
  for ((i = 0; i < 300; i++)); do
    alive "$dir/run/slurmctld.pid" || die "slurmctld exited: $(tail -n 5 "$dir/log/slurmctld.log" "$dir/log/slurmctld.stdout" 2>/dev/null)"
    alive "$dir/run/tini.pid" || die "slurmd exited: $(tail -n 5 "$dir/log/slurmd.log" "$dir/log/slurmd.stdout" 2>/dev/null)"
    state=$(sinfo -h -n "$node" -o %t 2>/dev/null || true)
    [[ $state == idle ]] && break
    sleep 0.1
  done
  [[ $state == idle ]] ||
    die "node $node not idle after 30 s (state '${state:-no answer}'); see $dir/log"
  echo "export SLURM_CONF=$SLURM_CONF"
}

down() {
  local dir=$1
  [[ -d $dir/run ]] || return 0
  export SLURM_CONF=$dir/etc/slurm.conf
  if alive "$dir/run/slurmctld.pid"; then
    # Every job on this private controller is ours.
    local jobs
    jobs=$(squeue -h -o %i 2>/dev/null || true)
    # shellcheck disable=SC2086
    [[ -z $jobs ]] || scancel --quiet $jobs 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      [[ -z $(squeue -h -o %i 2>/dev/null) ]] && break
      sleep 0.2
    done
  fi
  # Job processes left behind hang off our tini (the subreaper); stop them with slurmd.
  local tini_pid="" leftovers=""
  [[ -s $dir/run/tini.pid ]] && tini_pid=$(cat "$dir/run/tini.pid")
  stop_pid_file "$dir/run/slurmctld.pid" 15
  if [[ -n $tini_pid ]] && kill -0 "$tini_pid" 2>/dev/null; then
    leftovers=$(proc_descendants "$tini_pid" | tr '\n' ' ')
  fi
  stop_pid_file "$dir/run/slurmd.pid" 15
  stop_pid_file "$dir/run/tini.pid" 5
  for p in $leftovers; do
    kill -KILL "$p" 2>/dev/null || true
  done
  stop_pid_file "$dir/run/munged.pid" 5
}

logs() {
  local dir=$1 f
  for f in "$dir"/log/*.log "$dir"/log/*.stdout; do
    [[ -s $f ]] || continue
    echo "---- $f (last 25 lines)"
    tail -n 25 "$f"
  done
}

case "${1:-}" in
up) up "${2:?usage: $0 up DIR}" ;;
down) down "${2:?usage: $0 down DIR}" ;;
logs) logs "${2:?usage: $0 logs DIR}" ;;
*)
  echo "usage: $0 up|down|logs DIR" >&2
  exit 2
  ;;
esac
