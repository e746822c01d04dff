"""Fixtures of the fault tests: one undisturbed run of the workload, shared by every test."""

from __future__ import annotations

import time

import pytest
from faultlib import JOB, N_JOBS, RUN_ARGS, WORKLOAD, JobLog, Reference, links, outputs, run


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """Outputs, links and duration of an undisturbed ``necroflow run`` of the workload."""
    tmp = tmp_path_factory.mktemp("reference")
    t0 = time.monotonic()
    res = run([*RUN_ARGS, "--outdir", tmp / "out", JOB], cwd=WORKLOAD, log=tmp / "jobs.log")
    seconds = time.monotonic() - t0
    assert res.returncode == 0, res.stderr
    log = JobLog.read(tmp / "jobs.log")
    assert len(log.starts) == N_JOBS and not log.cut_short, log
    return Reference(outputs(tmp / "out"), links(tmp / "out"), seconds)
