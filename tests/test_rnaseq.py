"""The RNA-seq example end to end, with the real bwa, samtools and featureCounts.

What this proves, in the order a newcomer would do it (docs/rnaseq.md):

1. ``scripts/install-bio-tools.sh`` gets the three tools (skipped only when apt cannot run);
2. ``make_data.py`` writes the inputs; ``necroflow run`` on ``examples/rnaseq/rnaseq.toml``
   builds every combo of the grid, and the outputs are right by the tools' own standards
   (``samtools quickcheck``, every read in the BAM) and by the simulation's truth (table
   shape, gene order, the direction of the simulated difference, the effect of -Q);
3. the reference index is built once and alignments are shared across ``min_mapq`` combos;
4. a second run executes nothing;
5. re-sequencing one sample reruns exactly that sample's alignments and counts, plus each
   table's one join over all samples, and the dry run says why.

The job file is the real ``examples/rnaseq/rnaseq.toml``, copied next to the generated data
with only its data paths changed, and run from the repository root like the docs say.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from necroflow import Job, Pipeline
from necroflow.jobs import load_jobs

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "rnaseq"
INSTALL = REPO / "scripts" / "install-bio-tools.sh"
SAMPLES = ("ctrl_1", "ctrl_2", "treat_1")
GENES = ("alpha", "beta", "gamma", "delta", "epsilon")
COMBOS = {
    f"rnaseq__min_seed+{seed}__min_mapq+{mapq}": (seed, mapq) for seed in (15, 19) for mapq in (0, 10)
}
TOOLS = ("bwa", "samtools", "featureCounts")


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


def read_table(path: Path | None) -> list[list[str]]:
    """A TSV file as rows of fields."""
    assert path is not None, "node path not resolved"
    return [line.split("\t") for line in path.read_text().splitlines()]


def read_truth(path: Path) -> dict[str, dict[str, int]]:
    """truth.tsv: sample -> gene -> reads drawn from that gene."""
    header, *rows = read_table(path)
    return {row[0]: dict(zip(header[1:], map(int, row[1:]), strict=True)) for row in rows}


def output_stamps(jobs: Iterable[Job]) -> dict[str, tuple[int, int]]:
    """(inode, mtime_ns) of every job's output, not following symlinks: a job that runs again
    replaces its output, so the stamp changes; a job that does not run leaves it alone."""
    stamps = {}
    for job in jobs:
        for node in job.outputs.values():
            assert node.path is not None
            st = node.path.lstat()
            stamps[job.key] = (st.st_ino, st.st_mtime_ns)
    return stamps


def changed(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> set[str]:
    assert before.keys() == after.keys()
    return {key for key in before if before[key] != after[key]}


def descendants(jobs: Iterable[Job], roots: set[str]) -> set[str]:
    """Keys of the jobs built, directly or not, from the jobs keyed ``roots``."""
    found: set[str] = set()
    for job in jobs:  # parents come before children in DAG order
        if any(p.key in roots or p.key in found for p in job.parents):
            found.add(job.key)
    return found


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def bio_tools() -> None:
    """bwa, samtools and featureCounts on PATH, installed by the project's script if missing."""
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
    """One outdir with the example run once, and what the test needs to inspect it."""

    tmp: Path
    data: Path
    job_file: Path
    outdir: Path
    wall: float
    first: subprocess.CompletedProcess[str]

    def jobset(self) -> tuple[list[Job], dict[str, Pipeline]]:
        """The DAG's jobs (parents first) and each combo's pipeline, built in this process by
        the same loader the CLI uses: it gives every node's path without running anything."""
        jobset = load_jobs([self.job_file], self.outdir, base=REPO)
        pipelines = {run.combo.name: run.pipeline for run in jobset.runs}
        return list(jobset.dag.jobs.values()), pipelines

    def run(self, *flags: str) -> subprocess.CompletedProcess[str]:
        return check(necroflow_cli("run", *flags, "--outdir", self.outdir, self.job_file))


@pytest.fixture(scope="module")
def rnaseq(bio_tools: None, tmp_path_factory: pytest.TempPathFactory) -> Run:
    tmp = tmp_path_factory.mktemp("rnaseq")
    data = tmp / "data"
    make_data(data)
    text = (EXAMPLE / "rnaseq.toml").read_text()
    assert text.count("examples/rnaseq/data/") == 5, "the job file's data paths moved; update this test"
    job_file = tmp / "rnaseq.toml"  # same stem, so the same combo names
    job_file.write_text(text.replace("examples/rnaseq/data/", f"{data}/"))
    outdir = tmp / "results"
    start = time.monotonic()
    first = check(necroflow_cli("run", "--outdir", outdir, job_file))
    wall = time.monotonic() - start
    print(f"\nrnaseq example: first run {wall:.1f}s wall\n{output(first)}")
    return Run(tmp, data, job_file, outdir, wall, first)


