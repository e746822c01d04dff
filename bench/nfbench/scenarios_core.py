"""The chain scenarios against Snakemake and the shell floor: plan, run and noop."""

from __future__ import annotations

import shutil
from pathlib import Path

from .bench import Bench, Row
from .config import REPO, THREADS
from .measure import Case, SetupError, checked, progress
from .workloads import (
    DirSeries,
    check_counts,
    fresh_dir,
    mtimes,
    necroflow_outputs,
    snakemake_outputs,
    write_floor_script,
)

# --------------------------------------------------------------------------- plan


def plan(b: Bench, n: int) -> Row:
    """Build the DAG of 3N+1 jobs and dry-run it with an empty outdir (Snakemake: ``-n``)."""
    label = f"plan N={n:,}"
    progress(f"{label}: build the DAG of {3 * n + 1:,} jobs and dry-run, empty outdir")
    base = b.work / "plan"
    out = base / f"necroflow-{n}"
    sm = base / f"snakemake-{n}"
    cases = [
        Case(
            tool="necroflow",
            argv=b.necroflow_chain(n, out / "results", dry_run=True),
            cwd=REPO,
            log=base / f"necroflow-{n}.log",
            env=b.py_env,
            prepare=lambda: fresh_dir(out),
        )
    ]
    skipped = b.snakemake_missing()
    if not skipped and n > b.args.snakemake_plan_max:
        limit = b.args.snakemake_plan_max
        skipped = {"snakemake": f"N > --snakemake-plan-max {limit:,}"}
    if not skipped:
        cases.append(
            Case(
                tool="snakemake",
                argv=b.snakemake_argv("Snakefile", f"samples={n}", "-n"),
                cwd=sm,
                log=base / f"snakemake-{n}.log",
                env=b.env,
                prepare=lambda: fresh_dir(sm),
            )
        )
    return Row("plan", f"N={n:,}", 3 * n + 1, b.go(label, cases, skipped))


# --------------------------------------------------------------------------- run


def run(b: Bench, n: int) -> Row:
    """Everything from an empty, never-used outdir (see DirSeries) with 2 cores.

    necroflow runs with its defaults, so its durable records (one ``syncfs`` per batch of
    finished jobs before their states are written) are part of the figure.
    """
    label = f"run N={n:,}"
    progress(f"{label}: full run of {3 * n + 1:,} jobs from an empty outdir, {THREADS} cores")
    base = b.work / "run"
    shutil.rmtree(base, ignore_errors=True)  # leftovers of an interrupted invocation
    base.mkdir(parents=True)
    b.cleanup.append(base)
    dirs = DirSeries(base)
    cases = [_run_floor(b, n, dirs), _run_necroflow(b, n, dirs)]
    skipped = b.snakemake_missing()
    if not skipped:
        cases.append(_run_snakemake(b, n, dirs))
    return Row("run", f"N={n:,}", 3 * n + 1, b.go(label, cases, skipped))


def _run_floor(b: Bench, n: int, dirs: DirSeries) -> Case:
    argv: list[str] = []

    def prepare() -> None:
        argv[:] = write_floor_script(dirs.next("floor"), n)

    return Case(
        tool="floor",
        argv=argv,
        cwd=dirs.base,
        log=b.work / "run-floor.log",
        env=b.env,
        prepare=prepare,
        verify=lambda: check_counts(list((dirs.current["floor"] / "counts").glob("*.txt")), n),
    )


def _run_necroflow(b: Bench, n: int, dirs: DirSeries) -> Case:
    argv: list[str] = []

    def prepare() -> None:
        argv[:] = b.necroflow_chain(n, dirs.next("necroflow"), dry_run=False)

    return Case(
        tool="necroflow",
        argv=argv,
        cwd=REPO,
        log=b.work / "run-necroflow.log",
        env=b.py_env,
        prepare=prepare,
        verify=lambda: check_counts(list(dirs.current["necroflow"].glob("count/*/counts.txt")), n),
    )


