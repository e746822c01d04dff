"""SIGINT / SIGTERM / SIGHUP to ``necroflow run``, and a job's shell killed from outside.

A signal to necroflow must stop every running job's whole process group (grandchildren
included), mark those jobs ``interrupted``, start nothing new, release the lock and exit
128+signal.  A job killed from outside is a failed job: its log says which signal, and
nothing that depends on it starts.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from faultlib import WORKLOAD, live_in_group, lock_is_free, plan_states, read_state, run, start

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc to inspect processes")


def write_job(tmp: Path, seconds: list[float]) -> Path:
    job = tmp / "slowjob.toml"
    job.write_text(f'".pipeline" = "{WORKLOAD}/slow.py:slow"\nseconds = {seconds!r}\n')
    return job


def started(log: Path) -> dict[str, int]:
    """rule/hash16 -> pid of the job's shell (its process-group leader)."""
    out = {}
    if log.exists():
        for line in log.read_text().splitlines():
            _, pid, where = line.split(" ", 2)
            out["/".join(Path(where).parts[-2:])] = int(pid)
    return out


def wait_for(cond, timeout: float = 20.0, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def wait_groups(pgids: list[int], timeout: float = 5.0) -> list[int]:
    """Members still alive after ``timeout`` (empty when every group is gone)."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for g in pgids for p in live_in_group(g)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.02)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_signal_stops_jobs_and_exits(sig: signal.Signals, tmp_path: Path) -> None:
    job = write_job(tmp_path, [60, 60])
    outdir, log = tmp_path / "out", tmp_path / "jobs.log"
    proc = start(["run", "-c2", "--outdir", outdir, job], cwd=tmp_path, log=log, out=tmp_path / "run.out")
    try:
        jobs = wait_for(lambda: len(started(log)) == 2 and started(log), what="both jobs to start")
        # wait until each group holds its grandchildren too: the stop must reach them
        wait_for(lambda: all(len(live_in_group(p)) >= 3 for p in jobs.values()), what="grandchildren")
        t0 = time.monotonic()
        proc.send_signal(sig)
        rc = proc.wait(timeout=15)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = (tmp_path / "run.out").read_text()
    assert rc == 128 + sig, f"exit code {rc}, expected {128 + sig}:\n{text}"
    assert took < 5, f"took {took:.1f}s to stop"
    assert "Traceback" not in text, text
    assert "interrupted" in text, text
    alive = wait_groups(list(jobs.values()))
    assert not alive, f"job processes survived the {sig.name}: {alive}"
    for key in jobs:
        assert read_state(outdir / key) == "interrupted", key
        assert not (outdir / key / "held.txt").exists()
    assert set(started(log)) == set(jobs), "a dependant started after the signal"
    assert lock_is_free(outdir)
    states = plan_states(outdir, job, base=tmp_path)
    assert sorted(states[k] for k in jobs) == ["INTERRUPTED", "INTERRUPTED"]


@pytest.mark.parametrize("keep_going", [False, True], ids=["stop", "keep-going"])
def test_job_shell_killed_from_outside(keep_going: bool, tmp_path: Path) -> None:
    """``kill -9`` of one job's shell: that job fails, its dependant never starts."""
    job = write_job(tmp_path, [60, 1.0 if keep_going else 60])
    outdir, log = tmp_path / "out", tmp_path / "jobs.log"
    args = ["run", "-c2", "--outdir", outdir, job] + (["-k"] if keep_going else [])
    proc = start(args, cwd=tmp_path, log=log, out=tmp_path / "run.out")
    try:
        jobs = wait_for(lambda: len(started(log)) == 2 and started(log), what="both jobs to start")
        victim = hold_key(job, outdir, tmp_path, 0)
        assert victim in jobs
        os.kill(jobs[victim], signal.SIGKILL)
        rc = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = (tmp_path / "run.out").read_text()
    assert rc == 1, text
    assert "Traceback" not in text, text
    assert read_state(outdir / victim) == "failed"
    logtext = (outdir / victim / ".rip" / "job.log").read_text()
    assert "killed by signal 9" in logtext and "SIGKILL" in logtext, logtext
    assert "SIGKILL" in text or "signal 9" in text, text
    ran = started(log)
    dependants = [k for k in ran if k.startswith("after/")]
    other = next(k for k in jobs if k != victim)
    if keep_going:
        # the healthy branch finishes, its dependant runs; the victim's never starts
        assert read_state(outdir / other) == "up_to_date"
        assert len(dependants) == 1
        assert (outdir / dependants[0] / "after.txt").read_text() == "b1\n"
    else:
        assert dependants == [], f"dependants started after a failure: {dependants}"
        assert read_state(outdir / other) == "interrupted"
    # nothing of the killed job lingers (its background sleep was in the same group)
    alive = wait_groups(list(jobs.values()))
    assert not alive, f"processes of the failed/stopped jobs survived: {alive}"
    assert lock_is_free(outdir)
    states = plan_states(outdir, job, base=tmp_path)
    assert states[victim] == "FAILED"


def hold_key(job: Path, outdir: Path, base: Path, branch: int) -> str:
    """The job key of branch ``branch``'s ``hold`` step, from the engine's own DAG."""
    from necroflow.jobs import load_jobs

    pipeline = load_jobs([job], outdir, base=base).runs[0].pipeline
    node = pipeline[f"after_{branch}"]
    return node.job.inputs["held"].job.key


def test_sigkill_leaves_no_lock_behind(tmp_path: Path) -> None:
    """A lock file left by a killed process (its pid inside) does not block the next run."""
    job = write_job(tmp_path, [0.2, 60])
    outdir, log = tmp_path / "out", tmp_path / "jobs.log"
    proc = start(["run", "-c2", "--outdir", outdir, job], cwd=tmp_path, log=log, out=tmp_path / "run.out")
    jobs = wait_for(lambda: len(started(log)) == 2 and started(log), what="both jobs to start")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    for pid in jobs.values():
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    lock = outdir / ".rip" / "necroflow.lock"
    assert lock.read_text().strip() == str(proc.pid), "the lock file should name the dead holder"
    job.write_text(job.read_text().replace("60", "0.1"))  # a different (short) second branch
    res = run(["run", "-c2", "--outdir", outdir, job], cwd=tmp_path, log=log)
    assert res.returncode == 0, res.stderr
