"""The dask scenario: N trivial jobs on a Dask LocalCluster against the same N run locally.

Four whole ``bench/necroflow_backends.py`` processes, repetitions interleaved: N jobs on the
local backend, N on ``backend="dask"`` (what ``necroflow run --backend dask`` builds: a
LocalCluster of one worker with a thread per CPU, started at the first job, closed at the
end), and one job on each.  The one-job runs give the fixed cost (importing
``distributed``, starting and closing the cluster); the per-job overhead beyond local is
what is left after taking the fixed costs out of both::

    ((dask_N - dask_1) - (local_N - local_1)) / (N - 1)
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any

from .bench import Bench, Row
from .measure import Case, CaseResult, Runner, progress
from .workloads import DirSeries, check_trivial, read_json

TOOLS = ("local", "dask", "local-1", "dask-1")
DASK_BUDGET = 300.0  # seconds per case before no further repetition starts (at least)


def dask(b: Bench, n: int) -> Row:
    label = f"dask N={n:,}"
    progress(f"{label}: {n:,} trivial jobs on a Dask LocalCluster and on the local backend")
    if importlib.util.find_spec("distributed") is None:
        why = "no 'distributed' package (pip install 'necroflow[dask]')"
        return Row("dask", f"N={n:,}", n, {t: CaseResult(tool=t, skipped=why) for t in TOOLS})
    base = b.work / "dask"
    shutil.rmtree(base, ignore_errors=True)  # leftovers of an interrupted invocation
    base.mkdir(parents=True)
    b.cleanup.append(base)
    dirs = DirSeries(base)
    cases = [
        _trivial(b, tool, n if tool in ("local", "dask") else 1, dirs, base) for tool in TOOLS
    ]
    # The Dask case takes ~80 s at N=10,000 here: the default 100 s budget would stop it
    # after 2 repetitions, and the targets are medians of 3.
    runner = Runner(b.args.reps, max(b.args.budget, DASK_BUDGET), b.args.timeout)
    results = runner.run(label, cases)
    return Row("dask", f"N={n:,}", n, results, extra=overhead(results, n))


def _trivial(b: Bench, tool: str, n: int, dirs: DirSeries, base: Path) -> Case:
    argv: list[str] = []
    backend = tool.split("-")[0]
    stats = base / f"{tool}.stats.json"

    def prepare() -> None:
        stats.unlink(missing_ok=True)
        argv[:] = b.necroflow_backend(n, dirs.next(tool), backend, "--stats", str(stats))

    return Case(
        tool=tool,
        argv=argv,
        cwd=base,
        log=base / f"{tool}.log",
        env=b.py_env,
        prepare=prepare,
        verify=lambda: check_trivial(dirs.current[tool], n),
        stats=lambda: read_json(stats),
    )


def overhead(results: dict[str, CaseResult], n: int) -> dict[str, Any]:
    """ms per job on each backend, the fixed cost of the cluster and the overhead beyond local."""
    local, dask_n, local1, dask1 = (results[t] for t in TOOLS)
    extra: dict[str, Any] = {}
    if local.ok and dask_n.ok:
        extra["local_ms_per_job"] = local.median / n * 1000
        extra["dask_ms_per_job"] = dask_n.median / n * 1000
        extra["raw_ms_per_job"] = (dask_n.median - local.median) / n * 1000
    if local1.ok and dask1.ok:
        extra["startup_s"] = dask1.median - local1.median
        if "raw_ms_per_job" in extra and n > 1:
            beyond = (dask_n.median - dask1.median) - (local.median - local1.median)
            extra["ms_per_job"] = beyond / (n - 1) * 1000
    return extra
