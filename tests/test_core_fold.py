"""DAG.add folds a new pipeline's copies of jobs it already holds into its own (fold.py)."""

from __future__ import annotations

import gc
from pathlib import Path

from necroflow import DAG, Inputs, Job, NodeType, Outputs, Pipeline, Rules, SourceFile


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


def sample(name: str) -> Pipeline:
    P = Pipeline()
    P.ref = R.ref(genome="hg38")
    P.aln = R.aln(P.ref, sample=name)
    return P


def test_copies_of_a_shared_call_become_the_dags_own_job(tmp_path: Path) -> None:
    dag = DAG(tmp_path / "out")
    first, second = sample("s1"), sample("s2")
    copy = second.ref.job
    assert copy is not first.ref.job  # calls make their own jobs ...
    dag.add(first).add(second)
    assert second.ref.job is first.ref.job  # ... until the DAG folds them
    assert second.aln.job.edges[0][1] is first.ref  # the child reads the DAG's node
    assert second.aln.job.inputs == {"ref": first.ref}
    assert len(dag) == 3 and dag.folder(second.aln.job).startswith(str(tmp_path / "out"))
    del copy
    gc.collect()
    alive = [o for o in gc.get_objects() if type(o) is Job and o.fingerprint == first.ref.fingerprint]
    assert alive == [first.ref.job]  # nothing keeps the copy alive any more


def test_list_inputs_are_repointed_element_by_element(tmp_path: Path) -> None:
    dag = DAG(tmp_path / "out")
    P1, P2 = Pipeline(), Pipeline()
    P1.x = R.ref(genome="x")
    P2.x, P2.y = R.ref(genome="x"), R.ref(genome="y")
    P2.both = R.both([P2.y, P2.x])
    fp = P2.both.fingerprint
    dag.add(P1).add(P2)
    assert P2.both.job.inputs["refs"] == (P2.y, P1.x) and P2.x is P1.x
    assert P2.both.fingerprint == fp  # equal fingerprints: nothing downstream changes


def test_a_job_already_in_another_dag_is_never_changed(tmp_path: Path) -> None:
    one, two = DAG(tmp_path / "o1"), DAG(tmp_path / "o2")
    P1 = sample("s1")
    one.add(P1)
    kept = P1.aln.job.edges
    P2 = sample("s2")
    two.add(P2)
    two.add(P1)  # P1's jobs belong to `one`: taken as they are
    assert P1.aln.job.edges is kept
    assert P1.ref.path == tmp_path / "o1" / P1.ref.relpath
    assert P2.ref.path == tmp_path / "o2" / P2.ref.relpath  # a fresh pipeline's paths point into its DAG


def test_calls_that_hash_source_files_fold_by_their_content(tmp_path: Path) -> None:
    src = tmp_path / "src.txt"
    src.write_text("one")
    dag = DAG(tmp_path / "out")
    P1, P2 = Pipeline(), Pipeline()
    P1.t = R.take(src=src)
    P2.t = R.take(src=src)
    dag.add(P1).add(P2)
    assert P2.t.job is P1.t.job and len(dag) == 1


def test_job_outputs_and_node_lookup_follow_the_rules_labels() -> None:
    job = R.ref(genome="z").job
    assert job.outputs == {"out": job.nodes[0]} and job.node("out") is job.nodes[0]
    try:
        job.node("nope")
    except KeyError as e:
        assert "'ref'" in str(e) and "'nope'" in str(e)
    else:
        raise AssertionError("an unknown label must raise KeyError")
