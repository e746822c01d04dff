"""The variant-calling example end to end, with the real bwa, samtools and bcftools.

What this proves, in the order of docs/varcall.md:

1. ``make_data.py`` writes the inputs; ``necroflow run`` on a job file for
   ``examples/varcall/factory.py`` aligns, indexes and jointly calls every sample, and the
   calls match the simulation's truth (``check.evaluate``: recall and precision >= 0.9 per
   sample);
2. the files are right by the tools' own standards (``samtools quickcheck``), every companion
   file (.bai, .csi, the reference's index files) sits beside its main file, and the BAM index
   step wrote nothing into the alignment step's folder;
3. the summary has one row per sample;
4. a second run executes nothing, and neither does one after every input and output file was
   touched (same bytes, new mtime);
5. new reads for one sample rerun exactly that sample's align and index_bam, plus the joint
   call and the summary;
6. a third sample added to the job reruns exactly its own align and index_bam, plus the joint
   call (``status`` says the list input gained an element) and the summary;
7. moving the whole data folder (same bytes, new path) changes no job's hash, because reads and
   reference are ``SourceFile`` params, identified by content; and reruns nothing.

The tests share one module-scoped outdir and run in file order: each step starts from the
state the previous one left. The job file is written into the test's temporary folder (the
example's own ``varcall.toml`` points at ``examples/varcall/data`` relative to the repo root),
with the factory and the data as absolute paths; necroflow runs from the repo root.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from necroflow import Job, Pipeline
from necroflow.jobs import load_jobs

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "varcall"
INSTALL = REPO / "scripts" / "install-bio-tools.sh"
TOOLS = ("bwa", "samtools", "bcftools")
RUNNABLE = {"MISSING", "STALE", "INTERRUPTED", "FAILED"}
COMBO = "varcall"  # the job file's stem


def _load_check() -> ModuleType:
    """examples/varcall/check.py, imported by path (it is a script, not a package module)."""
    spec = importlib.util.spec_from_file_location("varcall_check", EXAMPLE / "check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


check_vcf = _load_check()


# --------------------------------------------------------------------------- helpers


def necroflow_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the ``necroflow`` command of this interpreter's environment from the repo root."""
    script = Path(sys.executable).with_name("necroflow")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "necroflow.cli"]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [*cmd, *map(str, args)], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


