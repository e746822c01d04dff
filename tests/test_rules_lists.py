"""List inputs: ``bams: list[SortedBam]``, rendering (`{x}`, `{x:sep=,}`, `{x:prefix=-I }`),
fingerprints over the ordered list, call-time errors, and what ``status`` says of a changed list."""

from __future__ import annotations  # the decorator style needs it: Vcf[vcf] stays a string

# ruff: noqa: F821  (output labels such as Vcf[vcf] name outputs, not variables)
import io
import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from necroflow import DAG, Inputs, NodeType, Outputs, Pipeline, Reporter, Rules
from necroflow.declare import RuleError
from necroflow.why import render_status, status_report


class Reference(NodeType):
    """A reference sequence."""

    filename = "ref.fa"


class Bam(NodeType):
    """Unsorted alignments."""

    filename = "aligned.bam"


class SortedBam(Bam):
    """Sorted alignments."""

    filename = "sorted.bam"


class DedupBam(SortedBam):
    """Sorted, duplicates marked: still a SortedBam."""

    filename = "dedup.bam"


class Vcf(NodeType):
    """Calls over every sample."""

    filename = "calls.vcf"


class Report(NodeType):
    filename = "report.txt"


def make_rules() -> Rules:
    R = Rules()

    @R.command("echo ref-{name} > {ref}")
    def reference(name: str) -> Reference[ref]:
        """A reference."""

    @R.command("echo sorted-{sample} > {bam}")
    def sort(sample: str) -> SortedBam[bam]:
        """One sample's sorted BAM."""

    @R.command("echo dedup-{sample} > {bam}")
    def dedup(sample: str) -> DedupBam[bam]:
        """A subtype of SortedBam."""

    @R.command("echo raw-{sample} > {bam}")
    def align(sample: str) -> Bam[bam]:
        """Not sorted: refused where SortedBam is declared."""

    # every argument on its own line: the file shows how the shell split the words
    @R.command("printf '%s\\n' {ref} {bams} > {vcf}")
    def call(ref: Reference, bams: list[SortedBam]) -> Vcf[vcf]:
        """Joint call: decorator form."""

    R.register("call2", Inputs(ref=Reference, bams=list[SortedBam]), Outputs(vcf=Vcf),
               "printf '%s\\n' {ref} {bams} > {vcf}")
    R.register("joined", Inputs(bams=list[SortedBam]), Outputs(vcf=Vcf),
               "printf '%s\\n' {bams:sep=,} > {vcf}")
    R.register("prefixed", Inputs(bams=list[SortedBam]), Outputs(vcf=Vcf),
               "printf '%s\\n' {bams:prefix=-I } > {vcf}")
    R.register("concat", Inputs(bams=list[SortedBam]), Outputs(vcf=Vcf), "cat {bams} > {vcf}")
    R.register("summarise", Inputs(vcf=Vcf), Outputs(report=Report), "wc -l < {vcf} > {report}")
    return R


@pytest.fixture
def R() -> Rules:
    return make_rules()


def run(dag: DAG, **kw: Any) -> Any:
    return dag.execute(progress=Reporter(stream=io.StringIO()), **kw)


def lines(path: Path | None) -> list[str]:
    assert path is not None
    return path.read_text().splitlines()


# -- calling ----------------------------------------------------------------------------------

def test_both_declaration_forms_take_a_list_positionally_or_by_keyword(R: Rules, outdir: Path) -> None:
    ref = R.reference(name="hg38")
    a, b = R.sort(sample="a"), R.sort(sample="b")
    calls = [R.call(ref, [a, b]), R.call(ref, bams=[a, b]), R.call2(ref, [a, b]), R.call2(ref=ref, bams=[a, b])]
    assert calls[0].fingerprint == calls[1].fingerprint
    assert calls[2].fingerprint == calls[3].fingerprint
    for vcf in calls:
        assert vcf.job.inputs["bams"] == (a, b)
        assert [n for _, n in vcf.job.edges] == [ref, a, b]
    assert R.call.lists == frozenset({"bams"}) and R.call2.lists == frozenset({"bams"})
    assert R.call.inputs["bams"] is SortedBam and R.call2.inputs["bams"] is SortedBam


