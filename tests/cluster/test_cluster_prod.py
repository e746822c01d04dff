"""Retries and time limits on Dask and on the real one-node SLURM (README "Long production runs").

* Retries: a job failing twice succeeds on its third attempt on Dask, and on SLURM with
  ``ram=lambda attempt: f"{attempt * 100}M"``: each attempt is its own SLURM job, and what
  SLURM gave each one (``MinMemoryNode`` growing 96M, 191M, 287M, since SLURM's M is MiB) is
  read three ways: by the job itself while it runs (``scontrol show job $SLURM_JOB_ID`` into
  its log, kept per attempt in ``.rip/attempts/N/job.log``), by ``scontrol show job`` on each
  attempt's job id afterwards (``.rip/attempts/N/metrics.json``), and from the SLURM output
  file each attempt leaves in ``.rip/``.  The job script ``.rip/slurm-job.sh`` (its ``#
  submitted with: sbatch ...`` line) is rewritten per attempt: only the last one is there.
* Time limits: ``time="2s"`` stops a ``sleep 60`` job on Dask in about 2 s.  SLURM enforces
  ``--time`` in whole minutes and checks every ~30 s, so the SLURM job (``sleep 600``: a
  ``sleep 60`` could end on its own before SLURM's first check past the minute) is started
  by the first test of this module, in a driver process, and checked by the last one: the
  other tests run during its minute.  The SLURM wait is 60-95 s from submission.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cluster_helpers import log_has, wait_until

from necroflow import DAG, NodeType, Pipeline, Reporter, Rules
from necroflow.backends.dask import DaskBackend

REPO = Path(__file__).resolve().parents[2]
FAST = {"slurm_poll_interval": 0.2, "slurm_submit_rate": 100}


class Out(NodeType):
    """What a job wrote."""

    filename = "out.txt"


r = Rules()

COUNT = "n=$(($(cat {counter} 2>/dev/null || echo 0) + 1)); echo $n > {counter}; echo \"attempt $n\"; "


@r.command(COUNT + "[ $n -ge 3 ] || exit $n; echo \"made by attempt $n\" > {out}", retries=2)
def flaky(counter: str) -> Out[out]:  # noqa: F821
    """Fails twice, then succeeds."""


@r.command("scontrol show job -o $SLURM_JOB_ID; " + COUNT + "[ $n -ge 3 ] || exit $n; echo ok > {out}",
           retries=2, ram=lambda attempt: f"{attempt * 100}M", time="2h")
def grows(counter: str) -> Out[out]:  # noqa: F821
    """Fails twice asking for more memory each time; says what SLURM gave it."""


@r.command("scontrol show job -o $SLURM_JOB_ID > {out}", time="2h")
def two_hours(tag: str) -> Out[out]:  # noqa: F821
    """Two hours of its own."""


@r.command("scontrol show job -o $SLURM_JOB_ID > {out}")
def unlimited(tag: str) -> Out[out]:  # noqa: F821
    """No time of its own."""


BACKGROUND = "sh -c 'trap \"\" TERM; echo $$ > {pidfile}; exec sleep 60' & "


@r.command(BACKGROUND + "sleep 60; echo done > {out}", time="2s")
def hangs(pidfile: str) -> Out[out]:  # noqa: F821
    """Never finishes by itself; leaves a SIGTERM-proof child in the background."""


@r.command("sleep 60; echo done > {out}", time="1h")
def hangs_an_hour(tag: str) -> Out[out]:  # noqa: F821
    """Its own limit is an hour: the run's cap decides."""


def quiet() -> Reporter:
    return Reporter(stream=io.StringIO())


def fields(record: str) -> dict[str, str]:
    """``scontrol show job -o`` (one line of Key=Value words) -> dict."""
    return dict(w.split("=", 1) for w in record.split() if "=" in w)


def scontrol(job_id: str) -> dict[str, str]:
    proc = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True, check=True)
    return fields(proc.stdout)


def submitted_with(node: Path) -> list[str]:
    script = (node / ".rip" / "slurm-job.sh").read_text()
    line = next(ln for ln in script.splitlines() if ln.startswith("# submitted with: sbatch "))
    return line.removeprefix("# submitted with: sbatch ").split()[:-1]


def attempts(node: Path) -> dict[int, tuple[str, dict[str, Any]]]:
    root = node / ".rip" / "attempts"
    return {int(p.name): ((p / "job.log").read_text(), json.loads((p / "metrics.json").read_text()))
            for p in root.iterdir()}


def node_of(outdir: Path, rule: str) -> Path:
    (node,) = (outdir / rule).iterdir()
    return node


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# --- SLURM's time limit: started first, checked last -------------------------------------------

