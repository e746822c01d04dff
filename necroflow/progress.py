"""Progress displays for ``necroflow run``: a live table on a terminal, plain lines elsewhere.

People running thousands of jobs want to *see* where a run stands: done / running / failed /
to do, per rule and in total, how long it has run and how long it will take.  On a terminal
:class:`LiveReporter` redraws one block of lines in place (ANSI cursor movement, no curses);
in a pipe, a CI log or with ``-v`` the plain :class:`LineReporter` prints one line per event,
because control codes in a log file are noise.

Cost matters more than looks: a run of 10,000 short jobs emits 20,000 events.  Events only
update counters under a lock; the block is redrawn at most ``1 / interval`` times a second.
One small daemon thread redraws a block whose counters changed during the quiet interval
and ticks the elapsed clock once a second while a long job runs: without it the display
would freeze on whatever the last burst of events left behind.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .progress_layout import fit, head_line, rule_line, running_line
from .reporting import Reporter, RunReport, final_summary, format_duration

if TYPE_CHECKING:
    from .backends.base import TaskResult
    from .graph import Job
    from .plan import Plan

CSI = "\x1b["
_STYLE = {"done": "32", "running": "36", "failed": "31;1", "todo": "2", "head": "1"}


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class LineReporter(Reporter):
    """Plain line-by-line output; a dry run prints every job's *why* (see :mod:`necroflow.why`)."""

    def on_plan(self, plan: Plan, dry_run: bool) -> None:
        if not dry_run:
            super().on_plan(plan, dry_run)
            return
        from .why import explain

        self.total = len(plan.to_run)
        self.emit(explain(plan.dag, plan))


class QuietReporter(LineReporter):
    """``-q``: failures (with their log tails) and the final summary line, nothing else."""

    def __init__(self, stream: Any = None) -> None:
        super().__init__(stream, verbose=0)

    def on_finish(self, report: RunReport) -> None:
        if not report.dry_run:
            self.emit(final_summary(report))


class SilentReporter(Reporter):
    """Prints nothing at all, not even failures (they still raise): for benchmarks and embedding."""

    def emit(self, text: str) -> None:
        return None


class _RuleCount:
    __slots__ = ("total", "done", "running", "failed", "wall", "n_wall")

    def __init__(self) -> None:
        self.total = self.done = self.running = self.failed = 0
        self.wall = 0.0
        self.n_wall = 0

    @property
    def todo(self) -> int:
        return max(0, self.total - self.done - self.running - self.failed)


