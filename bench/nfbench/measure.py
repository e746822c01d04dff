"""Measuring whole processes: one run (wall, CPU, peak RSS), cases, interleaved repetitions."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .config import MIB


@dataclass
class Measurement:
    """One whole-process run: wall seconds, CPU seconds of the tree, peak RSS in bytes, exit code."""

    wall: float
    cpu: float
    maxrss: int
    returncode: int


@dataclass
class CaseResult:
    """All repetitions of one tool on one scenario size."""

    tool: str
    reps: list[Measurement] = field(default_factory=list)
    error: str | None = None
    skipped: str | None = None  # why the case was not run at all
    notes: list[str] = field(default_factory=list)
    reran: bool | None = None  # big/noop: did any job run again when it should not have?
    setup_wall: float | None = None
    stats: list[dict[str, object]] = field(default_factory=list)  # per rep, from the workload

    @property
    def ok(self) -> bool:
        return self.error is None and self.skipped is None and bool(self.reps)

    @property
    def median(self) -> float:
        return statistics.median(m.wall for m in self.reps)

    @property
    def cpu_median(self) -> float:
        return statistics.median(m.cpu for m in self.reps)

    @property
    def peak(self) -> int:
        return max(m.maxrss for m in self.reps)

    def cell(self) -> str:
        """Markdown cell: median (min-max) seconds, peak memory, repetitions."""
        if self.skipped:
            return f"skipped: {self.skipped}"
        if self.error and not self.reps:
            return f"FAILED: {self.error}"
        walls = [m.wall for m in self.reps]
        text = (
            f"{fmt_s(self.median)} ({fmt_s(min(walls), unit=False)}–{fmt_s(max(walls))}), "
            f"cpu {fmt_s(self.cpu_median)}, {self.peak / MIB:.0f} MiB, n={len(walls)}"
        )
        if self.error:
            text += f"; FAILED after that: {self.error}"
        if self.reran is not None:
            text += "; reran a job" if self.reran else "; nothing reran"
        return text

    def as_json(self) -> dict[str, object]:
        return {
            "tool": self.tool,
            "walls": [m.wall for m in self.reps],
            "cpus": [m.cpu for m in self.reps],
            "maxrss": [m.maxrss for m in self.reps],
            "error": self.error,
            "skipped": self.skipped,
            "notes": self.notes,
            "reran": self.reran,
            "setup_wall": self.setup_wall,
            "stats": self.stats,
        }


def fmt_s(seconds: float, unit: bool = True) -> str:
    """Seconds with a precision that suits their size."""
    text = (
        f"{seconds:.3f}" if seconds < 1 else f"{seconds:.2f}" if seconds < 10 else f"{seconds:.1f}"
    )
    return text + (" s" if unit else "")


class Machine:
    """What main() learns once about this machine and the run (module-wide state)."""

    gnu_time: str | None = None  # None = fall back to wait4's ru_maxrss
    load_at_start = 0.0  # 1-minute load average when main() started: other work skews figures


def find_gnu_time() -> str | None:
    """GNU time, if installed: it reports the peak RSS of the command alone.

    ``ru_maxrss`` from ``os.wait4`` on our own child is inflated by this harness: Linux keeps
    the high-water mark of the memory the child had *before* exec, which is this Python
    process (~15-20 MiB).  GNU time is a small C program, so the command it forks starts
    small and its ``%M`` is the command's own peak.
    """
    path = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    if path and "GNU" in output([path, "--version"]):
        return path
    return None


def measure(
    argv: list[str], cwd: Path, log: Path, env: dict[str, str], timeout: float
) -> Measurement:
    """Run argv as a fresh process (own session) and time it from spawn to reap.

    Peak memory comes from GNU time when available (see ``find_gnu_time``), else from the
    rusage ``os.wait4`` returns.  A timer kills the whole process group if the child
    overruns, so one runaway case cannot eat the benchmark's time budget.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    rss_file = log.with_name(log.name + ".maxrss")
    rss_file.unlink(missing_ok=True)
    gnu = Machine.gnu_time
    full = [gnu, "-f", "%M", "-o", str(rss_file), *argv] if gnu else argv
    with open(log, "ab") as out:
        out.write(f"\n$ (cd {cwd} && {shlex.join(argv)})\n".encode())
        out.flush()
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            full, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        timer = threading.Timer(timeout, _kill_group, (proc.pid,))
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)  # tell Popen it has been reaped
    maxrss_kib = usage.ru_maxrss
    if gnu:
        # GNU time writes "Command exited with non-zero status N" before %M on failure.
        lines = rss_file.read_text().split() if rss_file.exists() else []
        maxrss_kib = int(lines[-1]) if lines and lines[-1].isdigit() else maxrss_kib
    # CPU of the whole tree: the wrapper (if any) has reaped the tool, the tool its jobs.
    cpu = usage.ru_utime + usage.ru_stime
    return Measurement(wall=wall, cpu=cpu, maxrss=maxrss_kib * 1024, returncode=proc.returncode)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@dataclass