# --------------------------------------------------------------------------- tests


def test_install_script_is_idempotent_and_fast(bio_tools: None) -> None:
    """With the tools present the script makes no apt call: it answers at once."""
    start = time.monotonic()
    proc = check(subprocess.run(["bash", str(INSTALL)], capture_output=True, text=True, timeout=60))
    assert "already installed" in proc.stdout
    assert time.monotonic() - start < 5


def test_make_data_is_deterministic(tmp_path: Path) -> None:
    """Same seed, same bytes (so regenerating keeps the cache valid); --depth touches one file."""
    make_data(tmp_path / "a", "--reads", "2000")
    make_data(tmp_path / "b", "--reads", "2000")
    make_data(tmp_path / "c", "--reads", "2000", "--depth", "ctrl_2=500")
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == ["ctrl_1.fastq.gz", "ctrl_2.fastq.gz", "genes.gtf", "reference.fa",
                     "treat_1.fastq.gz", "truth.tsv"]
    differs = {n for n in names if (tmp_path / "a" / n).read_bytes() != (tmp_path / "c" / n).read_bytes()}
    assert all((tmp_path / "a" / n).read_bytes() == (tmp_path / "b" / n).read_bytes() for n in names)
    assert differs == {"ctrl_2.fastq.gz", "truth.tsv"}
    assert sum(read_truth(tmp_path / "c" / "truth.tsv")["ctrl_2"].values()) == 500 - 15  # 3% intergenic


def test_first_run_builds_everything_quickly(rnaseq: Run) -> None:
    jobs, _ = rnaseq.jobset()
    assert len(jobs) == 28
    assert "28 ran" in output(rnaseq.first)
    assert rnaseq.wall < 60, f"the example took {rnaseq.wall:.1f}s; it must stay well under a minute"
    per_rule = Counter(job.rule.name for job in jobs)
    # One index for everything; alignments shared by the two min_mapq combos (3 x 2, not 3 x 4);
    # one join per table (per combo), over all three samples' counts.
    assert per_rule == {"raw_reference": 1, "raw_annotation": 1, "bwa_index": 1, "raw_fastq": 3,
                        "align": 6, "count": 12, "join_counts": 4}
    assert len(list((rnaseq.outdir / "bwa_index").iterdir())) == 1
    assert len(list((rnaseq.outdir / "align").iterdir())) == 6


def test_bams_pass_samtools_and_hold_every_read(rnaseq: Run) -> None:
    _, pipelines = rnaseq.jobset()
    bams = {str(P[f"bam_{s}"].path) for P in pipelines.values() for s in SAMPLES}
    assert len(bams) == 6
    check(subprocess.run(["samtools", "quickcheck", "-v", *sorted(bams)], capture_output=True, text=True))
    for bam in bams:
        # primary alignments only (-F 0x900): exactly one record per simulated read
        primary = check(subprocess.run(["samtools", "view", "-c", "-F", "0x900", bam],
                                       capture_output=True, text=True))
        assert int(primary.stdout) == 20_000
        header = check(subprocess.run(["samtools", "view", "-H", bam], capture_output=True, text=True))
        assert "SO:coordinate" in header.stdout and "ID:bwa" in header.stdout


def test_counts_tables_show_the_simulated_difference(rnaseq: Run) -> None:
    truth = read_truth(rnaseq.data / "truth.tsv")
    tables = {}
    for combo, (seed, mapq) in COMBOS.items():
        manifest = (rnaseq.outdir / combo / "manifest.toml").read_text()
        relpath = re.search(r'^counts_table = "(.+)"$', manifest, re.M)
        assert relpath, manifest
        link = rnaseq.outdir / combo / relpath.group(1)
        assert link.is_symlink() and link.resolve() == (rnaseq.outdir / relpath.group(1)).resolve()
        rows = read_table(link)
        assert rows[0] == ["gene_id", *SAMPLES]
        assert [r[0] for r in rows[1:]] == list(GENES)
        counts = {r[0]: dict(zip(SAMPLES, map(int, r[1:]), strict=True)) for r in rows[1:]}
        tables[seed, mapq] = counts
        # the difference the data was simulated with: alpha down ~10x in treat_1, delta up ~10x
        assert min(counts["alpha"]["ctrl_1"], counts["alpha"]["ctrl_2"]) > 5 * counts["alpha"]["treat_1"]
        assert counts["delta"]["treat_1"] > 5 * max(counts["delta"]["ctrl_1"], counts["delta"]["ctrl_2"])
        # uniquely placed genes: featureCounts finds (almost) exactly the reads drawn from them
        for gene in ("alpha", "beta", "gamma", "delta"):
            for sample in SAMPLES:
                assert abs(counts[gene][sample] - truth[sample][gene]) <= 0.01 * truth[sample][gene]
    for seed in (15, 19):
        for sample in SAMPLES:
            # epsilon's first exon has an unannotated copy: its reads get MAPQ 0, so -Q 10 drops
            # them and -Q 0 keeps about half (the other half land on the copy)
            q0, q10 = tables[seed, 0]["epsilon"][sample], tables[seed, 10]["epsilon"][sample]
            assert q10 < q0 < truth[sample]["epsilon"]


