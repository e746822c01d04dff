"""The results as markdown (one table per kind of scenario) and as JSON."""

from __future__ import annotations

import datetime as _dt
import json
import re
import time
from pathlib import Path
from typing import Any

from .bench import Row
from .config import MIB
from .measure import CaseResult
from .targets import ratio, stat

CORE = ("plan", "run", "noop", "big")

SCENARIO_TEXT = [
    "Scenarios: *plan* builds the DAG and dry-runs it with an empty outdir (Snakemake: `-n`);",
    "*run* runs everything from an empty outdir with 2 cores (necroflow with its defaults: durable",
    "records on), floor = the same commands through `xargs -P2 sh -c`, one dependency wave after",
    "the other; *noop* reruns when everything is up to date (setup, untimed: one full run; for",
    "Snakemake the floor's commands then `snakemake --touch`); *big* touches a 1 GiB output",
    "(content unchanged) and reruns, floor = `openssl dgst -sha256` of a file of the same size.",
]


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
    ]
    core = [r for r in rows if r.scenario in CORE]
    if core:
        lines += ["", *core_table(core), "", *SCENARIO_TEXT]
    for kind, table in (("dask", dask_table), ("scale", scale_table), ("slurm", slurm_table)):
        chosen = [r for r in rows if r.scenario.startswith(kind)]
        if chosen:
            lines += ["", *table(chosen)]
    notes = [
        f"{row.scenario} {row.size} {c.tool}: {note}"
        for row in rows
        for c in row.cases.values()
        for note in c.notes
    ]
    if notes:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def core_table(rows: list[Row]) -> list[str]:
    lines = [
        "| scenario | jobs | necroflow | Snakemake | floor | Snakemake ÷ necroflow | necroflow ÷ floor | target (issue 15) |",
        "|---|---:|---|---|---|---:|---:|---|",
    ]
    for row in rows:
        necro, sm, floor = (row.cases.get(k) for k in ("necroflow", "snakemake", "floor"))
        speedup = ratio(sm, necro)
        over_floor = ratio(necro, floor)
        lines.append(
            f"| {row.scenario} {row.size} | {row.jobs:,} | {_cell(necro)} | {_cell(sm)} | "
            f"{_cell(floor)} | {f'{speedup:.1f}×' if speedup else '–'} | "
            f"{f'{over_floor:.2f}×' if over_floor else '–'} | {row.verdict or row.target} |"
        )
    return lines


def _cell(case: CaseResult | None) -> str:
    return case.cell() if case else "–"


def _num(value: Any, fmt: str) -> str:
    return format(value, fmt) if isinstance(value, int | float) else "–"


def dask_table(rows: list[Row]) -> list[str]:
    lines = [
        "Dask: N trivial jobs (`echo I > out.txt`, N independent pipelines) through",
        '`DAG.execute(backend="dask")`, what `necroflow run --backend dask` builds: a LocalCluster',
        "of one worker with a thread per CPU, started at the first job and closed at the end; against",
        "the same N on the local backend (2 slots). The 1-job runs measure the fixed cost (import",
        "`distributed`, start and close the cluster: Dask 1 job − local 1 job); the overhead beyond",
        "local is ((Dask N − Dask 1) − (local N − local 1)) ÷ (N − 1), fixed costs taken out.",
        "",
        "| jobs | local backend | Dask LocalCluster | local, 1 job | Dask, 1 job | Dask fixed cost | ms/job local, Dask | overhead beyond local | target (issue 15) |",
        "|---:|---|---|---|---|---:|---:|---:|---|",
    ]
    for row in rows:
        c, x = row.cases, row.extra
        per_job = f"{_num(x.get('local_ms_per_job'), '.2f')}, {_num(x.get('dask_ms_per_job'), '.2f')}"
        lines.append(
            f"| {row.jobs:,} | {_cell(c.get('local'))} | {_cell(c.get('dask'))} | "
            f"{_cell(c.get('local-1'))} | {_cell(c.get('dask-1'))} | "
            f"{_num(x.get('startup_s'), '.2f')} s | {per_job} | "
            f"{_num(x.get('ms_per_job'), '.2f')} ms/job | {row.verdict or row.target} |"
        )
    return lines


