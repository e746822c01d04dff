"""One contract, three backends: what the run loop may rely on from local, Dask and SLURM alike.

Every case drives a backend only through the :class:`~necroflow.backends.base.Backend`
interface (``start``/``submit``/``cancel_all``/``stop``) and reads what it reports from the
events queue.  Each asserts *exactly one* result per submitted task: ``collect`` fails on a
second result for a key, and ``assert_no_extra_results`` waits a little longer for strays.

The SLURM case uses the session's one-node cluster (``slurm_cluster``), Dask a LocalCluster
that the backend starts itself (as ``dag.execute(backend="dask")`` does).
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cluster_helpers import assert_no_extra_results, collect, log_has, wait_until

from necroflow.backends.base import Backend, Task, TaskResult

BACKENDS = ["local", "dask", "slurm"]


@dataclass
class Harness:
    """A started backend, its events queue, and how long to wait for it."""

    name: str
    backend: Backend
    events: queue.Queue[TaskResult]
    timeout: float  # for the results of a few tasks
    quiet: float  # how long nothing more may arrive after the expected results

    def results(self, n: int, timeout: float | None = None) -> dict[str, TaskResult]:
        """Exactly ``n`` results, each key once, and then nothing more."""
        got = collect(self.events, n, timeout or self.timeout)
        assert_no_extra_results(self.events, self.quiet)
        return got

    def one(self, task: Task) -> TaskResult:
        return self.results(1)[task.key]


def _make(name: str) -> tuple[Backend, float, float]:
    if name == "local":
        from necroflow.backends.local import LocalBackend

        return LocalBackend(threads=8), 10.0, 0.5
    if name == "dask":
        from necroflow.backends.dask import DaskBackend

        return DaskBackend(resources={"threads": 8}), 20.0, 0.5
    from necroflow.backends.slurm import SlurmBackend

    # quiet: five poll intervals, so a second report from the poller would be seen
    return SlurmBackend(poll_interval=0.2, submit_rate=100.0, lost_grace=2.0), 60.0, 1.0


@pytest.fixture(params=BACKENDS)
def be(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    """Each backend, started on a fresh queue; stopped (and anything left behind killed) after."""
    if request.param == "slurm":
        request.getfixturevalue("slurm_cluster")
    backend, timeout, quiet = _make(request.param)
    events: queue.Queue[TaskResult] = queue.Queue()
    backend.start(events)
    try:
        yield Harness(request.param, backend, events, timeout, quiet)
    finally:
        backend.stop()
        # A failed test must not leave 'sleep 300' behind: kill, by pid, what runs in its folders.
        for pid in _procs_under(tmp_path):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


# ----------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------


def _procs_under(root: Path) -> list[int]:
    """Live processes whose working directory is inside ``root`` (the tasks' node folders)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
            with open(f"/proc/{entry}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and (cwd == str(root) or cwd.startswith(str(root) + "/")):
            found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# Writes the shell's pid (= its process group: every backend starts a job in its own session),
# says it started, then becomes the sleep (exec keeps the pid).
LONG = "echo $$ > pid; echo started; exec sleep 300"


# On SLURM the job also notes the id SLURM knows it by (an array task's is ``JOB_TASK``), for
# scancel/squeue from outside; it reads SLURM's own environment, not necroflow's file names.
SLURM_ID = ('sid=${SLURM_ARRAY_JOB_ID:+${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}}; '
            'echo "${sid:-$SLURM_JOB_ID}" > slurm_id; ')


def _start_long(be: Harness, make_job: Callable[..., Task], names: list[str],
                command: str = LONG) -> list[tuple[Task, int]]:
    """Submit long tasks and return each with its pid once all of them run."""
    if be.name == "slurm":
        command = SLURM_ID + command
    tasks = [make_job(n, command) for n in names]
    for t in tasks:
        be.backend.submit(t)
    wait = 120 if be.name == "slurm" else 20  # a shared test node may be busy with another session's jobs
    for t in tasks:
        wait_until(lambda t=t: log_has(t.log_path, "started") and (t.workdir / "pid").exists(), wait,
                   f"{t.key} to start on {be.name}")
    return [(t, int((t.workdir / "pid").read_text())) for t in tasks]


def _slurm_job_id(task: Task) -> str:
    """The SLURM id of a task started by _start_long ("123", or "123_4" for an array task)."""
    job_id = (task.workdir / "slurm_id").read_text().strip()
    assert job_id and job_id.replace("_", "").isdigit(), job_id
    return job_id


def _squeue_live(job_ids: list[str]) -> str:
    """What plain ``squeue`` (pending, running, completing) still lists of these jobs."""
    proc = subprocess.run(["squeue", "-h", "-j", ",".join(job_ids), "-o", "%i %T"],
                          capture_output=True, text=True)
    return proc.stdout.strip()


def _slurm_final_state(job_id: str) -> str:
    proc = subprocess.run(["squeue", "-h", "--states=all", "-j", job_id, "-o", "%T"],
                          capture_output=True, text=True)
    return proc.stdout.strip()


# ----------------------------------------------------------------------------------------
# the contract
# ----------------------------------------------------------------------------------------


def test_success(be: Harness, make_job: Callable[..., Task]) -> None:
    task = make_job("ok", "printf 'hello\\n' > out.txt")
    before = time.time()
    be.backend.submit(task)
    r = be.one(task)
    assert r.key == task.key
    assert r.ok and r.returncode == 0 and r.signal is None and r.message == "", r
    assert (task.workdir / "out.txt").read_text() == "hello\n"  # written in the task's workdir
    m = r.metrics
    for key in ("start", "end", "wall", "host", "backend"):
        assert m.get(key) is not None, f"{be.name}: metric {key} missing from {m}"
    assert m["backend"] == be.name
    assert m["host"] == socket.gethostname()
    assert before - 1 <= m["start"] <= m["end"] <= time.time() + 1
    assert abs(m["wall"] - (m["end"] - m["start"])) < 0.01


def test_failure_exit_code(be: Harness, make_job: Callable[..., Task]) -> None:
    task = make_job("fail", "exit 3")
    be.backend.submit(task)
    r = be.one(task)
    assert r.returncode == 3 and not r.ok and r.signal is None, r
    assert r.message.startswith("exit code 3"), r.message


def test_killed_by_a_signal(be: Harness, make_job: Callable[..., Task]) -> None:
    task = make_job("killed", "kill -9 $$")
    be.backend.submit(task)
    r = be.one(task)
    assert not r.ok and r.returncode is None and r.signal == 9, r
    assert "killed by signal 9" in r.message, r.message


def test_cancel_all_stops_running_tasks(be: Harness, make_job: Callable[..., Task], tmp_path: Path) -> None:
    started = _start_long(be, make_job, ["long0", "long1"])
    pids = [pid for _, pid in started]
    job_ids = [_slurm_job_id(t) for t, _ in started] if be.name == "slurm" else []
    t0 = time.monotonic()
    be.backend.cancel_all()
    for pid in pids:
        wait_until(lambda pid=pid: not _alive(pid), 10, f"{be.name}: process {pid} to end after cancel_all")
    print(f"{be.name}: cancelled processes gone after {time.monotonic() - t0:.2f} s")
    if job_ids:
        wait_until(lambda: _squeue_live(job_ids) == "", 15, f"squeue to stop listing {job_ids}")
        assert {_slurm_final_state(j) for j in job_ids} == {"CANCELLED"}
    # Results may or may not arrive after cancel_all; any that do are failures, once per task.
    seen: dict[str, TaskResult] = {}
    deadline = time.monotonic() + (3.0 if be.name == "slurm" else 1.0)
    while time.monotonic() < deadline:
        try:
            r = be.events.get(timeout=0.1)
        except queue.Empty:
            continue
        assert r.key not in seen, f"{r.key} reported twice: {seen[r.key]} and {r}"
        assert not r.ok, r
        seen[r.key] = r
    assert set(seen) <= {t.key for t, _ in started}
    assert _procs_under(tmp_path) == [], "something keeps running in the node folders"


@pytest.mark.parametrize("how", ["killpg", "scancel"])
def test_vanished_task_killed_from_outside(be: Harness, make_job: Callable[..., Task], how: str,
                                           tmp_path: Path) -> None:
    """A task killed behind the backend's back is one failure: with the signal, or naming the SLURM job."""
    if how == "scancel" and be.name != "slurm":
        pytest.skip("scancel applies to SLURM only")
    ((task, pid),) = _start_long(be, make_job, ["victim"])
    if how == "killpg":
        os.killpg(pid, signal.SIGKILL)
        r = be.one(task)
        assert not r.ok and r.returncode is None and r.signal == 9, r
        assert "killed by signal 9" in r.message, r.message
    else:
        job_id = _slurm_job_id(task)
        subprocess.run(["scancel", job_id], check=True)
        r = be.one(task)
        assert not r.ok and r.returncode is None, r
        assert f"SLURM job {job_id}" in r.message and "cancelled" in r.message, r.message
        assert r.metrics["job_id"] == job_id
        wait_until(lambda: _squeue_live([job_id]) == "", 15, f"squeue to stop listing {job_id}")
    wait_until(lambda: not _alive(pid), 10, f"process {pid} to end")
    assert _procs_under(tmp_path) == []


def test_many_trivial_tasks(be: Harness, make_job: Callable[..., Task]) -> None:
    tasks = [make_job(f"n{i:02d}", f"echo {i} > out.txt") for i in range(30)]
    t0 = time.monotonic()
    for t in tasks:
        be.backend.submit(t)
    results = be.results(30, timeout=120 if be.name == "slurm" else 30)
    print(f"{be.name}: 30 trivial tasks in {time.monotonic() - t0:.2f} s")
    assert set(results) == {t.key for t in tasks}
    assert all(r.ok for r in results.values()), [r for r in results.values() if not r.ok]
    for i, t in enumerate(tasks):
        assert (t.workdir / "out.txt").read_text() == f"{i}\n"
    if be.name != "local":  # local job ids are pids, which may be reused between short tasks
        assert len({r.metrics["job_id"] for r in results.values()}) == 30


def test_stdout_and_stderr_go_to_the_log(be: Harness, make_job: Callable[..., Task]) -> None:
    task = make_job("log", "echo to-stdout; echo to-stderr >&2; echo again")
    be.backend.submit(task)
    assert be.one(task).ok
    assert task.log_path.read_text() == "to-stdout\nto-stderr\nagain\n"  # one stream, in order, nothing else


def test_failure_output_is_in_the_log(be: Harness, make_job: Callable[..., Task]) -> None:
    task = make_job("faillog", "echo about to fail >&2; exit 3")
    be.backend.submit(task)
    assert be.one(task).returncode == 3
    assert "about to fail" in task.log_path.read_text()


def test_a_task_that_cannot_start_is_one_failure(be: Harness, make_job: Callable[..., Task]) -> None:
    """A command no shell can take (a NUL byte): submit does not raise, one failed result arrives."""
    task = make_job("nul", "echo a\0b")
    be.backend.submit(task)
    r = be.one(task)
    assert not r.ok and r.message, r


# ----------------------------------------------------------------------------------------
# stopping, links and limits
# ----------------------------------------------------------------------------------------


# A command that ignores SIGTERM must still end: on SLURM, scancel and the time limit SIGTERM
# the job script's runner, which forwards it to the command's own session and stays its
# parent (a runner that died at once left the command reparented to init, out of reach of
# proctrack/linuxproc and of SLURM's SIGKILL after KillWait).


def test_cancel_all_stops_a_task_that_ignores_sigterm(be: Harness, make_job: Callable[..., Task],
                                                      tmp_path: Path) -> None:
    """'Nothing keeps running': cancel_all(grace) asks with SIGTERM, but the task must end (SIGKILL)."""
    ((_, pid),) = _start_long(be, make_job, ["stubborn"], "trap '' TERM; " + LONG)
    be.backend.cancel_all(grace=1.0)
    # local/Dask: SIGKILL after the 1 s grace; SLURM: its KillWait (2 s on the test cluster)
    wait_until(lambda: not _alive(pid), 6, f"{be.name}: SIGTERM-ignoring process {pid} to end")
    assert _procs_under(tmp_path) == []


def test_scancel_from_outside_stops_a_task_that_ignores_sigterm(make_job: Callable[..., Task],
                                                                slurm_cluster: None, tmp_path: Path) -> None:
    """The same without cancel_all: after an outside scancel (as a time limit would send) the
    job is cancelled and its command is not left running, orphaned, in the node folder."""
    backend, timeout, quiet = _make("slurm")
    events: queue.Queue[TaskResult] = queue.Queue()
    backend.start(events)
    be = Harness("slurm", backend, events, timeout, quiet)
    try:
        ((task, pid),) = _start_long(be, make_job, ["stubborn"], "trap '' TERM; " + LONG)
        job_id = _slurm_job_id(task)
        subprocess.run(["scancel", job_id], check=True)
        r = be.one(task)
        assert not r.ok and f"SLURM job {job_id}" in r.message
        wait_until(lambda: _slurm_final_state(job_id) == "CANCELLED", 15, f"SLURM job {job_id} to end")
        deadline = time.monotonic() + 2  # CANCELLED comes after KillWait's SIGKILL: nothing is left to wait for
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        leaked = _alive(pid)
    finally:
        backend.stop()
        for p in _procs_under(tmp_path):
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
    assert not leaked, f"SLURM job {job_id} is CANCELLED but its command (pid {pid}) kept running"


def test_a_log_path_that_is_a_symlink_is_never_written_through(be: Harness, make_job: Callable[..., Task],
                                                               tmp_path: Path) -> None:
    """spawn opens the log with O_NOFOLLOW and the store unlinks job.log so that 'a planted link's
    target' is never truncated; every other write into the log must not follow a link either."""
    victim = tmp_path / "precious.txt"
    victim.write_text("precious\n")
    task = make_job("linked", "echo written")
    task.log_path.symlink_to(victim)
    be.backend.submit(task)
    r = be.one(task)
    assert victim.read_text() == "precious\n"
    if r.ok:  # the backend replaced the link with a fresh log
        assert not task.log_path.is_symlink() and task.log_path.read_text() == "written\n"
    else:  # or refused to write through it: one failure, not a crash
        assert r.message, r


@pytest.mark.parametrize("be", ["local", "dask"], indirect=True)
def test_time_constraint_stops_a_task_over_its_limit(be: Harness, make_job: Callable[..., Task],
                                                     tmp_path: Path) -> None:
    """(SLURM's own time limit is checked by the session's time_limited_job in test_slurm_backend.)"""
    task = make_job("slow", "echo $$ > pid; exec sleep 30", time=1)
    t0 = time.monotonic()
    be.backend.submit(task)
    r = be.one(task)
    assert not r.ok and time.monotonic() - t0 < 5, (r, time.monotonic() - t0)
    assert r.message.startswith("ran out of time after 1s"), r.message
    assert not _alive(int((task.workdir / "pid").read_text()))
    assert _procs_under(tmp_path) == []
