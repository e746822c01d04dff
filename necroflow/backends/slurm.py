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
* The first ``submit`` of a run first asks ``squeue`` once whether the controller answers
  (:func:`~necroflow.backends.slurm_commands.check_controller`): with none, the run stops
  in seconds with SLURM's own message instead of failing job after job.

Every file this backend writes lives in the node's ``.rip/``: the job script
(``slurm-job.sh``), SLURM's own output (``slurm-<jobid>.out``) and the exit record
(``slurm-exit.json``).  The command's stdout and stderr are appended to ``job.log``.
"""

from __future__ import annotations

import json
import logging
import os
import pwd
import queue
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from necroflow.backends import shell
from necroflow.backends.base import Backend, Task, TaskResult
from necroflow.backends.slurm_commands import (
    CHECK_TIMEOUT,
    SlurmError,
    SlurmUnavailable,
    check_controller,
    run_command,
)
from necroflow.backends.slurm_script import (
    ALIVE_STATES,
    EXIT_RECORD,
    JOB_SCRIPT,
    KILLED_STATES,
    SCHEDULER_OUTPUT,
    STATE_TEXT,
    last_lines,
    parse_squeue,
)
from necroflow.backends.slurm_submit import Submitter

__all__ = ["EXIT_RECORD", "JOB_SCRIPT", "SlurmBackend", "SlurmError", "SlurmUnavailable"]

log = logging.getLogger("necroflow.backends.slurm")

# ----------------------------------------------------------------------------------------
# The backend
# ----------------------------------------------------------------------------------------


@dataclass
class _Tracked:
    """A submitted job the poller watches until it reports it."""

    job: Task
    job_id: str  # the id its exit record names: "123", "123_4" (array task), "g1a2b+4" (group member)
    submitted: float
    queue_id: str = ""  # the id squeue shows for it: "123", "123_4", the group's "123"
    output: Path | None = None  # SLURM's own output file of the job
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
        check_timeout: seconds the first ``submit`` of a run waits for ``squeue`` to show
            that the controller answers; if it does not, ``submit`` raises
            :class:`SlurmUnavailable` and nothing is submitted.
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
        check_timeout: float = CHECK_TIMEOUT,
        array_size: int = 1000,
        array_throttle: int = 0,
        group_size: int = 0,
        group_cpus: int | None = None,
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
        self.check_timeout = float(check_timeout)
        for name, value in (("array_size", array_size), ("array_throttle", array_throttle), ("group_size", group_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        self.array_size, self.array_throttle, self.group_size = array_size, array_throttle, group_size
        self.group_cpus = group_cpus
        self._checked = False  # the controller answered since start()
        self._user = pwd.getpwuid(os.getuid()).pw_name
        self._lock = threading.Lock()
        self._tracked: dict[str, _Tracked] = {}  # SLURM job id -> job
        self._submitter = Submitter(self, self._track, lambda r: self.events.put(r))
        self._halt = self._submitter.halt
        self._threads: list[threading.Thread] = []

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> SlurmBackend:
        """Build from run settings (``slurm_partition``, ``slurm_account``, ``slurm_poll_interval``,
        ``slurm_submit_rate``, ``slurm_extra_args``); absent keys keep the defaults."""
        kw: dict[str, Any] = {}
        for key, arg in (("slurm_partition", "partition"), ("slurm_account", "account"),
                         ("slurm_poll_interval", "poll_interval"), ("slurm_submit_rate", "submit_rate"),
                         ("slurm_array_size", "array_size"), ("slurm_array_throttle", "array_throttle"),
                         ("slurm_group_size", "group_size"), ("slurm_group_cpus", "group_cpus")):
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
        self._submitter.cancelling = False
        self._checked = False
        self._threads = [
            threading.Thread(target=self._submitter.loop, name="necroflow-slurm-submit", daemon=True),
            threading.Thread(target=self._poll_loop, name="necroflow-slurm-poll", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def submit(self, job: Task) -> None:
        if not self._threads or self._halt.is_set():
            raise RuntimeError("SlurmBackend.submit called outside start()/stop()")
        if not self._checked:  # once per run, and only when there is something to submit
            check_controller(self.squeue, self._user, self.check_timeout)
            self._checked = True
        self._submitter.outbox.put(job)

    def cancel_all(self, grace: float = 0.0) -> None:
        """Drop jobs not yet submitted and ``scancel`` every live one, in one call per 500 ids.

        ``grace`` is accepted for the run loop's sake; SLURM applies its own ``KillWait``
        between SIGTERM and SIGKILL.
        """
        with self._lock:
            self._submitter.cancelling = True
            live = [t for t in self._tracked.values() if not t.cancelled]
            for t in live:
                t.cancelled = True
            ids = list(dict.fromkeys(t.queue_id for t in live))  # a whole group is one allocation
        self._submitter.drain("cancelled before it was submitted to SLURM")
        for i in range(0, len(ids), 500):
            self._run([self.scancel, *ids[i : i + 500]], check=False)

    def stop(self) -> None:
        """Stop the threads; jobs still running are cancelled so none runs unwatched."""
        with self._lock:
            live = bool(self._tracked)
        if live or not self._submitter.outbox.empty():
            self.cancel_all()
        self._halt.set()
        self._submitter.outbox.put(None)
        for t in self._threads:
            t.join(timeout=10)
        self._threads = []

    # -- submission (see slurm_submit.py) ----------------------------------------------

    @property
    def sbatch_calls(self) -> int:
        """How many times this backend called sbatch (arrays and groups make it few)."""
        return self._submitter.sbatch_calls

    def _track(self, submitted: list[Any]) -> None:
        cancel: list[str] = []
        with self._lock:
            for job, job_id, queue_id, output in submitted:
                t = self._tracked[job_id] = _Tracked(job, job_id, time.time(), queue_id, output)
                if self._submitter.cancelling:  # cancel_all ran while sbatch was in flight
                    t.cancelled = True
                    cancel.append(queue_id)
        if cancel:
            self._run([self.scancel, *dict.fromkeys(cancel)], check=False)
        log.debug("submitted %d job(s) to SLURM", len(submitted))

    def _run(self, argv: list[str], *, check: bool) -> subprocess.CompletedProcess[str]:
        proc = run_command(argv)
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
            state, reason = states.get(t.queue_id, ("", ""))
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
                [self.squeue, "--noheader", "--array", "--states=all", f"--user={self._user}", "--format=%i|%T|%r"],
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
        out = t.output or Path(t.job.rip) / SCHEDULER_OUTPUT.replace("%j", t.job_id)
        if t.cancelled:
            what = "was cancelled by necroflow (scancel)"
        elif t.last_state:
            what = STATE_TEXT.get(t.last_state, f"ended in state {t.last_state}")
            if t.last_reason not in ("", "None", "Resources", "Priority") and t.last_state != "CANCELLED":
                what += f" (reason: {t.last_reason})"
        else:
            what = "left the queue"
        message = f"SLURM job {t.job_id} {what} without writing its exit record {EXIT_RECORD}"
        metrics: dict[str, Any] = {"job_id": t.job_id, "end": time.time(), "backend": self.name}
        if t.last_state == "TIMEOUT" and not t.cancelled:  # worded as on every backend
            limit = t.job.constraints.get("time")
            metrics.update(timed_out=True, time_limit=limit)
            where = f"SLURM job {t.job_id} TIMEOUT" + ("; SLURM enforces whole minutes" if (limit or 0) % 60 else "")
            message = shell.describe({"timed_out": True, "time_limit": limit or 0}, where)
        tail = last_lines(out)
        if tail:
            message += f"; {out.name} ends with: {tail}"
        else:
            message += f"; see {out}"
        self._finish(t, TaskResult(t.job.key, None, message=message, metrics=metrics))

    def _finish(self, t: _Tracked, result: TaskResult) -> None:
        with self._lock:
            if self._tracked.pop(t.job_id, None) is None:
                return  # already reported
        self.events.put(result)

