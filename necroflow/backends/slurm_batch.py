"""Many SLURM jobs in few submissions: job arrays, and groups of short jobs in one allocation.

A cluster chokes on one ``sbatch`` per job long before it runs out of nodes: each submission
costs controller time, sites cap how many jobs a user may queue, and starting a job costs
seconds.  So ready jobs that arrive together are batched:

* **arrays**: jobs of one rule with the same sbatch options go out as one ``sbatch --array``
  (in chunks of ``array_size``, with an optional ``%throttle``).  Task *i* runs the *i*-th job
  script of a small task file; every job keeps its own script, log and exit record.
* **groups**: jobs of one rule with ``group="name"`` (or all jobs, with ``group_size``) are
  packed, up to ``group_size`` at a time, into ONE allocation whose runner starts them in
  parallel on the allocation's CPUs, each in its own process group with its own record; a
  failure fails that job only.

Each job is tracked under the id its exit record names (``123``, ``123_4`` for an array
task, ``gTAG+4`` for a group member: the runner's own tag, since the
task file is written before SLURM gives the allocation its id) and watched through the id ``squeue -r`` shows for it
(``123``, ``123_4``, ``123``).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from necroflow.backends.base import Task

ARRAY_TASKS = "slurm-array.tasks"
GROUP_TASKS = "slurm-group.tasks"


@dataclass
class Batch:
    kind: str  # single | array | group
    tasks: list[Task]
    options: list[str]  # the sbatch options the jobs share (resources, partition, ...)
    group: str = ""
    ids: list[str] = field(default_factory=list)  # filled in when submitted


DEFAULT_GROUP_SIZE = 100  # members of a named group per allocation, when group_size is not given


def batches(tasks: Iterable[tuple[Task, list[str]]], array_size: int, group_size: int) -> list[Batch]:
    """Split (task, its sbatch options) into singles, arrays and groups, keeping their order.

    Only jobs with the same options share an array or a group, so one allocation's
    resources fit every member.
    """
    open_batches: dict[tuple[str, ...], Batch] = {}
    out: list[Batch] = []
    for task, options in tasks:
        named = task.constraints.get("group")
        if named or group_size > 1:
            limit = group_size if group_size > 1 else DEFAULT_GROUP_SIZE
            key: tuple[str, ...] = ("group", str(named or task.rule), *options)
            kind, label = "group", str(named or task.rule)
        elif array_size > 1:
            limit, key, kind, label = array_size, ("array", task.rule, *options), "array", ""
        else:
            out.append(Batch("single", [task], options))
            continue
        b = open_batches.get(key)
        if b is None or len(b.tasks) >= limit:
            b = open_batches[key] = Batch(kind, [], options, label)
            out.append(b)
        b.tasks.append(task)
    for b in out:  # an array of one is a plain job (a group of one keeps its runner: same shape)
        if b.kind == "array" and len(b.tasks) == 1:
            b.kind = "single"
    return out


def array_script(task_file: Path) -> str:
    """The batch script of an array: task *i* runs the job script on line *i* + 1."""
    q = shlex.quote
    return "\n".join([
        "#!/bin/sh",
        "# necroflow job array: each task runs one necroflow job's own script.",
        f'script=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" {q(str(task_file))})',
        '[ -n "$script" ] || { echo "necroflow: no job for array task $SLURM_ARRAY_TASK_ID" >&2; exit 97; }',
        'id="${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"',
        '# the task\'s own SLURM output goes with its job\'s records, as for a job of its own',
        'NECROFLOW_SLURM_ID="$id" exec /bin/sh "$script" >"$(dirname "$script")/slurm-$id.out" 2>&1',
    ]) + "\n"


# The group runner: members in parallel on the allocation's CPUs, each in its own session
# (process group), each writing its own exit record through its own job script.  SLURM's
# SIGTERM is forwarded to every running member, whose own runner forwards it to its command.
_GROUP_RUNNER = r'''
import os, signal, subprocess, sys
def forward(signum, frame):  # each member is its own session: pass SLURM's SIGTERM on to them
    del members[:]  # cancelled or out of time: no waiting member may start now
    stopped.append(signum)
    for pid in running:
        try:
            os.killpg(pid, signum)
        except OSError:
            pass
signal.signal(signal.SIGTERM, forward)
cpus = int(os.environ.get("SLURM_CPUS_PER_TASK") or os.environ.get("SLURM_CPUS_ON_NODE") or 1)
members = [line.split("\t", 2) for line in open(sys.argv[1]).read().splitlines() if line]
free, running, stopped = cpus, {}, []
while members or running:
    while members and (free >= min(int(members[0][0]), cpus) or not running):
        threads, ident, script = members.pop(0)
        need = min(int(threads), cpus)
        env = dict(os.environ, NECROFLOW_SLURM_ID=ident)
        out = open(os.path.join(os.path.dirname(script), "slurm-%s.out" % ident), "ab")
        proc = subprocess.Popen(["/bin/sh", script], env=env, start_new_session=True, stdout=out, stderr=out)
        out.close()
        running[proc.pid] = (proc, need)
        if stopped:  # the signal came while this one was starting
            os.killpg(proc.pid, stopped[0])
        free -= need
    pid, _ = os.wait()
    if pid in running:
        proc, need = running.pop(pid)
        proc.returncode = 0
        free += need
'''


def group_script(task_file: Path, python: str | None) -> str:
    q = shlex.quote
    py = " ".join(q(p) for p in (python, "python3") if p)
    return "\n".join([
        "#!/bin/sh",
        "# necroflow job group: the runner starts every member job in parallel on this allocation.",
        f"for py in {py}; do",
        '  if command -v "$py" >/dev/null 2>&1; then',
        f"    exec \"$py\" - {q(str(task_file))} <<'NECROFLOW_GROUP'",
        _GROUP_RUNNER.strip("\n"),
        "NECROFLOW_GROUP",
        "  fi",
        "done",
        'echo "necroflow: a job group needs Python on the node" >&2; exit 97',
    ]) + "\n"


def group_lines(tasks: list[Task], scripts: list[Path], group_id: str) -> str:
    """The group's task file: threads, the member's record id, its job script, per line."""
    return "".join(f"{int(t.constraints.get('threads', 1))}\t{group_id}+{i}\t{s}\n"
                   for i, (t, s) in enumerate(zip(tasks, scripts, strict=True)))


def group_options(batch: Batch, group_cpus: int | None) -> list[str]:
    """A group's allocation.  Its members share their options; with ``group_cpus`` the
    allocation gets that many CPUs (and memory for as many members at once) and the runner
    runs members side by side, else one at a time on one member's CPUs.  Its time is the
    members' time for as many rounds as the members need."""
    threads = int(batch.tasks[0].constraints.get("threads", 1))
    parallel = max(1, (group_cpus or threads) // threads)
    rounds = -(-len(batch.tasks) // parallel)
    out = []
    for opt in batch.options:
        if group_cpus and opt.startswith("--cpus-per-task="):
            opt = f"--cpus-per-task={max(threads, group_cpus)}"
        elif opt.startswith("--mem=") and parallel > 1:
            opt = f"--mem={int(opt[6:-1]) * parallel}M"
        elif opt.startswith("--time="):
            seconds = batch.tasks[0].constraints.get("time")
            if isinstance(seconds, int):
                opt = f"--time={slurm_time(seconds * rounds)}"
        out.append(opt)
    return out


def slurm_time(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days}-{hours:02d}:{minutes:02d}:{secs:02d}"