def _run_snakemake(b: Bench, n: int, dirs: DirSeries) -> Case:
    argv: list[str] = []

    def prepare() -> None:
        d = dirs.next("snakemake")
        d.mkdir()
        argv[:] = b.snakemake_argv("Snakefile", f"samples={n}", "--directory", str(d))

    return Case(
        tool="snakemake",
        argv=argv,
        cwd=dirs.base,
        log=b.work / "run-snakemake.log",
        env=b.env,
        prepare=prepare,
        verify=lambda: check_counts(list((dirs.current["snakemake"] / "counts").glob("*.txt")), n),
    )


# --------------------------------------------------------------------------- noop


def noop(b: Bench, n: int) -> Row:
    """Rerun when everything is up to date; setup (untimed): one full run."""
    label = f"noop N={n:,}"
    progress(f"{label}: rerun {3 * n + 1:,} up-to-date jobs")
    base = b.work / f"noop-{n}"
    out = base / "necroflow"
    sm = base / "snakemake"
    snap: dict[str, dict[Path, int]] = {}
    b.cleanup += [out, sm]  # outputs stay until the end (see DirSeries); logs stay
    cases = [
        Case(
            tool="necroflow",
            argv=b.necroflow_chain(n, out, dry_run=False),
            cwd=REPO,
            log=base / "necroflow.log",
            env=b.py_env,
            setup=lambda: necroflow_full_run(b, n, out, base / "necroflow-setup.log", snap),
            rerun_check=lambda: mtimes(necroflow_outputs(out)) != snap["necroflow"],
        )
    ]
    skipped = b.snakemake_missing()
    if not skipped:
        cases.append(
            Case(
                tool="snakemake",
                argv=b.snakemake_argv("Snakefile", f"samples={n}"),
                cwd=sm,
                log=base / "snakemake.log",
                env=b.env,
                setup=lambda: _snakemake_up_to_date(b, n, sm, base / "snakemake-setup.log", snap),
                rerun_check=lambda: mtimes(snakemake_outputs(sm)) != snap["snakemake"],
            )
        )
    return Row("noop", f"N={n:,}", 3 * n + 1, b.go(label, cases, skipped))


def necroflow_full_run(
    b: Bench,
    n: int,
    out: Path,
    log: Path,
    snap: dict[str, dict[Path, int]],
    timeout: float | None = None,
    keep: bool = False,
) -> None:
    """The untimed first run before no-op reruns; snapshots the outputs' mtimes.

    ``keep`` starts from what an earlier benchmark left in out (the run then only brings it
    up to date) instead of an empty outdir.
    """
    if not keep:
        shutil.rmtree(out, ignore_errors=True)
    what = "necroflow's first full run"
    argv = b.necroflow_chain(n, out, dry_run=False)
    checked(argv, REPO, log, b.py_env, what, timeout or b.args.timeout)
    problem = check_counts(list(out.glob("count/*/counts.txt")), n)
    if problem:
        raise SetupError(f"{what}: {problem}")
    snap["necroflow"] = mtimes(necroflow_outputs(out))


def _snakemake_up_to_date(
    b: Bench, n: int, sm: Path, log: Path, snap: dict[str, dict[Path, int]]
) -> None:
    """Leave Snakemake's workdir up to date.

    Snakemake's own full run costs ~20 ms per job here; producing the same files with the
    floor's commands and then `snakemake --touch` (which writes the same metadata records)
    leaves an identical up-to-date state in seconds.  Measured at N=300: no-op reruns take
    the same time after either setup.
    """
    fresh_dir(sm)
    timeout = b.args.timeout
    if b.args.snakemake_real_setup:
        argv = b.snakemake_argv("Snakefile", f"samples={n}")
        checked(argv, sm, log, b.env, "Snakemake's first full run", timeout)
    else:
        checked(write_floor_script(sm, n), sm, log, b.env, "writing the outputs", timeout)
        argv = b.snakemake_argv("Snakefile", f"samples={n}", "--touch")
        checked(argv, sm, log, b.env, "snakemake --touch", timeout)
    problem = check_counts(list((sm / "counts").glob("*.txt")), n)
    if problem:
        raise SetupError(f"Snakemake setup: {problem}")
    snap["snakemake"] = mtimes(snakemake_outputs(sm))
