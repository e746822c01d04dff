"""The cut between policy and mechanism.

The run loop in :mod:`necroflow.execute` decides *what* runs and *when*; a backend only
starts a job and reports its end.  Everything crossing this line is plain data, so a
backend never sees a Node, a DAG or a scheduler.
"""

from __future__ import annotations

import queue
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class JobSpec:
    """One job to run: a resolved shell command and where its records go."""

    key: str  # unique id within one run: "{rule}/{hash16}"
    rule: str
    command: str  # the exact shell command (already resolved and quoted)
    workdir: Path  # node folder outdir/{rule}/{hash16}; the command runs here
    rip: Path  # workdir/.rip: every bookkeeping file of any backend lives here
    log_path: Path  # rip/job.log: the job's stdout+stderr
    constraints: dict[str, Any] = field(default_factory=dict)  # threads:int, ram:int bytes, user keys


@dataclass
class JobResult:
    """How a job ended, as reported by a backend."""

    key: str
    returncode: int | None  # None when the job never produced an exit code
    signal: int | None = None  # set when the job was killed by a signal
    message: str = ""  # human-readable reason for failures ("killed by signal 9", "SLURM job 12 vanished")
    metrics: dict[str, Any] = field(default_factory=dict)  # start, end, wall, cpu, max_rss, host, job_id

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class Backend(ABC):
    """Starts jobs and reports each one's end on the ``events`` queue.

    Lifecycle: ``start(events)`` once, any number of ``submit(job)``, then ``stop()``.
    ``submit`` must not block for the job's duration.  Every submitted job produces
    exactly one :class:`JobResult` on ``events`` unless ``cancel_all`` was called, after
    which results for cancelled jobs may or may not arrive.
    """

    name: str = "base"

    def start(self, events: queue.Queue[JobResult]) -> None:
        self.events = events

    @abstractmethod
    def submit(self, job: JobSpec) -> None: ...

    def hold(self, fd: int) -> None:
        """Offer an open file (the outdir lock) for jobs to inherit; backends whose jobs
        run elsewhere ignore it."""
        return None

    @abstractmethod
    def cancel_all(self, grace: float = 0.0) -> None:
        """Stop every running job (whole process groups / scancel).  ``grace`` > 0 asks
        politely first (SIGTERM) and forces after that many seconds; 0 forces at once."""

    def stop(self) -> None:
        """Release resources (threads, connections, clusters started by this backend)."""
        return None  # noqa: B027 - optional hook; most backends hold nothing to release
