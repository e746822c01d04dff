"""Companion files (``companions = ('.bai',)``): declared beside the main file, written by the
producer, hashed with it, cleared before a rerun, removed with it by autoclean, found by
consumers beside the main file's path."""

from __future__ import annotations  # the decorator style needs it: Bam[bam] stays a string

# ruff: noqa: F821  (output labels such as Bam[bam] name outputs, not variables)
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from necroflow import DAG, Inputs, JobFailed, NodeType, Outputs, Pipeline, Reporter, Rules, store
from necroflow.declare import RuleError
from necroflow.why import status_report


class SortedBam(NodeType):
    """A sorted BAM, no index."""

    filename = "sorted.bam"


class IndexedBam(SortedBam):
    """A BAM with its index beside it."""

    filename = "indexed.bam"
    companions = (".bai",)


class Genome(NodeType):
    """A FASTA with a suffix companion and a full-name companion."""

    filename = "genome.fa"
    companions = (".fai", "genome.dict")


class Counts(NodeType):
    filename = "counts.txt"


def run(dag: DAG, **kw: Any) -> Any:
    return dag.execute(progress=Reporter(stream=io.StringIO()), **kw)


def ran_rules(report: Any) -> list[str]:
    return sorted(k.split("/")[0] for k in report.ran)


def make_rules() -> Rules:
    R = Rules()

    @R.command("echo sorted-{sample} > {bam}")
    def sort(sample: str) -> SortedBam[bam]:
        """Writes the BAM only."""

    # Fails when an old index is still there when it starts: proves the .bai was cleared.
    @R.command("test ! -e {bam}.bai || exit 3; echo bam-{sample} > {bam} && echo bai-{sample} > {bam}.bai")
    def make_indexed(sample: str) -> IndexedBam[bam]:
        """Writes the BAM and its index."""

    @R.command("ln -s {bam} {indexed} && echo index-of-$(cat {indexed}) > {indexed}.bai")
    def index(bam: SortedBam) -> IndexedBam[indexed]:
        """Index a BAM in this job's own folder, beside a link to the parent's BAM."""

    @R.command("cat {bam} {bam}.bai > {counts}")
    def count(bam: IndexedBam) -> Counts[counts]:
        """Reads the index where samtools would: beside the BAM."""

    @R.command("echo '>chr1' > {genome} && echo fai > {genome}.fai && "
               "echo dict > \"$(dirname {genome})/genome.dict\"")
    def genome(name: str) -> Genome[genome]:
        """Writes the FASTA and both companions."""

    @R.command("cat {genome}.fai \"$(dirname {genome})/genome.dict\" > {counts}")
    def use_genome(genome: Genome) -> Counts[counts]:
        """Reads both companions beside the FASTA."""

    @R.command("echo only-the-bam > {bam}")
    def forgets_index(sample: str) -> IndexedBam[bam]:
        """Exits 0 without writing the .bai."""

    return R


@pytest.fixture
def R() -> Rules:
    return make_rules()


# -- declarations -----------------------------------------------------------------------------

def test_files_list_the_main_file_then_each_companion() -> None:
    assert IndexedBam.files() == ("indexed.bam", "indexed.bam.bai")
    assert Genome.files() == ("genome.fa", "genome.fa.fai", "genome.dict")
    assert SortedBam.files() == ("sorted.bam",)


def test_a_subclass_without_its_own_companions_inherits_them() -> None:
    class Deduped(IndexedBam):
        filename = "dedup.bam"

    assert Deduped.files() == ("dedup.bam", "dedup.bam.bai")


@pytest.mark.parametrize("companions", [
    ("x.bam",),  # the main file itself, as a full name
    ("sub/x.bai",),  # a path, not a name
    (".bai/evil",),  # a suffix with a '/'
    ("../x.bai",),
    (".bai", ".bai"),  # twice as a suffix
    (".bai", "x.bam.bai"),  # the same file as suffix and as full name
    (" x.bai",),  # surrounding spaces
], ids=["main-file", "slash", "suffix-slash", "dotdot-path", "dup-suffix", "dup-mixed", "spaces"])
def test_bad_companions_are_refused_when_the_class_is_defined(companions: tuple[str, ...]) -> None:
    with pytest.raises((ValueError, TypeError)) as e:
        type("Evil", (NodeType,), {"filename": "x.bam", "companions": companions})
    assert "Evil" in str(e.value)


