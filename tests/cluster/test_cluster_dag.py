"""Whole DAGs through ``dag.execute(backend=...)``: same outputs, same hash folders, one cache.

A small diamond (two samples sharing one reference) runs on local, SLURM and Dask into
separate outdirs; the trees must match byte for byte, and each outdir must then be up to
date for the *other* backends.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cluster_helpers import log_has, wait_until

from necroflow import DAG, JobFailed, NodeType, Pipeline, Rules
from necroflow.backends.dask import DaskBackend
from necroflow.backends.slurm import SlurmBackend
from necroflow.store import read_state


class Reads(NodeType):
    """Stand-in reads."""

    filename = "reads.txt"


class Ref(NodeType):
    """Stand-in reference."""

    filename = "ref.txt"


class Merged(NodeType):
    """Reads joined with the reference."""

    filename = "merged.txt"


r = Rules()


@r.command("printf 'read %s\\n' {sample} > {reads}")
def reads(sample: str) -> Reads[reads]:  # noqa: F821
    """One read per sample."""


@r.command("printf 'ref %s\\n' {name} > {ref}")
def ref(name: str) -> Ref[ref]:  # noqa: F821
    """The shared reference."""


@r.command("cat {reads} {ref} > {merged}", threads=2, ram="64Mi")
def merge(reads: Reads, ref: Ref) -> Merged[merged]:  # noqa: F821
    """Uses two threads and a little memory, so the constraints reach each backend."""


@r.command("echo {word}; exit 3")
def broken(word: str) -> Reads[reads]:  # noqa: F821
    """Always fails."""


def _dag(outdir: Path) -> DAG:
    dag = DAG(str(outdir))
    for sample in ("s1", "s2"):
        P = Pipeline()
        P.reads = r.reads(sample=sample)
        P.ref = r.ref(name="hg38")
        P.merged = r.merge(P.reads, P.ref)
        dag.add(P)
    return dag


def _tree(outdir: Path) -> dict[str, str]:
    """Every file outside .rip/ folders -> sha256."""
    out = {}
    for root, dirs, files in os.walk(outdir):
        dirs[:] = [d for d in dirs if d != ".rip"]
        for f in files:
            p = Path(root) / f
            out[str(p.relative_to(outdir))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _slurm() -> SlurmBackend:
    return SlurmBackend(poll_interval=0.2, submit_rate=100)


def _dask() -> DaskBackend:
    return DaskBackend(resources={"threads": 2})


BACKENDS: dict[str, Any] = {"local": lambda: "local", "slurm": _slurm, "dask": _dask}
CAPS = {"threads": 16}  # the cluster, not this 2-core machine, decides what runs at once


def test_same_outputs_and_hash_folders_on_every_backend_and_one_cache(slurm_cluster: None, tmp_path: Path) -> None:
    trees = {}
    for name, make in BACKENDS.items():
        report = _dag(tmp_path / name).execute(backend=make(), resource_caps=CAPS)
        assert len(report.ran) == 5 and not report.failed, (name, report)
        trees[name] = _tree(tmp_path / name)
    assert trees["local"] == trees["slurm"] == trees["dask"]
    assert len(trees["local"]) == 5
    merged = next((tmp_path / "slurm" / "merge").iterdir())
    assert read_state(merged) == "up_to_date"
    assert (merged / ".rip" / "slurm-exit.json").exists()  # it really ran on SLURM
    # a rerun on any other backend finds everything up to date
    for outdir, backend in (("local", "slurm"), ("slurm", "dask"), ("dask", "local")):
        report = _dag(tmp_path / outdir).execute(backend=BACKENDS[backend](), resource_caps=CAPS)
        assert report.ran == [] and report.up_to_date == 5, (outdir, backend)


@pytest.mark.parametrize("backend", ["slurm", "dask"])
def test_failing_job_raises_like_local(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if backend == "slurm":
        request.getfixturevalue("slurm_cluster")
    dag = DAG(str(tmp_path))
    P = Pipeline()
    P.bad = r.broken(word="oops")
    dag.add(P)
    with pytest.raises(JobFailed, match="exit code 3") as info:
        dag.execute(backend=BACKENDS[backend](), resource_caps=CAPS)
    node = info.value.job.dir
    assert read_state(node) == "failed"
    assert "oops" in (node / ".rip" / "job.log").read_text()


INTERRUPTIBLE = """
from __future__ import annotations
import sys
from necroflow import DAG, NodeType, Pipeline, Rules
from necroflow.backends.{module} import {cls}

class Out(NodeType):
    filename = "out.txt"

r = Rules()

@r.command("echo started; sleep 300; touch {{out}}")
def slow(n: int) -> Out[out]:
    "Runs until cancelled."

if __name__ == "__main__":
    dag = DAG(sys.argv[1])
    for n in range(2):
        P = Pipeline()
        P.out = r.slow(n=n)
        dag.add(P)
    dag.execute(backend={cls}(), resource_caps={{"threads": 16}})
"""


@pytest.mark.parametrize("backend", ["slurm", "dask"])
def test_ctrl_c_cancels_cluster_jobs_and_marks_them_interrupted(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "slurm":
        request.getfixturevalue("slurm_cluster")
    module, cls = {"slurm": ("slurm", "SlurmBackend"), "dask": ("dask", "DaskBackend")}[backend]
    script = tmp_path / "run.py"
    script.write_text(INTERRUPTIBLE.format(module=module, cls=cls))
    outdir = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, str(script), str(outdir)], stderr=subprocess.PIPE, text=True)
    try:
        logs: list[Path] = []

        def started() -> bool:
            logs[:] = [p for p in outdir.glob("slow/*/.rip/job.log") if log_has(p, "started")]
            return len(logs) == 2

        wait_until(started, 60, "both jobs to start")
        job_ids = [p.name[6:-4] for log in logs for p in log.parent.glob("slurm-*.out")
                   if not p.name.startswith(("slurm-array-", "slurm-group-"))]  # an array's own output
        if backend == "dask":  # "started" is logged just before the shell forks its sleep
            wait_until(lambda: len(_sleepers(outdir)) == 2, 10, "both Dask jobs' sleeps to start")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert "KeyboardInterrupt" in err or "interrupt" in err.lower()
    for log in logs:
        assert read_state(log.parent.parent) == "interrupted"
    if backend == "slurm":
        assert len(job_ids) == 2
        for job_id in job_ids:

            def final(job_id: str = job_id) -> bool:
                argv = ["squeue", "-h", "--states=all", "-j", job_id, "-o", "%T"]
                state = subprocess.run(argv, capture_output=True, text=True).stdout.strip()
                assert state in ("CANCELLED", "COMPLETING", ""), f"SLURM job {job_id} is {state}"
                return state != "COMPLETING"

            wait_until(final, 30, f"SLURM job {job_id} to end")
    else:
        wait_until(lambda: not _sleepers(outdir), 10, "the Dask jobs' processes to end")


def _sleepers(outdir: Path) -> list[int]:
    """Pids of 'sleep 300' processes started in this outdir's node folders."""
    found = []
    for proc_dir in Path("/proc").iterdir():
        if not proc_dir.name.isdigit():
            continue
        try:
            cmdline = (proc_dir / "cmdline").read_bytes().split(b"\0")
            cwd = os.readlink(proc_dir / "cwd")
        except OSError:
            continue
        if cmdline[:2] == [b"sleep", b"300"] and cwd.startswith(str(outdir)):
            found.append(int(proc_dir.name))
    return found
