"""Benchmark necroflow against Snakemake and against a shell "floor".

One command builds the workloads under ``bench/work/``, runs every scenario as a whole
fresh process several times, and prints medians with min-max wall time and peak memory,
plus the ratios the project's targets are stated in (issue 7).  A markdown table with the
machine it came from is written to ``bench/results.md``.

    python bench/run.py --setup-snakemake       # once: Snakemake in bench/.venv-snakemake
    python bench/run.py                         # all scenarios (about 10 minutes on 2 cores)
    python bench/run.py --scenarios plan,noop --reps 5
    python bench/run.py --quick                 # smoke test in seconds, no Snakemake

Why whole processes: what a user waits for includes interpreter start-up and imports, so
each measurement is ``fork+exec`` to exit.  Peak memory is ``ru_maxrss`` from ``os.wait4``
on that child: the largest resident set of any single process in its tree (the engine's own
process, in practice), not the sum over the tree.

Why a floor: a ratio against Snakemake shows progress, a ratio against the cheapest honest
way to do the same work (``xargs -P2 sh -c`` over the same commands; ``openssl dgst`` over
the same 1 GiB) shows how much overhead is left.

Snakemake is never a dependency of necroflow: it lives in its own virtualenv, created on
request, and is used only when that venv (or ``--snakemake-bin``) exists.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
DEFAULT_VENV = BENCH / ".venv-snakemake"
SNAKEMAKE_PIN = "9.27.1"  # the release the reference figures were measured with
GIB = 1 << 30
MIB = 1 << 20
THREADS = 2  # the figures are for 2 cores; every tool gets the same cap

ALL_SCENARIOS = ("plan", "run", "noop", "big")


# --------------------------------------------------------------------------- measuring


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
        }


def fmt_s(seconds: float, unit: bool = True) -> str:
    """Seconds with a precision that suits their size."""
    text = (
        f"{seconds:.3f}" if seconds < 1 else f"{seconds:.2f}" if seconds < 10 else f"{seconds:.1f}"
    )
    return text + (" s" if unit else "")


def _find_gnu_time() -> str | None:
    """GNU time, if installed: it reports the peak RSS of the command alone.

    ``ru_maxrss`` from ``os.wait4`` on our own child is inflated by this harness: Linux keeps
    the high-water mark of the memory the child had *before* exec, which is this Python
    process (~15-20 MiB).  GNU time is a small C program, so the command it forks starts
    small and its ``%M`` is the command's own peak.
    """
    path = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    if path and "GNU" in _output([path, "--version"]):
        return path
    return None


GNU_TIME = None  # set in main(); None = fall back to wait4's ru_maxrss
LOAD_AT_START = 0.0  # 1-minute load average when main() started: other work skews figures


def measure(
    argv: list[str], cwd: Path, log: Path, env: dict[str, str], timeout: float
) -> Measurement:
    """Run argv as a fresh process (own session) and time it from spawn to reap.

    Peak memory comes from GNU time when available (see ``_find_gnu_time``), else from the
    rusage ``os.wait4`` returns.  A timer kills the whole process group if the child
    overruns, so one runaway case cannot eat the benchmark's time budget.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    rss_file = log.with_name(log.name + ".maxrss")
    rss_file.unlink(missing_ok=True)
    full = [GNU_TIME, "-f", "%M", "-o", str(rss_file), *argv] if GNU_TIME else argv
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
    if GNU_TIME:
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
        active: list[Case] = []
        for case in cases:
            result = results[case.tool]
            try:
                if case.setup is not None:
                    t0 = time.perf_counter()
                    case.setup()
                    result.setup_wall = time.perf_counter() - t0
                active.append(case)
            except SetupError as exc:
                result.error = str(exc)
                progress(f"  {label:<16} {case.tool:<10} FAILED: {exc}")
        spent = dict.fromkeys(results, 0.0)
        for i in range(self.reps):
            for case in list(active):
                result = results[case.tool]
                try:
                    m = self._once(label, case, i)
                except SetupError as exc:
                    result.error = str(exc)
                    progress(f"  {label:<16} {case.tool:<10} FAILED: {exc}")
                    active.remove(case)
                    continue
                problem = None
                if m.returncode != 0:
                    problem = f"exit code {m.returncode}"
                elif case.verify is not None:
                    problem = case.verify()
                if problem:
                    result.error = f"{problem}; see {rel(case.log)}"
                    active.remove(case)
                    continue
                result.reps.append(m)
                if case.rerun_check is not None:
                    result.reran = bool(result.reran) or case.rerun_check()
                spent[case.tool] += m.wall
                if spent[case.tool] + m.wall > self.budget:
                    active.remove(case)  # another repetition would overrun the budget
        return results

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


