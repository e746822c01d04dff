"""Identical rule calls share one Job (necroflow/interning.py), and only where that is safe."""

from __future__ import annotations

from pathlib import Path

from necroflow import DAG, Inputs, NodeType, Outputs, Pipeline, Rules, SourceFile, interning


class Ref(NodeType):
    filename = "ref.txt"


class Aln(NodeType):
    filename = "aln.txt"


class Many(NodeType):
    filename = "many.txt"


R = Rules()
R.register("ref", {"genome": str}, {"out": Ref}, "printf '%s' {genome} > {out}")
R.register("aln", {"ref": Ref, "sample": str}, {"out": Aln}, "cat {ref} > {out}; echo {sample} >> {out}")
R.register("both", Inputs(refs=list[Ref]), Outputs(out=Many), "cat {refs} > {out}")
R.register("take", Inputs(src=SourceFile), Outputs(out=Ref), "cat {src} > {out}")


def test_identical_calls_share_one_job_and_different_calls_do_not(tmp_path: Path) -> None:
    DAG(tmp_path / "out")
    a, b = R.ref(genome="hg38"), R.ref(genome="hg38")
    assert a.job is b.job
    assert R.ref(genome="hg19").job is not a.job
    # children of the shared node are shared too; a different param is a different job
    assert R.aln(a, sample="s1").job is R.aln(b, sample="s1").job
    assert R.aln(a, sample="s1").job is not R.aln(a, sample="s2").job


def test_list_inputs_with_the_same_flattened_parents_are_told_apart(tmp_path: Path) -> None:
    DAG(tmp_path / "out")
    x, y = R.ref(genome="x"), R.ref(genome="y")
    assert R.both([x, y]).job is R.both([x, y]).job
    assert R.both([x, y]).job is not R.both([y, x]).job
    assert R.both([x]).job is not R.both([x, x]).job


def test_a_new_dag_starts_fresh_so_node_paths_point_into_it(tmp_path: Path) -> None:
    P1 = Pipeline()
    one = DAG(tmp_path / "o1")
    P1.ref = R.ref(genome="hg38")
    one.add(P1)
    two = DAG(tmp_path / "o2")
    P2 = Pipeline()
    P2.ref = R.ref(genome="hg38")
    two.add(P2)
    assert P1.ref.job is not P2.ref.job and P1.ref.fingerprint == P2.ref.fingerprint
    assert P1.ref.path == tmp_path / "o1" / P1.ref.relpath
    assert P2.ref.path == tmp_path / "o2" / P2.ref.relpath


def test_calls_that_hash_source_files_are_never_shared(tmp_path: Path) -> None:
    src = tmp_path / "src.txt"
    src.write_text("one")
    DAG(tmp_path / "out")
    assert R.take(src=src).job is not R.take(src=src).job


def test_the_table_stays_small_and_keeps_the_call_used_most_recently(tmp_path: Path) -> None:
    DAG(tmp_path / "out")
    hot = R.ref(genome="hot")
    first_cold = R.ref(genome="cold0")
    for i in range(3 * interning.CAPACITY):
        R.ref(genome=f"cold{i}")
        if i % 100 == 0:
            assert R.ref(genome="hot").job is hot.job  # a hit moves it to the front
    assert len(interning._recent) == interning.CAPACITY
    again = R.ref(genome="cold0")  # evicted long ago: made afresh, the same fingerprint
    assert again.job is not first_cold.job and again.fingerprint == first_cold.fingerprint


def test_job_outputs_and_node_lookup_follow_the_rules_labels() -> None:
    job = R.ref(genome="z").job
    assert job.outputs == {"out": job.nodes[0]} and job.node("out") is job.nodes[0]
    try:
        job.node("nope")
    except KeyError as e:
        assert "'ref'" in str(e) and "'nope'" in str(e)
    else:
        raise AssertionError("an unknown label must raise KeyError")
