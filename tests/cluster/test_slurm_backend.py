"""SlurmBackend against a real single-node SLURM (see conftest.slurm_cluster).

The backend is driven directly through the Backend interface: JobSpecs are built by hand
in tmp folders, results are read from the events queue.
"""

from __future__ import annotations

import json
import os
import queue
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_helpers import (
    METRIC_KEYS,
    assert_no_extra_results,
    collect,
    log_has,
    node_files,
    wait_until,
)

from necroflow.backends.base import Task, TaskResult
from necroflow.backends.slurm import EXIT_RECORD, JOB_SCRIPT, SlurmBackend

pytestmark = pytest.mark.usefixtures("slurm_cluster")

Pair = tuple[SlurmBackend, "queue.Queue[TaskResult]"]


def _backend(**kw: object) -> Pair:
    events: queue.Queue[TaskResult] = queue.Queue()
    settings: dict[str, object] = {"poll_interval": 0.2, "submit_rate": 100.0, "lost_grace": 2.0}
    settings.update(kw)
    backend = SlurmBackend(**settings)  # type: ignore[arg-type]
    backend.start(events)
    return backend, events


@pytest.fixture
def slurm() -> Iterator[Pair]:
    backend, events = _backend()
    yield backend, events
    backend.stop()


def _job_id(job: Task, timeout: float = 30) -> str:
    """The SLURM id of a submitted job, from the scheduler output file name in .rip/."""
    found: list[str] = []

    def check() -> bool:
        found[:] = [p.name[len("slurm-") : -len(".out")] for p in job.rip.glob("slurm-*.out")]
        return bool(found)

    wait_until(check, timeout, f"SLURM output file of {job.key}")
    return found[0]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]


def _squeue_state(job_id: str) -> str:
    out = subprocess.run(
        ["squeue", "-h", "--states=all", "-j", job_id, "-o", "%T"], capture_output=True, text=True
    )
    return out.stdout.strip()


def test_success_writes_outputs_log_and_metrics(slurm: Pair, make_job) -> None:
    backend, events = slurm
    job = make_job("ok", "printf 'hello\\n' > out.txt; echo to-stdout; echo to-stderr >&2")
    job.log_path.write_text("log of an earlier attempt\n")
    backend.submit(job)
    result = collect(events, 1, 60)["rule/ok"]
    assert result.ok and result.returncode == 0 and result.signal is None, result
    assert (job.workdir / "out.txt").read_text() == "hello\n"
    log = job.log_path.read_text()
    assert "to-stdout" in log and "to-stderr" in log
    assert "earlier attempt" not in log
    for key in METRIC_KEYS:
        assert result.metrics.get(key) is not None, f"metric {key} missing: {result.metrics}"
    job_id = result.metrics["job_id"]
    assert re.fullmatch(r"\d+(_\d+)?", job_id), job_id  # a job, or a task of an array
    assert result.metrics["host"] == socket.gethostname()
    assert result.metrics["end"] >= result.metrics["start"] > time.time() - 120
    assert result.metrics["max_rss"] > 0
    # bookkeeping stays in .rip/; the node folder holds only the output
    assert node_files(job.workdir) == {"out.txt"}
    assert {JOB_SCRIPT, EXIT_RECORD, f"slurm-{job_id}.out", "job.log"} <= {p.name for p in job.rip.iterdir()}
    assert json.loads((job.rip / EXIT_RECORD).read_text())["job_id"] == job_id
    assert_no_extra_results(events)


def test_exit_code_3_is_reported_like_a_local_failure(slurm: Pair, make_job) -> None:
    backend, events = slurm
    job = make_job("fail", "echo about to fail; exit 3")
    backend.submit(job)
    result = collect(events, 1, 60)["rule/fail"]
    assert result.returncode == 3 and not result.ok
    assert "exit code 3" in result.message
    assert f"SLURM job {result.metrics['job_id']}" in result.message
    assert "about to fail" in job.log_path.read_text()


def test_constraints_reach_the_allocation(slurm: Pair, make_job) -> None:
    backend, events = slurm
    job = make_job(
        "alloc",
        'echo "$SLURM_CPUS_PER_TASK $SLURM_MEM_PER_NODE $SLURM_JOB_PARTITION" > alloc.txt',
        threads=2,
        ram=300 * 1024**2 + 1,  # one byte over 300 MiB: rounds up to 301 MB
        partition="debug",
        colour="blue",  # a user key: not SLURM's business
    )
    backend.submit(job)
    assert collect(events, 1, 60)["rule/alloc"].ok
    assert (job.workdir / "alloc.txt").read_text().split() == ["2", "301", "debug"]
    script = (job.rip / JOB_SCRIPT).read_text()
    assert "--cpus-per-task=2" in script and "--mem=301M" in script and "colour" not in script


def test_scancel_from_outside_is_a_failure_naming_the_job(slurm: Pair, make_job) -> None:
    backend, events = slurm
    job = make_job("victim", "echo started; exec sleep 300")
    backend.submit(job)
    job_id = _job_id(job)
    wait_until(lambda: log_has(job.log_path, "started"), 30, "the job to start")
    subprocess.run(["scancel", job_id], check=True)
    result = collect(events, 1, 30)["rule/victim"]
    assert result.returncode is None and not result.ok
    assert f"SLURM job {job_id}" in result.message and "cancelled" in result.message, result.message
    assert result.metrics["job_id"] == job_id


