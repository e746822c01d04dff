"""Issue 15's targets: which row each applies to, and whether it was met."""

from __future__ import annotations

import statistics

from .bench import Row
from .measure import CaseResult

Check = tuple[str, bool | None]  # (the target in words, met / missed / could not judge)


def ratio(a: CaseResult | None, b: CaseResult | None) -> float | None:
    """a's median over b's median, when both ran."""
    if a is None or b is None or not a.ok or not b.ok:
        return None
    return a.median / b.median


def _peak_at_most(case: CaseResult | None, limit: float) -> bool | None:
    return None if case is None or not case.ok else case.peak <= limit


def _at_most(value: float | None, limit: float) -> bool | None:
    return None if value is None else value <= limit


def _at_least(value: float | None, limit: float) -> bool | None:
    return None if value is None else value >= limit


def core_checks(row: Row) -> list[Check]:
    """plan, run, noop and big against Snakemake and the floors."""
    necro = row.cases.get("necroflow")
    sm_speedup = ratio(row.cases.get("snakemake"), necro)
    over_floor = ratio(necro, row.cases.get("floor"))
    n = row.jobs
    if row.scenario == "plan" and n == 30_001:
        return [
            ("≥ 50× faster than Snakemake", _at_least(sm_speedup, 50)),
            ("≤ 100 MB", _peak_at_most(necro, 100e6)),
        ]
    if row.scenario == "run" and n == 901:
        return [("≤ 2.0× the floor, durable records on", _at_most(over_floor, 2.0))]
    if row.scenario == "noop" and n == 9_001:
        return [("≥ 25× faster than Snakemake", _at_least(sm_speedup, 25))]
    if row.scenario == "big" and row.size == "1 GiB":
        reran = None if necro is None or necro.reran is None else not necro.reran
        return [
            ("≤ 1.05× the floor", _at_most(over_floor, 1.05)),
            ("≤ 50 MB", _peak_at_most(necro, 50e6)),
            ("nothing reruns", reran),
        ]
    return []


def scale_checks(row: Row) -> list[Check]:
    """dask's per-job overhead; the million-job plan and no-op rerun."""
    if row.scenario == "dask" and row.jobs == 10_000:
        return [("≤ 2 ms/job beyond local", _at_most(row.extra.get("ms_per_job"), 2.0))]
    if row.scenario != "scale" or row.extra.get("n") != 333_333:
        return []
    necro = row.cases.get("necroflow")
    wall = necro.median if necro is not None and necro.ok else None
    if row.extra.get("kind") == "plan":
        return [("≤ 20 s", _at_most(wall, 20.0)), ("≤ 1 GB", _peak_at_most(necro, 1e9))]
    reran = None if necro is None or necro.reran is None else not necro.reran
    return [("≤ 25 s", _at_most(wall, 25.0)), ("nothing reruns", reran)]


def stat(case: CaseResult | None, key: str) -> float | None:
    """The median over repetitions of one figure the workload reported (sbatch calls, ...)."""
    if case is None:
        return None
    values = [float(v) for s in case.stats if isinstance(v := s.get(key), int | float)]
    return statistics.median(values) if values else None


def slurm_checks(row: Row, mode: str) -> list[Check]:
    """One SLURM mode at 1,000 jobs; the grouped chain's outputs against the local ones."""
    if row.scenario == "slurm-check" and mode == "group":
        return [("outputs byte-identical to local", row.extra.get("identical"))]
    if row.scenario != "slurm" or row.jobs != 1000:
        return []
    case = row.cases.get(mode)
    if mode == "array":
        return [
            ("≤ 10 sbatch calls", _at_most(stat(case, "sbatch_calls"), 10)),
            ("≤ 2 s submission", _at_most(stat(case, "submit_span"), 2.0)),
        ]
    if mode == "group":
        wall = case.median if case is not None and case.ok else None
        return [("≤ 30 s", _at_most(wall, 30.0))]
    return []


def verdict(checks: list[Check], quick: bool) -> tuple[str, str]:
    """(the targets, met/MISSED/n/a for each) as table text; ("–", "") without targets."""
    if not checks:
        return "–", ""
    target = ", ".join(t for t, _ in checks)
    parts = [f"{'met' if ok else 'MISSED' if ok is False else 'n/a'}: {text}" for text, ok in checks]
    return target, "; ".join(parts) + (" (quick mode: sizes too small to judge)" if quick else "")


def judge(row: Row, quick: bool) -> None:
    """Attach issue 15's targets for this row (per mode for SLURM) and whether they were met."""
    if row.scenario in ("slurm", "slurm-check"):
        row.extra["verdicts"] = {
            mode: verdict(slurm_checks(row, mode), quick)[1] for mode in row.cases
        }
        row.target, row.verdict = "–", ""
        return
    row.target, row.verdict = verdict(core_checks(row) or scale_checks(row), quick)