def test_readme_shows_the_table_this_run_makes(rnaseq: Run) -> None:
    """The counts table quoted in the README is the one the example really produces
    (min_seed 15, min_mapq 0; the data are deterministic).  Like the tests around it, this
    reads the module's shared run, so it must come before the resequencing test below."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = re.search(r"```text\n(gene_id .*?)```", readme, re.S)
    assert block, "README has no counts table block"
    shown = [line.split() for line in block.group(1).strip().splitlines()]
    combo = next(c for c, params in COMBOS.items() if params == (15, 0))
    manifest = (rnaseq.outdir / combo / "manifest.toml").read_text()
    relpath = re.search(r'^counts_table = "(.+)"$', manifest, re.M)
    assert relpath, manifest
    assert read_table(rnaseq.outdir / relpath.group(1)) == shown


def test_second_run_executes_nothing(rnaseq: Run) -> None:
    jobs, _ = rnaseq.jobset()
    before = output_stamps(jobs)
    text = output(rnaseq.run())
    assert changed(before, output_stamps(jobs)) == set()
    assert "Nothing to do" in text and "28" in text, text


def test_resequencing_one_sample_reruns_only_its_chain(rnaseq: Run) -> None:
    jobs, pipelines = rnaseq.jobset()
    old_table = {c: read_table(P.counts_table.path) for c, P in pipelines.items()}
    before = output_stamps(jobs)
    # ctrl_2 "resequenced" deeper: only its FASTQ changes content; the generator rewrites the
    # other files too, with the same bytes and a new mtime, which must not cause any rerun.
    make_data(rnaseq.data, "--depth", "ctrl_2=30000")
    truth = read_truth(rnaseq.data / "truth.tsv")

    fastq = next(iter(pipelines.values())).fastq_ctrl_2.job.key
    expected = descendants(jobs, {fastq})
    rules = ("align", "count", "join_counts")
    by_rule = {rule: {k for k in expected if k.startswith(rule + "/")} for rule in rules}
    # 2 alignments (one per min_seed), 4 counts, and the one join of each of the 4 tables
    assert [len(by_rule[r]) for r in rules] == [2, 4, 4]
    assert expected == set().union(*by_rule.values())
    assert by_rule["join_counts"] == {P.counts_table.job.key for P in pipelines.values()}

    dry = output(rnaseq.run("--dry-run"))
    assert "10 of 28 jobs to run" in dry, dry
    for key in by_rule["align"]:
        # the line names the job, the input and the reason (exact punctuation may change)
        assert re.search(rf"STALE\s+{key}\b.*input fastq\b.*reads\.fastq\.gz\b.*content changed",
                         dry), dry
    assert changed(before, output_stamps(jobs)) == set(), "a dry run must not run anything"

    rnaseq.run()
    assert changed(before, output_stamps(jobs)) == expected

    for combo, P in pipelines.items():
        new = read_table(P.counts_table.path)
        col = {s: i for i, s in enumerate(new[0])}
        for row_old, row_new in zip(old_table[combo][1:], new[1:], strict=True):
            for sample in ("ctrl_1", "treat_1"):
                assert row_new[col[sample]] == row_old[col[sample]]
        alpha = dict(zip(new[0], new[1], strict=True))
        assert abs(int(alpha["ctrl_2"]) - truth["ctrl_2"]["alpha"]) <= 0.01 * truth["ctrl_2"]["alpha"]
        assert int(alpha["ctrl_2"]) > int(old_table[combo][1][col["ctrl_2"]]) * 1.3  # 1.5x deeper


def test_missing_data_is_reported_before_anything_runs(tmp_path: Path) -> None:
    """A newcomer who skipped make_data.py gets exit 2, the key, and the command to run."""
    job_file = tmp_path / "rnaseq.toml"
    job_file.write_text((EXAMPLE / "rnaseq.toml").read_text().replace(
        "examples/rnaseq/data/", f"{tmp_path / 'no-data'}/"))
    proc = necroflow_cli("run", "--outdir", tmp_path / "out", job_file)
    assert proc.returncode == 2, output(proc)
    assert "key 'samples.ctrl_1'" in proc.stderr and "does not exist" in proc.stderr
    assert "make_data.py examples/rnaseq/data" in proc.stderr
    assert not (tmp_path / "out" / "align").exists()