# --------------------------------------------------------------------------- workloads


def sample_names(n: int) -> list[str]:
    """The same names as bench/Snakefile and bench/necroflow_chain.py."""
    return [f"s{i:06d}" for i in range(n)]


def expected_count(sample: str) -> str:
    """What counts.txt holds: bytes of "SAMPLE\\n" plus "reference hg38\\n"."""
    return str(len(sample) + 1 + len("reference hg38\n"))


def chain_waves(base: Path, n: int) -> list[list[str]]:
    """The 3N+1 chain commands in Snakemake's layout under base, as dependency waves.

    Each wave only reads what earlier waves wrote, so running the waves one after another
    with any parallelism inside a wave is a correct (and near-minimal) schedule.
    """
    ref = base / "ref.idx"
    q = shlex.quote
    waves: list[list[str]] = [[f"printf 'reference %s\\n' hg38 > {q(str(ref))}"], [], [], []]
    for s in sample_names(n):
        raw, aligned, counts = (base / d / f"{s}.txt" for d in ("raw", "aligned", "counts"))
        waves[1].append(f"printf '%s\\n' {q(s)} > {q(str(raw))}")
        waves[2].append(f"cat {q(str(raw))} {q(str(ref))} > {q(str(aligned))}")
        waves[3].append(f"wc -c < {q(str(aligned))} > {q(str(counts))}")
    return waves


def write_floor_script(base: Path, n: int) -> list[str]:
    """Write the wave files and return argv running them through ``xargs -P2 sh -c``."""
    base.mkdir(parents=True, exist_ok=True)
    for d in ("raw", "aligned", "counts"):
        (base / d).mkdir(exist_ok=True)
    steps = []
    for i, wave in enumerate(chain_waves(base, n)):
        path = base / f"wave{i}.txt"
        path.write_text("\n".join(wave) + "\n")
        steps.append(f"xargs -P{THREADS} -d '\\n' -n1 sh -c < {shlex.quote(str(path))}")
    return ["sh", "-c", " && ".join(steps)]


def check_counts(files: list[Path], n: int) -> str | None:
    """The run produced exactly N counts files with the right content."""
    if len(files) != n:
        return f"expected {n} counts.txt files, found {len(files)}"
    wanted = {expected_count(s) for s in sample_names(min(n, 1))}
    for f in files:
        got = f.read_text().strip()
        if got not in wanted:
            return f"{f} holds {got!r}, expected {sorted(wanted)}"
    return None


def mtimes(paths: Iterable[Path]) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in paths}


def necroflow_outputs(outdir: Path) -> list[Path]:
    """Every file necroflow produced under outdir/{rule}/{hash16}/, bookkeeping excluded."""
    return [p for p in outdir.glob("*/*/*") if p.is_file() and ".rip" not in p.parts]


def snakemake_outputs(workdir: Path) -> list[Path]:
    files = [workdir / "ref.idx", workdir / "big.bin", workdir / "size.txt"]
    for d in ("raw", "aligned", "counts"):
        files.extend((workdir / d).glob("*.txt"))
    return [p for p in files if p.exists()]


def fresh_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)


# --------------------------------------------------------------------------- scenarios


@dataclass
class Row:
    """One line of the results table."""

    scenario: str
    size: str
    jobs: int
    cases: dict[str, CaseResult]
    target: str = ""
    verdict: str = ""


