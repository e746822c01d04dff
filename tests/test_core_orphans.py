"""What a job leaves behind: background processes are stopped when its shell exits, and jobs
left running by a SIGKILLed necroflow are found and stopped by the next run, which carries on."""

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

    @r.command("echo $$ > {pidfile}; sleep ${{NF_SLEEP:-30}}; echo done > {out}")
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


def test_the_next_run_stops_a_killed_drivers_jobs_and_carries_on(tmp_path: Path) -> None:
    import io

    from necroflow import Reporter

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
    assert _alive(job), "the job outlives its killed driver (and holds the outdir lock)"

    class Out(NodeType):
        filename = "out.txt"

    r = Rules()
    r.register("slow", {"pidfile": str}, {"out": Out}, "echo $$ > {pidfile}; sleep ${{NF_SLEEP:-30}}; echo done > {out}")
    P = Pipeline()
    P.out = r.slow(pidfile=str(pidfile))
    os.environ["NF_SLEEP"] = "0"  # the rerun's job finishes at once (the shell reads it; not in the hash)
    try:
        said = Reporter(stream=io.StringIO())
        t0 = time.monotonic()
        report = DAG(outdir).add(P).execute(progress=said)
    finally:
        del os.environ["NF_SLEEP"]
    assert time.monotonic() - t0 < 15
    assert not group_alive(job), "the orphaned job was stopped"
    assert "stopped 1 job(s) a killed necroflow left running" in said.stream.getvalue()
    assert str(job) in said.stream.getvalue()
    assert report.ran == [P.out.job.key] and P.out.path.read_text() == "done\n"


def test_a_live_necroflow_still_holds_the_outdir(tmp_path: Path) -> None:
    script = tmp_path / "flow.py"
    script.write_text(SCRIPT)
    outdir, pidfile = tmp_path / "out", tmp_path / "job.pid"
    driver = subprocess.Popen([sys.executable, str(script), str(outdir), str(pidfile)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not (pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.02)
        job = int(pidfile.read_text())

        class Out(NodeType):
            filename = "out.txt"

        r = Rules()
        r.register("slow", {"pidfile": str}, {"out": Out}, "echo $$ > {pidfile}; sleep ${{NF_SLEEP:-30}}; echo done > {out}")
        P = Pipeline()
        P.out = r.slow(pidfile=str(pidfile))
        with pytest.raises(OutdirLocked, match=rf"another necroflow process \(pid {driver.pid}\) is running"):
            DAG(outdir).add(P).execute()
        assert _alive(job), "a live run's jobs are left alone"
    finally:
        driver.kill()
        driver.wait(timeout=10)
        os.killpg(job, signal.SIGKILL)
