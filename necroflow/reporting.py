"""What a run tells people and callers: its report, its errors, and the reporter hooks.

Kept apart from the run loop so that faces (progress display, report, GUI) can use these
types without importing the loop.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .backends.base import TaskResult
    from .nodes import Job
    from .plan import Plan


class JobFailed(RuntimeError):
    """A job exited non-zero, was killed, or did not write its declared outputs."""

    def __init__(self, job: Job, reason: str, log_path: str | Path | None = None) -> None:
        self.job = job
        self.reason = reason
        self.log_path = Path(log_path) if log_path is not None else None
        where = f"; log: {log_path}" if log_path else ""
        super().__init__(f"job {job.key} (rule {job.rule.name!r}) failed: {reason}{where}")


class Interrupted(BaseException):
    """The run was stopped by a signal (SIGTERM/SIGHUP); running jobs were stopped and marked interrupted."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"interrupted by signal {signal.Signals(signum).name}")


class CancelToken:
    """Stops a run from another thread (the GUI's cancel button) as Ctrl-C would: its running
    jobs are stopped and marked interrupted, and the run raises KeyboardInterrupt."""

    def __init__(self) -> None:
        self.cancelled = False
        self._queues: list[Any] = []

    def attach(self, events: Any) -> None:
        """Called by the run loop with its event queue."""
        self._queues.append(events)
        if self.cancelled:
            events.put(self)

    def cancel(self) -> None:
        self.cancelled = True
        for q in self._queues:
            q.put(self)


@dataclass
class RunReport:
    plan: Plan
    ran: list[str] = field(default_factory=list)  # job keys that ran and succeeded
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # not started because a parent failed
    cleaned: list[str] = field(default_factory=list)  # paths removed by autoclean
    elapsed: float = 0.0
    dry_run: bool = False
    run_id: str = ""

    @property
    def up_to_date(self) -> int:
        return len(self.plan.required) - len(self.plan.to_run)


def format_duration(seconds: float) -> str:
    """12.3s, 4m05s, 2h03m: short enough for a status line, precise where it matters."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    s = int(seconds + 0.5)
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def log_tails(sections: list[tuple[str, str]]) -> str:
    """The failure display of several logs: each non-empty one under its own heading."""
    parts = [f"--- {path} (last lines) ---\n{tail}" for path, tail in sections if tail]
    return "\n".join(parts) + "\n---" if parts else ""


class Reporter:
    """Plain line-by-line progress on a stream (stderr by default).  Subclass to customise.

    The run loop calls ``on_plan`` once, ``on_start``/``on_done``/``on_fail`` per job (from
    its own thread, in order) and ``on_finish`` at the end.
    """

    def __init__(self, stream: Any = None, verbose: int = 1) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.verbose = verbose
        self.total = 0
        self.count = 0

    def emit(self, text: str) -> None:
        try:
            self.stream.write(text + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass

    def emit_lines(self, lines: Iterable[str], batch: int = 4096) -> None:
        """Write many lines, a batch at a time (not one string of them all)."""
        chunk: list[str] = []
        for line in lines:
            chunk.append(line)
            if len(chunk) >= batch:
                self.emit("\n".join(chunk))
                chunk.clear()
        if chunk:
            self.emit("\n".join(chunk))

    def on_notice(self, text: str) -> None:
        """Something the run did on its own that a person should know (always shown)."""
        self.emit(text)

    def on_plan(self, plan: Plan, dry_run: bool) -> None:
        self.total = len(plan.to_run)
        if dry_run:
            self.emit_lines(plan.explain_lines())
        elif self.verbose >= 1:
            self.emit(plan.summary())

    def on_start(self, job: Job) -> None:
        if self.verbose >= 2:
            self.emit(f"start  {job.key}")

    def on_done(self, job: Job, result: TaskResult) -> None:
        self.count += 1
        if self.verbose >= 1:
            self.emit(f"[{self.count}/{self.total}] done   {job.key} ({result.metrics.get('wall', 0):.2f}s)")

    def on_fail(self, job: Job, reason: str, log_tail: str) -> None:
        """``log_tail``: the last lines of the job's log, and of any Log-type output it wrote,
        each under a ``--- path (last lines) ---`` heading."""
        self.count += 1
        self.emit(f"[{self.count}/{self.total}] FAILED {job.key}: {reason}")
        if log_tail:
            self.emit(log_tail)

    def on_finish(self, report: RunReport) -> None:
        if self.verbose >= 1 and not report.dry_run and report.plan.to_run:
            self.emit(final_summary(report))


def final_summary(report: RunReport) -> str:
    """The run's last line: ``Finished in 1.23s: 4 ran, 0 up to date, 1 failed.``, or the
    plan's ``Nothing to do: ...`` when nothing had to run."""
    if not report.plan.to_run:
        return report.plan.summary()
    msg = f"{len(report.ran)} ran, {report.up_to_date} up to date"
    if report.failed:
        msg += f", {len(report.failed)} failed"
    if report.skipped:
        msg += f", {len(report.skipped)} not started (upstream failed)"
    return f"Finished in {report.elapsed:.2f}s: {msg}."
