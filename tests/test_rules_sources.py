"""SourceFile params: files (or folders) outside the outdir, identified by their content.

Moving or renaming the data reruns nothing; changing its bytes reruns exactly its consumers;
the content hash is cached by size and mtime (``.rip/sources.json``); a missing file is an
error before anything runs; plain ``path: str`` link rules keep working as before."""

from __future__ import annotations  # the decorator style needs it: Out[out] stays a string

# ruff: noqa: F821  (output labels such as Out[out] name outputs, not variables)
import io
import json
import os
import shlex
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import necroflow.sources
from necroflow import (
    DAG,
    Inputs,
    NodeType,
    Outputs,
    Pipeline,
    Reporter,
    Rules,
    SourceFile,
    resolve_command,
)
from necroflow.why import render_status, status_report


class Reads(NodeType):
    filename = "reads.txt"


class Counted(NodeType):
    filename = "count.txt"


class Joined(NodeType):
    filename = "joined.txt"


def make_rules() -> Rules:
    R = Rules()

    @R.command("cat {fastq} > {reads}")
    def take(fastq: SourceFile, sample: str) -> Reads[reads]:
        """Reads one sample's FASTQ (from outside the outdir)."""

    @R.command("wc -l < {reads} > {counted}")
    def count(reads: Reads) -> Counted[counted]:
        """Downstream of the source."""

    @R.command("cat {ref}/a.txt {ref}/sub/b.txt > {joined}")
    def from_folder(ref: SourceFile) -> Joined[joined]:
        """A folder as a source."""

    @R.command("ln -s {path} {reads}")
    def raw_fastq(path: str) -> Reads[reads]:
        """The seed's link rule: a plain str path, unchanged."""

    return R


def run(dag: DAG, **kw: Any) -> Any:
    return dag.execute(progress=Reporter(stream=io.StringIO()), **kw)


def ran_rules(report: Any) -> list[str]:
    return sorted(k.split("/")[0] for k in report.ran)


def two_samples(R: Rules, a: Path | str, b: Path | str) -> Pipeline:
    P = Pipeline()
    P.reads_a = R.take(fastq=a, sample="a")
    P.count_a = R.count(P.reads_a)
    P.reads_b = R.take(fastq=b, sample="b")
    P.count_b = R.count(P.reads_b)
    return P


def new_dag(outdir: Path, P: Pipeline) -> DAG:
    dag = DAG(outdir)
    dag.add(P)
    return dag