SLURM_TIMEOUT_DRIVER = """
from __future__ import annotations

import json
import sys
import time

from necroflow import DAG, JobFailed, NodeType, Pipeline, Rules
from necroflow.backends.slurm import SlurmBackend


class Out(NodeType):
    filename = "out.txt"


r = Rules()


@r.command("echo started; sleep 600; echo done > {out}", time="2s")
def slurm_hangs(tag: str) -> Out[out]:
    "Never finishes by itself."


dag = DAG(sys.argv[1])
P = Pipeline()
P.out = r.slurm_hangs(tag="x")
dag.add(P)
t0 = time.monotonic()
try:
    dag.execute(backend=SlurmBackend(poll_interval=0.5, submit_rate=100))
    result = {"failed": False}
except JobFailed as e:
    result = {"failed": True, "message": str(e), "node": str(e.job.dir)}
result["elapsed"] = time.monotonic() - t0
with open(sys.argv[2], "w") as f:
    json.dump(result, f)
"""


@dataclass
class SlurmTimeout:
    proc: subprocess.Popen[str]
    outdir: Path
    result: Path
    started: float


@pytest.fixture(scope="module")
def slurm_timeout(slurm_cluster: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmTimeout]:
    """A run of one ``time="2s"`` job on SLURM, in a driver process for this whole module."""
    root = tmp_path_factory.mktemp("slurm-timeout")
    (root / "driver.py").write_text(SLURM_TIMEOUT_DRIVER)
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, str(root / "driver.py"), str(root / "out"), str(root / "result.json")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    try:
        yield SlurmTimeout(proc, root / "out", root / "result.json", time.monotonic())
    finally:
        if proc.poll() is None:  # a test failed before the end: cancel the SLURM job (scancel)
            proc.send_signal(signal.SIGINT)
            try:
                proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()


def test_slurm_job_with_time_2s_gets_slurms_minute(slurm_timeout: SlurmTimeout) -> None:
    """First in this module: the job is submitted with --time and starts (its minute runs while
    the other tests do)."""
    logs: list[Path] = []

    def running() -> bool:
        assert slurm_timeout.proc.poll() is None, slurm_timeout.proc.communicate()[0]
        logs[:] = [p for p in slurm_timeout.outdir.glob("slurm_hangs/*/.rip/job.log") if log_has(p, "started")]
        return bool(logs)

    wait_until(running, 120, "the time-limited SLURM job to start")
    node = logs[0].parent.parent
    assert "--time=0-00:00:02" in submitted_with(node)
    (out,) = (node / ".rip").glob("slurm-*.out")
    job = scontrol(out.name.removeprefix("slurm-").removesuffix(".out"))
    assert job["TimeLimit"] == "00:01:00", job  # SLURM's limits are whole minutes
    assert job["JobState"] == "RUNNING", job


# --- Dask -------------------------------------------------------------------------------------


def test_dask_retries_fail_twice_then_succeed(tmp_path: Path) -> None:
    counter, outdir = tmp_path / "counter", tmp_path / "out"
    dag = DAG(str(outdir))
    P = Pipeline()
    P.out = r.flaky(counter=str(counter))
    dag.add(P)
    report = dag.execute(backend=DaskBackend(resources={"threads": 2}), progress=quiet())
    node = node_of(outdir, "flaky")
    assert report.ran == [f"flaky/{node.name}"] and counter.read_text() == "3\n"
    assert (node / "out.txt").read_text() == "made by attempt 3\n"
    kept = attempts(node)
    assert sorted(kept) == [1, 2, 3]
    for n, (log, metrics) in kept.items():
        assert f"attempt {n}\n" in log and log.count("attempt ") == 1, (n, log)
        assert metrics["backend"] == "dask" and metrics["job_id"].startswith("necroflow-flaky-"), metrics
    assert len({m["job_id"] for _, m in kept.values()}) == 3  # one Dask task per attempt


def test_dask_time_limit_stops_sleep_60(tmp_path: Path) -> None:
    """``time="2s"`` of a rule, and ``time_limit="2s"`` over a rule's own hour, on Dask."""
    pidfile = tmp_path / "background.pid"
    dag = DAG(str(tmp_path / "out"))
    P = Pipeline()
    P.own = r.hangs(pidfile=str(pidfile))
    P.capped = r.hangs_an_hour(tag="x")
    dag.add(P)
    t0 = time.monotonic()
    with pytest.raises(ExceptionGroup) as info:
        dag.execute(backend=DaskBackend(resources={"threads": 2}), time_limit="2s", keep_going=True,
                    resource_caps={"threads": 2}, progress=quiet())
    took = time.monotonic() - t0
    assert took < 20, f"a 2 s limit on Dask took {took:.1f}s"  # a LocalCluster starts in a second or two
    reasons = {e.job.rule.name: e for e in info.value.exceptions}
    assert sorted(reasons) == ["hangs", "hangs_an_hour"]
    for e in reasons.values():
        assert "ran out of time after 2s" in str(e) and "Dask task" in str(e), str(e)
        assert e.job.dir is not None
        metrics = json.loads((e.job.dir / ".rip" / "metrics.json").read_text())
        assert metrics["timed_out"] is True and metrics["backend"] == "dask", metrics
        assert 2 <= metrics["wall"] < 5, metrics
        assert not (e.job.dir / "out.txt").exists()
    background = int(pidfile.read_text())
    deadline = time.monotonic() + 3
    while alive(background) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(background), f"the job's background child {background} survived its time limit on Dask"


