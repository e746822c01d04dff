"""Issue 2, "Types and rules": NodeType, the two declaration styles, declaration and call errors."""

from __future__ import annotations  # the decorator style needs it: Bam[bam] stays a string

import datetime as dt

import pytest

import necroflow
from necroflow import DAG, Constraints, Inputs, NodeType, Outputs, Pipeline, Rules, resolve_command
from necroflow.rules import RuleError


class Fastq(NodeType):
    """Raw sequencing reads."""

    filename = "reads.fastq.gz"


class Bam(NodeType):
    """Aligned reads."""

    filename = "aligned.bam"


class SortedBam(Bam):
    """Coordinate-sorted BAM."""

    filename = "sorted.bam"


class Log(NodeType):
    filename = "align.log"


class Counts(NodeType):
    filename = "counts.txt"


def test_public_names_are_importable_from_the_package_root() -> None:
    for name in ("NodeType", "Rules", "Inputs", "Outputs", "Constraints", "Pipeline", "DAG",
                 "resolve_command", "fifo_scheduler", "parse_resource"):
        assert hasattr(necroflow, name), name


# -- NodeType ----------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["/etc/passwd", "../escape.txt", "a/../../b", "..", "", ".", ".rip"])
def test_nodetype_filename_refused_when_class_is_defined(bad: str) -> None:
    with pytest.raises(ValueError, match="Evil.filename"):
        type("Evil", (NodeType,), {"filename": bad})


def test_nodetype_docstring_is_description_and_subclass_is_subtype() -> None:
    assert Fastq.description() == "Raw sequencing reads."
    assert Log.description() == ""
    assert issubclass(SortedBam, Bam)
    # a subclass that sets no docstring does not inherit its parent's description
    assert type("Sub", (Fastq,), {"filename": "x.fq"}).description() == ""


# -- the two declaration styles ------------------------------------------------------------------

def _register_style() -> Rules:
    R = Rules()
    R.register("raw_fastq", Inputs(path=str), Outputs(fastq=Fastq), "ln -s {path} {fastq}")
    R.register("align", Inputs(fastq=Fastq, ref=str), Outputs(bam=Bam, log=Log),
               "bwa mem -t {threads} {ref} {fastq} > {bam} 2> {log}",
               Constraints(threads=4, ram="8Gi"))
    R.register("count", Inputs(bam=Bam, gene_model=str, opts=dict), Outputs(counts=Counts),
               "featureCounts -a {gene_model} {bam} -o {counts}")
    return R


def _decorator_style() -> Rules:
    r = Rules()

    @r.command("ln -s {path} {fastq}")
    def raw_fastq(path: str) -> Fastq[fastq]:  # noqa: F821
        """Symlink a raw FASTQ file into the output tree."""

    @r.command("bwa mem -t {threads} {ref} {fastq} > {bam} 2> {log}", threads=4, ram="8Gi")
    def align(fastq: Fastq, ref: str) -> (Bam[bam], Log[log]):  # noqa: F821
        """Align reads."""

    @r.command("featureCounts -a {gene_model} {bam} -o {counts}")
    def count(bam: Bam, gene_model: str, opts: dict) -> Counts[counts]:  # noqa: F821
        """Count reads per gene."""

    return r


def _wire(R: Rules) -> Pipeline:
    P = Pipeline()
    P.fastq = R.raw_fastq(path="/data/s1.fastq.gz")
    P.bam, P.log = R.align(P.fastq, ref="hg38")
    P.counts = R.count(P.bam, gene_model="gencode_v44", opts={"strand": 1, "paired": True})
    return P


def test_register_and_decorator_are_equivalent(tmp_path) -> None:
    a, b = _wire(_register_style()), _wire(_decorator_style())
    assert [n.fingerprint for n in a.nodes] == [n.fingerprint for n in b.nodes]
    a.resolve_paths(tmp_path)
    b.resolve_paths(tmp_path)
    assert [resolve_command(n) for n in a.nodes] == [resolve_command(n) for n in b.nodes]
    ra, rb = _register_style().align, _decorator_style().align
    assert dict(ra.constraints) == dict(rb.constraints) == {"threads": 4, "ram": 8 * 1024**3}
    assert ra.inputs == rb.inputs and ra.params.keys() == rb.params.keys() and ra.outputs == rb.outputs
    assert rb.description == "Align reads."


