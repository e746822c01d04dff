"""SLURM with no controller to talk to: the run stops in seconds, with SLURM's own words.

No cluster is needed (the session's test cluster is never touched).  Unreachable
controllers are made privately: stand-in ``squeue``/``sbatch`` scripts that fail the way
SLURM's do, passed to SlurmBackend or put first on PATH, and SLURM's real client tools
pointed (``SLURM_CONF``) at a private slurm.conf whose controller port nobody listens on.
"""

from __future__ import annotations

import os
import queue
import shutil
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_cli import GRID, REPO, necroflow  # noqa: E402

from necroflow.backends import BackendUnavailable  # noqa: E402
from necroflow.backends.base import TaskResult  # noqa: E402
from necroflow.backends.slurm import SlurmBackend, SlurmError, SlurmUnavailable  # noqa: E402

NO_CONTROLLER = "Unable to contact slurm controller (connect failure)"


def fake(folder: Path, name: str, body: str) -> Path:
    """An executable stand-in for a SLURM command; each call is appended to ``name.calls``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f'#!/bin/sh\necho "$*" >> "{folder / name}.calls"\n{body}\n')
    path.chmod(0o755)
    return path


def calls(folder: Path, name: str) -> list[str]:
    p = folder / f"{name}.calls"
    return p.read_text().splitlines() if p.exists() else []


DEAD_SQUEUE = f"echo 'slurm_load_jobs error: {NO_CONTROLLER}' >&2; exit 1"
DEAD_SBATCH = f"echo 'sbatch: error: Batch job submission failed: {NO_CONTROLLER}' >&2; exit 1"


def test_no_controller_stops_the_first_submission_with_what_squeue_said(tmp_path: Path, make_job) -> None:
    bin_ = tmp_path / "bin"
    backend = SlurmBackend(squeue=str(fake(bin_, "squeue", DEAD_SQUEUE)), sbatch=str(fake(bin_, "sbatch", "exit 0")))
    events: queue.Queue[TaskResult] = queue.Queue()
    backend.start(events)
    try:
        t0 = time.monotonic()
        with pytest.raises(SlurmUnavailable) as info:
            backend.submit(make_job("first", "true"))
        assert time.monotonic() - t0 < 5
    finally:
        backend.stop()
    err = info.value
    # a SlurmError for SLURM code, a BackendUnavailable/ConnectionError for whoever reports run errors
    assert isinstance(err, SlurmError) and isinstance(err, BackendUnavailable) and isinstance(err, OSError)
    assert "squeue --noheader --user=" in str(err) and NO_CONTROLLER in str(err), err
    assert "nothing was submitted" in str(err) and "\n" not in str(err)
    assert calls(bin_, "sbatch") == [] and len(calls(bin_, "squeue")) == 1
    assert events.empty()


def test_missing_squeue_is_named(tmp_path: Path, make_job) -> None:
    backend = SlurmBackend(squeue=str(tmp_path / "no-such-squeue"))
    backend.start(queue.Queue())
    try:
        with pytest.raises(SlurmUnavailable, match="no-such-squeue' not found: install the SLURM client tools"):
            backend.submit(make_job("first", "true"))
    finally:
        backend.stop()


def test_the_controller_is_asked_once_per_run_and_only_when_something_is_submitted(tmp_path: Path,
                                                                                  make_job) -> None:
    bin_ = tmp_path / "bin"
    squeue = fake(bin_, "squeue", "exit 0")
    sbatch = fake(bin_, "sbatch", "echo 'sbatch: error: invalid partition specified: nowhere' >&2; exit 1")
    backend = SlurmBackend(squeue=str(squeue), sbatch=str(sbatch), poll_interval=0.1, submit_rate=100.0)
    events: queue.Queue[TaskResult] = queue.Queue()
    backend.start(events)
    backend.stop()
    assert calls(bin_, "squeue") == []  # nothing to run: no question asked (an up-to-date run works offline)
    backend.start(events)
    jobs = [make_job(f"j{i}", "true") for i in range(3)]
    try:
        for job in jobs:
            backend.submit(job)
        results = [events.get(timeout=10) for _ in jobs]
    finally:
        backend.stop()
    assert calls(bin_, "squeue") == [calls(bin_, "squeue")[0]] and "--user=" in calls(bin_, "squeue")[0]
    assert all(not r.ok and "sbatch rejected job" in r.message and "check its constraints" in r.message
               for r in results)
    for job in jobs:  # the log says why the job never ran, instead of being empty
        assert "invalid partition specified: nowhere" in job.log_path.read_text()


def test_a_controller_lost_during_the_run_is_not_blamed_on_the_job(tmp_path: Path, make_job) -> None:
    bin_ = tmp_path / "bin"
    backend = SlurmBackend(squeue=str(fake(bin_, "squeue", "exit 0")), sbatch=str(fake(bin_, "sbatch", DEAD_SBATCH)))
    events: queue.Queue[TaskResult] = queue.Queue()
    backend.start(events)
    job = make_job("late", "true", partition="short")
    try:
        backend.submit(job)
        result = events.get(timeout=30)
    finally:
        backend.stop()
    assert not result.ok and len(calls(bin_, "sbatch")) == 4  # retried: controllers restart
    assert "could not reach the SLURM controller" in result.message and NO_CONTROLLER in result.message
    assert "constraints" not in result.message and "partition" not in result.message, result.message
    assert NO_CONTROLLER in job.log_path.read_text()


# ------------------------------------------------------------------------- the whole command


@pytest.fixture
def dead_slurm_conf(tmp_path: Path) -> Iterator[Path]:
    """A private slurm.conf whose controller port is bound by no listener: connections are refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # held, never listening, so no one else takes the port meanwhile
    conf = tmp_path / "slurm.conf"
    conf.write_text("ClusterName=nowhere\nSlurmctldHost=localhost(127.0.0.1)\n"
                    f"SlurmctldPort={sock.getsockname()[1]}\n"
                    "NodeName=localhost CPUs=1 State=UNKNOWN\nPartitionName=debug Nodes=localhost Default=YES\n")
    try:
        yield conf
    finally:
        sock.close()


