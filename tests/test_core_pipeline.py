"""Issue 2, "Pipelines and the DAG": attributes, rendering, paths, exact commands, requests, dedup."""

from __future__ import annotations

import shlex
from pathlib import Path
from types import SimpleNamespace

import pytest

from necroflow import DAG, NodeType, Pipeline, Reporter, Rules, resolve_command


class Ref(NodeType):
    """A reference index."""

    filename = "ref.idx"


class Reads(NodeType):
    filename = "reads.txt"


class Aligned(NodeType):
    filename = "aligned.txt"


class Counts(NodeType):
    filename = "counts.txt"


class Snps(NodeType):
    filename = "snps.txt"


R = Rules()


@R.command("printf '%s\\n' {name} > {ref}")
def index(name: str) -> Ref[ref]:  # noqa: F821
    """Build a (fake) reference index."""


@R.command("printf '%s\\n' {sample} > {reads}")
def raw(sample: str) -> Reads[reads]:  # noqa: F821
    ...


@R.command("cat {ref} {reads} > {aligned}")
def align(reads: Reads, ref: Ref) -> Aligned[aligned]:  # noqa: F821
    ...


@R.command("wc -l < {aligned} > {counts}")
def count(aligned: Aligned) -> Counts[counts]:  # noqa: F821
    ...


@R.command("grep -c . {aligned} > {snps}")
def call_snps(aligned: Aligned) -> Snps[snps]:  # noqa: F821
    ...


def factory(config: SimpleNamespace, R: Rules) -> Pipeline:
    """A conditional factory: plain if/else on config."""
    P = Pipeline()
    P.ref = R.index(name=config.ref)
    P.reads = R.raw(sample=config.sample)
    aligned = R.align(P.reads, P.ref)  # never assigned to an attribute: must still run
    if config.call_variants:
        P.result = R.call_snps(aligned)
    else:
        P.result = R.count(aligned)
    return P


def test_double_assignment_is_a_value_error() -> None:
    P = Pipeline()
    P.ref = R.index(name="hg38")
    with pytest.raises(ValueError, match="'ref' is already assigned"):
        P.ref = R.index(name="mm10")
    with pytest.raises(TypeError, match="must be a node"):
        P.other = "not a node"
    for i, name in enumerate(["a", "b"]):  # the loop idiom from the seed
        setattr(P, f"result_{i}", R.index(name=name))
    assert list(P.labels) == ["ref", "result_0", "result_1"]
    with pytest.raises(AttributeError, match="no node named 'nope'"):
        P.nope  # noqa: B018
    for reserved in ("nodes", "jobs", "labels", "save", "sinks", "resolve_paths"):
        with pytest.raises(ValueError, match=f"'{reserved}' is reserved"):
            setattr(P, reserved, R.index(name="x"))


def test_nodes_lists_every_needed_node_parents_first_including_unassigned() -> None:
    P = factory(SimpleNamespace(ref="hg38", sample="s1", call_variants=False), R)
    rules = [n.rule.name for n in P.nodes]
    assert sorted(rules) == ["align", "count", "index", "raw"]
    pos = {r: i for i, r in enumerate(rules)}
    assert pos["index"] < pos["align"] and pos["raw"] < pos["align"] < pos["count"]


def test_print_and_save_render_a_layered_ascii_dag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    P = factory(SimpleNamespace(ref="hg38", sample="s1", call_variants=True), R)
    print(P)
    text = capsys.readouterr().out
    assert text.startswith("4 jobs in 3 layers")
    layer = {}
    current = -1
    for line in text.splitlines():
        if line.startswith("layer "):
            current = int(line.split()[1])
        elif line.startswith("  ") and not line.strip().startswith("<-"):
            layer[line.split()[0]] = current
    assert layer == {"index": 0, "raw": 0, "align": 1, "call_snps": 2}
    assert f"call_snps {P.result.hash16} -> snps.txt [result]" in text
    P.save(tmp_path / "pipeline.txt")
    assert (tmp_path / "pipeline.txt").read_text() == str(P) + "\n"


def test_resolve_paths_and_resolve_command_give_the_exact_command(tmp_path: Path) -> None:
    out = tmp_path / "my results"  # a space: paths must be quoted
    P = factory(SimpleNamespace(ref="hg 38", sample="s1", call_variants=False), R)
    with pytest.raises(ValueError, match="resolve_paths"):
        resolve_command(P.result)
    P.resolve_paths(out)
    aligned = P.result.parents[0]
    assert P.ref.path == out / "index" / P.ref.hash16 / "ref.idx"
    assert aligned.path == out / "align" / aligned.hash16 / "aligned.txt"
    q = shlex.quote
    assert resolve_command(P.ref) == f"printf '%s\\n' 'hg 38' > {q(str(P.ref.path))}"
    assert resolve_command(aligned) == f"cat {q(str(P.ref.path))} {q(str(P.reads.path))} > {q(str(aligned.path))}"
    assert resolve_command(P.result) == f"wc -l < {q(str(aligned.path))} > {q(str(P.result.path))}"
    assert str(out) in resolve_command(P.result) and out.is_absolute()
    # relative outdirs resolve to absolute paths too
    P.resolve_paths("rel")
    assert resolve_command(P.ref).endswith(f"> {Path('rel').absolute()}/index/{P.ref.hash16}/ref.idx")


