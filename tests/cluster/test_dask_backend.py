"""DaskBackend against real ``distributed`` LocalClusters, driven through the Backend interface."""

from __future__ import annotations

import os
import queue
import socket
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

from necroflow.backends.base import TaskResult
from necroflow.backends.dask import DaskBackend

Pair = tuple[DaskBackend, "queue.Queue[TaskResult]"]


def _start(backend: DaskBackend) -> Pair:
    events: queue.Queue[TaskResult] = queue.Queue()
    backend.start(events)
    return backend, events


@pytest.fixture
def dask() -> Iterator[Pair]:
    backend, events = _start(DaskBackend(resources={"threads": 4}))
    yield backend, events
    backend.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # the process may be reaped between the kill and the read
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def test_success_writes_outputs_log_and_metrics(dask: Pair, make_job) -> None:
    backend, events = dask
    job = make_job("ok", "printf 'hello\\n' > out.txt; echo to-stdout; echo to-stderr >&2")
    job.log_path.write_text("log of an earlier attempt\n")
    backend.submit(job)
    result = collect(events, 1, 30)["rule/ok"]
    assert result.ok and result.signal is None, result
    assert (job.workdir / "out.txt").read_text() == "hello\n"
    log = job.log_path.read_text()
    assert "to-stdout" in log and "to-stderr" in log and "earlier attempt" not in log
    for key in METRIC_KEYS:
        assert result.metrics.get(key) is not None, f"metric {key} missing: {result.metrics}"
    assert result.metrics["host"] == socket.gethostname()
    assert result.metrics["max_rss"] > 0
    assert node_files(job.workdir) == {"out.txt"}
    assert {p.name for p in job.rip.iterdir()} == {"job.log"}  # no bookkeeping files of its own
    assert_no_extra_results(events)


def test_exit_code_3_and_signals_are_reported_like_local_failures(dask: Pair, make_job) -> None:
    backend, events = dask
    fail = make_job("fail", "echo about to fail; exit 3")
    killed = make_job("killed", "kill -9 $$")
    backend.submit(fail)
    backend.submit(killed)
    results = collect(events, 2, 30)
    assert results["rule/fail"].returncode == 3 and "exit code 3" in results["rule/fail"].message
    assert "about to fail" in fail.log_path.read_text()
    r = results["rule/killed"]
    assert r.returncode is None and r.signal == 9 and "signal 9" in r.message


def test_cancel_all_kills_running_commands(dask: Pair, make_job) -> None:
    backend, events = dask
    jobs = [make_job(f"long{i}", "echo $$ > pid; echo started; exec sleep 300") for i in range(2)]
    queued = make_job("queued", "echo ran > out.txt", threads=4)  # waits: the two above hold threads
    for job in [*jobs, queued]:
        backend.submit(job)
    for job in jobs:
        wait_until(lambda job=job: log_has(job.log_path, "started"), 30, f"{job.key} to start")
    pids = [int((job.workdir / "pid").read_text()) for job in jobs]
    t0 = time.monotonic()
    backend.cancel_all()
    results = collect(events, 3, 15)
    assert time.monotonic() - t0 < 10
    assert not any(r.ok for r in results.values())
    for pid in pids:
        wait_until(lambda pid=pid: not _alive(pid), 10, f"process {pid} to die")
    time.sleep(0.3)
    assert not (queued.workdir / "out.txt").exists()


def test_many_trivial_jobs_all_complete(dask: Pair, make_job) -> None:
    backend, events = dask
    jobs = [make_job(f"n{i:03d}", f"echo {i} > out.txt") for i in range(50)]
    for job in jobs:
        backend.submit(job)
    results = collect(events, 50, 60)
    assert all(r.ok for r in results.values())
    for i, job in enumerate(jobs):
        assert (job.workdir / "out.txt").read_text() == f"{i}\n"
    assert_no_extra_results(events)


def _intervals(jobs) -> list[tuple[float, float]]:
    return sorted((float((j.workdir / "t0").read_text()), float((j.workdir / "t1").read_text())) for j in jobs)


def test_threads_constraint_maps_onto_worker_resources(make_job) -> None:
    backend, events = _start(DaskBackend(resources={"threads": 2}))
    try:
        stamp = "date +%s.%N > t0; sleep 0.4; date +%s.%N > t1"
        wide = [make_job(f"wide{i}", stamp, threads=2) for i in range(3)]
        for job in wide:
            backend.submit(job)
        assert all(r.ok for r in collect(events, 3, 30).values())
        narrow = [make_job(f"narrow{i}", stamp, threads=1) for i in range(2)]
        for job in narrow:
            backend.submit(job)
        assert all(r.ok for r in collect(events, 2, 30).values())
    finally:
        backend.stop()
    spans = _intervals(wide)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False)), f"threads=2 jobs overlapped: {spans}"
    (s0, e0), (s1, e1) = _intervals(narrow)
    assert s1 < e0, "two threads=1 jobs should share a 2-thread worker"


def test_resource_requests(dask: Pair) -> None:
    backend, _ = dask
    assert backend.caps["threads"] == 4 and backend.caps["ram"] > 0
    assert backend.task_resources({"threads": 2, "ram": "1Gi", "gpu": 1}) == {"threads": 2.0, "ram": 2.0**30}
    assert backend.task_resources({}) == {"threads": 1.0}  # a job takes at least one thread
    assert backend.task_resources({"threads": 64}) == {"threads": 4.0}  # clamped: a whole worker


def test_existing_scheduler_address(make_job) -> None:
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address="127.0.0.1:0", resources={"slots": 2}
    )
    try:
        backend, events = _start(DaskBackend(scheduler_address=cluster.scheduler_address))
        job = make_job("remote", "echo hi > out.txt", slots=1, threads=3)
        backend.submit(job)
        assert collect(events, 1, 30)["rule/remote"].ok
        assert backend.caps == {"slots": 2}  # read from the workers on the first submit
        assert backend.task_resources(job.constraints) == {"slots": 1.0}  # threads: not offered
        backend.stop()
        assert cluster.status.name == "running", "stop() must leave a cluster it did not start alone"
    finally:
        cluster.close()


def test_worker_processes(make_job) -> None:
    backend, events = _start(DaskBackend(processes=True, resources={"threads": 2}))
    try:
        ok = make_job("ok", "echo hi > out.txt")
        long = make_job("long", "echo $$ > pid; echo started; exec sleep 300")
        backend.submit(ok)
        backend.submit(long)
        assert collect(events, 1, 60)["rule/ok"].ok
        wait_until(lambda: log_has(long.log_path, "started"), 30, "the long job to start")
        pid = int((long.workdir / "pid").read_text())
        backend.cancel_all()
        assert not collect(events, 1, 15)["rule/long"].ok
        wait_until(lambda: not _alive(pid), 10, "the command in the worker process to die")
    finally:
        backend.stop()