@pytest.fixture
def data(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    (d / "a.fq").write_text("@a\nACGT\n")
    (d / "b.fq").write_text("@b\nTTTT\n@b2\nGGGG\n")
    return d


# -- rendering and identity -------------------------------------------------------------------

def test_placeholder_renders_the_absolute_path(data: Path, outdir: Path) -> None:
    R = make_rules()
    P = two_samples(R, data / "a.fq", data / "b.fq")
    dag = new_dag(outdir, P)
    assert dag.command(P.reads_a).startswith(f"cat {shlex.quote(str(data / 'a.fq'))} > ")
    run(dag)
    assert P.reads_a.path.read_text() == "@a\nACGT\n"
    assert P.count_b.path.read_text().strip() == "4"


def test_a_relative_path_resolves_against_the_current_directory(data: Path, outdir: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(data)
    R = make_rules()
    node = R.take(fastq="a.fq", sample="a")
    assert node.params["fastq"] == str(data / "a.fq")
    monkeypatch.chdir(outdir.parent)  # later cwd changes do not matter
    P = Pipeline()
    P.reads = node
    dag = new_dag(outdir, P)
    assert shlex.quote(str(data / "a.fq")) in dag.command(node)
    run(dag)
    assert node.path.read_text() == "@a\nACGT\n"


def test_the_fingerprint_is_the_content_not_the_path(data: Path, tmp_path: Path) -> None:
    R = make_rules()
    other = tmp_path / "copy" / "renamed.fastq"
    other.parent.mkdir()
    shutil.copy(data / "a.fq", other)
    a = R.take(fastq=data / "a.fq", sample="a")
    b = R.take(fastq=other, sample="a")
    assert a.fingerprint == b.fingerprint
    assert R.take(fastq=data / "b.fq", sample="a").fingerprint != a.fingerprint
    assert R.take(fastq=str(data / "a.fq"), sample="a").fingerprint == a.fingerprint  # str or Path


def test_moving_or_renaming_the_data_reruns_nothing(data: Path, tmp_path: Path, outdir: Path) -> None:
    R = make_rules()
    P = two_samples(R, data / "a.fq", data / "b.fq")
    run(new_dag(outdir, P))
    moved = tmp_path / "moved" / "data-v2"
    moved.parent.mkdir()
    shutil.move(str(data), str(moved))
    (moved / "a.fq").rename(moved / "sample_a.fastq")
    P2 = two_samples(make_rules(), moved / "sample_a.fastq", moved / "b.fq")
    assert [n.job.key for n in P2.labels.values()] == [n.job.key for n in P.labels.values()]
    assert run(new_dag(outdir, P2)).ran == []


def test_changing_the_bytes_reruns_exactly_its_consumers(data: Path, outdir: Path) -> None:
    R = make_rules()
    P = two_samples(R, data / "a.fq", data / "b.fq")
    run(new_dag(outdir, P))
    (data / "a.fq").write_text("@a\nACGT\n@a2\nCCCC\n")
    P2 = two_samples(make_rules(), data / "a.fq", data / "b.fq")
    assert P2.reads_a.job.key != P.reads_a.job.key
    assert P2.reads_b.job.key == P.reads_b.job.key and P2.count_b.job.key == P.count_b.job.key
    report = run(new_dag(outdir, P2))
    assert sorted(report.ran) == sorted([P2.reads_a.job.key, P2.count_a.job.key])
    assert P2.count_a.path.read_text().strip() == "4"


def test_status_says_the_source_file_content_changed(data: Path, outdir: Path) -> None:
    R = make_rules()
    run(new_dag(outdir, two_samples(R, data / "a.fq", data / "b.fq")))
    (data / "a.fq").write_text("@a\nACGTACGT\n")
    dag = new_dag(outdir, two_samples(make_rules(), data / "a.fq", data / "b.fq"))
    report = status_report(dag, dag.plan())
    text = render_status(report)
    whys = {j["rule"]: j["why"] for j in report["jobs"]}
    assert report["to_run"] == 2, text
    assert "source file `fastq` content changed" in whys["take"], text
    assert "source file `fastq` content changed" in text


def test_touching_the_source_reruns_nothing(data: Path, outdir: Path) -> None:
    R = make_rules()
    run(new_dag(outdir, two_samples(R, data / "a.fq", data / "b.fq")))
    earlier = (data / "a.fq").stat().st_mtime - 500
    os.utime(data / "a.fq", (earlier, earlier))
    assert run(new_dag(outdir, two_samples(make_rules(), data / "a.fq", data / "b.fq"))).ran == []


def test_register_form_and_a_path_with_spaces_and_quotes(tmp_path: Path, outdir: Path) -> None:
    weird = tmp_path / "my data 'v1' $(touch pwned)"
    weird.mkdir()
    (weird / "s 1.fq").write_text("@x\nAC\n")
    R = Rules()
    R.register("take2", Inputs(fastq=SourceFile), Outputs(reads=Reads), "cat {fastq} > {reads}")
    assert R.take2.sources == frozenset({"fastq"})
    P = Pipeline()
    P.reads = R.take2(fastq=weird / "s 1.fq")
    run(new_dag(outdir, P))
    assert P.reads.path.read_text() == "@x\nAC\n"
    assert not list(tmp_path.rglob("pwned"))


def test_a_missing_source_on_the_command_line_is_exit_2_before_anything_runs(tmp_path: Path) -> None:
    from test_cli import necroflow

    factory = tmp_path / "flow.py"
    factory.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_rules_sources import make_rules, two_samples\n"
        "R = make_rules()\n"
        "def flow(config, R):\n"
        "    return two_samples(R, config['a'], config['b'])\n")
    (tmp_path / "a.fq").write_text("@a\nA\n")
    jobfile = tmp_path / "job.toml"
    jobfile.write_text('".pipeline" = "flow.py:flow"\na = "a.fq"\nb = "missing.fq"\n')
    r = necroflow("run", "--outdir", tmp_path / "out", jobfile, cwd=tmp_path)
    assert r.code == 2 and "Traceback" not in r.text, str(r)
    assert "'take'" in r.err and "'fastq'" in r.err and str(tmp_path / "missing.fq") in r.err, str(r)
    assert not (tmp_path / "out" / "take").exists()


# -- folders ----------------------------------------------------------------------------------

def _folder(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("A\n")
    (root / "sub" / "b.txt").write_text("B\n")
    return root


def test_a_folder_is_a_source_hashed_as_a_tree(tmp_path: Path, outdir: Path) -> None:
    ref = _folder(tmp_path / "ref")
    R = make_rules()
    P = Pipeline()
    P.joined = R.from_folder(ref=ref)
    run(new_dag(outdir, P))
    assert P.joined.path.read_text() == "A\nB\n"
    # moved: same tree, same job
    moved = tmp_path / "ref-moved"
    shutil.move(str(ref), str(moved))
    P2 = Pipeline()
    P2.joined = make_rules().from_folder(ref=moved)
    assert P2.joined.job.key == P.joined.job.key
    assert run(new_dag(outdir, P2)).ran == []
    # a file inside changed: a new job
    (moved / "sub" / "b.txt").write_text("B changed\n")
    P3 = Pipeline()
    P3.joined = make_rules().from_folder(ref=moved)
    assert P3.joined.job.key != P.joined.job.key
    assert len(run(new_dag(outdir, P3)).ran) == 1
    assert P3.joined.path.read_text() == "A\nB changed\n"
    # a file added: a new job too
    (moved / "sub" / "c.txt").write_text("C\n")
    P4 = Pipeline()
    P4.joined = make_rules().from_folder(ref=moved)
    assert P4.joined.job.key not in (P.joined.job.key, P3.joined.job.key)


# -- caching ----------------------------------------------------------------------------------

@pytest.fixture
def hash_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = necroflow.sources.hash_path

    def counting(path: Any) -> str:
        calls.append(str(path))
        return real(path)

    monkeypatch.setattr(necroflow.sources, "hash_path", counting)
    return calls


def test_source_hashes_are_cached_by_size_and_mtime(data: Path, outdir: Path, hash_calls: list[str]) -> None:
    dag = new_dag(outdir, two_samples(make_rules(), data / "a.fq", data / "b.fq"))
    assert sorted(hash_calls) == [str(data / "a.fq"), str(data / "b.fq")]
    dag.plan()
    dag.plan()
    run(dag)
    assert len(hash_calls) == 2  # planning and running never hash a source again
    assert (outdir / ".rip" / "sources.json").exists()
    # a second DAG (a later run) reads the cache from the outdir
    dag2 = new_dag(outdir, two_samples(make_rules(), data / "a.fq", data / "b.fq"))
    dag2.plan()
    assert run(dag2).ran == [] and len(hash_calls) == 2
    # the same file twice in one pipeline is hashed once
    R = make_rules()
    P = Pipeline()
    P.x = R.take(fastq=data / "a.fq", sample="x")
    P.y = R.take(fastq=data / "a.fq", sample="y")
    new_dag(outdir, P)
    assert len(hash_calls) == 2
    # a moved signature (mtime) means a re-hash, but the same content is the same job
    earlier = (data / "a.fq").stat().st_mtime - 100  # past: a future stamp is never trusted
    os.utime(data / "a.fq", (earlier, earlier))
    dag3 = new_dag(outdir, two_samples(make_rules(), data / "a.fq", data / "b.fq"))
    assert hash_calls[2:] == [str(data / "a.fq")]
    assert run(dag3).ran == []
    new_dag(outdir, two_samples(make_rules(), data / "a.fq", data / "b.fq")).plan()
    assert len(hash_calls) == 3  # the new signature was kept by that run


def test_a_changed_size_is_rehashed_even_with_the_same_mtime(data: Path, outdir: Path,
                                                             hash_calls: list[str]) -> None:
    run(new_dag(outdir, two_samples(make_rules(), data / "a.fq", data / "b.fq")))
    st = (data / "a.fq").stat()
    (data / "a.fq").write_text("@a\nACGTT\n")
    os.utime(data / "a.fq", ns=(st.st_atime_ns, st.st_mtime_ns))
    n = len(hash_calls)
    P = two_samples(make_rules(), data / "a.fq", data / "b.fq")
    new_dag(outdir, P)
    assert hash_calls[n:] == [str(data / "a.fq")]


CHILD = """
import json, sys
import necroflow.sources as S
sys.path.insert(0, sys.argv[1])
calls = []
real = S.hash_path
S.hash_path = lambda p: calls.append(str(p)) or real(p)
from necroflow import DAG, Reporter
import io
from test_rules_sources import make_rules, two_samples
P = two_samples(make_rules(), sys.argv[2], sys.argv[3])
dag = DAG(sys.argv[4])
dag.add(P)
report = dag.execute(progress=Reporter(stream=io.StringIO()))
print(json.dumps({"keys": [n.job.key for n in P.labels.values()], "hashed": calls, "ran": report.ran}))
"""


def test_fingerprints_are_stable_across_processes_and_the_cache_survives_them(
        data: Path, tmp_path: Path, outdir: Path, run_python: Callable[..., Any]) -> None:
    here = str(Path(__file__).parent)
    P = two_samples(make_rules(), data / "a.fq", data / "b.fq")
    run(new_dag(outdir, P))
    keys = [n.job.key for n in P.labels.values()]
    docs = []
    for seed, where in (("0", outdir), ("777", tmp_path / "fresh")):
        p = run_python("-c", CHILD, here, data / "a.fq", data / "b.fq", where, PYTHONHASHSEED=seed)
        assert p.returncode == 0, p.stderr
        docs.append(json.loads(p.stdout))
    assert docs[0]["keys"] == docs[1]["keys"] == keys
    assert docs[0]["hashed"] == [] and docs[0]["ran"] == []  # the outdir's cache, another process
    assert len(docs[1]["hashed"]) == 2 and len(docs[1]["ran"]) == 4  # a fresh outdir hashes


# -- errors -----------------------------------------------------------------------------------

def test_a_missing_source_is_an_error_at_call_time(data: Path) -> None:
    R = make_rules()
    with pytest.raises(FileNotFoundError) as e:
        R.take(fastq=data / "absent.fq", sample="a")
    msg = str(e.value)
    assert "'take'" in msg and "'fastq'" in msg and str(data / "absent.fq") in msg, msg


def test_a_source_deleted_after_the_call_is_an_error_before_anything_runs(data: Path, outdir: Path) -> None:
    R = make_rules()
    P = two_samples(R, data / "a.fq", data / "b.fq")
    (data / "b.fq").unlink()
    with pytest.raises(FileNotFoundError, match="b.fq"):
        dag = new_dag(outdir, P)
        run(dag)
    assert not (outdir / "take").exists() and not (outdir / "count").exists()


def test_a_source_deleted_after_a_run_is_an_error_before_anything_runs(data: Path, outdir: Path) -> None:
    R = make_rules()
    run(new_dag(outdir, two_samples(R, data / "a.fq", data / "b.fq")))
    P = two_samples(make_rules(), data / "a.fq", data / "b.fq")
    (data / "a.fq").unlink()
    before = sorted(p.name for p in (outdir / "take").iterdir())
    with pytest.raises(FileNotFoundError, match="a.fq"):
        run(new_dag(outdir, P))
    assert sorted(p.name for p in (outdir / "take").iterdir()) == before


@pytest.mark.parametrize("value", [3, None, b"/data/a.fq", ["a.fq"]])
def test_a_source_must_be_a_path(value: Any) -> None:
    with pytest.raises(TypeError, match=r"'take'.*'fastq'"):
        make_rules().take(fastq=value, sample="a")


# -- the seed's link rules --------------------------------------------------------------------

def _linked(R: Rules, path: str) -> Pipeline:
    P = Pipeline()
    P.reads = R.raw_fastq(path=path)
    P.counted = R.count(P.reads)
    return P


def test_str_path_link_rules_keep_working(data: Path, outdir: Path) -> None:
    R = make_rules()
    P = _linked(R, str(data / "b.fq"))
    dag = new_dag(outdir, P)
    assert resolve_command(P.reads) == f"ln -s {shlex.quote(str(data / 'b.fq'))} {shlex.quote(str(P.reads.path))}"
    run(dag)
    assert P.reads.path.is_symlink() and P.counted.path.read_text().strip() == "4"
    assert run(new_dag(outdir, _linked(make_rules(), str(data / "b.fq")))).ran == []
    # a str param is its text: another path is another job (unchanged behaviour)
    assert _linked(make_rules(), str(data / "a.fq")).reads.job.key != P.reads.job.key
    # the link's target edited: the link job is up to date, its consumer is stale
    (data / "b.fq").write_text("@b\nTTTT\n")
    assert ran_rules(run(new_dag(outdir, _linked(make_rules(), str(data / "b.fq"))))) == ["count"]
    assert not (outdir / ".rip" / "sources.json").exists() or json.loads(
        (outdir / ".rip" / "sources.json").read_text()) in ({}, [])
