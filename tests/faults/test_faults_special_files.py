"""Things that are not files where files belong: planted symlinks, FIFOs, /dev/zero.

None of them may make necroflow write outside the outdir, hang, or print a traceback.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from faultlib import JOB, WORKLOAD, run

from necroflow import DAG, JobFailed, NodeType, Pipeline, Reporter, Rules
from necroflow.plan import State


class F(NodeType):
    filename = "f.txt"


R = Rules()
R.register("fifo", {}, {"out": F}, "mkfifo {out}")
R.register("plain", {"word": str}, {"out": F}, "printf '%s' {word} > {out}")


def quiet() -> Reporter:
    return Reporter(stream=io.StringIO())


def cli(args: list[str | os.PathLike[str]], tmp_path: Path, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return run(args, cwd=WORKLOAD, log=tmp_path / "jobs.log", timeout=timeout)


def test_a_symlink_planted_as_the_lock_file_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / ".rip").mkdir(parents=True)
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me\n")
    (out / ".rip" / "necroflow.lock").symlink_to(victim)
    res = cli(["--outdir", out, JOB], tmp_path)
    assert res.returncode == 2, res.stderr
    assert "necroflow.lock is a symlink" in res.stderr and "Traceback" not in res.stderr
    assert victim.read_text() == "keep me\n"


def test_a_symlinked_rip_folder_is_refused_and_nothing_is_written_at_its_target(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / ".rip").symlink_to(elsewhere)
    res = cli(["--outdir", out, JOB], tmp_path)
    assert res.returncode == 2, res.stderr
    assert ".rip is a symlink" in res.stderr and "Traceback" not in res.stderr
    assert list(elsewhere.iterdir()) == []


def test_a_fifo_written_as_an_output_fails_the_job_quickly(tmp_path: Path) -> None:
    P = Pipeline()
    P.f = R.fifo()
    dag = DAG(tmp_path / "out")
    dag.add(P)
    t0 = time.monotonic()
    with pytest.raises(JobFailed, match="is not a regular file or a folder"):
        dag.execute(progress=quiet())
    assert time.monotonic() - t0 < 10


def test_a_fifo_planted_at_a_state_file_or_an_output_is_not_read(tmp_path: Path) -> None:
    P = Pipeline()
    P.f = R.plain(word="x")
    dag = DAG(tmp_path / "out")
    dag.add(P)
    dag.execute(progress=quiet())
    node = tmp_path / "out" / P.f.job.key
    (tmp_path / "out" / ".rip" / "index.json").unlink()
    output = node / "f.txt"
    output.unlink()
    os.mkfifo(output)
    assert DAG(tmp_path / "out").add(P).plan().entries[P.f.fingerprint].state is State.MISSING
    (node / ".rip" / "state").unlink()
    os.mkfifo(node / ".rip" / "state")
    assert DAG(tmp_path / "out").add(P).plan().entries[P.f.fingerprint].state is State.INTERRUPTED
    assert DAG(tmp_path / "out").add(P).execute(progress=quiet()).ran == [P.f.job.key]
    assert output.read_text() == "x"


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero"])
def test_a_job_file_that_is_not_a_file_is_refused_at_once(tmp_path: Path, kind: str) -> None:
    if kind == "fifo":
        path = tmp_path / "job.toml"
        os.mkfifo(path)
    else:
        path = Path(kind)
    t0 = time.monotonic()
    for cmd in ("validate", "run"):
        res = subprocess.run([sys.executable, "-m", "necroflow.cli", cmd, "--outdir", str(tmp_path / "o"), str(path)],
                             capture_output=True, text=True, timeout=30)
        assert res.returncode == 2, res.stderr
        assert "is not a regular file" in res.stderr and "Traceback" not in res.stderr
    assert time.monotonic() - t0 < 20
