"""Time limits on the local backend (README "Time limits").

``time="2s"`` stops a job's whole process group when the time is up and fails it with "ran
out of time after 2s", recorded in its metrics; ``time_limit=`` / ``--time-limit`` caps every
job of a run.  (Dask and SLURM: ``cluster/test_cluster_prod.py``; the CLI flag:
``test_prod_retries.py::test_cli_retries_and_time_limit``.)
"""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

import pytest
from procs import group_alive

from necroflow import DAG, JobFailed, NodeType, Pipeline, Reporter, Rules


class Out(NodeType):
    """What a job wrote."""

    filename = "out.txt"


r = Rules()

# A background child that ignores SIGTERM (so only the group kill can stop it) writes its pid
# to {pidfile}; the job's shell then sleeps in the foreground.
BACKGROUND = "sh -c 'trap \"\" TERM; echo $$ > {pidfile}; exec sleep 60' & "


@r.command(BACKGROUND + "sleep 60; echo done > {out}", time="2s")
def hangs(pidfile: str) -> Out[out]:  # noqa: F821
    """Never finishes by itself."""


@r.command("sleep 60; echo done > {out}", time="1h")
def long_limit(tag: str) -> Out[out]:  # noqa: F821
    """An hour of its own: the run's cap decides."""


@r.command("sleep 60; echo done > {out}")
def no_limit(tag: str) -> Out[out]:  # noqa: F821
    """No limit of its own."""


@r.command("sleep 60; echo done > {out}", time="1s")
def short_limit(tag: str) -> Out[out]:  # noqa: F821
    """A limit shorter than the run's cap: its own wins."""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def gone_soon(check: object, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not check():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc to look for the job's processes")
def test_time_stops_the_job_and_its_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "background.pid"
    dag = DAG(str(tmp_path / "out"))
    P = Pipeline()
    P.out = r.hangs(pidfile=str(pidfile))
    dag.add(P)
    t0 = time.monotonic()
    with pytest.raises(JobFailed, match="ran out of time after 2s") as info:
        dag.execute(progress=Reporter(stream=io.StringIO()))
    took = time.monotonic() - t0
    assert 2 <= took < 6, f"stopped after {took:.1f}s, limit 2s"
    node = info.value.job.dir
    assert node is not None
    metrics = json.loads((node / ".rip" / "metrics.json").read_text())
    assert metrics["timed_out"] is True and metrics["time_limit"] == 2, metrics
    assert (node / ".rip" / "state").read_text() == "failed"
    assert "necroflow: job ran out of time after 2s" in (node / ".rip" / "job.log").read_text()
    assert not (node / "out.txt").exists()
    background = int(pidfile.read_text())
    assert gone_soon(lambda: alive(background)), f"the background child {background} survived the time limit"
    pgid = int(metrics["job_id"])  # the job's shell, leader of its process group
    assert gone_soon(lambda: group_alive(pgid)), f"process group {pgid} survived the time limit"


def test_time_limit_caps_every_job_of_a_run(tmp_path: Path) -> None:
    dag = DAG(str(tmp_path / "out"))
    P = Pipeline()
    P.long = r.long_limit(tag="a")
    P.none = r.no_limit(tag="b")
    P.short = r.short_limit(tag="c")
    dag.add(P)
    t0 = time.monotonic()
    with pytest.raises(ExceptionGroup) as info:
        dag.execute(time_limit="2s", keep_going=True, resource_caps={"threads": 3},
                    progress=Reporter(stream=io.StringIO()))
    took = time.monotonic() - t0
    assert took < 6, f"the run took {took:.1f}s with a 2 s cap"
    reasons = {e.job.rule.name: str(e) for e in info.value.exceptions}
    assert sorted(reasons) == ["long_limit", "no_limit", "short_limit"]
    assert "ran out of time after 2s" in reasons["long_limit"], reasons
    assert "ran out of time after 2s" in reasons["no_limit"], reasons
    assert "ran out of time after 1s" in reasons["short_limit"], reasons
    walls = {}
    for e in info.value.exceptions:
        assert e.job.dir is not None
        walls[e.job.rule.name] = json.loads((e.job.dir / ".rip" / "metrics.json").read_text())["wall"]
    assert 2 <= walls["long_limit"] < 4 and 2 <= walls["no_limit"] < 4 and 1 <= walls["short_limit"] < 3, walls