def test_subtypes_are_accepted_as_elements(R: Rules, outdir: Path) -> None:
    ref = R.reference(name="hg38")
    P = Pipeline()
    P.vcf = R.call(ref, [R.sort(sample="a"), R.dedup(sample="b")])
    dag = DAG(outdir)
    dag.add(P)
    run(dag)
    got = lines(P.vcf.path)
    assert got[0].endswith("/ref.fa")
    assert got[1].endswith("/sorted.bam") and got[2].endswith("/dedup.bam")


def test_a_list_input_runs_and_a_rerun_is_a_no_op(R: Rules, outdir: Path) -> None:
    bams = [R.sort(sample=s) for s in ("a", "b", "c")]
    P = Pipeline()
    P.vcf = R.concat(bams)
    P.report = R.summarise(P.vcf)
    dag = DAG(outdir)
    dag.add(P)
    report = run(dag)
    assert sorted(k.split("/")[0] for k in report.ran) == ["concat", "sort", "sort", "sort", "summarise"]
    assert lines(P.vcf.path) == ["sorted-a", "sorted-b", "sorted-c"]
    assert lines(P.report.path) == ["3"]
    again = DAG(outdir)
    P2 = Pipeline()
    P2.vcf = R.concat([R.sort(sample=s) for s in ("a", "b", "c")])
    P2.report = R.summarise(P2.vcf)
    again.add(P2)
    assert run(again).ran == []


def test_the_same_node_twice_in_a_list_is_two_elements(R: Rules, outdir: Path) -> None:
    a = R.sort(sample="a")
    once, twice = R.concat([a]), R.concat([a, a])
    assert once.fingerprint != twice.fingerprint
    P = Pipeline()
    P.twice = twice
    dag = DAG(outdir)
    dag.add(P)
    assert len(run(dag).ran) == 2
    assert lines(P.twice.path) == ["sorted-a", "sorted-a"]


# -- rendering --------------------------------------------------------------------------------

def test_placeholder_renders_quoted_absolute_paths_in_the_given_order(R: Rules, outdir: Path) -> None:
    ref = R.reference(name="hg38")
    a, b, c = (R.sort(sample=s) for s in "abc")
    vcf = R.call(ref, [c, a, b])
    P = Pipeline()
    P.vcf = vcf
    dag = DAG(outdir)
    dag.add(P)
    root = str(outdir.absolute())
    paths = [f"{root}/{n.job.key}/sorted.bam" for n in (c, a, b)]
    expected = (f"printf '%s\\n' {shlex.quote(f'{root}/{ref.job.key}/ref.fa')} "
                f"{' '.join(shlex.quote(p) for p in paths)} > {shlex.quote(f'{root}/{vcf.job.key}/calls.vcf')}")
    assert dag.command(vcf) == expected
    run(dag)
    assert lines(vcf.path)[1:] == paths


