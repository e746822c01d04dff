"""The slurm scenario: N trivial jobs on the one-node test cluster, one row per N.

Modes (``--slurm-modes``), each one whole process per repetition (``--slurm-reps``):

* *per-job*: ``--slurm-array-size 0``, one ``sbatch`` per job;
* *array*: necroflow's default, ready jobs of a rule as one ``sbatch --array`` per chunk;
* *group*: ``--slurm-group-size G``, up to G jobs in one allocation;
* *floor*: no necroflow, one ``sbatch --array=1-N`` over the same commands, waited for
  with a 0.2 s ``squeue`` poll (see ``slurm_cluster.FLOOR_RUN``).

The necroflow modes also report ``sbatch`` calls and submission time (see
``bench/necroflow_backends.py``).  A last check runs the chain workload grouped and on the
local backend and compares every output file byte for byte.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .bench import Bench, Row
from .measure import Case, CaseResult, Runner, progress
from .slurm_cluster import Cluster, ensure, write_floor
from .workloads import DirSeries, check_counts, check_trivial, fresh_dir, read_json, same_outputs


def slurm(b: Bench) -> list[Row]:
    args = b.args
    cluster = ensure(args.slurm_cpus or None)
    if isinstance(cluster, str):
        skipped = {m: CaseResult(tool=m, skipped=cluster) for m in args.slurm_mode_list}
        return [Row("slurm", f"N={n:,}", n, dict(skipped)) for n in args.slurm_size_list]
    progress(f"slurm: {cluster.describe()}")
    runner = Runner(args.slurm_reps, float("inf"), args.slurm_timeout)
    try:
        rows = [slurm_size(b, runner, n, cluster) for n in args.slurm_size_list]
        if args.slurm_check_size > 0:
            rows.append(identical(b, runner, args.slurm_check_size))
    finally:
        cluster.release()
    return rows


def slurm_size(b: Bench, runner: Runner, n: int, cluster: Cluster) -> Row:
    label = f"slurm N={n:,}"
    progress(f"{label}: {n:,} trivial jobs, modes {', '.join(b.args.slurm_mode_list)}")
    base = b.work / "slurm" / f"n{n}"
    shutil.rmtree(base, ignore_errors=True)  # leftovers of an interrupted invocation
    base.mkdir(parents=True)
    b.cleanup.append(base)
    dirs = DirSeries(base)
    cases = [_case(b, mode, n, dirs) for mode in b.args.slurm_mode_list]
    results = runner.run(label, cases)
    extra = {"cluster": cluster.describe(), "group_flags": " ".join(group_flags(b))}
    return Row("slurm", f"N={n:,}", n, results, extra=extra)


def group_flags(b: Bench) -> list[str]:
    flags = ["--slurm-group-size", str(b.args.slurm_group_size)]
    if b.args.slurm_group_cpus:
        flags += ["--slurm-group-cpus", str(b.args.slurm_group_cpus)]
    return flags


def _case(b: Bench, mode: str, n: int, dirs: DirSeries) -> Case:
    argv: list[str] = []
    stats = dirs.base / f"{mode}.stats.json"
    if mode == "floor":

        def prepare() -> None:
            argv[:] = write_floor(dirs.next(mode), n)

    else:
        flags = {"per-job": ["--slurm-array-size", "0"], "array": [], "group": group_flags(b)}

        def prepare() -> None:
            stats.unlink(missing_ok=True)
            out = dirs.next(mode)
            argv[:] = b.necroflow_backend(n, out, "slurm", "--stats", str(stats), *flags[mode])

    return Case(
        tool=mode,
        argv=argv,
        cwd=dirs.base,
        log=dirs.base / f"{mode}.log",
        env=b.py_env,
        prepare=prepare,
        verify=lambda: check_trivial(dirs.current[mode], n),
        stats=None if mode == "floor" else lambda: read_json(stats),
    )


def identical(b: Bench, runner: Runner, n: int) -> Row:
    """The chain workload grouped on SLURM and on the local backend: the same bytes?"""
    label = f"slurm check N={n:,}"
    progress(f"{label}: the chain workload ({3 * n + 1:,} jobs) grouped on SLURM and locally")
    base = b.work / "slurm" / "check"
    b.cleanup.append(base)
    out = {"local": base / "local", "group": base / "group"}
    cases = [
        _chain_case(b, tool, n, out[tool], backend, flags)
        for tool, backend, flags in (("local", "local", []), ("group", "slurm", group_flags(b)))
    ]
    results = runner.run(label, cases)
    row = Row("slurm-check", f"chain N={n:,}", 3 * n + 1, results)
    row.extra["group_flags"] = " ".join(group_flags(b))
    if all(r.ok for r in results.values()):
        same, text = same_outputs(out["local"], out["group"])
        row.extra.update(identical=same, identical_text=text)
    return row


def _chain_case(b: Bench, tool: str, n: int, out: Path, backend: str, flags: list[str]) -> Case:
    return Case(
        tool=tool,
        argv=b.necroflow_backend(n, out, backend, *flags, workload="chain"),
        cwd=out.parent,
        log=out.parent / f"{tool}.log",
        env=b.py_env,
        prepare=lambda: fresh_dir(out),
        verify=lambda: check_counts(list(out.glob("count/*/counts.txt")), n),
    )