# --- SLURM: ram per attempt, time limits reaching sbatch ----------------------------------------


def test_slurm_ram_grows_per_attempt(slurm_cluster: None, tmp_path: Path) -> None:
    counter, outdir = tmp_path / "counter", tmp_path / "out"
    dag = DAG(str(outdir))
    P = Pipeline()
    P.out = r.grows(counter=str(counter))
    dag.add(P)
    report = dag.execute(backend="slurm", backend_options=FAST, progress=quiet())
    node = node_of(outdir, "grows")
    assert report.ran == [f"grows/{node.name}"] and counter.read_text() == "3\n"
    kept = attempts(node)
    assert sorted(kept) == [1, 2, 3]
    expected = {1: "96M", 2: "191M", 3: "287M"}  # 100, 200, 300 MB as SLURM MiB, rounded up
    ids = {}
    for n, (log, metrics) in kept.items():
        seen = fields(log.splitlines()[0])  # what the job read about itself from SLURM
        ids[n] = str(metrics["job_id"])
        assert seen["JobId"] == ids[n] and f"attempt {n}\n" in log, (n, log)
        assert seen["MinMemoryNode"] == expected[n], (n, seen)
        assert seen["TimeLimit"] == "02:00:00", (n, seen)  # time="2h"
        after = scontrol(ids[n])  # and what SLURM still says about that attempt's job
        assert after["MinMemoryNode"] == expected[n], (n, after)
        assert after["JobState"] == ("COMPLETED" if n == 3 else "FAILED"), (n, after)
        assert (node / ".rip" / f"slurm-{ids[n]}.out").exists(), n
    assert len(set(ids.values())) == 3
    # The job script is the last attempt's: the sbatch line of attempts 1 and 2 is not kept.
    opts = submitted_with(node)
    assert "--mem=287M" in opts and "--time=0-02:00:00" in opts, opts


def test_slurm_time_limit_caps_every_jobs_time(slurm_cluster: None, tmp_path: Path) -> None:
    """``time_limit=3600``: a rule's ``time="2h"`` and a rule without a time both get an hour."""
    outdir = tmp_path / "out"
    dag = DAG(str(outdir))
    P = Pipeline()
    P.two = r.two_hours(tag="a")
    P.none = r.unlimited(tag="b")
    dag.add(P)
    report = dag.execute(backend="slurm", backend_options=FAST, time_limit=3600, progress=quiet())
    assert len(report.ran) == 2, report
    for node in (node_of(outdir, "two_hours"), node_of(outdir, "unlimited")):
        assert fields((node / "out.txt").read_text())["TimeLimit"] == "01:00:00", node
        assert "--time=0-01:00:00" in submitted_with(node), node


# --- last: SLURM stopped the time-limited job ---------------------------------------------------


def test_slurm_time_2s_stops_the_job(slurm_timeout: SlurmTimeout) -> None:
    """The job started by the first test: SLURM kills it after its minute (TIMEOUT), and
    necroflow reports that as on every backend."""
    try:
        out, _ = slurm_timeout.proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        pytest.fail("SLURM did not stop the time-limited job within 4 minutes")
    waited = time.monotonic() - slurm_timeout.started
    result = json.loads(slurm_timeout.result.read_text())
    assert result["failed"], (result, out)
    message = result["message"]
    assert "ran out of time after 2s" in message and "TIMEOUT" in message, message
    node = Path(result["node"])
    metrics = json.loads((node / ".rip" / "metrics.json").read_text())
    assert metrics["timed_out"] is True and metrics["time_limit"] == 2 and metrics["backend"] == "slurm", metrics
    assert (node / ".rip" / "state").read_text() == "failed"
    assert "started" in (node / ".rip" / "job.log").read_text()
    # Nothing of the job is trusted.  (Its out.txt may exist: SLURM signals the job's processes
    # one by one, and the shell, woken by its sleep's death, can run `echo done` before its own
    # SIGTERM lands; a failed job's files are never hashed or recorded.)
    assert not (node / ".rip" / "record.json").exists() and not (node / ".rip" / "out.txt.hash").exists()
    assert result["elapsed"] >= 55, f"SLURM stopped it after {result['elapsed']:.0f}s, before its minute"
    assert waited < 240