def test_resolve_paths_are_the_paths_the_dag_uses(tmp_path: Path) -> None:
    P = factory(SimpleNamespace(ref="hg38", sample="s1", call_variants=False), R)
    P.resolve_paths(tmp_path / "out")
    before = [resolve_command(n) for n in P.nodes]
    dag = DAG(tmp_path / "out")
    dag.add(P)
    assert [resolve_command(n) for n in P.nodes] == before


def test_sinks_are_default_requests_and_explicit_requests_limit_the_work(
        tmp_path: Path, quiet: Reporter) -> None:
    P = factory(SimpleNamespace(ref="hg38", sample="s1", call_variants=False), R)
    assert list(P.sinks()) == ["result"]  # ref and reads are consumed
    dag = DAG(tmp_path / "a")
    dag.add(P, requests=["reads"])
    report = dag.execute(progress=quiet)
    assert [k.split("/")[0] for k in report.ran] == ["raw"]
    assert not (tmp_path / "a" / "align").exists()
    with pytest.raises(KeyError, match="'nope' is not a pipeline attribute"):
        DAG(tmp_path / "b").add(P, requests=["nope"])


def test_unassigned_intermediates_run_and_the_result_is_right(tmp_path: Path, quiet: Reporter) -> None:
    P = factory(SimpleNamespace(ref="hg38", sample="s1", call_variants=False), R)
    dag = DAG(tmp_path / "out")
    dag.add(P)
    report = dag.execute(progress=quiet)
    assert sorted(k.split("/")[0] for k in report.ran) == ["align", "count", "index", "raw"]
    assert P.result.path.read_text().strip() == "2"


def test_shared_upstream_across_samples_is_one_job(tmp_path: Path, quiet: Reporter) -> None:
    dag = DAG(tmp_path / "out")
    configs = [SimpleNamespace(ref="hg38", sample=f"s{i}", call_variants=i % 2 == 0) for i in range(6)]
    for c in configs:
        dag.add(factory(c, R))
    assert len(dag) == 1 + 6 * 3  # one shared index
    report = dag.execute(progress=quiet)
    assert sum(k.startswith("index/") for k in report.ran) == 1
    assert len(list((tmp_path / "out" / "index").iterdir())) == 1
    # branches take distinct paths, the shared align is a cache hit for a second pipeline
    a = factory(SimpleNamespace(ref="hg38", sample="s0", call_variants=True), R)
    b = factory(SimpleNamespace(ref="hg38", sample="s0", call_variants=False), R)
    assert a.result.rule.name != b.result.rule.name
    assert a.result.parents[0].fingerprint == b.result.parents[0].fingerprint
    dag2 = DAG(tmp_path / "out")
    dag2.add(b)
    # s0 took the call_snps branch before: only the new branch's count runs, align is reused
    assert [k.split("/")[0] for k in dag2.execute(progress=quiet).ran] == ["count"]


def test_print_and_save_a_dag(tmp_path: Path) -> None:
    dag = DAG(tmp_path / "out")
    for s in ("s1", "s2"):
        dag.add(factory(SimpleNamespace(ref="hg38", sample=s, call_variants=False), R))
    text = str(dag)
    assert text.startswith("7 jobs in 3 layers")
    assert text.count("\n  index ") == 1
    assert text.count("-> counts.txt [result]") == 2  # each pipeline's label is shown
    assert text.count("[ref]") == 1 and text.count("[reads]") == 2  # also the labels not requested
    dag.save(tmp_path / "dag.txt")
    assert (tmp_path / "dag.txt").read_text() == text + "\n"


def test_a_dag_of_one_pipeline_draws_as_the_pipeline(tmp_path: Path) -> None:
    """dag.save and P.save write the same text, as the README says: every label, requested or not."""
    P = factory(SimpleNamespace(ref="hg38", sample="s1", call_variants=False), R)
    dag = DAG(tmp_path / "out").add(P, requests=["result"])
    assert str(dag) == str(P)
    assert "[ref]" in str(dag) and "[reads]" in str(dag)
    P.save(tmp_path / "pipeline.txt")
    dag.save(tmp_path / "dag.txt")
    assert (tmp_path / "dag.txt").read_text() == (tmp_path / "pipeline.txt").read_text()


def test_dag_add_refuses_non_pipelines(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="expects a Pipeline"):
        DAG(tmp_path).add(R.index(name="x"))  # type: ignore[arg-type]


def test_a_reference_shared_by_a_thousand_samples_is_one_job(tmp_path: Path) -> None:
    dag = DAG(tmp_path / "out")
    for i in range(1000):
        dag.add(factory(SimpleNamespace(ref="hg38", sample=f"s{i}", call_variants=False), R))
    assert len(dag) == 1 + 1000 * 3
    plan = dag.plan()
    assert sum(j.rule.name == "index" for j in plan.to_run) == 1
    assert len(plan.to_run) == 3001