@pytest.mark.parametrize("companions", [".bai", "", ("",), (None,), ([".bai"],), (".rip/x",)])
def test_malformed_companion_declarations_are_refused(companions: Any) -> None:
    with pytest.raises((ValueError, TypeError)) as e:
        type("Evil", (NodeType,), {"filename": "x.bam", "companions": companions})
    assert "Evil" in str(e.value)


def test_companions_without_a_filename_are_refused() -> None:
    with pytest.raises((ValueError, TypeError), match="Evil"):
        type("Evil", (NodeType,), {"companions": (".bai",)})


def test_a_companion_may_not_collide_with_another_outputs_file() -> None:
    class Main(NodeType):
        filename = "x.bam"
        companions = (".bai",)

    class Clash(NodeType):
        filename = "x.bam.bai"

    with pytest.raises(RuleError, match=r"rule 'both'.*x\.bam\.bai"):
        Rules().register("both", Inputs(), Outputs(bam=Main, bai=Clash), "true {bam} {bai}")


def test_companions_are_part_of_the_declared_type_in_the_fingerprint() -> None:
    class Plain(NodeType):
        filename = "x.bam"

    class WithIndex(NodeType):
        filename = "x.bam"
        companions = (".bai",)

    assert Plain.__name__ != WithIndex.__name__
    WithIndex.__name__ = "Plain"  # same name and filename: only the companions differ
    a = Rules().register("r", Inputs(), Outputs(bam=Plain), "touch {bam}")()
    b = Rules().register("r", Inputs(), Outputs(bam=WithIndex), "touch {bam}")()
    assert a.fingerprint != b.fingerprint


# -- producing --------------------------------------------------------------------------------

def test_producer_writes_all_files_and_all_are_hashed(R: Rules, outdir: Path) -> None:
    P = Pipeline()
    P.genome = R.genome(name="g")
    dag = DAG(outdir)
    dag.add(P)
    run(dag)
    folder = P.genome.path.parent
    assert sorted(os.listdir(folder)) == [".rip", "genome.dict", "genome.fa", "genome.fa.fai"]
    record = json.loads((folder / ".rip" / "record.json").read_text())
    assert sorted(record["outputs"]) == ["genome.dict", "genome.fa", "genome.fa.fai"]
    for fn in ("genome.fa", "genome.fa.fai", "genome.dict"):
        assert (folder / ".rip" / f"{fn}.hash").read_text() == store.hash_path(folder / fn)


def test_a_missing_companion_fails_the_job_like_a_missing_output(R: Rules, outdir: Path) -> None:
    P = Pipeline()
    P.bam = R.forgets_index(sample="a")
    dag = DAG(outdir)
    dag.add(P)
    stream = io.StringIO()
    with pytest.raises(JobFailed) as e:
        dag.execute(progress=Reporter(stream=stream))
    assert "indexed.bam.bai" in str(e.value)
    assert "indexed.bam.bai" in stream.getvalue()
    assert store.read_state(P.bam.path.parent) == "failed"
    # and it is not trusted next time
    dag2 = DAG(outdir)
    P2 = Pipeline()
    P2.bam = make_rules().forgets_index(sample="a")
    dag2.add(P2)
    assert [j.key for j in dag2.plan().to_run] == [P.bam.job.key]


def test_a_consumer_finds_companions_beside_the_main_file(R: Rules, outdir: Path) -> None:
    P = Pipeline()
    P.counts = R.count(R.make_indexed(sample="a"))
    P.genome_counts = R.use_genome(R.genome(name="g"))
    dag = DAG(outdir)
    dag.add(P)
    run(dag)
    assert P.counts.path.read_text() == "bam-a\nbai-a\n"
    assert P.genome_counts.path.read_text() == "fai\ndict\n"