class Bench:
    """Builds the cases of each scenario for the tools available and collects rows."""

    def __init__(self, args: argparse.Namespace, snakemake: Path | None) -> None:
        self.args = args
        self.work: Path = args.workdir
        self.snakemake = snakemake
        self.runner = Runner(args.reps, args.budget, args.timeout)
        self.py_env = dict(os.environ)
        self.py_env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
        )
        self.env = dict(os.environ)
        # A user's interpreter caches bytecode; a sandbox that sets PYTHONDONTWRITEBYTECODE
        # would make every run recompile necroflow (and Snakemake) from source.
        for env in (self.py_env, self.env):
            env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.rows: list[Row] = []
        self.cleanup: list[Path] = []  # deleted after all measurements (see run())

    def go(
        self, label: str, cases: list[Case], skipped: dict[str, str] | None = None
    ) -> dict[str, CaseResult]:
        """Run the cases --tools selects; the others become "skipped" cells with a reason."""
        out = {tool: CaseResult(tool=tool, skipped=why) for tool, why in (skipped or {}).items()}
        chosen = []
        for case in cases:
            if case.tool in self.args.tool_list:
                chosen.append(case)
            else:
                out[case.tool] = CaseResult(tool=case.tool, skipped="not in --tools")
        out.update(self.runner.run(label, chosen))
        return out

    # ---- tools

    def necroflow_chain(self, n: int, outdir: Path, dry_run: bool) -> list[str]:
        argv = [sys.executable, str(BENCH / "necroflow_chain.py"), "--samples", str(n)]
        argv += ["--outdir", str(outdir), "--threads", str(THREADS)]
        return argv + (["--dry-run"] if dry_run else [])

    def snakemake_argv(self, snakefile: str, config: str, *extra: str) -> list[str]:
        assert self.snakemake is not None
        return [
            str(self.snakemake),
            "--cores",
            str(THREADS),
            "--snakefile",
            str(BENCH / snakefile),
            "--config",
            config,
            *extra,
        ]

    def snakemake_missing(self) -> dict[str, str]:
        """{"snakemake": reason} when there is no Snakemake to compare with, else {}."""
        if self.snakemake is not None:
            return {}
        if self.args.no_snakemake:
            return {"snakemake": "--no-snakemake (implied by --quick)"}
        return {"snakemake": "no Snakemake (python bench/run.py --setup-snakemake)"}

    # ---- plan

    def plan(self, n: int) -> Row:
        label = f"plan N={n:,}"
        progress(f"{label}: build the DAG of {3 * n + 1:,} jobs and dry-run, empty outdir")
        base = self.work / "plan"
        out = base / f"necroflow-{n}"
        sm = base / f"snakemake-{n}"
        cases = [
            Case(
                tool="necroflow",
                argv=self.necroflow_chain(n, out / "results", dry_run=True),
                cwd=REPO,
                log=base / f"necroflow-{n}.log",
                env=self.py_env,
                prepare=lambda: fresh_dir(out),
            )
        ]
        skipped = self.snakemake_missing()
        if not skipped and n > self.args.snakemake_plan_max:
            limit = self.args.snakemake_plan_max
            skipped = {"snakemake": f"N > --snakemake-plan-max {limit:,}"}
        if not skipped:
            cases.append(
                Case(
                    tool="snakemake",
                    argv=self.snakemake_argv("Snakefile", f"samples={n}", "-n"),
                    cwd=sm,
                    log=base / f"snakemake-{n}.log",
                    env=self.env,
                    prepare=lambda: fresh_dir(sm),
                )
            )
        return Row("plan", f"N={n:,}", 3 * n + 1, self.go(label, cases, skipped))

    # ---- run

    def run(self, n: int) -> Row:
        label = f"run N={n:,}"
        progress(f"{label}: full run of {3 * n + 1:,} jobs from an empty outdir, {THREADS} cores")
        base = self.work / "run"
        shutil.rmtree(base, ignore_errors=True)  # leftovers of an interrupted invocation
        base.mkdir(parents=True)
        # Every repetition gets a new, never-used outdir, and nothing is deleted until the
        # whole benchmark is over: on ext4 without a journal (this project's VM), creating
        # files within ~30 s of deleting many others makes the inode allocator step over the
        # recently deleted ones (find_inode_bit -> recently_deleted), which tripled
        # necroflow's system time from one repetition to the next when each one started
        # with `rm -rf outdir`.
        self.cleanup.append(base)
        count: dict[str, int] = {}
        current: dict[str, Path] = {}

        def next_dir(tool: str) -> Path:
            count[tool] = count.get(tool, 0) + 1
            current[tool] = base / f"{tool}-{count[tool]}"
            return current[tool]

        floor_argv: list[str] = []
        necro_argv: list[str] = []
        sm_argv: list[str] = []

        def floor_prepare() -> None:
            floor_argv[:] = write_floor_script(next_dir("floor"), n)

        def necro_prepare() -> None:
            necro_argv[:] = self.necroflow_chain(n, next_dir("necroflow"), dry_run=False)

        def sm_prepare() -> None:
            d = next_dir("snakemake")
            d.mkdir()
            sm_argv[:] = self.snakemake_argv("Snakefile", f"samples={n}", "--directory", str(d))

        cases = [
            Case(
                tool="floor",
                argv=floor_argv,
                cwd=base,
                log=self.work / "run-floor.log",
                env=self.env,
                prepare=floor_prepare,
                verify=lambda: check_counts(list((current["floor"] / "counts").glob("*.txt")), n),
            ),
            Case(
                tool="necroflow",
                argv=necro_argv,
                cwd=REPO,
                log=self.work / "run-necroflow.log",
                env=self.py_env,
                prepare=necro_prepare,
                verify=lambda: check_counts(
                    list(current["necroflow"].glob("count/*/counts.txt")), n
                ),
            ),
        ]
        skipped = self.snakemake_missing()
        if not skipped:
            cases.append(
                Case(
                    tool="snakemake",
                    argv=sm_argv,
                    cwd=base,
                    log=self.work / "run-snakemake.log",
                    env=self.env,
                    prepare=sm_prepare,
                    verify=lambda: check_counts(
                        list((current["snakemake"] / "counts").glob("*.txt")), n
                    ),
                )
            )
        return Row("run", f"N={n:,}", 3 * n + 1, self.go(label, cases, skipped))

    # ---- noop

    def noop(self, n: int) -> Row:
        label = f"noop N={n:,}"
        progress(f"{label}: rerun {3 * n + 1:,} up-to-date jobs")
        base = self.work / f"noop-{n}"
        out = base / "necroflow"
        sm = base / "snakemake"
        timeout = self.args.timeout
        snap: dict[str, dict[Path, int]] = {}
        self.cleanup += [out, sm]  # outputs stay until the end (see run()); logs stay

        def necro_setup() -> None:
            shutil.rmtree(out, ignore_errors=True)
            checked(
                self.necroflow_chain(n, out, dry_run=False),
                REPO,
                base / "necroflow-setup.log",
                self.py_env,
                "necroflow's first full run",
                timeout,
            )
            problem = check_counts(list(out.glob("count/*/counts.txt")), n)
            if problem:
                raise SetupError(f"necroflow's first full run: {problem}")
            snap["necroflow"] = mtimes(necroflow_outputs(out))

        def sm_setup() -> None:
            # Snakemake's own full run costs ~20 ms per job here; producing the same files
            # with the floor's commands and then `snakemake --touch` (which writes the same
            # metadata records) leaves an identical up-to-date state in seconds.  Measured
            # at N=300: no-op reruns take the same time after either setup.
            fresh_dir(sm)
            log = base / "snakemake-setup.log"
            if self.args.snakemake_real_setup:
                checked(
                    self.snakemake_argv("Snakefile", f"samples={n}"),
                    sm,
                    log,
                    self.env,
                    "Snakemake's first full run",
                    timeout,
                )
            else:
                checked(
                    write_floor_script(sm, n), sm, log, self.env, "writing the outputs", timeout
                )
                checked(
                    self.snakemake_argv("Snakefile", f"samples={n}", "--touch"),
                    sm,
                    log,
                    self.env,
                    "snakemake --touch",
                    timeout,
                )
            problem = check_counts(list((sm / "counts").glob("*.txt")), n)
            if problem:
                raise SetupError(f"Snakemake setup: {problem}")
            snap["snakemake"] = mtimes(snakemake_outputs(sm))

        cases = [
            Case(
                tool="necroflow",
                argv=self.necroflow_chain(n, out, dry_run=False),
                cwd=REPO,
                log=base / "necroflow.log",
                env=self.py_env,
                setup=necro_setup,
                rerun_check=lambda: mtimes(necroflow_outputs(out)) != snap["necroflow"],
            )
        ]
        skipped = self.snakemake_missing()
        if not skipped:
            cases.append(
                Case(
                    tool="snakemake",
                    argv=self.snakemake_argv("Snakefile", f"samples={n}"),
                    cwd=sm,
                    log=base / "snakemake.log",
                    env=self.env,
                    setup=sm_setup,
                    rerun_check=lambda: mtimes(snakemake_outputs(sm)) != snap["snakemake"],
                )
            )
        return Row("noop", f"N={n:,}", 3 * n + 1, self.go(label, cases, skipped))

    # ---- big

    def big(self, nbytes: int) -> Row:
        size = next(
            f"{nbytes / unit:g} {name}"
            for unit, name in ((GIB, "GiB"), (MIB, "MiB"), (1024, "KiB"), (1, "bytes"))
            if nbytes >= unit or unit == 1
        )
        label = f"big {size}"
        progress(f"{label}: touch the big file, rerun (content unchanged: nothing should rerun)")
        base = self.work / "big"
        need = 3 * nbytes + 64 * MIB
        free = shutil.disk_usage(self.work).free
        if free < need:
            raise SystemExit(
                f"big: needs {need / GIB:.1f} GiB free under {self.work}, has {free / GIB:.1f}; "
                "pass --big-bytes smaller or free space"
            )
        timeout = self.args.timeout
        floor_file = base / "floor" / "big.bin"
        out = base / "necroflow"
        sm = base / "snakemake"
        necro_argv = [
            sys.executable,
            str(BENCH / "necroflow_big.py"),
            "--bytes",
            str(nbytes),
            "--outdir",
            str(out),
            "--threads",
            str(THREADS),
        ]
        snap: dict[str, dict[Path, int]] = {}

        def floor_setup() -> None:
            fresh_dir(floor_file.parent)
            checked(
                ["sh", "-c", f"head -c {nbytes} /dev/zero > {shlex.quote(str(floor_file))}"],
                base,
                base / "floor-setup.log",
                self.env,
                "writing the floor's big file",
                timeout,
            )

        def big_file(tool: str) -> Path:
            found = (
                list(out.glob("make_big/*/big.bin")) if tool == "necroflow" else [sm / "big.bin"]
            )
            if len(found) != 1 or not found[0].exists():
                raise SetupError(f"{tool}: big.bin not found after the first run")
            return found[0]

        def touch_and_snapshot(tool: str, files: Callable[[], list[Path]]) -> None:
            os.utime(big_file(tool))  # mtime = now, content unchanged
            snap[tool] = mtimes(files())

        def necro_setup() -> None:
            shutil.rmtree(out, ignore_errors=True)
            checked(
                necro_argv,
                REPO,
                base / "necroflow-setup.log",
                self.py_env,
                "necroflow's first big run",
                timeout,
            )
            big_file("necroflow")

        def sm_setup() -> None:
            fresh_dir(sm)
            checked(
                self.snakemake_argv("Snakefile_big", f"nbytes={nbytes}"),
                sm,
                base / "snakemake-setup.log",
                self.env,
                "Snakemake's first big run",
                timeout,
            )

        def necro_files() -> list[Path]:
            return necroflow_outputs(out)

        def sm_files() -> list[Path]:
            return snakemake_outputs(sm)

        cases = [
            Case(
                tool="floor",
                argv=["openssl", "dgst", "-sha256", str(floor_file)],
                cwd=base,
                log=base / "floor.log",
                env=self.env,
                setup=floor_setup,
            ),
            Case(
                tool="necroflow",
                argv=necro_argv,
                cwd=REPO,
                log=base / "necroflow.log",
                env=self.py_env,
                setup=necro_setup,
                prepare=lambda: touch_and_snapshot("necroflow", necro_files),
                rerun_check=lambda: mtimes(necro_files()) != snap["necroflow"],
            ),
        ]
        skipped = self.snakemake_missing()
        if not skipped:
            cases.append(
                Case(
                    tool="snakemake",
                    argv=self.snakemake_argv("Snakefile_big", f"nbytes={nbytes}"),
                    cwd=sm,
                    log=base / "snakemake.log",
                    env=self.env,
                    setup=sm_setup,
                    prepare=lambda: touch_and_snapshot("snakemake", sm_files),
                    rerun_check=lambda: mtimes(sm_files()) != snap["snakemake"],
                )
            )
        results = self.go(label, cases, skipped)
        if not self.args.keep_big:
            for d in (floor_file.parent, out, sm):
                shutil.rmtree(d, ignore_errors=True)  # 3 GiB is too much to leave lying around
        return Row("big", size, 2, results)


