"""The SLURM test cluster for the slurm scenario, and its floor: one bare ``sbatch --array``.

A cluster that already answers ``scontrol ping`` is used as it is (other work may share it:
its configuration is never rewritten, since ``scripts/slurm-up.sh`` with another CPU count
restarts the daemons under whoever is using them).  Otherwise ``scripts/slurm-up.sh`` (as
root) starts one, and ``scripts/slurm-down.sh`` stops it again at the end.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .config import REPO
from .measure import output, progress

UP = REPO / "scripts" / "slurm-up.sh"
DOWN = REPO / "scripts" / "slurm-down.sh"

#: The floor's array job: task I runs line I of commands.txt, in sh, as necroflow's jobs do.
FLOOR_SCRIPT = """#!/bin/sh
# bench/run.py's SLURM floor: array task I runs line I of the commands file.
cmd=$(sed -n "${SLURM_ARRAY_TASK_ID}p" commands.txt)
exec /bin/sh -c "$cmd"
"""

#: Submits the array and returns once it has left the queue.  Not ``sbatch --wait``: that
#: polls 2, 4, 6, 8, then every 10 s, and returned at 42 s for 200 tasks that were all done
#: at 20.6 s; a 0.2 s ``squeue`` poll costs the floor at most 0.2 s.
FLOOR_RUN = """#!/bin/sh
jid=$(sbatch --parsable {options} {script}) || exit 1
jid=${{jid%%;*}}
while :; do
  out=$(squeue -h -o %i -j "$jid" 2>&1) || case $out in *nvalid*) break ;; *) sleep 0.2; continue ;; esac
  [ -z "$out" ] && break
  sleep 0.2
done
"""


@dataclass
class Cluster:
    """The cluster the scenario runs on: whether we started it, its CPUs, others' jobs."""

    started: bool
    cpus: str
    queued_at_start: int

    def describe(self) -> str:
        how = "started by bench/run.py" if self.started else "already up, used as found"
        return (
            f"one-node SLURM cluster ({how}): {self.cpus} CPUs, "
            f"{self.queued_at_start} job(s) of others in the queue at the start"
        )

    def release(self) -> None:
        if self.started:
            progress("slurm: stopping the cluster bench/run.py started (scripts/slurm-down.sh)")
            subprocess.run([str(DOWN)], capture_output=True, text=True, timeout=120)


def answers() -> bool:
    if shutil.which("scontrol") is None:
        return False
    return "is UP" in output(["scontrol", "ping"])


def ensure(cpus: int | None) -> Cluster | str:
    """A running cluster, or why there is none (the scenario's cells say "skipped: ...")."""
    started = False
    if not answers():
        if os.geteuid() != 0:
            return "no SLURM cluster answers and starting one needs root (scripts/slurm-up.sh)"
        env = dict(os.environ)
        if cpus:
            env["CPUS"] = str(cpus)
        progress("slurm: starting the test cluster with scripts/slurm-up.sh")
        proc = subprocess.run([str(UP)], capture_output=True, text=True, env=env, timeout=900)
        if proc.returncode != 0:
            tail = " ".join(proc.stderr.strip().splitlines()[-3:])
            return f"scripts/slurm-up.sh failed (exit {proc.returncode}): {tail}"
        started = True
    node_cpus = output(["sinfo", "-h", "-N", "-o", "%c"]).split()
    queued = output(["squeue", "-h", "-o", "%i"]).split()
    return Cluster(started, node_cpus[0] if node_cpus else "?", len(queued))


def write_floor(base: Path, n: int) -> list[str]:
    """N trivial commands, one per line, and argv running them as one bare array job.

    Each task writes its number into its own folder, like the trivial workload's jobs.
    """
    base.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n):
        d = base / "trivial" / f"{i:06d}"
        d.mkdir(parents=True, exist_ok=True)
        lines.append(f"echo {i} > {shlex.quote(str(d / 'out.txt'))}")
    (base / "commands.txt").write_text("\n".join(lines) + "\n")
    options = f"--array=1-{n} --job-name=bench-floor --nodes=1 --ntasks=1 --cpus-per-task=1"
    options += f" --chdir={shlex.quote(str(base))} --output=/dev/null"
    run = FLOOR_RUN.format(options=options, script=shlex.quote(str(base / "floor.sh")))
    for name, text in (("floor.sh", FLOOR_SCRIPT), ("floor-run.sh", run)):
        (base / name).write_text(text)
        (base / name).chmod(0o755)
    return ["/bin/sh", str(base / "floor-run.sh")]
