"""What a job leaves behind: background processes are stopped when its shell exits, and jobs
left running by a SIGKILLed necroflow keep the outdir locked until they end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from procs import group_alive

from necroflow import DAG, NodeType, OutdirLocked, Pipeline, Rules

SCRIPT = textwrap.dedent('''
    from __future__ import annotations
    import sys
    from necroflow import DAG, NodeType, Pipeline, Rules

    class Out(NodeType):
        filename = "out.txt"

    r = Rules()

    @r.command("echo $$ > {pidfile}; sleep 30; echo done > {out}")
    def slow(pidfile: str) -> Out[out]:
        """A job that outlives its driver."""

    P = Pipeline()
    P.out = r.slow(pidfile=sys.argv[2])
    DAG(sys.argv[1]).add(P).execute()
''')


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_background_processes_of_a_finished_job_are_stopped(tmp_path: Path) -> None:
    class Out(NodeType):
        filename = "out.txt"

    r = Rules()
    pidfile = tmp_path / "bg.pid"
    r.register("leaves_child", {"pidfile": str}, {"out": Out},
               "(sleep 30 & echo $! > {pidfile}); echo ok > {out}")
    P = Pipeline()
    P.out = r.leaves_child(pidfile=str(pidfile))
    DAG(tmp_path / "out").add(P).execute()
    bg = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while _alive(bg) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(bg), "the job's background process outlived the job"


def test_jobs_of_a_killed_driver_keep_the_outdir_locked(tmp_path: Path) -> None:
    script = tmp_path / "flow.py"
    script.write_text(SCRIPT)
    outdir, pidfile = tmp_path / "out", tmp_path / "job.pid"
    driver = subprocess.Popen([sys.executable, str(script), str(outdir), str(pidfile)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not (pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.02)
    job = int(pidfile.read_text())
    driver.kill()
    driver.wait(timeout=10)
    assert _alive(job)

    class Out(NodeType):
        filename = "out.txt"

    r = Rules()
    r.register("slow", {"pidfile": str}, {"out": Out}, "echo $$ > {pidfile}; sleep 30; echo done > {out}")
    P = Pipeline()
    P.out = r.slow(pidfile=str(pidfile))
    with pytest.raises(OutdirLocked, match=r"is gone, but jobs it started still run"):
        DAG(outdir).add(P).execute()
    os.killpg(job, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while group_alive(job) and time.monotonic() < deadline:  # every process of the job, not only its shell
        time.sleep(0.02)
    # once the orphaned job has ended, the lock is free and the cut-short job will rerun
    plan = DAG(outdir).add(P).plan()
    assert [e.state.value for e in plan.entries.values()] == ["INTERRUPTED"]
    from necroflow.store import OutdirLock

    lock = OutdirLock(outdir)
    lock.acquire()
    lock.release()
