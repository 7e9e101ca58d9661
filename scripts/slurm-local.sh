#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for trying lmpipe's sharded
# pipelines under a real batch engine (and for test/engines.test.ts in CI).
#
#   bash scripts/slurm-local.sh start    # install if missing, start munged + slurmctld + slurmd, wait for an idle node
#   bash scripts/slurm-local.sh status   # sinfo, and which daemons this script started
#   bash scripts/slurm-local.sh stop     # stop only the daemons this script started
#
# Needs root (it installs Debian's slurm-wlm and munge with apt when missing,
# writes /etc/munge/munge.key and /etc/slurm/slurm.conf, and runs the daemons
# as root, munged as the munge user). What it took is in
# ../shared/notes/slurm-single-node.md. State, spool, logs and the pids of the
# daemons it started live in $LMPIPE_SLURM_DIR (default /var/lib/lmpipe-slurm).
# A daemon that was already running is used and left alone by `stop`; an
# /etc/slurm/slurm.conf that this script did not write is never replaced.
set -euo pipefail

DIR="${LMPIPE_SLURM_DIR:-/var/lib/lmpipe-slurm}"
CONF=/etc/slurm/slurm.conf
MARK='# written by lmpipe scripts/slurm-local.sh'
WAIT_S="${LMPIPE_SLURM_WAIT_S:-60}"

say() { echo "[slurm-local] $*" >&2; }
die() { say "$*"; exit 1; }

pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# The pid a daemon wrote to its pid file, if that process is alive.
pid_from() {
  local f="$1" p
  [ -f "$f" ] || return 1
  p="$(tr -dc 0-9 <"$f")"
  pid_alive "$p" && echo "$p"
}

install_packages() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
    && command -v munged >/dev/null && command -v unmunge >/dev/null; then
    return 0
  fi
  [ "$(id -u)" = 0 ] || die "slurm-wlm and munge are not installed; as root run: apt-get install slurm-wlm munge"
  command -v apt-get >/dev/null || die "slurm-wlm and munge are not installed and apt-get is not available"
  say "installing slurm-wlm munge (apt)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
}

munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
  if munge_ok; then say "munged already running"; return 0; fi
  if [ ! -s /etc/munge/munge.key ]; then
    say "creating /etc/munge/munge.key"
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /etc/munge /etc/munge/munge.key /run/munge /var/log/munge /var/lib/munge
  chmod 700 /etc/munge /var/log/munge /var/lib/munge
  chmod 755 /run/munge
  chmod 400 /etc/munge/munge.key
  rm -f /run/munge/munged.pid
  runuser -u munge -- /usr/sbin/munged
  local i
  for i in $(seq 50); do
    if munge_ok; then
      pid_from /run/munge/munged.pid >"$DIR/munged.started" || die "munged runs but wrote no pid file"
      say "munged started (pid $(cat "$DIR/munged.started"))"
      return 0
    fi
    sleep 0.1
  done
  die "munged did not come up: munge -n | unmunge fails (log: /var/log/munge/munged.log)"
}

write_conf() {
  local host cpus mem_mb real
  host="$(hostname -s)"
  cpus="$(nproc)"
  mem_mb="$(awk '/MemTotal/ { print int($2 / 1024) }' /proc/meminfo)"
  real=$(( mem_mb * 9 / 10 ))
  if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
    say "$CONF exists and was not written by this script: using it as it is"
    return 0
  fi
  mkdir -p /etc/slurm "$DIR/state" "$DIR/spool" "$DIR/log"
  cat >"$CONF.tmp" <<EOF
$MARK (single node: $host)
ClusterName=lmpipe
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=10
MinJobAge=300
MaxArraySize=1001
NodeName=$host CPUs=$cpus RealMemory=$real State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  mv "$CONF.tmp" "$CONF"
}

node_state() { sinfo -h -N -o '%T' 2>/dev/null | head -1; }

start_slurm() {
  local p
  if p="$(pid_from "$DIR/slurmctld.pid")" || pgrep -x slurmctld >/dev/null; then
    say "slurmctld already running"
  else
    slurmctld -c   # -c: start with no jobs from an earlier run of this local cluster
    for _ in $(seq 50); do p="$(pid_from "$DIR/slurmctld.pid")" && break; sleep 0.1; done
    [ -n "${p:-}" ] || die "slurmctld did not start (log: $DIR/log/slurmctld.log)"
    echo "$p" >"$DIR/slurmctld.started"
    say "slurmctld started (pid $p)"
  fi
  p=''
  if p="$(pid_from "$DIR/slurmd.pid")" || pgrep -x slurmd >/dev/null; then
    say "slurmd already running"
  else
    slurmd
    for _ in $(seq 50); do p="$(pid_from "$DIR/slurmd.pid")" && break; sleep 0.1; done
    [ -n "${p:-}" ] || die "slurmd did not start (log: $DIR/log/slurmd.log)"
    echo "$p" >"$DIR/slurmd.started"
    say "slurmd started (pid $p)"
  fi
  local state='' t0=$SECONDS
  while (( SECONDS - t0 < WAIT_S )); do
    state="$(node_state)"
    case "$state" in
      idle|mixed|allocated) say "node $(hostname -s) is $state (sinfo)"; return 0 ;;
      down*|drain*) scontrol update nodename="$(hostname -s)" state=resume >/dev/null 2>&1 || true ;;
    esac
    sleep 0.5
  done
  die "the node is not idle after ${WAIT_S}s (sinfo: ${state:-no answer}; logs in $DIR/log)"
}

stop_started() {
  local name f p
  for name in slurmd slurmctld munged; do
    f="$DIR/$name.started"
    [ -f "$f" ] || continue
    p="$(tr -dc 0-9 <"$f")"
    rm -f "$f"
    if pid_alive "$p" && [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$name" ]; then
      kill -TERM "$p"
      for _ in $(seq 100); do pid_alive "$p" || break; sleep 0.1; done
      if pid_alive "$p"; then kill -KILL "$p" 2>/dev/null || true; fi
      say "stopped $name (pid $p)"
    fi
  done
}

case "${1:-}" in
  start)
    [ "$(id -u)" = 0 ] || die "run as root (the daemons and their config need it)"
    install_packages
    mkdir -p "$DIR"
    start_munge
    write_conf
    start_slurm
    ;;
  stop)
    stop_started
    ;;
  status)
    sinfo 2>&1 || true
    for name in munged slurmctld slurmd; do
      [ -f "$DIR/$name.started" ] && echo "started by this script: $name (pid $(cat "$DIR/$name.started"))"
    done
    exit 0
    ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