def test_decorator_with_types_defined_inside_a_test_function(tmp_path) -> None:
    class Reads(NodeType):
        filename = "r.txt"

    class Upper(NodeType):
        filename = "u.txt"

    r = Rules()

    @r.command("printf '%s\\n' {text} > {reads}")
    def make(text: str) -> Reads[reads]:  # noqa: F821
        """Write some text."""

    @r.command("tr a-z A-Z < {reads} > {upper}")
    def shout(reads: Reads) -> Upper[upper]:  # noqa: F821
        ...

    assert r.make.outputs == {"reads": Reads} and r.shout.inputs == {"reads": Reads}
    P = Pipeline()
    P.reads = r.make(text="hello")
    P.upper = r.shout(P.reads)
    dag = DAG(tmp_path / "out")
    dag.add(P)
    dag.execute()
    assert P.upper.path.read_text() == "HELLO\n"


def test_multi_output_returns_a_tuple_and_outputs_share_one_folder(tmp_path) -> None:
    R = _decorator_style()
    fq = R.raw_fastq(path="/x")
    out = R.align(fq, ref="hg38")
    assert isinstance(out, tuple) and [n.label for n in out] == ["bam", "log"]
    bam, log = out
    assert bam.job is log.job and bam.fingerprint == log.fingerprint
    assert bam.relpath.rsplit("/", 1)[0] == log.relpath.rsplit("/", 1)[0]
    assert bam.relpath.endswith("/aligned.bam") and log.relpath.endswith("/align.log")
    # a single output is a node, not a 1-tuple
    assert not isinstance(fq, tuple)


def test_one_element_tuple_annotation_is_a_tuple() -> None:
    r = Rules()

    @r.command("touch {bam}")
    def one(x: str) -> tuple[Bam[bam]]:  # noqa: F821
        ...

    assert isinstance(r.one(x="a"), tuple)


# -- declaration errors ----------------------------------------------------------------------

def test_unknown_placeholder_is_refused_naming_rule_and_placeholder() -> None:
    R = Rules()
    with pytest.raises(RuleError, match=r"'align'.*\{reff\}"):
        R.register("align", Inputs(fastq=Fastq, ref=str), Outputs(bam=Bam), "bwa {reff} {fastq} > {bam}")
    r = Rules()
    with pytest.raises(RuleError, match=r"'sort'.*\{out\}"):
        @r.command("samtools sort {bam} -o {out}")
        def sort(bam: Bam) -> SortedBam[sorted_bam]:  # noqa: F821
            ...


def test_duplicate_rule_name_is_refused() -> None:
    R = Rules()
    R.register("align", Inputs(fastq=Fastq), Outputs(bam=Bam), "x {fastq} {bam}")
    with pytest.raises(RuleError, match=r"'align' is already registered"):
        R.register("align", Inputs(fastq=Fastq), Outputs(bam=Bam), "y {fastq} {bam}")
    with pytest.raises(RuleError, match=r"'align' is already registered"):
        @R.command("z {fastq} {bam}")
        def align(fastq: Fastq) -> Bam[bam]:  # noqa: F821
            ...


def test_output_label_colliding_with_input_is_refused() -> None:
    with pytest.raises(RuleError, match=r"'sort'.*'bam' collides"):
        Rules().register("sort", Inputs(bam=Bam), Outputs(bam=SortedBam), "sort {bam}")
    r = Rules()
    with pytest.raises(RuleError, match=r"'sort'.*'bam' collides"):
        @r.command("sort {bam}")
        def sort(bam: Bam) -> SortedBam[bam]:  # noqa: F821
            ...


def test_two_outputs_sharing_a_filename_are_refused() -> None:
    class Other(NodeType):
        filename = "aligned.bam"

    with pytest.raises(RuleError, match=r"'dup'.*share the filename 'aligned.bam'"):
        Rules().register("dup", Inputs(), Outputs(a=Bam, b=Other), "touch {a} {b}")


@pytest.mark.parametrize("cons, match", [
    ({"threads": "2"}, "threads='2' must be a positive integer"),
    ({"threads": 0}, "threads=0"),
    ({"threads": 2.0}, "threads=2.0"),
    ({"threads": True}, "threads=True"),
    ({"ram": "lots"}, "ram='lots' is not an amount"),
    ({"ram": "1.5"}, "ram='1.5'"),
    ({"gpus": -1}, "gpus=-1"),
    ({"time": "soon"}, "invalid time 'soon'"),
    ({"time": 0}, "invalid time 0"),
    ({"sbatch_args": 3}, "sbatch_args=3 must be text or a list of text"),
])
def test_bad_constraints_are_refused_at_declaration(cons: dict, match: str) -> None:
    with pytest.raises(RuleError, match=match):
        Rules().register("job", Inputs(), Outputs(out=Counts), "touch {out}", cons)
    r = Rules()
    with pytest.raises(RuleError, match=match):
        r.command("touch {out}", **cons)(_returns_counts)


