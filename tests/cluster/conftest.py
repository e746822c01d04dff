"""Fixtures for the cluster backends: a real single-node SLURM, job specs built by hand.

The SLURM fixture runs ``scripts/slurm-up.sh`` once per session (it installs the Debian
packages when they are missing) and ``scripts/slurm-down.sh`` at the end, unless the
cluster was already up before the session, in which case it is left as found.  Tests skip
only when the packages cannot be installed (no root, no apt, no mirror); set
``NECROFLOW_REQUIRE_SLURM=1`` (CI does) to turn that skip into a failure.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from necroflow.backends.base import Task, TaskResult
from necroflow.backends.slurm import SlurmBackend

REPO = Path(__file__).resolve().parents[2]
UP = REPO / "scripts" / "slurm-up.sh"
DOWN = REPO / "scripts" / "slurm-down.sh"
# The test cluster advertises more CPUs than the machine has: the jobs here mostly sleep or
# do nothing, and SLURM starts at most one wave of jobs per second, so 8 slots keep the
# many-jobs tests short on a 2-core machine.
TEST_CPUS = "8"

MakeJob = Callable[..., Task]


def _slurm_answers() -> bool:
    if shutil.which("scontrol") is None:
        return False
    try:
        out = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "is UP" in out.stdout


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("NECROFLOW_REQUIRE_SLURM") == "1":
        pytest.fail(f"{reason} (NECROFLOW_REQUIRE_SLURM=1 forbids skipping)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A running single-node SLURM cluster for the whole session.

    It also submits one job that sleeps past a one-minute time limit (see
    ``time_limited_job``): SLURM enforces limits in whole minutes, checked every 30 s, so
    starting that job with the cluster lets its minute overlap the other tests.
    """
    installed = all(
        shutil.which(c) or Path("/usr/sbin", c).exists()
        for c in ("sbatch", "squeue", "scancel", "slurmctld", "slurmd", "munged")
    )
    was_up = _slurm_answers()
    if os.geteuid() != 0:
        if not was_up:
            _skip_or_fail(
                "no SLURM cluster answers and starting one needs root: run scripts/slurm-up.sh as root"
                + ("" if installed else " (it also installs the packages)")
            )
    else:
        if shutil.which("apt-get") is None and not installed:
            _skip_or_fail("SLURM is not installed and there is no apt-get to install it")
        env = {**os.environ, "CPUS": TEST_CPUS}
        proc = subprocess.run([str(UP)], capture_output=True, text=True, env=env, timeout=900)
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
            if "ERROR: apt-get" in proc.stderr:
                _skip_or_fail(f"could not install SLURM from apt: {tail}")
            pytest.fail(f"scripts/slurm-up.sh failed (exit {proc.returncode}):\n{tail}")
    probe = _submit_time_limited_job(tmp_path_factory.mktemp("timelimit"))
    try:
        yield
    finally:
        probe.backend.stop()
        if not was_up:
            subprocess.run([str(DOWN)], capture_output=True, text=True, timeout=120)


@dataclass
class TimeLimitProbe:
    job: Task
    backend: SlurmBackend
    events: queue.Queue[TaskResult]


_probe: list[TimeLimitProbe] = []


def _submit_time_limited_job(root: Path) -> TimeLimitProbe:
    workdir = root / "rule" / "slow"
    (workdir / ".rip").mkdir(parents=True)
    job = Task(
        key="rule/slow",
        rule="rule",
        command="echo started; exec sleep 600",
        workdir=workdir,
        rip=workdir / ".rip",
        log_path=workdir / ".rip" / "job.log",
        constraints={"threads": 1, "time": 1},  # 1 s: SLURM rounds up to one minute
    )
    events: queue.Queue[TaskResult] = queue.Queue()
    backend = SlurmBackend(poll_interval=0.5, lost_grace=2.0)
    backend.start(events)
    backend.submit(job)
    _probe[:] = [TimeLimitProbe(job, backend, events)]
    return _probe[0]


@pytest.fixture(scope="session")
def time_limited_job(slurm_cluster: None) -> TimeLimitProbe:
    """The job submitted with the cluster that SLURM kills at its time limit."""
    return _probe[0]


@pytest.fixture
def make_job(tmp_path: Path) -> MakeJob:
    """Build a Task the way the run loop does: node folder with .rip/, log in .rip/job.log."""

    def make(name: str, command: str, **constraints: Any) -> Task:
        workdir = tmp_path / "out" / "rule" / name
        rip = workdir / ".rip"
        rip.mkdir(parents=True, exist_ok=True)
        constraints.setdefault("threads", 1)
        return Task(
            key=f"rule/{name}",
            rule="rule",
            command=command,
            workdir=workdir,
            rip=rip,
            log_path=rip / "job.log",
            constraints=constraints,
        )

    return make
