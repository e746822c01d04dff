#!/usr/bin/env bash
# Start necroflow's single-node SLURM test cluster on loopback (Debian 12, run as root, no systemd).
#
#   STATE=/some/dir scripts/slurm-up.sh     # default STATE: ${TMPDIR:-/tmp}/necroflow-slurm
#   CPUS=8 scripts/slurm-up.sh              # advertise more CPUs than nproc (default: nproc)
#
# - installs slurmctld slurmd slurm-client munge from apt when one is missing;
# - writes /etc/slurm/slurm.conf (global: SLURM's clients read it from there) with every
#   spool, log and pid file under $STATE;
# - starts munged, slurmctld and slurmd unless they already answer, waits until the node is
#   idle, and records in $STATE/run/<daemon>.pid only the daemons this script started, so
#   scripts/slurm-down.sh stops exactly those.
# Idempotent: a second call with the cluster up returns in well under a second.
set -euo pipefail

STATE=${STATE:-${TMPDIR:-/tmp}/necroflow-slurm}
PKGS="slurmctld slurmd slurm-client munge"
RUN="$STATE/run"
now_ms() { date +%s%3N; }
say() { echo "slurm-up: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }
t0=$(now_ms)

[ "$(id -u)" = 0 ] || die "must run as root (it installs packages and starts system daemons)"

missing=""
for p in $PKGS; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"; done
if [ -n "$missing" ]; then
  say "installing$missing from apt"
  apt-get update -qq || die "apt-get update failed; check network access to the Debian mirror"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null \
    || die "apt-get install$missing failed"
fi
t1=$(now_ms)

mkdir -p "$STATE"/spool/ctld "$STATE"/spool/d "$STATE"/log "$RUN" /etc/slurm

# Wait up to $2 tenths of a second for the command in $1 to succeed.
wait_for() { local i; for i in $(seq 1 "${2:-100}"); do eval "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }
# A recorded daemon counts as ours only if the pid is alive and still runs that program.
ours_alive() {
  local f="$RUN/$1.pid" pid
  [ -s "$f" ] || return 1
  pid=$(cat "$f")
  kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ]
}

# --- config: written only when it changes, so a second call does not disturb a running cluster ---
HOST=$(hostname -s)
# CPUS may exceed the real core count (e.g. CPUS=8 for throughput tests of many tiny jobs);
# slurmd then needs config_overrides to accept a node bigger than the hardware it detects.
CPUS=${CPUS:-$(nproc)}
OVERRIDE=""
[ "$CPUS" -gt "$(nproc)" ] && OVERRIDE="SlurmdParameters=config_overrides"
REAL_MB=$(slurmd -C | grep -o 'RealMemory=[0-9]*' | cut -d= -f2)
MEM=$(( REAL_MB * 9 / 10 ))
conf=$(mktemp)
trap 'rm -f "$conf"' EXIT
cat > "$conf" <<EOF
# Written by necroflow scripts/slurm-up.sh (STATE=$STATE): a single-node test cluster.
ClusterName=necroflow
SlurmctldHost=${HOST}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# Finished jobs stay visible to 'squeue --states=all' for 10 minutes (necroflow reads final states there).
MinJobAge=600
KillWait=2
OverTimeLimit=0
InactiveLimit=0
ReturnToService=2
SchedulerType=sched/backfill
${OVERRIDE}
# Schedule pending jobs as soon as resources free up (the default waits up to 3 s between passes).
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
MailProg=/bin/true
StateSaveLocation=$STATE/spool/ctld
SlurmdSpoolDir=$STATE/spool/d
SlurmctldPidFile=$STATE/spool/slurmctld.pid
SlurmdPidFile=$STATE/spool/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
NodeName=${HOST} NodeAddr=127.0.0.1 CPUs=${CPUS} RealMemory=${MEM} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE DefMemPerCPU=512 State=UP
EOF
conf_changed=0
if ! cmp -s "$conf" /etc/slurm/slurm.conf; then
  # Daemons we started restart on the new config (a node's CPU count needs a fresh slurmd);
  # anyone else's are asked to reread it.
  if ours_alive slurmctld || ours_alive slurmd; then STATE="$STATE" "$(dirname "$0")/slurm-down.sh"; fi
  install -m 644 "$conf" /etc/slurm/slurm.conf
  conf_changed=1
fi

# --- munge: one key, daemon runs as the munge user (it refuses root without --force) ---
if [ ! -s /etc/munge/munge.key ]; then
  mkdir -p /etc/munge
  head -c 1024 /dev/urandom > /etc/munge/munge.key
fi
chown -R munge:munge /etc/munge && chmod 400 /etc/munge/munge.key
mkdir -p /run/munge /var/lib/munge /var/log/munge
chown munge:munge /run/munge /var/lib/munge /var/log/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  rm -f /run/munge/munged.pid
  runuser -u munge -- /usr/sbin/munged
  wait_for "test -s /run/munge/munged.pid" || die "munged did not start; see /var/log/munge/munged.log"
  cp /run/munge/munged.pid "$RUN/munged.pid"
  wait_for "munge -n | unmunge" || die "munge credentials do not round-trip; see /var/log/munge/munged.log"
fi

ctld_up() { scontrol ping 2>/dev/null | grep -q 'is UP'; }
node_state() { sinfo -h -N -n "$HOST" -o %T 2>/dev/null | head -n1; }

# --- slurmctld ---
if ctld_up; then
  if [ "$conf_changed" = 1 ]; then scontrol reconfigure || die "scontrol reconfigure failed"; fi
else
  rm -f "$STATE/spool/slurmctld.pid"
  /usr/sbin/slurmctld -c   # -c: start from a clean job state
  wait_for ctld_up 150 || die "slurmctld did not answer 'scontrol ping'; see $STATE/log/slurmctld.log"
  cp "$STATE/spool/slurmctld.pid" "$RUN/slurmctld.pid"
fi

# --- slurmd ---
if ! ours_alive slurmd && ! pgrep -x slurmd >/dev/null; then
  rm -f "$STATE/spool/slurmd.pid"
  /usr/sbin/slurmd
  wait_for "test -s '$STATE/spool/slurmd.pid'" || die "slurmd did not start; see $STATE/log/slurmd.log"
  cp "$STATE/spool/slurmd.pid" "$RUN/slurmd.pid"
fi

# --- wait until the node takes jobs ---
if ! wait_for '[[ "$(node_state)" =~ ^(idle|mixed|allocated) ]]' 100; then
  scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true
  wait_for '[[ "$(node_state)" =~ ^(idle|mixed|allocated) ]]' 100 \
    || die "node $HOST is '$(node_state)', not idle; see $STATE/log/slurmd.log and $STATE/log/slurmctld.log"
fi
t2=$(now_ms)
started=$(cd "$RUN" && for f in *.pid; do [ -e "$f" ] && printf '%s=%s ' "${f%.pid}" "$(cat "$f")"; done; true)
say "cluster up on $HOST ($CPUS CPUs, ${MEM} MB): install $((t1 - t0)) ms, start $((t2 - t1)) ms; ours: ${started:-none}"