def _returns_counts() -> Counts[out]:  # noqa: F821
    ...


@pytest.mark.parametrize(("value", "seconds"), [
    (3600, 3600), (1.5, 2), ("2h", 7200), ("90m", 5400), ("45s", 45), ("1d", 86400), ("1h30m", 5400),
    ("1:30:00", 5400), ("2-00:00:00", 172800), ("90", 5400), ("5:30", 330), ("1-12", 129600),
])
def test_time_constraint_takes_seconds_durations_and_slurm_text(value: object, seconds: int) -> None:
    assert Constraints(time=value)["time"] == seconds


def test_sbatch_args_take_text_or_a_list() -> None:
    assert Constraints(sbatch_args="--exclusive --comment='a b'")["sbatch_args"] == ["--exclusive", "--comment=a b"]
    assert Constraints(sbatch_args=["--exclusive"])["sbatch_args"] == ["--exclusive"]


def test_constraint_amounts_are_parsed_at_declaration() -> None:
    rule = Rules().register("job", Inputs(), Outputs(out=Counts), "touch {out}",
                            Constraints(ram="1.5G", scratch="2Ki", gpus=1, partition="short"))
    assert dict(rule.constraints) == {"ram": 1_500_000_000, "scratch": 2048, "gpus": 1, "partition": "short"}


def test_other_declaration_mistakes_are_explained() -> None:
    r = Rules()
    with pytest.raises(RuleError, match="return annotation"):
        @r.command("touch {x}")
        def no_return(x: str):  # type: ignore[no-untyped-def]
            ...
    with pytest.raises(RuleError, match="declares no outputs"):
        r.register("nothing", Inputs(x=str), Outputs(), "echo {x}")
    with pytest.raises(RuleError, match=r"plain name.*doubled"):
        r.register("brace", Inputs(), Outputs(out=Counts), "awk '{print $1}' > {out}")
    with pytest.raises(RuleError, match="reserved"):
        r.register("register", Inputs(), Outputs(out=Counts), "touch {out}")
    with pytest.raises(RuleError, match="identifier"):
        r.register("../up", Inputs(), Outputs(out=Counts), "touch {out}")


def test_literal_braces_are_written_doubled() -> None:
    rule = Rules().register("awk", Inputs(txt=Counts), Outputs(out=Log), "awk '{{print $1}}' {txt} > {out}")
    assert [f for f, _ in rule.fields] == ["txt", "out"]


def test_unresolvable_annotation_is_a_declaration_error() -> None:
    """A misspelt NodeType annotation must not silently turn an input into a literal param."""
    r = Rules()
    with pytest.raises(RuleError, match=r"'align'.*'fastq'.*Fastqq"):
        @r.command("bwa {fastq} > {bam}")
        def align(fastq: Fastqq) -> Bam[bam]:  # type: ignore[name-defined]  # noqa: F821
            ...


# -- call-time checks --------------------------------------------------------------------------

@pytest.fixture
def typed_rules() -> Rules:
    r = Rules()

    @r.command("make {bam}")
    def make_bam(name: str) -> Bam[bam]:  # noqa: F821
        ...

    @r.command("sort {bam} -o {sorted_bam}")
    def sort(bam: Bam) -> SortedBam[sorted_bam]:  # noqa: F821
        ...

    @r.command("count {bam} {gene_model} {n} {day} > {counts}")
    def quantify(bam: SortedBam, gene_model: str, n: int = 1, day: dt.date = dt.date(2024, 1, 1)) -> Counts[counts]:  # noqa: F821
        ...

    return r


def test_wrong_node_type_names_rule_param_expected_and_given(typed_rules: Rules) -> None:
    bam = typed_rules.make_bam(name="a")
    with pytest.raises(TypeError) as e:
        typed_rules.quantify(bam, gene_model="g", n=1, day=dt.date(2024, 1, 1))
    msg = str(e.value)
    assert "'quantify'" in msg and "'bam'" in msg and "SortedBam" in msg and "got Bam" in msg


def test_subtype_is_accepted(typed_rules: Rules) -> None:
    sorted_bam = typed_rules.sort(typed_rules.make_bam(name="a"))
    assert sorted_bam.type is SortedBam
    # sort accepts Bam, so it accepts a SortedBam too
    again = typed_rules.sort(sorted_bam)
    assert again.parents == [sorted_bam]


