"""One Pipeline added to two DAGs: each DAG has its own folders, plan and run (no shared state)."""

from __future__ import annotations

import io
from pathlib import Path

from necroflow import DAG, NodeType, Pipeline, Reporter, Rules, resolve_command


class Word(NodeType):
    filename = "word.txt"


class Loud(NodeType):
    filename = "loud.txt"


R = Rules()
R.register("say", {"word": str}, {"out": Word}, "printf '%s' {word} > {out}")
R.register("loud", {"text": Word}, {"out": Loud}, "tr a-z A-Z < {text} > {out}")


def pipeline() -> Pipeline:
    P = Pipeline()
    P.word = R.say(word="hi")
    P.loud = R.loud(P.word)
    return P


def test_the_same_pipeline_in_two_dags_gets_each_dags_folders(tmp_path: Path) -> None:
    P = pipeline()
    one, two = DAG(tmp_path / "o1"), DAG(tmp_path / "o2")
    one.add(P)
    two.add(P)  # before the fix this moved one's job folders into o2
    job = P.loud.job
    assert one.folder(job) == f"{tmp_path}/o1/{job.key}"
    assert two.folder(job) == f"{tmp_path}/o2/{job.key}"
    assert str(tmp_path / "o1") in one.command(P.loud) and str(tmp_path / "o2") not in one.command(P.loud)
    assert str(tmp_path / "o2") in two.command(P.loud) and str(tmp_path / "o1") not in two.command(P.loud)
    # node.path is the convenience view: the first outdir the job was resolved in
    assert P.loud.path == tmp_path / "o1" / job.key / "loud.txt"
    assert resolve_command(P.loud) == one.command(P.loud)

    quiet = Reporter(stream=io.StringIO())
    assert one.execute(progress=quiet).ran == [P.word.job.key, job.key]
    assert (tmp_path / "o1" / job.key / "loud.txt").read_text() == "HI"
    assert not (tmp_path / "o2").exists()
    # o2 has its own plan: nothing there yet, so everything is missing, read from o2 only
    assert [e.state.value for e in two.plan().entries.values()] == ["MISSING", "MISSING"]
    assert two.execute(progress=quiet).ran == [P.word.job.key, job.key]
    assert (tmp_path / "o2" / job.key / "loud.txt").read_text() == "HI"
    assert one.execute(progress=quiet).ran == [] and two.execute(progress=quiet).ran == []
