"""Symbolic links inside a folder output are judged by what they point to; a loop is refused."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from necroflow import DAG, JobFailed, NodeType, Pipeline, Reporter, Rules
from necroflow.plan import State


class Refs(NodeType):
    filename = "refs"  # a folder of links


class Listing(NodeType):
    filename = "listing.txt"


R = Rules()
R.register("gather", {"target": str}, {"out": Refs}, "mkdir {out} && ln -s {target} {out}/ref.fa")
R.register("loop", {}, {"out": Refs}, "mkdir -p {out}/sub && ln -s .. {out}/sub/up")
R.register("use", {"refs": Refs}, {"out": Listing}, "cat {refs}/ref.fa > {out}")


def plan_state(outdir: Path, P: Pipeline, node: str) -> State:
    dag = DAG(outdir)
    dag.add(P)
    return dag.plan().entries[P[node].fingerprint].state


def test_a_changed_link_target_makes_the_folders_consumers_stale(tmp_path: Path) -> None:
    target = tmp_path / "reference.fa"
    target.write_text(">chr1\nACGT\n")
    P = Pipeline()
    P.refs = R.gather(target=str(target))
    P.listing = R.use(P.refs)
    dag = DAG(tmp_path / "out")
    dag.add(P)
    dag.execute(progress=Reporter(stream=io.StringIO()))
    assert plan_state(tmp_path / "out", P, "listing") is State.UP_TO_DATE
    target.write_text(">chr1\nTTTT\n")  # the folder's own entries are as they were; what one points to is not
    assert plan_state(tmp_path / "out", P, "listing") is State.STALE


def test_a_link_back_into_the_folder_fails_the_job_and_names_the_link(tmp_path: Path) -> None:
    P = Pipeline()
    P.refs = R.loop()
    dag = DAG(tmp_path / "out")
    dag.add(P)
    with pytest.raises(JobFailed, match=r"sub/up leads back into a folder"):
        dag.execute(progress=Reporter(stream=io.StringIO()))