# --------------------------------------------------------------------------- targets


def ratio(a: CaseResult | None, b: CaseResult | None) -> float | None:
    """a's median over b's median, when both ran."""
    if a is None or b is None or not a.ok or not b.ok:
        return None
    return a.median / b.median


def judge(row: Row, quick: bool) -> None:
    """Attach issue 7's target for this row and whether it was met."""
    necro = row.cases.get("necroflow")
    sm_speedup = ratio(row.cases.get("snakemake"), necro)
    over_floor = ratio(necro, row.cases.get("floor"))
    checks: list[tuple[str, bool | None]] = []
    n = row.jobs
    if row.scenario == "plan" and n == 30_001:
        checks = [
            ("≥ 30× faster than Snakemake", None if sm_speedup is None else sm_speedup >= 30),
            ("≤ 150 MB", None if necro is None or not necro.ok else necro.peak <= 150e6),
        ]
    elif row.scenario == "plan" and n == 90_001:
        checks = [
            (
                "≥ 30× faster than Snakemake (90k jobs)",
                None if sm_speedup is None else sm_speedup >= 30,
            )
        ]
    elif row.scenario == "plan" and n == 300_001:
        checks = [("≤ 1 GB", None if necro is None or not necro.ok else necro.peak <= 1e9)]
        if sm_speedup is not None:
            checks.append(("≥ 30× faster than Snakemake", sm_speedup >= 30))
    elif row.scenario == "run" and n == 901:
        checks = [("≤ 2.5× the floor", None if over_floor is None else over_floor <= 2.5)]
    elif row.scenario == "noop" and n == 9_001:
        checks = [("≥ 13× faster than Snakemake", None if sm_speedup is None else sm_speedup >= 13)]
    elif row.scenario == "big" and row.size == "1 GiB":
        ok_mem = None if necro is None or not necro.ok else necro.peak <= 100e6
        reran = None if necro is None or necro.reran is None else not necro.reran
        checks = [
            ("≤ 1.1× the floor", None if over_floor is None else over_floor <= 1.1),
            ("≤ 100 MB", ok_mem),
            ("nothing reruns", reran),
        ]
    if not checks:
        row.target, row.verdict = "–", ""
        return
    row.target = ", ".join(t for t, _ in checks)
    parts = []
    for text, ok in checks:
        parts.append(f"{'met' if ok else 'MISSED' if ok is False else 'n/a'}: {text}")
    row.verdict = "; ".join(parts) + (" (quick mode: sizes too small to judge)" if quick else "")


