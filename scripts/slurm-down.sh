#!/usr/bin/env bash
# Stop exactly the daemons scripts/slurm-up.sh started (pids recorded in $STATE/run), nothing else.
#
#   STATE=/some/dir scripts/slurm-down.sh   # default STATE: ${TMPDIR:-/tmp}/necroflow-slurm
#
# A pid is signalled only while it still runs the program it was recorded for, so a recycled pid
# is never hit. Daemons stop in reverse start order; SIGKILL follows SIGTERM after 5 s.
set -uo pipefail

STATE=${STATE:-${TMPDIR:-/tmp}/necroflow-slurm}
RUN="$STATE/run"

stop_one() {
  local name=$1 f="$RUN/$1.pid" pid i
  [ -s "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]; then
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null; echo "slurm-down: killed $name ($pid) after 5 s" >&2
    else echo "slurm-down: stopped $name ($pid)" >&2; fi
  fi
  rm -f "$f"
}

for d in slurmd slurmctld munged; do stop_one "$d"; done
