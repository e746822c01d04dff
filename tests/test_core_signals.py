"""Issue 2: the outdir lock, Ctrl-C / SIGTERM / SIGKILL of a real ``python script.py`` running a DAG."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from procs import group_alive

from necroflow import DAG, Inputs, NodeType, Outputs, Pipeline, Reporter, Rules
from necroflow.store import OutdirLocked, read_state

FLOW = """
import os
import signal
import sys
from necroflow import DAG, Inputs, NodeType, Outputs, Pipeline, Rules


class Out(NodeType):
    filename = "out.txt"


R = Rules()
# Writes its process group id, then waits until the test releases it (at most 30 s).
R.register("slow", Inputs(tag=str, run=str), Outputs(out=Out),
           "echo $$ > {run}/{tag}.pid; i=0; "
           "while [ ! -e {run}/release ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; touch {out}")


def pipeline(run):
    P = Pipeline()
    P.a = R.slow(tag="a", run=run)
    P.b = R.slow(tag="b", run=run)
    return P


if __name__ == "__main__":
    if os.environ.get("IGNORE_HUP"):  # as under nohup
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    dag = DAG(sys.argv[1])
    dag.add(pipeline(sys.argv[2]))
    report = dag.execute(resource_caps={"threads": 2})
    print("ran", len(report.ran))
"""


def wait_for(cond: Callable[[], bool], timeout: float = 10.0, poll: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(poll)
    return False


class Flow:
    """One ``python flow.py OUTDIR RUNDIR`` and what it leaves behind."""

    def __init__(self, tmp_path: Path, script: Callable[..., Path], spawn: Callable[..., Any],
                 run_python: Callable[..., Any]) -> None:
        self.path = script(FLOW)
        self.outdir = tmp_path / "out"
        self.rundir = tmp_path / "run"
        self.rundir.mkdir()
        self.spawn_python, self.run_python = spawn, run_python

    def start(self, poll: float = 0.02, **env: str) -> subprocess.Popen[str]:
        """Start the driver and wait until both jobs are running."""
        p = self.spawn_python(self.path, self.outdir, self.rundir, **env)
        ok = wait_for(lambda: all(self.pidfile(t).exists() and self.pidfile(t).read_text().strip()
                                  for t in "ab"), poll=poll)
        assert ok, p.stderr.read() if p.poll() is not None else "jobs did not start"
        return p

    def pidfile(self, tag: str) -> Path:
        return self.rundir / f"{tag}.pid"

    def pgids(self) -> list[int]:
        return [int(self.pidfile(t).read_text()) for t in "ab"]

    def states(self) -> list[str | None]:
        return sorted(read_state(d) for d in (self.outdir / "slow").iterdir())

    def lock_is_free(self) -> bool:
        fd = os.open(self.outdir / ".rip" / "necroflow.lock", os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            return False
        finally:
            os.close(fd)

    def rerun(self) -> subprocess.CompletedProcess[str]:
        """Let the jobs finish at once and run the same script again, to completion."""
        for t in "ab":
            self.pidfile(t).unlink(missing_ok=True)
        (self.rundir / "release").touch()
        return self.run_python(self.path, self.outdir, self.rundir)  # type: ignore[no-any-return]


@pytest.fixture
def flow(tmp_path: Path, script: Callable[..., Path], spawn_python: Callable[..., Any],
         run_python: Callable[..., Any]) -> Flow:
    return Flow(tmp_path, script, spawn_python, run_python)


class Out(NodeType):
    filename = "out.txt"


def _trivial() -> Pipeline:
    R = Rules()
    R.register("quick", Inputs(), Outputs(out=Out), "touch {out}")
    P = Pipeline()
    P.out = R.quick()
    return P


def test_second_process_on_the_same_outdir_fails_at_once(flow: Flow) -> None:
    driver = flow.start()
    dag = DAG(flow.outdir)
    dag.add(_trivial())
    t0 = time.monotonic()
    with pytest.raises(OutdirLocked) as e:
        dag.execute(progress=Reporter(stream=open(os.devnull, "w")))  # noqa: SIM115
    assert time.monotonic() - t0 < 1
    msg = str(e.value)
    assert f"pid {driver.pid}" in msg and str(flow.outdir) in msg and "necroflow.lock" in msg
    assert not (flow.outdir / "quick").exists()
    driver.send_signal(signal.SIGTERM)
    driver.wait(timeout=10)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_sigint_and_sigterm_stop_jobs_mark_them_interrupted_and_release_the_lock(flow: Flow, sig: int) -> None:
    driver = flow.start()
    pgids = flow.pgids()
    t0 = time.monotonic()
    driver.send_signal(sig)
    out, err = driver.communicate(timeout=10)
    assert time.monotonic() - t0 < 5
    assert driver.returncode != 0
    assert "ran" not in out
    for pgid in pgids:
        assert wait_for(lambda pgid=pgid: not group_alive(pgid), 3), f"job group {pgid} survived {sig!r}"
    assert flow.states() == ["interrupted", "interrupted"]
    assert not any((d / "out.txt").exists() for d in (flow.outdir / "slow").iterdir())
    assert flow.lock_is_free()
    again = flow.rerun()
    assert again.returncode == 0, again.stderr
    assert "ran 2" in again.stdout
    assert flow.states() == ["up_to_date", "up_to_date"]


def test_sigkill_of_the_driver_leaves_running_states_that_the_next_run_redoes(flow: Flow) -> None:
    driver = flow.start()
    pgids = flow.pgids()
    driver.kill()
    driver.wait(timeout=10)
    # the jobs live in their own sessions; a SIGKILLed driver cannot stop them: we do
    for pgid in pgids:
        os.killpg(pgid, signal.SIGKILL)
        assert wait_for(lambda pgid=pgid: not group_alive(pgid), 3)
    assert flow.states() == ["running", "running"]
    lock = flow.outdir / ".rip" / "necroflow.lock"
    assert lock.exists() and lock.read_text().strip() == str(driver.pid)
    assert flow.lock_is_free()  # the kernel dropped the flock with its last holder
    again = flow.rerun()
    assert again.returncode == 0, again.stderr
    assert "ran 2" in again.stdout
    assert flow.states() == ["up_to_date", "up_to_date"]


def test_a_signal_while_jobs_are_being_launched_leaves_no_job_behind(flow: Flow) -> None:
    """Ctrl-C the instant the jobs start: the driver may still be inside ``Popen`` for the last
    one.  An exception raised there used to leave that job running, untracked, for 30 s."""
    for _ in range(4):
        for t in "ab":
            flow.pidfile(t).unlink(missing_ok=True)
        driver = flow.start(poll=0)
        pgids = flow.pgids()
        driver.send_signal(signal.SIGINT)
        driver.communicate(timeout=10)
        for pgid in pgids:
            assert wait_for(lambda pgid=pgid: not group_alive(pgid), 3), f"job group {pgid} survived"
        assert "running" not in flow.states()
        assert flow.lock_is_free()


def test_sighup_is_left_alone_when_the_caller_ignores_it(flow: Flow) -> None:
    """Under ``nohup`` a hangup must not stop the run."""
    driver = flow.start(IGNORE_HUP="1")
    driver.send_signal(signal.SIGHUP)
    time.sleep(0.3)
    assert driver.poll() is None
    (flow.rundir / "release").touch()
    out, err = driver.communicate(timeout=10)
    assert driver.returncode == 0, err
    assert "ran 2" in out