# --------------------------------------------------------------------------- report


def machine_info(snakemake: Path | None) -> dict[str, str]:
    """What a reader needs to weigh the figures: CPU, cores, RAM, versions."""
    info: dict[str, str] = {}
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info["CPU"] = cpu
    info["cores"] = str(os.cpu_count())
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["RAM"] = f"{int(line.split()[1]) / (1 << 20):.1f} GiB"
    except OSError:
        pass
    info["OS"] = platform.platform()
    info["load average at start/end"] = f"{LOAD_AT_START:.2f}/{os.getloadavg()[0]:.2f}"
    info["Python"] = platform.python_version()
    info["necroflow"] = necroflow_version()
    if snakemake is not None:
        info["Snakemake"] = _output([str(snakemake), "--version"]) or "unknown"
    info["peak memory via"] = (
        "GNU time %M" if GNU_TIME else "os.wait4 ru_maxrss (includes the harness)"
    )
    info["openssl"] = _output(["openssl", "version"]) or "absent"
    return info


def necroflow_version() -> str:
    commit = _output(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    dirty = _output(["git", "-C", str(REPO), "status", "--porcelain", "--", "necroflow"])
    return (
        f"git {commit}{' + uncommitted engine changes' if dirty else ''}" if commit else "unknown"
    )


def _output(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def render(rows: list[Row], info: dict[str, str], command: str, started: float, quick: bool) -> str:
    when = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    lines = [
        "# necroflow benchmark results"
        + (" (quick smoke run, not a measurement)" if quick else ""),
        "",
        f"Measured {when} with `{command}` (total {time.time() - started:.0f} s).",
        "",
        "Machine: " + "; ".join(f"{k}: {v}" for k, v in info.items()) + ".",
        "",
        "Each cell: median wall time (min–max) over n whole-process runs, and peak memory (max RSS",
        "of the largest single process in the tree, worst run). Ratios are of medians.",
        "",
        "| scenario | jobs | necroflow | Snakemake | floor | Snakemake ÷ necroflow | necroflow ÷ floor | target (issue 7) |",
        "|---|---:|---|---|---|---:|---:|---|",
    ]
    for row in rows:
        necro, sm, floor = (row.cases.get(k) for k in ("necroflow", "snakemake", "floor"))
        speedup = ratio(sm, necro)
        over_floor = ratio(necro, floor)
        lines.append(
            f"| {row.scenario} {row.size} | {row.jobs:,} | {necro.cell() if necro else '–'} | "
            f"{sm.cell() if sm else '–'} | {floor.cell() if floor else '–'} | "
            f"{f'{speedup:.1f}×' if speedup else '–'} | {f'{over_floor:.2f}×' if over_floor else '–'} | "
            f"{row.verdict or row.target} |"
        )
    lines += [
        "",
        "Scenarios: *plan* builds the DAG and dry-runs it with an empty outdir (Snakemake: `-n`);",
        "*run* runs everything from an empty outdir with 2 cores, floor = the same commands through",
        "`xargs -P2 sh -c`, one dependency wave after the other; *noop* reruns when everything is up to",
        "date (setup, untimed: one full run; for Snakemake the floor's commands then `snakemake --touch`);",
        "*big* touches a 1 GiB output (content unchanged) and reruns, floor = `openssl dgst -sha256`",
        "of a file of the same size.",
    ]
    notes = [
        f"{row.scenario} {row.size} {c.tool}: {note}"
        for row in rows
        for c in row.cases.values()
        for note in c.notes
    ]
    if notes:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main


def setup_snakemake(venv: Path, version: str) -> None:
    """Create the comparison venv; Snakemake never enters necroflow's own environment."""
    progress(f"creating {venv} with snakemake=={version}")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", f"snakemake=={version}"],
        check=True,
    )
    progress(
        subprocess.run(
            [str(venv / "bin" / "snakemake"), "--version"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )


def parse_sizes(text: str) -> list[int]:
    try:
        return [int(x.replace("_", "")) for x in text.split(",") if x.strip()]
    except ValueError:
        raise SystemExit(
            f"expected comma-separated integers like 1000,10000, got {text!r}"
        ) from None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Benchmark necroflow against Snakemake and a shell floor (issue 7).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--scenarios",
        default=",".join(ALL_SCENARIOS),
        help=f"comma-separated subset of {', '.join(ALL_SCENARIOS)}",
    )
    p.add_argument(
        "--reps", type=int, default=3, help="repetitions per case (each a fresh process)"
    )
    p.add_argument(
        "--budget",
        type=float,
        default=100.0,
        help="seconds per case after which no further repetition starts (at least one runs)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=900.0,
        help="kill any single process after this many seconds",
    )
    p.add_argument(
        "--plan-sizes",
        default="1000,10000,30000,100000",
        help="N for the plan scenario (30,000 samples = 90,001 jobs, where the issue measured Snakemake)",
    )
    p.add_argument("--run-size", type=int, default=300)
    p.add_argument("--noop-sizes", default="300,3000")
    p.add_argument("--big-bytes", type=int, default=GIB)
    p.add_argument(
        "--snakemake-plan-max",
        type=int,
        default=30_000,
        help="largest N Snakemake plans (N=100,000 takes it several minutes)",
    )
    p.add_argument("--snakemake-bin", type=Path, default=DEFAULT_VENV / "bin" / "snakemake")
    p.add_argument(
        "--tools",
        default="necroflow,snakemake,floor",
        help="comma-separated subset of necroflow, snakemake, floor",
    )
    p.add_argument(
        "--no-snakemake", action="store_true", help="measure necroflow and the floors only"
    )
    p.add_argument(
        "--snakemake-real-setup",
        action="store_true",
        help="noop: prepare Snakemake's outdir with a real Snakemake run instead of --touch",
    )
    p.add_argument(
        "--setup-snakemake",
        action="store_true",
        help=f"create {DEFAULT_VENV.relative_to(REPO)} with snakemake=={SNAKEMAKE_PIN} and exit",
    )
    p.add_argument("--snakemake-version", default=SNAKEMAKE_PIN)
    p.add_argument(
        "--keep-big", action="store_true", help="keep the 1 GiB files after the big scenario"
    )
    p.add_argument("--workdir", type=Path, default=BENCH / "work")
    p.add_argument(
        "--results",
        type=Path,
        default=None,
        help="markdown output (default bench/results.md; bench/work/results-quick.md with --quick)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes, one repetition, no Snakemake: a smoke test that takes seconds",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.reps = 1
        args.plan_sizes, args.run_size, args.noop_sizes, args.big_bytes = "20", 5, "5", MIB
        args.no_snakemake = True
    args.workdir = args.workdir.resolve()
    if args.results is None:
        args.results = args.workdir / "results-quick.md" if args.quick else BENCH / "results.md"
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = sorted(set(scenarios) - set(ALL_SCENARIOS))
    if unknown:
        p.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(ALL_SCENARIOS)}")
    args.scenario_list = scenarios
    args.tool_list = [t.strip() for t in args.tools.split(",") if t.strip()]
    bad = sorted(set(args.tool_list) - {"necroflow", "snakemake", "floor"})
    if bad:
        p.error(f"unknown tool(s) {', '.join(bad)}; choose from necroflow, snakemake, floor")
    if args.reps < 1:
        p.error("--reps must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.setup_snakemake:
        setup_snakemake(DEFAULT_VENV, args.snakemake_version)
        return 0
    snakemake: Path | None = None
    if not args.no_snakemake:
        if args.snakemake_bin.exists():
            snakemake = args.snakemake_bin
        else:
            progress(
                f"no Snakemake at {args.snakemake_bin}: measuring necroflow and floors only "
                "(run `python bench/run.py --setup-snakemake` to compare)"
            )
    global GNU_TIME, LOAD_AT_START
    LOAD_AT_START = os.getloadavg()[0]
    GNU_TIME = _find_gnu_time()
    if GNU_TIME is None:
        progress("GNU time not found: peak memory figures include this harness's own ~15 MiB")
    args.workdir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    bench = Bench(args, snakemake)
    rows: list[Row] = []
    for scenario in args.scenario_list:
        if scenario == "plan":
            rows += [bench.plan(n) for n in parse_sizes(args.plan_sizes)]
        elif scenario == "run":
            rows.append(bench.run(args.run_size))
        elif scenario == "noop":
            rows += [bench.noop(n) for n in parse_sizes(args.noop_sizes)]
        elif scenario == "big":
            rows.append(bench.big(args.big_bytes))
    for path in bench.cleanup:
        shutil.rmtree(path, ignore_errors=True)
    for row in rows:
        judge(row, args.quick)
    command = "python bench/run.py" + (
        ""
        if argv is None and len(sys.argv) < 2
        else " " + shlex.join(sys.argv[1:] if argv is None else argv)
    )
    report = render(rows, machine_info(snakemake), command, started, args.quick)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(report)
    (args.workdir / ("results-quick.json" if args.quick else "results.json")).write_text(
        json.dumps(
            [
                {
                    "scenario": r.scenario,
                    "size": r.size,
                    "jobs": r.jobs,
                    "verdict": r.verdict,
                    "cases": {k: c.as_json() for k, c in r.cases.items()},
                }
                for r in rows
            ],
            indent=1,
        )
    )
    print(report)
    progress(f"wrote {rel(args.results)}")
    failed = [f"{r.scenario} {r.size} {c.tool}" for r in rows for c in r.cases.values() if c.error]
    if failed:
        progress("FAILED: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
