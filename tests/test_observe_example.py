"""The small example pipeline shared by the observability tests, and the per-job metrics check.

The pipeline source lives in a string so the same code runs in-process (``build_dag``) and in
subprocesses (written to a file by ``write_script``): a live display is only honest when a
real run drives it through a real terminal.

Shape (shell steps only, three samples plus a shared index and a fan-in table)::

    fetch(s1) ─► align ─► count ─┐
    fetch(s2) ─► align ─► count ─┼─► table
    fetch(s3) ─► align ─► count ─┘
    index(ref) ──┘ (shared by every align)
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

EXAMPLE = r'''
from necroflow import DAG, Inputs, NodeType, Outputs, Pipeline, Rules


class Reads(NodeType):
    """Fake reads for one sample."""
    filename = "reads.txt"


class Index(NodeType):
    """Fake reference index."""
    filename = "index.txt"


class Aligned(NodeType):
    """Reads joined with the index."""
    filename = "aligned.txt"


class Counts(NodeType):
    """Line count of an alignment."""
    filename = "counts.txt"


class Table(NodeType):
    """All samples' counts side by side."""
    filename = "table.tsv"


def make_rules(sleep=0.0, align_cmd="cat {reads} {index} > {aligned}"):
    R = Rules()
    R.register("fetch", Inputs(sample=str, lines=int), Outputs(reads=Reads),
               "for i in $(seq {lines}); do echo {sample}_$i; done > {reads}")
    R.register("index", Inputs(ref=str), Outputs(index=Index), "echo index-of-{ref} > {index}")
    R.register("align", Inputs(reads=Reads, index=Index), Outputs(aligned=Aligned),
               (f"sleep {sleep}; " if sleep else "") + align_cmd)
    R.register("count", Inputs(aligned=Aligned), Outputs(counts=Counts), "wc -l < {aligned} > {counts}")
    R.register("table", Inputs(a=Counts, b=Counts, c=Counts), Outputs(table=Table),
               "paste {a} {b} {c} > {table}")
    return R


def build_dag(outdir, samples=("s1", "s2", "s3"), ref="hg38", lines=3, sleep=0.0,
              align_cmd="cat {reads} {index} > {aligned}"):
    """One pipeline per sample plus a table over the first three samples' counts."""
    R = make_rules(sleep, align_cmd)
    dag = DAG(outdir)
    idx = R.index(ref=ref)
    counts = []
    for s in samples:
        P = Pipeline()
        P.reads = R.fetch(sample=s, lines=lines)
        P.aligned = R.align(P.reads, idx)
        P.counts = R.count(P.aligned)
        counts.append(P.counts)
        dag.add(P)
    if len(counts) >= 3:
        T = Pipeline()
        T.table = R.table(counts[0], counts[1], counts[2])
        dag.add(T)
    return dag


def build_flat(outdir, n, command="true"):
    """n independent trivial jobs: the display-overhead benchmark."""
    R = Rules()
    R.register("noop", Inputs(i=int), Outputs(out=Reads), command + " && : > {out}")
    dag = DAG(outdir)
    for i in range(n):
        P = Pipeline()
        P.out = R.noop(i=i)
        dag.add(P)
    return dag
'''


def load_example() -> ModuleType:
    """The example as a module (fresh each call, so rules can be re-declared)."""
    mod = ModuleType("necroflow_observe_example")
    exec(compile(EXAMPLE, "<observe example>", "exec"), mod.__dict__)
    return mod


def build_dag(outdir: Path, **kw: Any) -> Any:
    return load_example().build_dag(outdir, **kw)


def ensure_apt(binary: str, package: str) -> str:
    """Path of ``binary``, installing Debian ``package`` with apt when missing.

    Skips (with the reason) only when apt cannot run here: not root, no apt-get, or the
    install fails (no network).  The tools are real: a syntax check we wrote ourselves
    would only agree with our own writer.
    """
    import os
    import shutil
    import subprocess

    found = shutil.which(binary)
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip(f"{binary} is missing and apt-get cannot install {package} here (needs root and apt)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    lock = ["-o", "DPkg::Lock::Timeout=600"]
    for cmd in (["apt-get", *lock, "update"], ["apt-get", *lock, "install", "-y", "--no-install-recommends", package]):
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        if r.returncode != 0:
            pytest.skip(f"{binary} is missing and `{' '.join(cmd)}` failed: {r.stderr.strip()[-300:]}")
    found = shutil.which(binary)
    if not found:
        pytest.skip(f"apt installed {package} but {binary} is still not on PATH")
    return found


def write_script(path: Path, body: str) -> Path:
    """A runnable script: the example followed by ``body`` (which may use build_dag etc.)."""
    path.write_text(EXAMPLE + "\n\n" + body)
    return path


# ---------------------------------------------------------------------------- tests

def test_every_job_records_metrics(tmp_path: Path) -> None:
    dag = build_dag(tmp_path / "out", sleep=0.05)
    report = dag.execute(progress=_silent())
    assert len(report.ran) == 11
    for job in dag.jobs.values():
        m = json.loads((job.dir / ".rip" / "metrics.json").read_text())
        for key in ("start", "end", "wall", "cpu", "max_rss", "exit_code", "host", "job_id", "backend"):
            assert key in m, f"{job.key}: metrics.json lacks {key}: {m}"
        assert m["exit_code"] == 0
        assert m["end"] >= m["start"]
        assert m["wall"] >= 0 and m["cpu"] >= 0
        assert m["max_rss"] > 100_000, "peak memory of a shell is at least a few hundred KB"
        assert m["host"] == socket.gethostname()
        if job.rule.name == "align":
            assert m["wall"] >= 0.05


def _silent() -> Any:
    from necroflow import Reporter

    return Reporter(stream=open("/dev/null", "w"), verbose=0)  # noqa: SIM115 - closed at exit


def test_example_script_runs_in_a_subprocess(tmp_path: Path) -> None:
    import subprocess

    script = write_script(tmp_path / "run.py", "import sys\nbuild_dag(sys.argv[1]).execute()\n")
    r = subprocess.run([sys.executable, str(script), str(tmp_path / "out")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "table").is_dir()


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__])
