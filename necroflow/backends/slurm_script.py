"""SLURM job scripts and sbatch options: pure functions of a task, no I/O.

Constraints (already normalised by :mod:`necroflow.constraints`) map onto sbatch options;
the job script runs the shared shell runner (:mod:`necroflow.backends.shell`, embedded)
on the node and writes an exit record into the node's record folder.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from necroflow.backends import shell
from necroflow.backends.base import Task
from necroflow.resources import parse_resource

JOB_SCRIPT = "slurm-job.sh"
EXIT_RECORD = "slurm-exit.json"
#: ``%j`` is replaced by SLURM with the job id.
SCHEDULER_OUTPUT = "slurm-%j.out"

#: States in which a job may still write its exit record (``squeue --states=all`` names).
ALIVE_STATES = frozenset(
    {
        "PENDING",
        "CONFIGURING",
        "RUNNING",
        "COMPLETING",
        "SUSPENDED",
        "REQUEUED",
        "REQUEUE_FED",
        "REQUEUE_HOLD",
        "RESIZING",
        "SIGNALING",
        "STAGE_OUT",
        "STOPPED",
        "RESV_DEL_HOLD",
        "SPECIAL_EXIT",
    }
)
#: Final states in which SLURM killed the job: its script cannot have written a record,
#: so the backend reports it after a short grace instead of waiting for slow filesystems.
KILLED_STATES = frozenset(
    {"CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE"}
)
STATE_TEXT = {
    "CANCELLED": "was cancelled (scancel by a user or an administrator)",
    "TIMEOUT": "was killed by SLURM at its time limit",
    "OUT_OF_MEMORY": "was killed by SLURM for exceeding its memory request",
    "NODE_FAIL": "was lost when its node failed",
    "PREEMPTED": "was preempted",
    "BOOT_FAIL": "could not start because its node failed to boot",
    "DEADLINE": "missed its deadline",
    "COMPLETED": "ended",
    "FAILED": "failed",
}
# sbatch errors worth a retry: slurmctld busy or briefly unreachable.
TRANSIENT = ("temporarily unavailable", "timed out", "try again", "unable to contact", "socket")


# ----------------------------------------------------------------------------------------


def format_slurm_time(value: Any) -> str:
    """Turn a ``time`` constraint into an sbatch ``--time`` value.

    Numbers are seconds (SLURM rounds them up to whole minutes); strings are passed on as
    SLURM time formats (``"90"`` minutes, ``"1:30:00"``, ``"2-00:00:00"``).
    """
    if isinstance(value, bool):
        raise ValueError(f"invalid time constraint {value!r}: give seconds or a SLURM time string")
    if isinstance(value, int | float):
        if value <= 0 or value != value:
            raise ValueError(f"invalid time constraint {value!r}: must be a positive number of seconds")
        total = math.ceil(value)
        days, rest = divmod(total, 86400)
        hours, rest = divmod(rest, 3600)
        minutes, seconds = divmod(rest, 60)
        return f"{days}-{hours:02d}:{minutes:02d}:{seconds:02d}"
    if isinstance(value, str) and value.strip() and all(c.isdigit() or c in ":-" for c in value.strip()):
        return value.strip()
    raise ValueError(
        f"invalid time constraint {value!r}: give seconds (e.g. 3600) or a SLURM time string "
        "such as '60' (minutes), '1:00:00' or '1-00:00:00'"
    )


def mem_megabytes(ram: Any) -> int:
    """Bytes -> SLURM megabytes (SLURM's M is 1024² bytes), rounded up so a job never gets less."""
    amount = parse_resource(ram)
    return max(1, math.ceil(amount / 1024**2))


def _as_args(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError(f"invalid {what} {value!r}: give a string or a list of strings")


def sbatch_options(
    constraints: Mapping[str, Any],
    *,
    partition: str | None = None,
    account: str | None = None,
    extra_args: Iterable[str] = (),
) -> list[str]:
    """Map necroflow constraints onto sbatch options.

    ``threads`` -> ``--cpus-per-task``; ``ram`` (bytes) -> ``--mem`` in megabytes, rounded
    up; ``time`` -> ``--time``; ``partition``/``account``/``qos`` (constraint wins over the
    backend default); ``gpus`` -> ``--gpus``; ``sbatch_args`` (string or list) is appended
    last, after the backend's ``extra_args``, so a rule can override a site default.  Other
    keys are scheduling hints for the local run loop and are not sent to SLURM.
    """
    opts = ["--nodes=1", "--ntasks=1"]
    threads = constraints.get("threads")
    if threads is not None:
        n = int(threads)
        if n < 1:
            raise ValueError(f"invalid threads constraint {threads!r}: must be at least 1")
        opts.append(f"--cpus-per-task={n}")
    ram = constraints.get("ram")
    if ram:  # 0 means "no request"; sbatch --mem=0 would mean "all memory of the node"
        opts.append(f"--mem={mem_megabytes(ram)}M")
    if constraints.get("time") is not None:
        opts.append(f"--time={format_slurm_time(constraints['time'])}")
    part = constraints.get("partition") or partition
    if part:
        opts.append(f"--partition={part}")
    acct = constraints.get("account") or account
    if acct:
        opts.append(f"--account={acct}")
    if constraints.get("qos"):
        opts.append(f"--qos={constraints['qos']}")
    if constraints.get("gpus"):
        opts.append(f"--gpus={int(constraints['gpus'])}")
    opts.extend(extra_args)
    opts.extend(_as_args(constraints.get("sbatch_args"), "sbatch_args constraint"))
    return opts


# The runner used when the node has Python is the shared shell runner (backends/shell.py),
# embedded whole: it measures CPU time and peak RSS with wait4() and writes the exit record.
# SIGTERM from SLURM is forwarded to the command's group; such a job leaves no exit record,
# and the poller reads the reason from squeue instead.
_PY_RUNNER = Path(shell.__file__).read_text()

# The fallback when no Python is found on the node: POSIX sh, CPU time from `times`, no RSS.
_SH_RUNNER = r"""
start=$(date +%s.%N)
/bin/sh -c "$command" >>"$log" 2>&1 </dev/null
code=$?
end=$(date +%s.%N)
tmp="$rip/.slurm-exit.json.$$.tmp"
times >"$tmp"  # a builtin with a redirect runs in this shell; in a pipe it would see no children
cpu=$(awk 'NR==2 { t = 0; for (i = 1; i <= NF; i++) { split($i, p, "m"); sub("s", "", p[2]); t += p[1] * 60 + p[2] }; print t }' "$tmp")
printf '{"returncode": %s, "signal": null, "start": %s, "end": %s, "wall": %s, "cpu": %s, "max_rss": null, "host": "%s", "job_id": "%s"}\n' \
  "$code" "$start" "$end" "$(awk "BEGIN { print $end - $start }")" "${cpu:-null}" "$(uname -n)" "${NECROFLOW_SLURM_ID:-$SLURM_JOB_ID}" >"$tmp"
mv -f "$tmp" "$rip/slurm-exit.json"
exit "$code"
"""


def job_script(job: Task, options: Sequence[str], python: str | None) -> str:
    """The batch script for ``job``: cd into the node folder, run, write the exit record.

    ``python`` is tried first (then ``python3`` on the node's PATH) so CPU time and peak RSS
    can be measured; without any Python the script falls back to plain sh.
    """
    q = shlex.quote
    lines = [
        "#!/bin/sh",
        f"# necroflow job {job.key}, written by necroflow's SLURM backend.",
        f"# submitted with: sbatch {' '.join(q(o) for o in options)} {q(str(job.rip / JOB_SCRIPT))}",
        f"# The command's output goes to {job.log_path.name}; the exit record to {EXIT_RECORD}.",
        f"cd {q(str(job.workdir))} || exit 97",
        f"rip={q(str(job.rip))}",
        f"log={q(str(job.log_path))}",
        f"command={q(job.command)}",
    ]
    candidates = [p for p in (python, "python3") if p]
    if python is not None:
        lines += [
            f"for py in {' '.join(q(c) for c in candidates)}; do",
            '  if command -v "$py" >/dev/null 2>&1; then',
            "    exec \"$py\" - \"$PWD\" \"$log\" \"$rip/slurm-exit.json\" \"$command\" <<'NECROFLOW_RUNNER'",
            _PY_RUNNER.strip("\n"),
            "NECROFLOW_RUNNER",
            "  fi",
            "done",
        ]
    lines.append(_SH_RUNNER.strip("\n"))
    return "\n".join(lines) + "\n"


def parse_squeue(text: str) -> dict[str, tuple[str, str]]:
    """``squeue -o '%i|%T|%r'`` lines -> {job id: (state, reason)}."""
    states: dict[str, tuple[str, str]] = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) >= 2 and parts[0]:
            states[parts[0]] = (parts[1].strip().upper(), parts[2].strip() if len(parts) > 2 else "")
    return states


def last_lines(path: Path, lines: int = 2) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:] if line.strip())