def test_missing_and_unexpected_arguments_are_type_errors(typed_rules: Rules) -> None:
    s = typed_rules.sort(typed_rules.make_bam(name="a"))
    with pytest.raises(TypeError, match=r"missing .*'gene_model'"):
        typed_rules.quantify(s, n=1, day=dt.date(2024, 1, 1))
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'colour'"):
        typed_rules.quantify(s, gene_model="g", n=1, day=dt.date(2024, 1, 1), colour="red")
    with pytest.raises(TypeError, match=r"multiple values for argument 'bam'"):
        typed_rules.quantify(s, "g", 1, dt.date(2024, 1, 1), bam=s)
    with pytest.raises(TypeError, match="takes 4 arguments but 5 were given"):
        typed_rules.quantify(s, "g", 1, dt.date(2024, 1, 1), "extra")
    with pytest.raises(TypeError, match=r"'sort'.*expects a Bam node, got str"):
        typed_rules.sort("aligned.bam")
    with pytest.raises(TypeError, match=r"'make_bam'.*'name' is a literal param"):
        typed_rules.make_bam(name=s)


def test_param_types_are_checked_and_dates_accept_iso_text(typed_rules: Rules) -> None:
    s = typed_rules.sort(typed_rules.make_bam(name="a"))
    with pytest.raises(TypeError, match=r"'quantify'.*'n' expects int, got str"):
        typed_rules.quantify(s, gene_model="g", n="3", day=dt.date(2024, 1, 1))
    with pytest.raises(TypeError, match=r"'n' expects int, got bool"):
        typed_rules.quantify(s, gene_model="g", n=True, day=dt.date(2024, 1, 1))
    a = typed_rules.quantify(s, gene_model="g", n=3, day=dt.date(2024, 1, 2))
    b = typed_rules.quantify(s, gene_model="g", n=3, day="2024-01-02")  # as typed on a command line
    assert a.fingerprint == b.fingerprint
    with pytest.raises(TypeError, match=r"'day' expects date"):
        typed_rules.quantify(s, gene_model="g", n=3, day="next tuesday")


def test_unencodable_param_values_are_refused_at_call_time(typed_rules: Rules) -> None:
    r = Rules()

    @r.command("echo {opts} > {out}")
    def f(opts: dict) -> Counts[out]:  # noqa: F821
        ...

    for bad, what in [({"a": {1, 2}}, "set"), ({"a": None}, "None"), ({1: "x"}, "dict key"),
                      ({"a": object()}, "object"), ({"a": float("nan")}, "nan")]:
        with pytest.raises(TypeError, match=rf"'f'.*'opts'.*{what}"):
            r.f(opts=bad)


def test_param_defaults_apply_like_a_python_call_and_hash_as_if_passed(typed_rules: Rules) -> None:
    s = typed_rules.sort(typed_rules.make_bam(name="a"))
    implicit = typed_rules.quantify(s, gene_model="g")
    explicit = typed_rules.quantify(s, gene_model="g", n=1, day="2024-01-01")
    assert implicit.fingerprint == explicit.fingerprint
    assert implicit.params == {"gene_model": "g", "n": 1, "day": "2024-01-01"}


def test_defaults_that_cannot_be_hashed_are_refused_at_declaration() -> None:
    r = Rules()
    with pytest.raises(RuleError, match=r"'f'.*default of param 'opts'.*None"):
        @r.command("echo {opts} > {out}")
        def f(opts: dict = None) -> Counts[out]:  # type: ignore[assignment]  # noqa: F821
            ...
    with pytest.raises(RuleError, match=r"'g'.*input 'bam' cannot have a default"):
        @r.command("echo {bam} > {out}")
        def g(bam: Bam = None) -> Counts[out]:  # type: ignore[assignment]  # noqa: F821
            ...


def test_generic_container_annotations_check_the_container() -> None:
    r = Rules()

    @r.command("x {opts} {names} > {out}")
    def f(opts: dict[str, int], names: list[str]) -> Counts[out]:  # noqa: F821
        ...

    assert r.f(opts={"a": 1}, names=("x", "y")).params == {"opts": {"a": 1}, "names": ["x", "y"]}
    with pytest.raises(TypeError, match=r"'f': param 'opts' expects dict, got list"):
        r.f(opts=[1], names=["x"])
    with pytest.raises(TypeError, match=r"'f': param 'names' expects list, got str"):
        r.f(opts={}, names="xy")