# -- hashing and staleness --------------------------------------------------------------------

def _counted(R: Rules) -> Pipeline:
    P = Pipeline()
    P.bam = R.make_indexed(sample="a")
    P.counts = R.count(P.bam)
    return P


def test_a_changed_companion_makes_consumers_stale(R: Rules, outdir: Path) -> None:
    P = _counted(R)
    dag = DAG(outdir)
    dag.add(P)
    run(dag)
    bai = P.bam.path.parent / "indexed.bam.bai"
    bai.write_text("a different, longer index\n")
    dag2 = DAG(outdir)
    P2 = _counted(make_rules())
    dag2.add(P2)
    plan = dag2.plan()
    assert [j.rule.name for j in plan.to_run] == ["count"]  # the producer is not rerun
    assert plan.entries[P2.counts.job.fingerprint].state.value == "STALE"
    report = status_report(dag2, plan)
    assert [j["rule"] for j in report["jobs"]] == ["count"]
    assert ran_rules(run(dag2)) == ["count"]
    assert P2.counts.path.read_text() == "bam-a\na different, longer index\n"
    dag3 = DAG(outdir)
    dag3.add(_counted(make_rules()))
    assert run(dag3).ran == []


def test_touching_a_companion_without_changing_it_reruns_nothing(R: Rules, outdir: Path) -> None:
    P = _counted(R)
    dag = DAG(outdir)
    dag.add(P)
    run(dag)
    bai = P.bam.path.parent / "indexed.bam.bai"
    earlier = bai.stat().st_mtime - 100  # a past stamp: a future one is never trusted (racy)
    os.utime(bai, (earlier, earlier))
    dag2 = DAG(outdir)
    dag2.add(_counted(make_rules()))
    assert run(dag2).ran == []


def test_a_deleted_companion_reruns_its_producer(R: Rules, outdir: Path) -> None:
    P = _counted(R)
    dag = DAG(outdir)
    dag.add(P)
    run(dag)
    (P.bam.path.parent / "indexed.bam.bai").unlink()
    dag2 = DAG(outdir)
    dag2.add(_counted(make_rules()))
    plan = dag2.plan()
    e = plan.entries[P.bam.job.fingerprint]
    assert e.state.value == "MISSING" and "indexed.bam.bai" in str(e.reason)
    assert ran_rules(run(dag2)) == ["count", "make_indexed"]  # a parent that runs makes its consumer run
    assert (P.bam.path.parent / "indexed.bam.bai").read_text() == "bai-a\n"


@pytest.mark.parametrize("how", ["main-file-deleted", "interrupted"])
def test_companions_are_removed_before_a_rerun(R: Rules, outdir: Path, how: str) -> None:
    P = _counted(R)
    dag = DAG(outdir)
    dag.add(P)
    run(dag)
    folder = P.bam.path.parent
    if how == "main-file-deleted":
        P.bam.path.unlink()  # the old .bai stays behind
    else:
        store.write_state(folder, "interrupted")
    assert (folder / "indexed.bam.bai").exists()
    dag2 = DAG(outdir)
    dag2.add(_counted(make_rules()))
    # make_indexed exits 3 if it finds an old .bai when it starts
    assert "make_indexed" in ran_rules(run(dag2))
    assert (folder / "indexed.bam.bai").read_text() == "bai-a\n"


# -- indexing in one's own folder -------------------------------------------------------------