def test_paths_are_absolute_under_a_relative_outdir(R: Rules, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    a, b = R.sort(sample="a"), R.sort(sample="b")
    P = Pipeline()
    P.listed = R.call2(R.reference(name="r"), [a, b])
    dag = DAG("relative-out")
    dag.add(P)
    run(dag)
    monkeypatch.chdir("/")
    got = lines(tmp_path / "relative-out" / P.listed.job.key / "calls.vcf")
    assert got[1:] == [f"{tmp_path}/relative-out/{n.job.key}/sorted.bam" for n in (a, b)]


def test_sep_and_prefix_specs(R: Rules, outdir: Path) -> None:
    a, b = R.sort(sample="a"), R.sort(sample="b")
    P = Pipeline()
    P.joined = R.joined([a, b])
    P.prefixed = R.prefixed([a, b])
    dag = DAG(outdir)
    dag.add(P)
    root = str(outdir.absolute())
    pa, pb = (f"{root}/{n.job.key}/sorted.bam" for n in (a, b))
    assert dag.command(P.joined) == (f"printf '%s\\n' {shlex.quote(pa)},{shlex.quote(pb)} > "
                                     f"{shlex.quote(f'{root}/{P.joined.job.key}/calls.vcf')}")
    assert dag.command(P.prefixed).startswith(f"printf '%s\\n' -I {shlex.quote(pa)} -I {shlex.quote(pb)} > ")
    run(dag)
    assert lines(P.joined.path) == [f"{pa},{pb}"]  # one word: the separator joins them
    assert lines(P.prefixed.path) == ["-I", pa, "-I", pb]


def test_paths_with_spaces_and_quotes_are_data(R: Rules, tmp_path: Path) -> None:
    outdir = tmp_path / "o u't $(touch pwned) \"x\""
    a, b = R.sort(sample="a"), R.sort(sample="b")
    P = Pipeline()
    P.plain = R.concat([a, b])
    P.listed = R.call2(R.reference(name="r"), [a, b])
    P.joined = R.joined([a, b])
    P.prefixed = R.prefixed([a, b])
    dag = DAG(outdir)
    dag.add(P)
    run(dag)
    root = str(outdir.absolute())
    pa, pb = (f"{root}/{n.job.key}/sorted.bam" for n in (a, b))
    assert lines(P.plain.path) == ["sorted-a", "sorted-b"]
    assert lines(P.listed.path)[1:] == [pa, pb]
    assert lines(P.joined.path) == [f"{pa},{pb}"]
    assert lines(P.prefixed.path) == ["-I", pa, "-I", pb]
    assert not any(p.name == "pwned" for p in tmp_path.rglob("pwned"))


def test_sep_and_prefix_are_refused_on_single_inputs_and_params() -> None:
    R = Rules()
    with pytest.raises(RuleError, match=r"rule 'bad'.*sep= and prefix= apply to list inputs only"):
        R.register("bad", Inputs(ref=Reference), Outputs(vcf=Vcf), "cat {ref:sep=,} > {vcf}")
    with pytest.raises(RuleError, match=r"rule 'bad2'"):
        R.register("bad2", Inputs(word=str), Outputs(vcf=Vcf), "echo {word:prefix=-I } > {vcf}")


# -- fingerprints -----------------------------------------------------------------------------

def test_fingerprint_covers_the_ordered_list(R: Rules) -> None:
    ref = R.reference(name="hg38")
    a, b, c = (R.sort(sample=s) for s in "abc")
    base = R.call(ref, [a, b]).fingerprint
    assert R.call(ref, [a, b]).fingerprint == base  # the same list
    assert R.call(ref, [R.sort(sample="a"), R.sort(sample="b")]).fingerprint == base  # equal nodes, rebuilt
    assert R.call(ref, (a, b)).fingerprint == base  # a tuple is the same ordered list
    assert R.call(ref, [b, a]).fingerprint != base  # reordered
    assert R.call(ref, [a, b, c]).fingerprint != base  # one added
    assert R.call(ref, [a]).fingerprint != base  # one removed
    assert R.call(ref, [a, c]).fingerprint != base  # one replaced
    assert len({R.call(ref, perm).fingerprint for perm in ([a, b, c], [a, c, b], [b, a, c], [b, c, a],
                                                            [c, a, b], [c, b, a])}) == 6


def test_a_list_of_one_is_not_the_same_as_a_single_input() -> None:
    R = Rules()
    R.register("sort", Inputs(sample=str), Outputs(bam=SortedBam), "echo {sample} > {bam}")
    R.register("one", Inputs(bams=SortedBam), Outputs(vcf=Vcf), "cat {bams} > {vcf}")
    R2 = Rules()
    R2.register("sort", Inputs(sample=str), Outputs(bam=SortedBam), "echo {sample} > {bam}")
    R2.register("one", Inputs(bams=list[SortedBam]), Outputs(vcf=Vcf), "cat {bams} > {vcf}")
    assert R.one(R.sort(sample="a")).fingerprint != R2.one([R2.sort(sample="a")]).fingerprint


FP_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
from test_rules_lists import list_fingerprints
print(json.dumps(list_fingerprints()))
"""


def list_fingerprints() -> list[str]:
    """Fingerprints of list calls, in several orders; the subprocess test compares them."""
    R = make_rules()
    ref = R.reference(name="hg38")
    bams = [R.sort(sample=f"s{i}") for i in range(12)]
    out = [R.call(ref, bams).fingerprint, R.call(ref, list(reversed(bams))).fingerprint,
           R.joined(bams[:3]).fingerprint, R.summarise(R.call2(ref, bams[::2])).fingerprint]
    return out


def test_list_fingerprints_are_stable_across_processes_and_hash_seeds(
        run_python: Callable[..., Any]) -> None:
    here = str(Path(__file__).parent)
    outs = []
    for seed in ("0", "4242", "random"):
        p = run_python("-c", FP_SCRIPT, here, PYTHONHASHSEED=seed)
        assert p.returncode == 0, p.stderr
        outs.append(json.loads(p.stdout))
    assert outs[0] == outs[1] == outs[2] == list_fingerprints()
    assert len(set(outs[0])) == 4


# -- call-time errors -------------------------------------------------------------------------

def test_empty_list_is_a_type_error_naming_rule_and_parameter(R: Rules) -> None:
    ref = R.reference(name="hg38")
    with pytest.raises(TypeError) as e:
        R.call(ref, [])
    msg = str(e.value)
    assert "'call'" in msg and "'bams'" in msg and "empty" in msg


@pytest.mark.parametrize("bad_at", [0, 1, 2])
def test_non_node_element_names_rule_parameter_and_index(R: Rules, bad_at: int) -> None:
    ref = R.reference(name="hg38")
    items: list[Any] = [R.sort(sample="a"), R.sort(sample="b"), R.sort(sample="c")]
    items[bad_at] = "/data/x.bam"
    with pytest.raises(TypeError) as e:
        R.call2(ref, bams=items)
    msg = str(e.value)
    assert "'call2'" in msg and "'bams'" in msg and f"index {bad_at}" in msg, msg


def test_wrong_element_type_names_rule_parameter_index_and_types(R: Rules) -> None:
    ref = R.reference(name="hg38")
    with pytest.raises(TypeError) as e:
        R.call(ref, [R.sort(sample="a"), R.sort(sample="b"), R.align(sample="c")])
    msg = str(e.value)
    assert "'call'" in msg and "'bams'" in msg and "index 2" in msg, msg
    assert "SortedBam" in msg and "Bam" in msg
    with pytest.raises(TypeError, match=r"index 0"):
        R.call(ref, [ref])  # a Reference is not a SortedBam at all


@pytest.mark.parametrize("value", ["sorted.bam", 3, None, {"a": 1}])
def test_non_list_values_are_type_errors(R: Rules, value: Any) -> None:
    with pytest.raises(TypeError) as e:
        R.call(R.reference(name="hg38"), value)
    msg = str(e.value)
    assert "'call'" in msg and "'bams'" in msg, msg


def test_a_single_node_for_a_list_input_is_a_type_error(R: Rules) -> None:
    a = R.sort(sample="a")
    with pytest.raises(TypeError) as e:
        R.call(R.reference(name="hg38"), a)
    msg = str(e.value)
    assert "'call'" in msg and "'bams'" in msg and "list" in msg, msg


def test_a_list_for_a_single_input_is_a_type_error(R: Rules) -> None:
    a = R.sort(sample="a")
    with pytest.raises(TypeError, match=r"'summarise'.*'vcf'"):
        R.summarise([R.concat([a])])


# -- status -----------------------------------------------------------------------------------

def _calls(R: Rules, samples: list[str]) -> Pipeline:
    P = Pipeline()
    P.vcf = R.call(R.reference(name="hg38"), [R.sort(sample=s) for s in samples])
    P.report = R.summarise(P.vcf)
    return P


def _status(outdir: Path, P: Pipeline) -> tuple[dict[str, Any], str]:
    dag = DAG(outdir)
    dag.add(P)
    report = status_report(dag, dag.plan())
    return report, render_status(report)


def _why(report: dict[str, Any], rule: str) -> str:
    whys = [j["why"] for j in report["jobs"] if j["rule"] == rule]
    assert len(whys) == 1, report["jobs"]
    return str(whys[0])


def test_status_explains_a_list_that_gained_an_element(R: Rules, outdir: Path) -> None:
    dag = DAG(outdir)
    dag.add(_calls(R, ["a", "b"]))
    run(dag)
    report, text = _status(outdir, _calls(R, ["a", "b", "c"]))
    assert report["to_run"] == 3  # sort(c), call, summarise
    assert "input list `bams` gained 1 element" in _why(report, "call"), text
    assert "input list `bams` gained 1 element" in text


def test_status_explains_a_list_that_gained_two_and_one_that_lost_one(R: Rules, outdir: Path) -> None:
    dag = DAG(outdir)
    dag.add(_calls(R, ["a", "b"]))
    run(dag)
    report, text = _status(outdir, _calls(R, ["a", "b", "c", "d"]))
    assert "input list `bams` gained 2 elements" in _why(report, "call"), text
    report, text = _status(outdir, _calls(R, ["a"]))
    assert "input list `bams` lost 1 element" in _why(report, "call"), text


def test_status_names_a_hand_edited_element_one_based_and_only_the_consumer_reruns(
        R: Rules, outdir: Path) -> None:
    P = _calls(R, ["a", "b", "c"])
    dag = DAG(outdir)
    dag.add(P)
    run(dag)
    b = P.vcf.job.inputs["bams"][1]
    assert b.path is not None
    b.path.write_text("edited by hand, longer than before\n")
    report, text = _status(outdir, _calls(R, ["a", "b", "c"]))
    assert report["to_run"] == 2, text  # call is stale, summarise follows
    why = _why(report, "call")
    assert "element 2 of `bams` content changed" in why, text
    assert b.job.key in why
    assert "element 2 of `bams` content changed" in text
    dry = DAG(outdir)
    dry.add(_calls(R, ["a", "b", "c"]))
    assert "element 2 of `bams` content changed" in dry.plan().explain()  # the dry run's reason too
    dag2 = DAG(outdir)
    P2 = _calls(R, ["a", "b", "c"])
    dag2.add(P2)
    assert sorted(k.split("/")[0] for k in run(dag2).ran) == ["call", "summarise"]  # sort(b) not rerun
    assert P2.vcf.path is not None
    assert P2.vcf.path.read_text() == P.vcf.path.read_text()  # same paths; the content is read later


def test_status_cli_says_the_list_gained_an_element(tmp_path: Path) -> None:
    from test_cli import necroflow, ok

    factory = tmp_path / "listflow.py"
    factory.write_text(
        "from __future__ import annotations\n"
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from necroflow import Pipeline, Rules\n"
        "from test_rules_lists import make_rules\n"
        "R = make_rules()\n"
        "def flow(config, R):\n"
        "    P = Pipeline()\n"
        "    P.vcf = R.call(R.reference(name='hg38'), [R.sort(sample=s) for s in config['samples']])\n"
        "    return P\n")
    two, three = tmp_path / "two.toml", tmp_path / "three.toml"
    two.write_text(f'".pipeline" = "{factory}:flow"\nsamples = ["a", "b"]\n')
    three.write_text(f'".pipeline" = "{factory}:flow"\nsamples = ["a", "b", "c"]\n')
    out = tmp_path / "out"
    ok(necroflow("run", "-q", "--outdir", out, two, cwd=tmp_path))
    r = ok(necroflow("status", "--outdir", out, three, cwd=tmp_path))
    assert "input list `bams` gained 1 element" in r.out, str(r)