def check(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    """Fail with the command's own output when it did not exit 0."""
    assert proc.returncode == 0, (
        f"{proc.args} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    )
    return proc


def output(proc: subprocess.CompletedProcess[str]) -> str:
    """What a person sees in the terminal: the plan may go to stdout, progress to stderr."""
    return proc.stdout + proc.stderr


def make_data(outdir: Path, *args: str) -> None:
    """Run the example's data generator as the docs do."""
    check(
        subprocess.run(
            [sys.executable, str(EXAMPLE / "make_data.py"), str(outdir), *args],
            capture_output=True, text=True, timeout=60,
        )
    )


def write_job(path: Path, data: Path, samples: list[str]) -> None:
    """A job file like examples/varcall/varcall.toml, with absolute paths."""
    path.write_text(
        f'".pipeline" = "{EXAMPLE / "factory.py"}:varcall"\n'
        '".requests" = ["calls", "summary"]\n\n'
        f"data = {json.dumps(str(data))}\n"
        f"samples = {json.dumps(samples)}\n"
    )


def stamps(jobs: list[Job]) -> dict[str, tuple[tuple[int, int], ...]]:
    """(inode, mtime_ns) of every file of every job's outputs (companions included), not
    following symlinks: a job that runs again replaces its files, so the stamps change; a
    job that does not run leaves them alone."""
    found = {}
    for job in jobs:
        per_file = []
        for node in job.outputs.values():
            assert node.path is not None
            for name in node.files:
                st = (node.path.parent / name).lstat()
                per_file.append((st.st_ino, st.st_mtime_ns))
        found[job.key] = tuple(per_file)
    return found


def unchanged(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    """Keys present in both whose stamps are equal."""
    return {key for key in before.keys() & after.keys() if before[key] == after[key]}


def read_tsv(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text().splitlines()]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def bio_tools() -> None:
    """bwa, samtools and bcftools on PATH, installed by the project's script if missing."""
    if all(shutil.which(tool) for tool in TOOLS):
        return
    proc = subprocess.run(["bash", str(INSTALL)], capture_output=True, text=True, timeout=900)
    missing = [tool for tool in TOOLS if not shutil.which(tool)]
    if missing:
        # Skip only when installing is impossible here (no root, no apt, no network to the
        # Debian mirror); any other failure, e.g. a wrong package name, fails the test.
        cannot = ("as root", "apt-get is not available", "Failed to fetch", "Could not resolve",
                  "Temporary failure resolving")
        if proc.returncode != 0 and any(reason in proc.stderr for reason in cannot):
            pytest.skip(f"cannot install {', '.join(missing)} here: {proc.stderr.strip()}")
        pytest.fail(f"{INSTALL.name} exited {proc.returncode} and {', '.join(missing)} still missing:\n"
                    f"{proc.stdout}\n{proc.stderr}")


@dataclass
class Run:
    """One outdir with the example run once, and what the tests need to inspect it."""

    tmp: Path
    data: Path
    job_file: Path
    outdir: Path
    wall: float
    first: subprocess.CompletedProcess[str]
    samples: list[str] = field(default_factory=lambda: ["s1", "s2"])

    def jobset(self) -> tuple[list[Job], Pipeline]:
        """The DAG's jobs (parents first) and the pipeline, built in this process by the same
        loader the CLI uses: it gives every node's path and key without running anything."""
        jobset = load_jobs([self.job_file], self.outdir, base=REPO)
        (run,) = jobset.runs
        return list(jobset.dag.jobs.values()), run.pipeline

    def run(self, *flags: str) -> subprocess.CompletedProcess[str]:
        return check(necroflow_cli("run", *flags, "--outdir", self.outdir, self.job_file))

    def ran(self) -> list[str]:
        """Run for real with --json; the keys of the jobs that ran."""
        return list(json.loads(self.run("--json").stdout)["ran"])

    def would_run(self) -> set[str]:
        """A dry run's jobs to run (--dry-run --json)."""
        plan = json.loads(self.run("--dry-run", "--json").stdout)
        return {j["job"] for j in plan["jobs"] if j["state"] in RUNNABLE}

    def status(self) -> str:
        return output(check(necroflow_cli("status", "--outdir", self.outdir, self.job_file)))

    def vcf(self) -> Path:
        _, P = self.jobset()
        assert P.calls.path is not None
        return P.calls.path


def chain_of(P: Pipeline, sample: str) -> set[str]:
    """Keys of one sample's own jobs: its align and its index_bam."""
    indexed = P[f"indexed_{sample}"]
    (align,) = indexed.job.parents
    assert align.rule.name == "align"
    return {align.key, indexed.job.key}


def joint(P: Pipeline) -> set[str]:
    """Keys of the all-sample steps: joint_call and summarise."""
    return {P.calls.job.key, P.summary.job.key}


@pytest.fixture(scope="module")
def varcall(bio_tools: None, tmp_path_factory: pytest.TempPathFactory) -> Run:
    tmp = tmp_path_factory.mktemp("varcall")
    data = tmp / "data"
    make_data(data, "--samples", "2")
    job_file = tmp / f"{COMBO}.toml"
    write_job(job_file, data, ["s1", "s2"])
    outdir = tmp / "results"
    start = time.monotonic()
    first = check(necroflow_cli("run", "--outdir", outdir, job_file))
    wall = time.monotonic() - start
    print(f"\nvarcall example: first run {wall:.1f}s wall\n{output(first)}")
    return Run(tmp, data, job_file, outdir, wall, first)


def assert_calls_match_truth(run: Run) -> None:
    scores = check_vcf.evaluate(run.data / "truth.tsv", run.vcf())
    assert sorted(scores) == run.samples
    for sample, score in scores.items():
        assert score.recall >= 0.9 and score.precision >= 0.9, (sample, score)


# --------------------------------------------------------------------------- tests


def test_first_run_builds_everything_quickly(varcall: Run) -> None:
    jobs, _ = varcall.jobset()
    assert Counter(job.rule.name for job in jobs) == {
        "index_genome": 1, "align": 2, "index_bam": 2, "joint_call": 1, "summarise": 1}
    assert "7 ran" in output(varcall.first)
    assert varcall.wall < 30, f"the example took {varcall.wall:.1f}s; it must stay a few seconds"


def test_calls_match_the_truth(varcall: Run) -> None:
    assert_calls_match_truth(varcall)


def test_files_pass_the_tools_and_companions_sit_beside_them(varcall: Run) -> None:
    _, P = varcall.jobset()
    for sample in varcall.samples:
        indexed = P[f"indexed_{sample}"]
        (align,) = indexed.job.parents
        bam, bai = indexed.path, Path(f"{indexed.path}.bai")
        assert bam is not None and align.dir is not None
        check(subprocess.run(["samtools", "quickcheck", "-v", str(align.dir / "sorted.bam"), str(bam)],
                             capture_output=True, text=True))
        # the index step links its parent's BAM into its own folder and indexes the link
        assert bam.is_symlink() and bam.resolve() == (align.dir / "sorted.bam").resolve()
        assert bai.is_file() and not bai.is_symlink()
        # ... and writes nothing into the align step's folder
        assert sorted(p.name for p in align.dir.iterdir()) == [".rip", "bwa.log", "sorted.bam"]
        # a region query needs the .bai, found through the link
        region = check(subprocess.run(["samtools", "view", "-c", str(bam), "chr2:1000-3000"],
                                      capture_output=True, text=True))
        assert int(region.stdout) > 0
        header = check(subprocess.run(["samtools", "view", "-H", str(bam)], capture_output=True, text=True))
        assert f"@RG\tID:{sample}\tSM:{sample}" in header.stdout
    genome = P.genome.path
    assert genome is not None
    assert sorted(p.name for p in genome.parent.iterdir() if p.name != ".rip") == sorted(P.genome.files)
    calls = P.calls.path
    assert calls is not None and Path(f"{calls}.csi").is_file()
    # the combo folder links the VCF and its .csi side by side, so region queries work there too
    manifest = tomllib.loads((varcall.outdir / COMBO / "manifest.toml").read_text())
    link = varcall.outdir / COMBO / manifest["outputs"]["calls"]
    assert link.is_symlink() and link.resolve() == calls.resolve()
    assert Path(f"{link}.csi").is_symlink() and Path(f"{link}.csi").resolve() == Path(f"{calls}.csi").resolve()
    region = check(subprocess.run(["bcftools", "view", "-H", "-r", "chr2", str(link)],
                                  capture_output=True, text=True))
    assert region.stdout and all(line.startswith("chr2\t") for line in region.stdout.splitlines())


def test_summary_has_one_row_per_sample(varcall: Run) -> None:
    _, P = varcall.jobset()
    assert P.summary.path is not None
    header, *rows = read_tsv(P.summary.path)
    assert header == ["sample", "variants", "het", "hom_alt", "hom_ref", "missing", "mean_depth"]
    assert [row[0] for row in rows] == varcall.samples
    scores = check_vcf.evaluate(varcall.data / "truth.tsv", varcall.vcf())
    for row in rows:
        sample, variants, het, hom_alt = row[0], int(row[1]), int(row[2]), int(row[3])
        assert variants == het + hom_alt == scores[sample].called


def test_second_run_executes_nothing(varcall: Run) -> None:
    jobs, _ = varcall.jobset()
    before = stamps(jobs)
    text = output(varcall.run())
    assert "Nothing to do" in text and "7 jobs" in text, text
    assert stamps(jobs) == before


def test_touching_every_file_reruns_nothing(varcall: Run) -> None:
    jobs, _ = varcall.jobset()
    later = time.time() + 10  # differs from every file's mtime, even on a 1-second file system
    touched = 0
    for root in (varcall.data, varcall.outdir):
        for path in root.rglob("*"):
            if ".rip" in path.relative_to(root).parts:
                continue
            if path.is_symlink() or path.is_file():  # links themselves, not their targets twice
                os.utime(path, (later, later), follow_symlinks=False)
                touched += 1
    assert touched >= 20
    before = stamps(jobs)
    assert varcall.would_run() == set()
    assert varcall.ran() == []
    assert stamps(jobs) == before


def test_new_reads_for_one_sample_rerun_only_its_chain_and_the_joint_steps(varcall: Run) -> None:
    old_jobs, old_P = varcall.jobset()
    before = stamps(old_jobs)
    # s2 "resequenced": same genotypes, new reads; the generator rewrites the other files with
    # the same bytes and a new mtime, which must not rerun anything.
    make_data(varcall.data, "--samples", "2", "--reseed", "s2=7")
    jobs, P = varcall.jobset()
    expected = chain_of(P, "s2") | joint(P)
    assert len(expected) == 4
    # a source file is identified by its content: new reads, new hashes for exactly these jobs
    assert {j.key for j in jobs} - {j.key for j in old_jobs} == expected
    assert chain_of(P, "s1") == chain_of(old_P, "s1")

    assert varcall.would_run() == expected
    (align_s2,) = P.indexed_s2.job.parents
    assert re.search(rf"{align_s2.key}\s+source file `reads` content changed \(\S*/s2\.fastq\.gz\)",
                     varcall.status()), varcall.status()
    assert stamps(old_jobs) == before, "a dry run must not run anything"

    assert set(varcall.ran()) == expected
    kept = [j for j in jobs if j.key not in expected]
    assert unchanged(before, stamps(kept)) == {j.key for j in kept}
    assert_calls_match_truth(varcall)


def test_a_third_sample_reruns_only_its_chain_and_the_joint_steps(varcall: Run) -> None:
    old_jobs, _ = varcall.jobset()
    before = stamps(old_jobs)
    make_data(varcall.data, "--samples", "3", "--reseed", "s2=7")  # adds s3, keeps s1 and s2's bytes
    write_job(varcall.job_file, varcall.data, ["s1", "s2", "s3"])
    varcall.samples = ["s1", "s2", "s3"]
    jobs, P = varcall.jobset()
    expected = chain_of(P, "s3") | joint(P)
    assert len(jobs) == 9 and len(expected) == 4
    assert {j.key for j in jobs} - {j.key for j in old_jobs} == expected

    assert varcall.would_run() == expected
    status = varcall.status()
    assert re.search(rf"{P.calls.job.key}\s+input list `bams` gained 1 element", status), status

    assert set(varcall.ran()) == expected
    kept = [j for j in jobs if j.key not in expected]
    assert unchanged(before, stamps(kept)) == {j.key for j in kept}
    assert_calls_match_truth(varcall)
    assert P.summary.path is not None
    assert [row[0] for row in read_tsv(P.summary.path)[1:]] == ["s1", "s2", "s3"]


def test_moving_the_data_keeps_every_hash(varcall: Run) -> None:
    """Reads and reference are SourceFile params: their content, not their path, is hashed.
    (This test moves the data; the one after it runs on the moved folder.)"""
    old_jobs, _ = varcall.jobset()
    moved = varcall.tmp / "moved" / "elsewhere"
    moved.parent.mkdir()
    shutil.move(varcall.data, moved)
    varcall.data = moved
    write_job(varcall.job_file, moved, varcall.samples)
    jobs, _ = varcall.jobset()
    assert [j.key for j in jobs] == [j.key for j in old_jobs]


def test_moving_the_data_reruns_nothing(varcall: Run) -> None:
    jobs, _ = varcall.jobset()
    before = stamps(jobs)
    assert varcall.would_run() == set()
    assert varcall.ran() == []
    assert stamps(jobs) == before