def test_job_that_dies_without_exit_record_is_reported(slurm: Pair, make_job) -> None:
    backend, events = slurm
    job = make_job("orphan", "echo killing my runner; kill -9 $PPID; sleep 30")
    backend.submit(job)
    result = collect(events, 1, 60)["rule/orphan"]
    job_id = result.metrics["job_id"]
    assert result.returncode is None and not result.ok
    assert f"SLURM job {job_id}" in result.message and "without writing its exit record" in result.message


def test_cancel_all_stops_running_jobs(slurm: Pair, make_job) -> None:
    backend, events = slurm
    jobs = [make_job(f"long{i}", "echo $$ > pid; echo started; exec sleep 300") for i in range(3)]
    for job in jobs:
        backend.submit(job)
    for job in jobs:
        wait_until(lambda job=job: log_has(job.log_path, "started"), 30, f"{job.key} to start")
    pids = [int((job.workdir / "pid").read_text()) for job in jobs]
    t0 = time.monotonic()
    backend.cancel_all()
    results = collect(events, 3, 30)
    assert time.monotonic() - t0 < 15
    for job in jobs:
        r = results[job.key]
        assert not r.ok and "cancelled by necroflow" in r.message and f"SLURM job {r.metrics['job_id']}" in r.message
        assert _squeue_state(r.metrics["job_id"]) in ("CANCELLED", "COMPLETING", "")
    for pid in pids:
        wait_until(lambda pid=pid: not _alive(pid), 15, f"the job's process {pid} to end")


def test_cancel_all_also_drops_jobs_not_yet_submitted(make_job) -> None:
    backend, events = _backend(submit_rate=1.0, array_size=0)  # one sbatch per job, at 1 a second
    try:
        jobs = [make_job(f"queued{i}", "sleep 300") for i in range(4)]
        for job in jobs:
            backend.submit(job)
        time.sleep(0.3)  # the first one is submitted, the others wait for the rate limit
        backend.cancel_all()
        results = collect(events, 4, 30)
        assert not any(r.ok for r in results.values())
        assert sum("before it was submitted" in r.message for r in results.values()) >= 2
    finally:
        backend.stop()
    assert_no_extra_results(events)


def test_many_trivial_jobs_all_complete(slurm: Pair, make_job) -> None:
    backend, events = slurm
    jobs = [make_job(f"n{i:03d}", f"echo {i} > out.txt") for i in range(50)]
    t0 = time.monotonic()
    for job in jobs:
        backend.submit(job)
    results = collect(events, 50, 180)
    print(f"50 trivial SLURM jobs: {time.monotonic() - t0:.1f} s")
    assert all(r.ok for r in results.values()), [r for r in results.values() if not r.ok]
    for i, job in enumerate(jobs):
        assert (job.workdir / "out.txt").read_text() == f"{i}\n"
    assert len({r.metrics["job_id"] for r in results.values()}) == 50
    assert_no_extra_results(events)


def test_submissions_are_rate_limited(make_job) -> None:
    backend, events = _backend(submit_rate=4.0, array_size=0)  # one sbatch per job
    try:
        jobs = [make_job(f"r{i}", "true") for i in range(5)]
        for job in jobs:
            backend.submit(job)
        collect(events, 5, 60)
    finally:
        backend.stop()
    written = sorted((job.rip / JOB_SCRIPT).stat().st_mtime for job in jobs)
    assert written[-1] - written[0] >= 4 / 4.0 - 0.05, written


def test_sbatch_rejection_is_a_failure_that_says_why(slurm: Pair, make_job) -> None:
    backend, events = slurm
    job = make_job("nowhere", "true", partition="no-such-partition")
    backend.submit(job)
    result = collect(events, 1, 30)["rule/nowhere"]
    assert result.returncode is None and not result.ok
    assert "sbatch rejected job rule/nowhere" in result.message and "no-such-partition" in result.message


def test_exit_record_of_an_earlier_run_is_not_trusted(slurm: Pair, make_job) -> None:
    backend, events = slurm
    job = make_job("rerun", "exit 3")
    stale = {"returncode": 0, "signal": None, "job_id": "999999", "start": 0, "end": 0}
    (job.rip / EXIT_RECORD).write_text(json.dumps(stale))
    backend.submit(job)
    assert collect(events, 1, 60)["rule/rerun"].returncode == 3


def test_plain_sh_runner_without_python(make_job) -> None:
    backend, events = _backend(python=None)
    try:
        busy = make_job("busy", "i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done; echo $i > out.txt")
        bad = make_job("bad", "echo nope; exit 3")
        backend.submit(busy)
        backend.submit(bad)
        results = collect(events, 2, 60)
    finally:
        backend.stop()
    ok = results["rule/busy"]
    assert ok.ok and (busy.workdir / "out.txt").read_text() == "30000\n"
    assert ok.metrics["cpu"] > 0 and ok.metrics["max_rss"] is None and re.fullmatch(r"\d+(_\d+)?", ok.metrics["job_id"])
    assert results["rule/bad"].returncode == 3 and "nope" in bad.log_path.read_text()


def test_time_limit_kill_is_a_failure_naming_the_job(time_limited_job) -> None:
    result = collect(time_limited_job.events, 1, 180)["rule/slow"]
    assert result.returncode is None and not result.ok
    assert f"SLURM job {result.metrics['job_id']}" in result.message
    assert "time limit" in result.message.lower(), result.message
    assert "started" in time_limited_job.job.log_path.read_text()
