"""The cut between policy and mechanism.

The run loop decides *what* runs and *when*; a backend only starts a task and reports its
end.  Everything crossing this line is plain data, so a backend never sees a Job, a DAG or
a scheduler.
"""

from __future__ import annotations

import queue
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class BackendUnavailable(ConnectionError):
    """The backend cannot run anything from here (no cluster controller answers, its
    commands are missing): the run stops before any job is submitted.

    A backend raises it from :meth:`Backend.submit` (the first call checks), never for one
    task's own trouble, which is a failed :class:`TaskResult`.  It is an :class:`OSError`,
    so code that already reports environment errors in one line reports this one too.
    """


@dataclass(frozen=True)
class Task:
    """One job to run: a resolved shell command and where its records go."""

    key: str  # unique id within one run: "{rule}/{hash16}"
    rule: str
    command: str  # the exact shell command (already resolved and quoted)
    workdir: Path  # node folder outdir/{rule}/{hash16}; the command runs here
    rip: Path  # the node's record folder: every bookkeeping file of any backend lives here
    log_path: Path  # the job's stdout+stderr
    constraints: dict[str, Any] = field(default_factory=dict)  # normalised: see necroflow.constraints
    attempt: int = 1


@dataclass
class TaskResult:
    """How a task ended, as reported by a backend."""

    key: str
    returncode: int | None  # None when the task never produced an exit code
    signal: int | None = None  # set when the task was killed by a signal
    message: str = ""  # human-readable reason for failures ("exit code 3", "SLURM job 12 vanished")
    metrics: dict[str, Any] = field(default_factory=dict)  # start, end, wall, cpu, max_rss, host, job_id

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class Backend(ABC):
    """Starts tasks and reports each one's end on the ``events`` queue.

    Lifecycle: ``start(events)`` once, any number of ``submit(task)``, then ``stop()``.
    ``submit`` must not block for the task's duration; it raises only
    :class:`BackendUnavailable`, when nothing can run at all.  Every submitted task produces
    exactly one :class:`TaskResult` on ``events`` unless ``cancel_all`` was called, after
    which results for cancelled tasks may or may not arrive.
    """

    name: str = "base"

    def capacity(self) -> dict[str, int] | None:
        """The resources this backend offers the run loop to fill (``{"threads": 8}``), or
        None when the backend places jobs itself (a cluster): then only caps the user gives
        limit what the run loop submits."""
        return None

    def start(self, events: queue.Queue[Any]) -> None:
        self.events = events

    @abstractmethod
    def submit(self, task: Task) -> None: ...

    def hold(self, fd: int, on_spawn: Callable[[int], None] | None = None) -> None:
        """Offer an open file (the outdir lock) for tasks to inherit, and a callback for the
        process group of every task started here; backends whose tasks run elsewhere ignore both."""
        return None

    @abstractmethod
    def cancel_all(self, grace: float = 0.0) -> None:
        """Stop every running task (whole process groups / scancel).  ``grace`` > 0 asks
        politely first (SIGTERM) and forces after that many seconds; 0 forces at once."""

    def stop(self) -> None:
        """Release resources (threads, connections, clusters started by this backend)."""
        return None  # noqa: B027 - optional hook; most backends hold nothing to release