def scale_table(rows: list[Row]) -> list[str]:
    lines = [
        "Scaling curve: the chain workload (3N+1 jobs) planned as *plan* does (dry run, empty",
        "outdir), necroflow only, and a no-op rerun at the largest N that was run in full (setup,",
        "untimed: one real full run). Per job = median wall ÷ jobs and peak RSS ÷ jobs; marginal =",
        "the growth from the next smaller N ÷ the jobs added (interpreter and imports cancel out).",
        "",
        "| what | N | jobs | wall | µs/job | peak MiB | bytes/job | marginal µs/job | marginal bytes/job | target (issue 15) |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        case, x = row.cases["necroflow"], row.extra
        ok = case.ok
        lines.append(
            f"| {x.get('kind', '?')} | {x.get('n', 0):,} | {row.jobs:,} | {case.cell()} | "
            f"{_num(case.median / row.jobs * 1e6 if ok else None, '.1f')} | "
            f"{_num(case.peak / MIB if ok else None, '.0f')} | "
            f"{_num(case.peak / row.jobs if ok else None, ',.0f')} | "
            f"{_num(x.get('marginal_us_per_job'), '.1f')} | "
            f"{_num(x.get('marginal_bytes_per_job'), ',.0f')} | {row.verdict or row.target} |"
        )
    return lines


MODE_TEXT = {
    "per-job": "per-job (`--slurm-array-size 0`)",
    "array": "arrays (default)",
    "group": "grouped (`{group}`)",
    "floor": "floor: one bare `sbatch --array=1-N`",
    "local": "local backend",
}


def slurm_table(rows: list[Row]) -> list[str]:
    cluster = next((r.extra["cluster"] for r in rows if "cluster" in r.extra), "no cluster")
    lines = [
        f"SLURM: N trivial jobs on the {cluster}. sbatch calls: `SlurmBackend.sbatch_calls`;",
        "submission: from the first job handed to the backend to the end of the last `sbatch` call",
        "(busy: the time spent inside `sbatch`). The check row runs the chain workload grouped and",
        "on the local backend and compares every output file byte for byte.",
        "",
        "| jobs | mode | wall | sbatch calls | submission (busy) | target (issue 15) / check |",
        "|---|---|---|---:|---:|---|",
    ]
    for row in rows:
        verdicts = row.extra.get("verdicts", {})
        for mode, case in row.cases.items():
            what = f"{row.jobs:,}" if row.scenario == "slurm" else f"check: {row.size} ({row.jobs:,} jobs)"
            span, busy = stat(case, "submit_span"), stat(case, "sbatch_busy")
            submission = f"{_num(span, '.2f')} s ({_num(busy, '.2f')} s)" if span is not None else "–"
            check = verdicts.get(mode, "")
            if row.scenario == "slurm-check" and mode == "group" and "identical_text" in row.extra:
                check += f" ({row.extra['identical_text']})"
            lines.append(
                f"| {what} | {MODE_TEXT.get(mode, mode).format(group=row.extra.get('group_flags', ''))} | "
                f"{case.cell()} | "
                f"{_num(stat(case, 'sbatch_calls'), '.0f')} | {submission} | {check or '–'} |"
            )
    return lines


def as_json(rows: list[Row]) -> str:
    return json.dumps(
        [
            {
                "scenario": r.scenario,
                "size": r.size,
                "jobs": r.jobs,
                "verdict": r.verdict,
                "extra": r.extra,
                "cases": {k: c.as_json() for k, c in r.cases.items()},
            }
            for r in rows
        ],
        indent=1,
        default=str,
    )


def keep_sections(results: Path, report: str) -> str:
    """The report, followed by the ``## `` sections other tools put into the file it replaces.

    ``bench/gui.py`` writes its own ``## GUI: ...`` section into bench/results.md; this report
    has no ``## `` headings of its own, so every such section is someone else's and stays.
    """
    if not results.exists():
        return report
    old = results.read_text()
    kept = [m.group(0).rstrip("\n") for m in re.finditer(r"^## .*?(?=^## |\Z)", old, re.M | re.S)]
    return report.rstrip("\n") + "".join(f"\n\n{k}" for k in kept) + "\n"
