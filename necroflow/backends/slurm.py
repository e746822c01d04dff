"""Run jobs as SLURM batch jobs; completion is read from the shared filesystem.

Why this shape:

* Asking the scheduler about each job (``sacct``/``scontrol`` per job) does not scale and
  ``sacct`` needs slurmdbd, which many small clusters lack.  Instead the job script itself
  writes an exit record (return code, times, host, CPU time, peak RSS) into the node's
  ``.rip/`` with an atomic rename, and the backend just looks for that file.
* One ``squeue`` call per poll interval, for all jobs at once, tells which jobs are still
  alive.  A job that left the queue without writing its record was killed from outside
  (time limit, ``scancel``, node failure, out of memory): it is reported as a failure that
  names the SLURM job id and the final state SLURM gives for it.
* Submission runs on its own thread with a rate limit, so ``submit`` returns at once and a
  big fan-out cannot flood ``slurmctld``.

Every file this backend writes lives in the node's ``.rip/``: the job script
(``slurm-job.sh``), SLURM's own output (``slurm-<jobid>.out``) and the exit record
(``slurm-exit.json``).  The command's stdout and stderr are appended to ``job.log``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import pwd
import queue
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from necroflow.backends import shell
from necroflow.backends.base import Backend, Task, TaskResult
from necroflow.resources import parse_resource

log = logging.getLogger("necroflow.backends.slurm")

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
_STATE_TEXT = {
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
_TRANSIENT = ("temporarily unavailable", "timed out", "try again", "unable to contact", "socket")


class SlurmError(RuntimeError):
    """A SLURM command failed in a way the user has to fix (bad option, no controller)."""


# ----------------------------------------------------------------------------------------
# Pure helpers: constraint mapping and the job script.  Kept free of I/O so they are easy to
# test and to reason about.
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
# It deliberately does not catch SIGTERM: a job killed by SLURM leaves no exit record, and
# the poller reads the reason from squeue instead.
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
  "$code" "$start" "$end" "$(awk "BEGIN { print $end - $start }")" "${cpu:-null}" "$(uname -n)" "$SLURM_JOB_ID" >"$tmp"
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


# ----------------------------------------------------------------------------------------
# The backend
# ----------------------------------------------------------------------------------------


@dataclass
class _Tracked:
    """A submitted job the poller watches until it reports it."""

    job: Task
    job_id: str
    submitted: float
    gone_since: float | None = None
    last_state: str = ""
    last_reason: str = ""
    cancelled: bool = False


class SlurmBackend(Backend):
    """Submit each job with ``sbatch``; read its end from ``.rip/`` and one ``squeue`` per poll.

    Parameters:
        partition, account: defaults for jobs whose constraints do not name one.
        poll_interval: seconds between looks for exit records and ``squeue`` calls.
        submit_rate: most ``sbatch`` calls per second (protects busy controllers).
        extra_args: extra sbatch options for every job (e.g. ``["--qos=short"]``).
        sbatch, squeue, scancel: the commands to call (site wrappers, absolute paths).
        lost_grace: seconds a job may be gone from the queue before its missing exit record
            counts as a failure; covers NFS attribute caching between nodes.
        python: interpreter the job script tries first on the node for exact CPU/RSS metrics
            (default: this interpreter, then ``python3``); ``None`` uses plain sh only.
    """

    name = "slurm"

    def __init__(
        self,
        partition: str | None = None,
        account: str | None = None,
        poll_interval: float = 1.0,
        submit_rate: float = 10.0,
        extra_args: Sequence[str] = (),
        sbatch: str = "sbatch",
        squeue: str = "squeue",
        scancel: str = "scancel",
        lost_grace: float = 30.0,
        python: str | None = sys.executable,
    ) -> None:
        if poll_interval <= 0:
            raise ValueError(f"poll_interval must be positive seconds, got {poll_interval!r}")
        if submit_rate <= 0:
            raise ValueError(f"submit_rate must be positive jobs per second, got {submit_rate!r}")
        self.partition = partition
        self.account = account
        self.poll_interval = float(poll_interval)
        self.submit_rate = float(submit_rate)
        self.extra_args = list(extra_args)
        self.sbatch = sbatch
        self.squeue = squeue
        self.scancel = scancel
        self.lost_grace = float(lost_grace)
        self.python = python
        self._user = pwd.getpwuid(os.getuid()).pw_name
        self._lock = threading.Lock()
        self._tracked: dict[str, _Tracked] = {}  # SLURM job id -> job
        self._outbox: queue.Queue[Task | None] = queue.Queue()
        self._halt = threading.Event()
        self._cancelling = False
        self._threads: list[threading.Thread] = []

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> SlurmBackend:
        """Build from run settings (``slurm_partition``, ``slurm_account``, ``slurm_poll_interval``,
        ``slurm_submit_rate``, ``slurm_extra_args``); absent keys keep the defaults."""
        kw: dict[str, Any] = {}
        for key, arg in (("slurm_partition", "partition"), ("slurm_account", "account"),
                         ("slurm_poll_interval", "poll_interval"), ("slurm_submit_rate", "submit_rate")):
            if options.get(key) is not None:
                kw[arg] = options[key]
        extra = options.get("slurm_extra_args")
        if extra:
            kw["extra_args"] = shlex.split(extra) if isinstance(extra, str) else list(extra)
        return cls(**kw)

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, events: queue.Queue[TaskResult]) -> None:
        super().start(events)
        self._halt.clear()
        self._cancelling = False
        self._threads = [
            threading.Thread(target=self._submit_loop, name="necroflow-slurm-submit", daemon=True),
            threading.Thread(target=self._poll_loop, name="necroflow-slurm-poll", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def submit(self, job: Task) -> None:
        if not self._threads or self._halt.is_set():
            raise RuntimeError("SlurmBackend.submit called outside start()/stop()")
        self._outbox.put(job)

    def cancel_all(self, grace: float = 0.0) -> None:
        """Drop jobs not yet submitted and ``scancel`` every live one, in one call per 500 ids.

        ``grace`` is accepted for the run loop's sake; SLURM applies its own ``KillWait``
        between SIGTERM and SIGKILL.
        """
        with self._lock:
            self._cancelling = True
            ids = [jid for jid, t in self._tracked.items() if not t.cancelled]
            for jid in ids:
                self._tracked[jid].cancelled = True
        self._drain_outbox("cancelled before it was submitted to SLURM")
        for i in range(0, len(ids), 500):
            self._run([self.scancel, *ids[i : i + 500]], check=False)

    def stop(self) -> None:
        """Stop the threads; jobs still running are cancelled so none runs unwatched."""
        with self._lock:
            live = bool(self._tracked)
        if live or not self._outbox.empty():
            self.cancel_all()
        self._halt.set()
        self._outbox.put(None)
        for t in self._threads:
            t.join(timeout=10)
        self._threads = []

    # -- submission --------------------------------------------------------------------

    def _drain_outbox(self, message: str) -> None:
        while True:
            try:
                job = self._outbox.get_nowait()
            except queue.Empty:
                return
            if job is not None:
                self.events.put(TaskResult(job.key, None, message=message))

    def _submit_loop(self) -> None:
        gap = 1.0 / self.submit_rate
        next_at = 0.0
        while not self._halt.is_set():
            job = self._outbox.get()
            if job is None:
                continue
            if self._cancelling:
                self.events.put(TaskResult(job.key, None, message="cancelled before it was submitted to SLURM"))
                continue
            delay = next_at - time.monotonic()
            if delay > 0 and self._halt.wait(delay):
                self.events.put(TaskResult(job.key, None, message="backend stopped before submission"))
                continue
            if self._cancelling:  # cancel_all ran while this job waited for its turn
                self.events.put(TaskResult(job.key, None, message="cancelled before it was submitted to SLURM"))
                continue
            next_at = time.monotonic() + gap
            try:
                self._submit_one(job)
            except Exception as exc:  # one bad job must not stop the others
                log.debug("submission of %s failed", job.key, exc_info=True)
                self.events.put(TaskResult(job.key, None, message=f"SLURM submission failed: {exc}"))

    def _submit_one(self, job: Task) -> None:
        rip = Path(job.rip)
        rip.mkdir(parents=True, exist_ok=True)
        (rip / EXIT_RECORD).unlink(missing_ok=True)  # a record from an earlier run must not count
        Path(job.log_path).write_bytes(b"")  # the log holds this attempt only, as on the local backend
        output = str(rip).replace("%", "%%") + "/" + SCHEDULER_OUTPUT  # sbatch expands % patterns
        name = "nf-" + job.key.replace("/", "-")
        options = [
            f"--job-name={name}",
            f"--chdir={job.workdir}",
            f"--output={output}",
            *sbatch_options(
                job.constraints, partition=self.partition, account=self.account, extra_args=self.extra_args
            ),
        ]
        script = rip / JOB_SCRIPT
        tmp = rip / f".{JOB_SCRIPT}.tmp"
        tmp.write_text(job_script(job, options, self.python))
        tmp.chmod(0o755)
        os.replace(tmp, script)
        out = self._sbatch([self.sbatch, "--parsable", *options, str(script)], job)
        job_id = out.strip().split(";")[0]  # --parsable prints "id" or "id;cluster"
        if not job_id.isdigit():
            raise SlurmError(f"sbatch printed {out.strip()!r}, expected a job id")
        with self._lock:
            self._tracked[job_id] = _Tracked(job, job_id, time.time())
            cancel_now = self._cancelling
            if cancel_now:
                self._tracked[job_id].cancelled = True
        if cancel_now:  # cancel_all ran while sbatch was in flight
            self._run([self.scancel, job_id], check=False)
        log.debug("submitted %s as SLURM job %s", job.key, job_id)

    def _sbatch(self, argv: list[str], job: Task) -> str:
        delay = 0.5
        for attempt in range(4):
            proc = self._run(argv, check=False)
            if proc.returncode == 0:
                return proc.stdout
            err = (proc.stderr or proc.stdout).strip()
            if attempt < 3 and any(t in err.lower() for t in _TRANSIENT):
                if self._halt.wait(delay):
                    break
                delay *= 2
                continue
            err = err or f"exit code {proc.returncode}"
            raise SlurmError(
                f"sbatch rejected job {job.key} (rule {job.rule}): {err}; "
                f"check its constraints {dict(job.constraints)!r} and the backend's partition/account/"
                f"extra_args; the job script is {job.rip / JOB_SCRIPT}"
            )
        raise SlurmError(f"sbatch for job {job.key} kept failing: {err}")

    def _run(self, argv: list[str], *, check: bool) -> subprocess.CompletedProcess[str]:
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        except FileNotFoundError as exc:
            raise SlurmError(
                f"{argv[0]!r} not found: install the SLURM client tools (Debian: slurm-client) "
                "or pass its path to SlurmBackend"
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise SlurmError(f"{argv[0]} did not answer within 120 s; is slurmctld up?") from exc
        if check and proc.returncode != 0:
            raise SlurmError(f"{' '.join(argv[:2])} failed: {proc.stderr.strip()}")
        return proc

    # -- polling -----------------------------------------------------------------------

    def _poll_loop(self) -> None:
        while not self._halt.wait(self.poll_interval):
            try:
                self._poll_once()
            except Exception:
                log.warning("SLURM poll failed; retrying next interval", exc_info=True)

    def _poll_once(self) -> None:
        """One round: one ``squeue`` for all jobs, then exit records of jobs past PENDING.

        A pending job cannot have written a record, so a long queue costs no filesystem
        lookups; a job that started and ended between two rounds is found one round later.
        """
        with self._lock:
            tracked = list(self._tracked.values())
        if not tracked:
            return
        states = self._queue_states()
        if states is None:  # squeue failed: read records, decide nothing about liveness
            for t in tracked:
                self._collect(t)
            return
        now = time.time()
        for t in tracked:
            state, reason = states.get(t.job_id, ("", ""))
            if state == "PENDING":
                t.gone_since = None
                continue
            if self._collect(t):
                continue
            if state in ALIVE_STATES:
                t.gone_since = None
                continue
            if t.gone_since is None:
                t.gone_since = now
            if state:
                t.last_state, t.last_reason = state, reason
            killed = t.cancelled or t.last_state in KILLED_STATES
            grace = min(self.lost_grace, 2 * self.poll_interval) if killed else self.lost_grace
            if now - t.gone_since >= grace:
                self._report_lost(t)

    def _queue_states(self) -> dict[str, tuple[str, str]] | None:
        try:
            proc = self._run(
                [self.squeue, "--noheader", "--states=all", f"--user={self._user}", "--format=%i|%T|%r"],
                check=False,
            )
        except SlurmError as exc:
            log.warning("%s", exc)
            return None
        if proc.returncode != 0:
            log.warning("squeue failed (exit %d): %s", proc.returncode, proc.stderr.strip())
            return None
        return parse_squeue(proc.stdout)

    def _collect(self, t: _Tracked) -> bool:
        """Report ``t`` if its exit record is there; True when reported."""
        path = Path(t.job.rip) / EXIT_RECORD
        try:
            record = json.loads(path.read_text())
        except FileNotFoundError:
            return False
        except (OSError, ValueError):
            log.debug("unreadable exit record %s; retrying", path, exc_info=True)
            return False
        if str(record.get("job_id")) != t.job_id:
            return False  # left by another submission of this node
        rc, sig = record.get("returncode"), record.get("signal")
        metrics = {k: record.get(k) for k in ("start", "end", "wall", "cpu", "max_rss", "host")}
        metrics.update(job_id=t.job_id, backend=self.name)
        message = shell.describe(record, f"SLURM job {t.job_id} on {record.get('host')}")
        if rc not in (0, None):
            message += f"; see {t.job.log_path}"
        self._finish(t, TaskResult(t.job.key, rc, signal=sig, message=message, metrics=metrics))
        return True

    def _report_lost(self, t: _Tracked) -> None:
        out = Path(t.job.rip) / SCHEDULER_OUTPUT.replace("%j", t.job_id)
        if t.cancelled:
            what = "was cancelled by necroflow (scancel)"
        elif t.last_state:
            what = _STATE_TEXT.get(t.last_state, f"ended in state {t.last_state}")
            if t.last_reason not in ("", "None", "Resources", "Priority") and t.last_state != "CANCELLED":
                what += f" (reason: {t.last_reason})"
        else:
            what = "left the queue"
        message = f"SLURM job {t.job_id} {what} without writing its exit record {EXIT_RECORD}"
        tail = _tail(out)
        if tail:
            message += f"; {out.name} ends with: {tail}"
        else:
            message += f"; see {out}"
        metrics: dict[str, Any] = {"job_id": t.job_id, "end": time.time(), "backend": self.name}
        self._finish(t, TaskResult(t.job.key, None, message=message, metrics=metrics))

    def _finish(self, t: _Tracked, result: TaskResult) -> None:
        with self._lock:
            if self._tracked.pop(t.job_id, None) is None:
                return  # already reported
        self.events.put(result)


def _tail(path: Path, lines: int = 2) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:] if line.strip())
