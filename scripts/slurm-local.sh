#!/usr/bin/env bash
# A single-node Slurm on this machine, living wholly in one directory: for
# the tests of `lsmc sweep --on slurm`, and for anyone who wants to try a
# sweep on Slurm without a cluster. Nothing is written outside DIR (no
# /etc, no system services).
#
#   scripts/slurm-local.sh start DIR [CPUS]   # munged, slurmctld, slurmd; waits for an idle node
#   scripts/slurm-local.sh env DIR            # the exports clients need (eval "$(… env DIR)")
#   scripts/slurm-local.sh stop DIR           # cancels every job, stops the daemons by PID
#
# Needs Debian's `slurm-wlm` (apt-get install --no-install-recommends
# slurm-wlm), which brings munge. Clients (sbatch, squeue, scontrol) find
# this cluster through SLURM_CONF=DIR/slurm.conf; munge's socket is named
# in that file. Written for Slurm 22.05 in a container: no cgroups
# (proctrack/linuxproc, task/none), no accounting daemon.
set -euo pipefail

usage() {
  sed -n '6,8p' "$0" >&2
  exit 2
}
[ $# -ge 2 ] || usage
cmd=$1
dir=$(realpath -m "$2")

conf="$dir/slurm.conf"

env_lines() {
  echo "export SLURM_CONF=$conf"
}

stop() {
  [ -f "$conf" ] || return 0
  export SLURM_CONF=$conf
  # Running jobs outlive slurmd: cancel them first, and wait for them to go.
  if [ -f "$dir/slurmctld.pid" ] && kill -0 "$(cat "$dir/slurmctld.pid")" 2>/dev/null; then
    scancel --full --signal=KILL --user="$(id -un)" 2>/dev/null || true
    for _ in $(seq 1 50); do
      [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
      sleep 0.1
    done
  fi
  for daemon in slurmd slurmctld munged; do
    local pidfile="$dir/$daemon.pid"
    [ -f "$pidfile" ] || continue
    local pid
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
  done
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
  local cpus=${1:-$(nproc)}
  for exe in munged slurmctld slurmd sbatch squeue scontrol sinfo; do
    command -v "$exe" >/dev/null || {
      echo "error: $exe not found: install Slurm (apt-get install --no-install-recommends slurm-wlm)" >&2
      exit 1
    }
  done
  stop
  mkdir -p "$dir"/{munge,state,spool,log}
  # munged needs o+x on every directory above its socket.
  chmod 755 "$dir" "$dir/munge"
  local d=$dir
  while [ "$d" != / ]; do
    d=$(dirname "$d")
    [ -w "$d" ] && [ "$d" != / ] && chmod o+x "$d" 2>/dev/null || true
  done
  local key="$dir/munge/munge.key"
  [ -f "$key" ] || { head -c 1024 /dev/urandom >"$key"; chmod 400 "$key"; }
  local socket="$dir/munge/munge.socket"
  munged --force --key-file="$key" --socket="$socket" --pid-file="$dir/munged.pid" \
    --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed"
  local host user
  host=$(hostname -s)
  user=$(id -un)
  cat >"$conf" <<EOF
ClusterName=lsmc-local
SlurmctldHost=$host
SlurmUser=$user
SlurmdUser=$user
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerParameters=batch_sched_delay=0
DependencyParameters=kill_invalid_depend
SlurmdParameters=config_overrides
MpiDefault=none
ReturnToService=2
MailProg=/bin/true
MinJobAge=300
NodeName=$host CPUs=$cpus State=UNKNOWN
PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF=$conf
  slurmctld -f "$conf" -i
  slurmd -f "$conf"
  for _ in $(seq 1 300); do
    if sinfo -h -o %T 2>/dev/null | grep -qx idle; then
      env_lines
      return 0
    fi
    sleep 0.1
  done
  echo "error: the local Slurm node did not become idle in 30 s; logs in $dir/log" >&2
  tail -5 "$dir"/log/*.log >&2 || true
  stop
  exit 1
}

case $cmd in
  start) start "${3:-}" ;;
  stop) stop ;;
  env) env_lines ;;
  *) usage ;;
esac
