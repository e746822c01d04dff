"""Disk full: a small tmpfs as the outdir's file system (needs root and ``mount``).

A job that runs out of space fails cleanly: exit 1, no traceback, ENOSPC in its log, no
record trusted, nothing downstream started.  Even a disk that is full before necroflow
starts only makes the run fail with a message.  After space is freed, the next run
completes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from faultlib import WORKLOAD, lock_is_free, plan_states, run

NBYTES = 600_000
ENOSPC_TEXT = "No space left on device"


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs mounted for this test only; skipped (with the reason) where impossible."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8); the CI image runs as root")
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (container without CAP_SYS_ADMIN?): {res.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def write_job(tmp: Path) -> Path:
    job = tmp / "filljob.toml"
    job.write_text(f'".pipeline" = "{WORKLOAD}/fill.py:fill_up"\nnbytes = {NBYTES}\n')
    return job


def ballast(mnt: Path, nbytes: int) -> Path:
    """Occupy space on the small file system (outside the outdir) with a file we can delete."""
    path = mnt / "ballast"
    with open(path, "wb") as f:
        try:
            f.write(b"\1" * nbytes)
            f.flush()
        except OSError:
            pass  # a full disk is what we wanted
    return path


def starts(log: Path) -> list[str]:
    return [Path(x.split(" ", 1)[1]).parent.name for x in log.read_text().splitlines()] if log.exists() else []


def test_job_runs_out_of_space_then_completes(small_fs: Path, tmp_path: Path) -> None:
    job, outdir, log = write_job(tmp_path), small_fs / "out", tmp_path / "jobs.log"
    extra = ballast(small_fs, 650_000)
    res = run(["run", "--outdir", outdir, job], cwd=tmp_path, log=log)
    text = res.stdout + res.stderr
    assert res.returncode == 1, text
    assert "Traceback" not in text, text
    assert ENOSPC_TEXT in text, text
    (node,) = (outdir / "fill").iterdir()
    joblog = (node / ".rip" / "job.log").read_text()
    assert ENOSPC_TEXT in joblog, f"the job's log should say why: {joblog!r}"
    assert (node / ".rip" / "state").read_text().strip() in ("failed", "running")
    assert starts(log) == ["fill"], "the consumer started after its input failed"
    states = plan_states(outdir, job, base=tmp_path)
    assert "UP_TO_DATE" not in states.values(), states
    assert not [p.name for p in (node / ".rip").iterdir() if ".tmp" in p.name], "temp files left behind"
    assert lock_is_free(outdir)

    extra.unlink()
    res = run(["run", "--outdir", outdir, job], cwd=tmp_path, log=log)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (node / "blob.bin").stat().st_size == NBYTES
    (size_node,) = (outdir / "size").iterdir()
    assert (size_node / "size.txt").read_text().strip() == str(NBYTES)
    assert set(plan_states(outdir, job, base=tmp_path).values()) == {"UP_TO_DATE"}


def test_disk_full_before_the_run_starts(small_fs: Path, tmp_path: Path) -> None:
    job, outdir, log = write_job(tmp_path), small_fs / "out", tmp_path / "jobs.log"
    extra = ballast(small_fs, 2_000_000)  # more than the file system holds
    res = run(["run", "--outdir", outdir, job], cwd=tmp_path, log=log)
    text = res.stdout + res.stderr
    assert res.returncode == 1, text
    assert "Traceback" not in text, text
    assert ENOSPC_TEXT in text, text
    assert starts(log) == [], "no job can have run on a full disk"
    assert lock_is_free(outdir)
    extra.unlink()
    res = run(["run", "--outdir", outdir, job], cwd=tmp_path, log=log)
    assert res.returncode == 0, res.stdout + res.stderr
    assert set(plan_states(outdir, job, base=tmp_path).values()) == {"UP_TO_DATE"}
