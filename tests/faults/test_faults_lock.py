"""One necroflow per outdir: simultaneous starts, a held lock, and stale lock files.

The two racing processes import everything first and then wait on a shared gate, so
they reach ``execute`` within a millisecond of each other: the race is real, not
serialised by interpreter start-up.
"""

from __future__ import annotations

import fcntl
import io
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from faultlib import (
    JOB,
    N_JOBS,
    RUN_ARGS,
    WORKLOAD,
    JobLog,
    Reference,
    child_env,
    links,
    lock_is_free,
    outputs,
    plan_states,
    run,
)

from necroflow import Reporter
from necroflow.jobs import load_jobs

ROUNDS = 3

RACER = textwrap.dedent(
    """
    import os, sys, time
    import necroflow.cli, necroflow.jobs, necroflow.execute, necroflow.schemas  # warm imports
    gate = sys.argv[1]
    open(f"{gate}.ready{os.getpid()}", "w").close()
    while not os.path.exists(gate):
        time.sleep(0.0002)
    t0 = time.time()
    try:
        necroflow.cli.main(sys.argv[2:])
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    else:
        code = 0
    sys.stderr.write(f"\\nRACER start={t0:.6f} end={time.time():.6f}\\n")
    sys.exit(code)
    """
)


def race(tmp: Path, outdir: Path, log: Path, n: int = 2) -> list[tuple[int, str, float]]:
    """Start ``n`` runs that wait on one gate, open it, return (exit code, output, seconds)."""
    racer = tmp / "racer.py"
    racer.write_text(RACER)
    gate = tmp / f"gate-{time.monotonic_ns()}"
    procs = [
        subprocess.Popen([sys.executable, str(racer), str(gate), *RUN_ARGS, "--outdir", str(outdir), JOB],
                         cwd=WORKLOAD, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env=child_env(NF_FAULT_LOG=str(log)), start_new_session=True)
        for _ in range(n)
    ]
    deadline = time.monotonic() + 30
    while len(list(tmp.glob(f"{gate.name}.ready*"))) < n:  # all past their imports, polling the gate
        assert time.monotonic() < deadline, "racers did not get ready"
        time.sleep(0.005)
    gate.touch()
    out = []
    for p in procs:
        text, _ = p.communicate(timeout=60)
        marker = text.rsplit("RACER start=", 1)[1].split()
        t0, t1 = float(marker[0]), float(marker[1].removeprefix("end="))
        out.append((p.returncode, text, t1 - t0))
    return out


def test_simultaneous_starts_one_runs_one_refused(tmp_path: Path, reference: Reference) -> None:
    for r in range(ROUNDS):
        outdir, log = tmp_path / f"out{r}", tmp_path / f"jobs{r}.log"
        if r % 2:  # half the rounds race on an outdir where part of the work is already done
            first = run([*RUN_ARGS, "--outdir", outdir, JOB], cwd=WORKLOAD, log=tmp_path / "pre.log")
            assert first.returncode == 0
            for node in list((outdir / "align").iterdir())[:2]:
                (node / ".rip" / "state").write_text("interrupted\n")
        results = race(tmp_path, outdir, log)
        codes = sorted(rc for rc, _, _ in results)
        assert codes == [0, 3], "\n---\n".join(t for _, t, _ in results)
        (_, win_text, win_s), (_, lose_text, lose_s) = sorted(results, key=lambda x: x[0])
        assert "another necroflow process" in lose_text and "necroflow.lock" in lose_text, lose_text
        assert "Traceback" not in lose_text + win_text
        assert lose_s < 1.0 and lose_s < win_s, f"the refused run took {lose_s:.2f}s (winner {win_s:.2f}s)"
        jl = JobLog.read(log)
        assert all(n == 1 for n in jl.starts.values()), f"a job ran twice: {jl.starts}"
        assert len(jl.starts) == (N_JOBS if r % 2 == 0 else 2 + 1), sorted(jl.starts)  # 2 aligns + merge
        assert outputs(outdir) == reference.outputs
        assert links(outdir) == reference.links
        assert set(plan_states(outdir).values()) == {"UP_TO_DATE"}
        assert lock_is_free(outdir)


def test_held_lock_refuses_at_once_then_frees(tmp_path: Path) -> None:
    """While someone holds the flock, necroflow exits 3 at once naming the holder."""
    outdir = tmp_path / "out"
    (outdir / ".rip").mkdir(parents=True)
    path = outdir / ".rip" / "necroflow.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, f"{os.getpid()}\n".encode())
        t0 = time.monotonic()
        res = run([*RUN_ARGS, "--outdir", outdir, JOB], cwd=WORKLOAD, log=tmp_path / "jobs.log")
        took = time.monotonic() - t0
    finally:
        os.close(fd)
    assert res.returncode == 3, res.stderr
    assert f"pid {os.getpid()}" in res.stderr and str(path) in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    assert took < 10
    assert not (tmp_path / "jobs.log").exists(), "a job ran although the outdir was locked"
    assert [p.name for p in outdir.iterdir()] == [".rip"], "the refused run wrote into the outdir"
    res = run([*RUN_ARGS, "--outdir", outdir, JOB], cwd=WORKLOAD, log=tmp_path / "jobs.log")
    assert res.returncode == 0, res.stderr


def test_stale_lock_files_never_block(tmp_path: Path) -> None:
    """Lock files with a dead pid, a live unrelated pid, garbage or nothing: none blocks."""
    job = tmp_path / "tiny.toml"
    job.write_text(f'".pipeline" = "{WORKLOAD}/slow.py:slow"\nseconds = [0]\n')
    dead = subprocess.Popen(["true"])
    dead.wait()
    contents = [f"{dead.pid}\n", "1\n", f"{os.getpid()}\n", "\x00\xff garbage", ""]
    for i, text in enumerate(contents):
        outdir = tmp_path / f"out{i}"
        (outdir / ".rip").mkdir(parents=True)
        (outdir / ".rip" / "necroflow.lock").write_bytes(text.encode("latin-1"))
        os.environ["NF_FAULT_LOG"] = str(tmp_path / f"jobs{i}.log")  # in-process: the API takes the same lock
        try:
            report = load_jobs([job], outdir, base=tmp_path).dag.execute(progress=Reporter(io.StringIO()))
        finally:
            del os.environ["NF_FAULT_LOG"]
        assert len(report.ran) == 2, f"lock file {text!r}"
        assert set(plan_states(outdir, job, base=tmp_path).values()) == {"UP_TO_DATE"}
        assert lock_is_free(outdir)
