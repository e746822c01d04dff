"""Runs started from the GUI: each in its own thread, through the same call as ``necroflow run``.

A GUI run holds the outdir lock like the CLI; cancelling it stops its jobs exactly as Ctrl-C
does (they end ``interrupted``).  Only the job files given when the GUI started can run.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..jobs import run_loaded
from ..progress import SilentReporter
from ..reporting import CancelToken
from ..store import OutdirLocked

if TYPE_CHECKING:
    from ..jobs import JobSet
    from ..schemas import RunSettings

_ids = itertools.count(1)


@dataclass
class GuiRun:
    id: str
    targets: list[str]
    state: str = "running"  # running | succeeded | failed | cancelled
    ran: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    error: str = ""
    started: float = field(default_factory=time.time)
    cancel: CancelToken = field(default_factory=CancelToken)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "state": self.state, "ran": self.ran, "failed": self.failed,
                "error": self.error, "targets": len(self.targets), "started": self.started}


class Runs:
    """The GUI's runs; ``on_change(run)`` is told every state change (for the event feed)."""

    def __init__(self, jobset: JobSet, settings: RunSettings, on_change: Callable[[GuiRun], None]) -> None:
        self.jobset = jobset
        self.settings = settings
        self.on_change = on_change
        self.runs: dict[str, GuiRun] = {}
        self.threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def active(self) -> GuiRun | None:
        with self._lock:
            return next((r for r in self.runs.values() if r.state == "running"), None)

    def start(self, targets: list[str], cores: int | None, keep_going: bool) -> GuiRun:
        """Start a run of ``targets`` (and what they need); raises OutdirLocked at once when
        this GUI or another process already runs on the outdir."""
        from ..store import live_holder

        if self.active() is not None:
            raise OutdirLocked("a run started from this GUI is still going; cancel it or wait for it")
        holder = live_holder(self.jobset.dag.outdir)
        if holder is not None:
            who = f"necroflow process {holder}" if holder > 0 else "another necroflow process"
            raise OutdirLocked(f"the outdir is locked by {who}; its run is shown live here")
        changes: dict[str, Any] = {"keep_going": keep_going, "dry_run": False, "autoclean": False}
        if cores is not None:
            changes["cores"] = cores
        settings = self.settings.model_copy(update=changes)
        run = GuiRun(f"r{next(_ids)}", list(targets))
        with self._lock:
            self.runs[run.id] = run
        thread = threading.Thread(target=self._go, args=(run, settings), name=f"necroflow-gui-{run.id}", daemon=True)
        self.threads[run.id] = thread
        thread.start()
        self.on_change(run)
        return run

    def stop_all(self, wait: float = 30.0) -> None:
        """Cancel every running run and wait for its jobs to be stopped and recorded."""
        for run in list(self.runs.values()):
            if run.state == "running":
                run.cancel.cancel()
        for thread in list(self.threads.values()):
            thread.join(timeout=wait)

    def _go(self, run: GuiRun, settings: RunSettings) -> None:
        try:
            outcome = run_loaded(self.jobset, settings, SilentReporter(), cancel=run.cancel, targets=run.targets)
            run.ran = outcome.report.ran if outcome.report is not None else []
            run.failed = outcome.failed
            run.state = "failed" if outcome.errors else "succeeded"
        except KeyboardInterrupt:
            run.state = "cancelled"
        except OutdirLocked as e:
            run.state, run.error = "failed", str(e)
        except Exception as e:  # shown in the page, not a traceback in a thread nobody reads
            run.state, run.error = "failed", f"{type(e).__name__}: {e}"
        self.on_change(run)

    def get(self, run_id: str) -> GuiRun | None:
        return self.runs.get(run_id)