class Case:
    """How to run one tool on one scenario size.

    ``setup`` runs once before the repetitions (untimed, e.g. the first full run before a
    no-op rerun); ``prepare`` runs before every repetition (untimed, e.g. emptying the
    outdir or touching the big file); ``verify`` runs after every repetition and returns a
    problem, or None.  ``rerun_check`` returns True when a job ran that should not have.
    ``stats`` returns what the workload wrote about the repetition (sbatch calls, ...).
    """

    tool: str
    argv: list[str]
    cwd: Path
    log: Path
    env: dict[str, str]
    setup: Callable[[], None] | None = None
    prepare: Callable[[], None] | None = None
    verify: Callable[[], str | None] | None = None
    rerun_check: Callable[[], bool] | None = None
    stats: Callable[[], dict[str, object]] | None = None


class Runner:
    """Runs the cases of one scenario size with interleaved repetitions.

    Repetition i of every tool runs before repetition i+1 of any, so a burst of load from
    something else on the machine slows all tools alike and the ratios stay side by side.
    A case stops repeating once another run would take it past the per-case time budget.
    """

    def __init__(self, reps: int, budget: float, timeout: float) -> None:
        self.reps = reps
        self.budget = budget
        self.timeout = timeout

    def run(self, label: str, cases: list[Case]) -> dict[str, CaseResult]:
        results = {c.tool: CaseResult(tool=c.tool) for c in cases}
        active = [c for c in cases if self._setup(label, c, results[c.tool])]
        spent = dict.fromkeys(results, 0.0)
        for i in range(self.reps):
            for case in list(active):
                result = results[case.tool]
                m = self._checked_once(label, case, i, result)
                if m is None:
                    active.remove(case)
                    continue
                spent[case.tool] += m.wall
                if spent[case.tool] + m.wall > self.budget:
                    active.remove(case)  # another repetition would overrun the budget
        return results

    def _setup(self, label: str, case: Case, result: CaseResult) -> bool:
        if case.setup is None:
            return True
        try:
            t0 = time.perf_counter()
            case.setup()
            result.setup_wall = time.perf_counter() - t0
            return True
        except SetupError as exc:
            result.error = str(exc)
            progress(f"  {label:<16} {case.tool:<10} FAILED: {exc}")
            return False

    def _checked_once(
        self, label: str, case: Case, i: int, result: CaseResult
    ) -> Measurement | None:
        """One repetition, recorded in result; None when it failed (the case stops)."""
        try:
            m = self._once(label, case, i)
        except SetupError as exc:
            result.error = str(exc)
            progress(f"  {label:<16} {case.tool:<10} FAILED: {exc}")
            return None
        problem = None
        if m.returncode != 0:
            problem = f"exit code {m.returncode}"
        elif case.verify is not None:
            problem = case.verify()
        if problem:
            result.error = f"{problem}; see {rel(case.log)}"
            progress(f"  {label:<16} {case.tool:<10} FAILED: {result.error}")
            return None
        result.reps.append(m)
        if case.rerun_check is not None:
            result.reran = bool(result.reran) or case.rerun_check()
        if case.stats is not None:
            result.stats.append(case.stats())
        return m

    def _once(self, label: str, case: Case, i: int) -> Measurement:
        if case.prepare is not None:
            case.prepare()
        m = measure(case.argv, case.cwd, case.log, case.env, self.timeout)
        progress(
            f"  {label:<16} {case.tool:<10} rep {i + 1}/{self.reps}: "
            f"{fmt_s(m.wall)}, cpu {fmt_s(m.cpu)}, {m.maxrss / MIB:.0f} MiB"
            + ("" if m.returncode == 0 else f", exit {m.returncode}")
        )
        return m


class SetupError(RuntimeError):
    """An untimed preparation step failed; the message says which and where its log is."""


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def rel(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def checked(
    argv: list[str], cwd: Path, log: Path, env: dict[str, str], what: str, timeout: float
) -> float:
    """Run an untimed setup command; raise SetupError naming the step and its log on failure."""
    m = measure(argv, cwd, log, env, timeout)
    if m.returncode != 0:
        raise SetupError(f"{what} failed with exit code {m.returncode}; see {rel(log)}")
    return m.wall


def output(argv: list[str]) -> str:
    """A command's stdout, stripped; "" when it cannot run."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