def _assert_one_clear_line(r, elapsed: float, limit: float) -> None:
    assert r.code == 1, str(r)
    assert "Traceback" not in r.text, str(r)
    errors = [line for line in r.err.splitlines() if line.startswith("necroflow: error:")]
    assert len(errors) == 1 and NO_CONTROLLER in errors[0] and "squeue" in errors[0], str(r)
    assert "constraints" not in r.err and "FAILED" not in r.err, str(r)
    assert elapsed < limit, f"took {elapsed:.1f} s\n{r}"


def test_run_with_real_slurm_clients_and_no_controller_fails_in_seconds(tmp_path: Path,
                                                                        dead_slurm_conf: Path) -> None:
    if shutil.which("squeue") is None or shutil.which("sbatch") is None:
        pytest.skip("SLURM's client tools (squeue, sbatch) are not installed")
    t0 = time.monotonic()
    r = necroflow("run", "--backend", "slurm", "--outdir", tmp_path / "out", GRID, cwd=REPO,
                  SLURM_CONF=str(dead_slurm_conf))
    # squeue itself gives up after about MessageTimeout (10 s); sbatch's retries took 48 s
    _assert_one_clear_line(r, time.monotonic() - t0, 30)
    assert not list((tmp_path / "out").glob("*/*/.rip/slurm-*.out"))


def test_run_with_failing_slurm_commands_on_path_is_one_line_and_exit_1(tmp_path: Path) -> None:
    bin_ = tmp_path / "bin"
    fake(bin_, "squeue", DEAD_SQUEUE)
    fake(bin_, "sbatch", DEAD_SBATCH)
    fake(bin_, "scancel", "exit 0")
    t0 = time.monotonic()
    r = necroflow("run", "--backend", "slurm", "--outdir", tmp_path / "out", GRID, cwd=REPO,
                  PATH=f"{bin_}{os.pathsep}{os.environ['PATH']}")
    _assert_one_clear_line(r, time.monotonic() - t0, 15)
    assert calls(bin_, "sbatch") == [] and len(calls(bin_, "squeue")) == 1