def test_an_indexed_type_is_made_from_an_unindexed_one_without_touching_the_parent(
        R: Rules, outdir: Path) -> None:
    P = Pipeline()
    P.sorted = R.sort(sample="a")
    P.indexed = R.index(P.sorted)
    P.counts = R.count(P.indexed)
    dag = DAG(outdir)
    dag.add(P)
    run(dag)
    parent = P.sorted.path.parent
    assert sorted(os.listdir(parent)) == [".rip", "sorted.bam"]
    here = P.indexed.path.parent
    assert sorted(os.listdir(here)) == [".rip", "indexed.bam", "indexed.bam.bai"]
    assert P.indexed.path.is_symlink()
    assert P.indexed.path.resolve() == P.sorted.path.resolve()
    assert P.counts.path.read_text() == "sorted-a\nindex-of-sorted-a\n"
    dag2 = DAG(outdir)
    P2 = Pipeline()
    R2 = make_rules()
    P2.sorted = R2.sort(sample="a")
    P2.indexed = R2.index(P2.sorted)
    P2.counts = R2.count(P2.indexed)
    dag2.add(P2)
    assert run(dag2).ran == []


# -- autoclean --------------------------------------------------------------------------------

@pytest.mark.parametrize("first_run_cleans", [True, False])
def test_autoclean_removes_companions_with_the_main_file(R: Rules, outdir: Path, first_run_cleans: bool) -> None:
    P = _counted(R)
    dag = DAG(outdir)
    dag.add(P, requests=["counts"])
    if not first_run_cleans:
        run(dag)  # first a normal run; the next one finds the consumer up to date
        dag = DAG(outdir)
        P = _counted(make_rules())
        dag.add(P, requests=["counts"])
    report = run(dag, autoclean=True)
    folder = P.bam.path.parent
    main, bai = folder / "indexed.bam", folder / "indexed.bam.bai"
    assert not main.exists() and not bai.exists()
    assert {str(main), str(bai)} <= set(report.cleaned)
    assert store.read_state(folder) == "cleaned"
    assert (folder / ".rip" / "indexed.bam.bai.hash").exists()  # records are kept
    assert P.counts.path.read_text() == "bam-a\nbai-a\n"
    dag2 = DAG(outdir)
    dag2.add(_counted(make_rules()), requests=["counts"])
    assert run(dag2).ran == []  # cleaned counts as satisfied
    # a consumer that must rerun brings the intermediate back, index included
    P.counts.path.unlink()
    dag3 = DAG(outdir)
    dag3.add(_counted(make_rules()), requests=["counts"])
    assert ran_rules(run(dag3)) == ["count", "make_indexed"]
    assert bai.read_text() == "bai-a\n"


def test_autoclean_of_a_linked_index_keeps_the_parents_file(R: Rules, outdir: Path) -> None:
    P = Pipeline()
    P.sorted = R.sort(sample="a")
    P.counts = R.count(R.index(P.sorted))
    dag = DAG(outdir)
    dag.add(P, requests=["sorted", "counts"])
    run(dag, autoclean=True)
    indexed = P.counts.parents[0]
    assert not os.path.lexists(indexed.path) and not (indexed.path.parent / "indexed.bam.bai").exists()
    assert P.sorted.path.read_text() == "sorted-a\n"  # the link went, not what it pointed to


def test_combo_links_bring_the_companions_along(tmp_path: Path) -> None:
    from test_cli import necroflow, ok

    factory = tmp_path / "flow.py"
    factory.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from necroflow import Pipeline\n"
        "from test_rules_companions import make_rules\n"
        "R = make_rules()\n"
        "def flow(config, R):\n"
        "    P = Pipeline()\n"
        "    P.bam = R.index(R.sort(sample=config['sample']))\n"
        "    return P\n")
    jobfile = tmp_path / "indexed.toml"
    jobfile.write_text('".pipeline" = "flow.py:flow"\nsample = "a"\n')
    out = tmp_path / "out"
    ok(necroflow("run", "-q", "--outdir", out, jobfile, cwd=tmp_path))
    linked = [p for p in (out / "indexed").rglob("*") if p.is_symlink()]
    names = sorted(p.name for p in linked)
    assert names == ["indexed.bam", "indexed.bam.bai"], names
    bam = next(p for p in linked if p.name == "indexed.bam")
    assert (bam.parent / "indexed.bam.bai").read_text() == "index-of-sorted-a\n"