class LiveReporter(LineReporter):
    """A block of status lines redrawn in place on a terminal.

    Shows, in total and per rule: done / running / failed / to do, a bar, the elapsed time
    and an estimate of the time left.  Failures are printed above the block (with the tail
    of the job's log) and stay on screen.  When ``stream`` is not a terminal it behaves
    exactly like :class:`LineReporter`.

    The estimate: each rule's mean wall time so far times its unfinished jobs (a running job
    counts half), divided by the average number of jobs that ran at once so far.

    Call :meth:`close` (or use it as a context manager) if a run can end without
    ``on_finish`` — an interrupted ``execute`` — so the cursor is shown again; an
    ``atexit`` hook does it as a last resort.
    """

    def __init__(self, stream: Any = None, verbose: int = 1, interval: float = 0.1, tick: float = 1.0,
                 colour: bool | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(stream, verbose)
        self.live = _isatty(self.stream)
        self.interval = interval
        self.tick = tick
        self.colour = (os.environ.get("NO_COLOR", "") == "") if colour is None else colour
        self.clock = clock
        enc = (getattr(self.stream, "encoding", None) or "").lower().replace("-", "")
        self.bar_chars = ("█", "░") if enc.startswith("utf") else ("#", "-")
        self.rules: dict[str, _RuleCount] = {}
        self.started: dict[str, float] = {}
        self.t0 = clock()
        self.lines_drawn = 0
        self.last_draw = float("-inf")
        self.dirty = False
        self.draws = 0  # how many times the block was drawn (tests and benchmarks read it)
        self.busy = 0.0  # integral of running jobs over time: average concurrency = busy / elapsed
        self.last_event = self.t0
        self.n_running = 0
        self.finished = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- hooks ---------------------------------------------------------------------------------
    def on_plan(self, plan: Plan, dry_run: bool) -> None:
        if dry_run or not self.live:
            super().on_plan(plan, dry_run)
            return
        self.total = len(plan.to_run)
        for j in plan.to_run:
            rc = self.rules.get(j.rule.name)
            if rc is None:
                rc = self.rules[j.rule.name] = _RuleCount()
            rc.total += 1
        self.t0 = self.last_event = self.clock()
        if self.total == 0:
            self.emit(plan.summary())
            return
        with self._lock:
            self._write(CSI + "?25l")  # hide the cursor while the block is live
            self._draw()
        self._thread = threading.Thread(target=self._ticker, name="necroflow-progress", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def on_start(self, job: Job) -> None:
        if not self.live:
            super().on_start(job)
            return
        with self._lock:
            now = self.clock()
            self._advance(now)
            self.n_running += 1
            self.rules[job.rule.name].running += 1
            self.started[job.key] = now
            self._maybe_draw(now)

    def on_done(self, job: Job, result: TaskResult) -> None:
        if not self.live:
            super().on_done(job, result)
            return
        with self._lock:
            now = self.clock()
            self._advance(now)
            self.count += 1
            rc = self.rules[job.rule.name]
            self._ended(job, rc, now, result)
            rc.done += 1
            self._maybe_draw(now)

    def on_fail(self, job: Job, reason: str, log_tail: str) -> None:
        if not self.live:
            super().on_fail(job, reason, log_tail)
            return
        with self._lock:
            now = self.clock()
            self._advance(now)
            self.count += 1
            rc = self.rules[job.rule.name]
            self._ended(job, rc, now, None)
            rc.failed += 1
            text = self._paint(f"FAILED {job.key}: {reason}", "failed")
            if log_tail:
                text += f"\n{log_tail}"
            self._print_above(text)

    def on_notice(self, text: str) -> None:
        if not (self.live and self.lines_drawn):
            super().on_notice(text)
            return
        with self._lock:
            self._print_above(text)

    def on_finish(self, report: RunReport) -> None:
        if self.live and self._thread is not None:
            self._stop.set()
            self._thread.join()
            with self._lock:
                self.finished = True
                self._draw()
                self._write(CSI + "?25h")
            atexit.unregister(self.close)
            self._thread = None
        super().on_finish(report)

    def close(self) -> None:
        """Stop redrawing and show the cursor again; safe to call more than once."""
        self._stop.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout=1.0)
        if self._thread is not None:
            self._thread = None
            with self._lock:
                self._write(CSI + "?25h")
            try:
                atexit.unregister(self.close)
            except Exception:  # pragma: no cover - interpreter shutting down
                pass

    def __enter__(self) -> LiveReporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- bookkeeping ---------------------------------------------------------------------------
    def _advance(self, now: float) -> None:
        self.busy += self.n_running * (now - self.last_event)
        self.last_event = now

    def _ended(self, job: Job, rc: _RuleCount, now: float, result: TaskResult | None) -> None:
        self.n_running = max(0, self.n_running - 1)
        rc.running = max(0, rc.running - 1)
        t = self.started.pop(job.key, None)
        wall = result.metrics.get("wall") if result is not None else None
        if not isinstance(wall, (int, float)):
            wall = None if t is None else now - t
        if wall is not None:
            rc.wall += wall
            rc.n_wall += 1

    def eta(self, now: float | None = None) -> float | None:
        """Seconds left by the estimate described in the class docstring; None before data."""
        now = self.clock() if now is None else now
        n = sum(rc.n_wall for rc in self.rules.values())
        if n == 0:
            return None
        mean_all = sum(rc.wall for rc in self.rules.values()) / n
        work = 0.0
        for rc in self.rules.values():
            mean = rc.wall / rc.n_wall if rc.n_wall else mean_all
            work += (rc.todo + 0.5 * rc.running) * mean
        elapsed = now - self.t0
        busy = self.busy + self.n_running * (now - self.last_event)
        conc = busy / elapsed if elapsed > 0 else 1.0
        return work / max(conc, 1e-3)

    # -- drawing -------------------------------------------------------------------------------
    def _ticker(self) -> None:
        while not self._stop.wait(self.interval):
            if not threading.main_thread().is_alive():
                return
            with self._lock:
                since = self.clock() - self.last_draw
                if (self.dirty and since >= self.interval) or since >= self.tick:
                    self._draw()

    def _maybe_draw(self, now: float) -> None:
        if now - self.last_draw >= self.interval:
            self._draw()
        else:
            self.dirty = True

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            pass

    def _paint(self, text: str, style: str) -> str:
        return f"{CSI}{_STYLE[style]}m{text}{CSI}0m" if self.colour else text

    def _size(self) -> tuple[int, int]:
        try:
            cols, rows = os.get_terminal_size(self.stream.fileno())
        except (AttributeError, ValueError, OSError):
            cols, rows = 0, 0
        # a pty nobody sized (CI, `script`) reports 0x0: assume the classic terminal
        return (max(cols, 20) if cols else 80), (max(rows, 4) if rows else 24)

    def render(self, now: float | None = None) -> list[str]:
        """The block's lines (with colour codes when enabled), fitted to the terminal.

        The total line (its time and ETA kept on screen at any width), then which jobs are
        running (the longest-running first), then one line per rule.
        """
        now = self.clock() if now is None else now
        cols, rows = self._size()
        width = cols - 1
        rules = self.rules.values()
        c = (sum(r.done for r in rules), sum(r.running for r in rules), sum(r.failed for r in rules),
             sum(r.todo for r in rules))
        if self.finished:
            tail = f"{format_duration(now - self.t0)} total"
        else:
            eta = self.eta(now)
            tail = f"{format_duration(now - self.t0)} elapsed  ETA {format_duration(eta) if eta is not None else '--'}"
        namew = min(24, max([len(n) for n in self.rules] + [5]))
        head, barw = head_line(c, self.total, tail, namew, width, self.bar_chars)
        lines = [fit(head, width, self._paint)]
        running = [] if self.finished else running_line(self.started, now, width)
        if running:
            lines.append(fit(running, width, self._paint))
        lines += self._rule_lines(namew, barw, width, rows - 1 - len(lines))
        return lines

    def _rule_lines(self, namew: int, barw: int, width: int, budget: int) -> list[str]:
        """One line per rule in at most ``budget`` lines; when they don't fit, what is moving
        or broken stays on screen and finished rules give way first."""
        w = len(str(self.total))
        items = list(self.rules.items())
        hidden = 0
        if len(items) > budget:
            items.sort(key=lambda kv: (kv[1].failed == 0, kv[1].running == 0, kv[1].todo == 0))
            hidden = len(items) - max(0, budget - 1)
            items = items[: max(0, budget - 1)]
        lines = []
        for name, rc in items:
            seg = rule_line(name, (rc.done, rc.running, rc.failed, rc.todo), rc.total, w, namew, barw,
                            self.bar_chars)
            lines.append(fit(seg, width, self._paint))
        if hidden:
            lines.append(f"... and {hidden} more rules"[:width])
        return lines

    def _draw(self) -> None:
        now = self.clock()
        lines = self.render(now)
        buf = [f"{CSI}{self.lines_drawn}F" if self.lines_drawn else "\r"]
        for line in lines:
            buf.append(f"{CSI}2K{line}\n")
        buf.append(f"{CSI}J")
        self._write("".join(buf))
        self.lines_drawn = len(lines)
        self.last_draw = now
        self.dirty = False
        self.draws += 1

    def _print_above(self, text: str) -> None:
        """Print lines that stay (a failure), then redraw the block below them.

        The old block is blanked line by line, not with "erase below": a terminal that keeps
        history (tmux's scroll-on-clear, VTE) copies the screen into its scrollback when that
        erase starts at the top-left corner, which left a stale block above the failure.
        """
        n = self.lines_drawn
        blank = f"{CSI}{n}F" + f"{CSI}2K\n" * n + f"{CSI}{n}F" if n else "\r"
        self._write(blank + text + "\n")
        self.lines_drawn = 0
        self._draw()


def make_reporter(stream: Any = None, quiet: bool = False, verbose: int = 0) -> Reporter:
    """The reporter ``necroflow run`` uses for its flags.

    * ``quiet``: only failures and the final summary line (and a dry run's explanation);
    * ``verbose`` >= 1 (``-v``, ``-vv``): plain lines, one per finished job, ``-vv`` also starts;
    * otherwise a live display when ``stream`` (default stderr) is a terminal whose
      ``TERM`` is not ``dumb``, else plain lines.
    """
    stream = sys.stderr if stream is None else stream
    if quiet:
        return QuietReporter(stream)
    if verbose > 0:
        return LineReporter(stream, verbose=min(verbose, 2))
    if _isatty(stream) and os.environ.get("TERM", "") != "dumb":
        return LiveReporter(stream)
    return LineReporter(stream, verbose=1)
