"""The scale scenario: how planning the chain workload grows with N, and a no-op rerun at scale.

Each size is a dry run with an empty outdir (as *plan*), necroflow only; the curve gives
µs and bytes (peak RSS) per job, and the marginal cost per job between one size and the
next, which leaves out the fixed cost of the interpreter and the imports.  The no-op rerun
needs every job run once first (untimed setup, its wall time reported): 3N+1 real jobs
through necroflow itself, since only a real run leaves the records a rerun trusts.
"""

from __future__ import annotations

from pathlib import Path

from .bench import Bench, Row
from .config import REPO
from .measure import Case, progress
from .scenarios_core import necroflow_full_run
from .workloads import fresh_dir, mtimes, necroflow_outputs, need_room

#: Generous bound on a full run's time per job, for the setup's timeout (~2-10 ms measured).
SETUP_SECONDS_PER_JOB = 0.02


def scale(b: Bench, sizes: list[int], noop_size: int) -> list[Row]:
    rows = [scale_plan(b, n) for n in sizes]
    marginal(rows)
    if noop_size > 0:
        rows.append(scale_noop(b, noop_size))
    return rows


def scale_plan(b: Bench, n: int) -> Row:
    label = f"scale plan N={n:,}"
    progress(f"{label}: build the DAG of {3 * n + 1:,} jobs and dry-run, empty outdir")
    base = b.work / "scale"
    out = base / f"plan-{n}"
    case = Case(
        tool="necroflow",
        argv=b.necroflow_chain(n, out / "results", dry_run=True),
        cwd=REPO,
        log=base / f"plan-{n}.log",
        env=b.py_env,
        prepare=lambda: fresh_dir(out),
    )
    results = b.runner.run(label, [case])
    b.cleanup.append(out)
    return Row("scale", f"plan N={n:,}", 3 * n + 1, results, extra={"kind": "plan", "n": n})


def marginal(rows: list[Row]) -> None:
    """Each row's cost per extra job over the next smaller size (fixed costs cancel)."""
    done = sorted((r for r in rows if r.cases["necroflow"].ok), key=lambda r: r.jobs)
    for small, large in zip(done, done[1:], strict=False):
        a, z = small.cases["necroflow"], large.cases["necroflow"]
        jobs = large.jobs - small.jobs
        if jobs > 0:
            large.extra["marginal_us_per_job"] = (z.median - a.median) / jobs * 1e6
            large.extra["marginal_bytes_per_job"] = (z.peak - a.peak) / jobs


def scale_noop(b: Bench, n: int) -> Row:
    """No-op rerun of 3N+1 up-to-date jobs; with --keep-scale the outdir outlives the run."""
    jobs = 3 * n + 1
    label = f"scale noop N={n:,}"
    progress(f"{label}: rerun {jobs:,} up-to-date jobs (setup: one full run, untimed)")
    base = b.work / "scale"
    out = base / f"noop-{n}"
    snap: dict[str, dict[Path, int]] = {}
    if not b.args.keep_scale:
        b.cleanup.append(out)
    case = Case(
        tool="necroflow",
        argv=b.necroflow_chain(n, out, dry_run=False),
        cwd=REPO,
        log=base / f"noop-{n}.log",
        env=b.py_env,
        setup=lambda: _setup(b, n, out, base / f"noop-{n}-setup.log", snap),
        rerun_check=lambda: mtimes(necroflow_outputs(out)) != snap["necroflow"],
    )
    results = b.runner.run(label, [case])
    result = results["necroflow"]
    if result.setup_wall is not None:
        result.notes.append(
            f"setup (one full run of {jobs:,} jobs, untimed) took {result.setup_wall:.0f} s"
        )
    return Row("scale", f"noop N={n:,}", jobs, results, extra={"kind": "noop", "n": n})


def _setup(b: Bench, n: int, out: Path, log: Path, snap: dict[str, dict[Path, int]]) -> None:
    jobs = 3 * n + 1
    reuse = b.args.keep_scale and out.is_dir()
    if not reuse:
        out.parent.mkdir(parents=True, exist_ok=True)
        need_room(out.parent, jobs, f"the full run of {jobs:,} jobs before the no-op rerun")
    timeout = max(b.args.timeout, jobs * SETUP_SECONDS_PER_JOB)
    progress(
        f"  setup: {'bringing the kept outdir up to date' if reuse else 'full run'} "
        f"of {jobs:,} jobs in {out} (timeout {timeout:.0f} s)"
    )
    necroflow_full_run(b, n, out, log, snap, timeout=timeout, keep=reuse)
