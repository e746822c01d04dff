"""A dry run's listing is written a batch of lines at a time, and says the same as explain()."""

from __future__ import annotations

import io
from pathlib import Path

from necroflow import DAG, NodeType, Pipeline, Rules
from necroflow.reporting import Reporter


class Word(NodeType):
    filename = "word.txt"


R = Rules()
R.register("say", {"word": str}, {"out": Word}, "printf '%s' {word} > {out}")


def dag_of(tmp_path: Path, n: int) -> DAG:
    dag = DAG(tmp_path / "out")
    for i in range(n):
        P = Pipeline()
        P.word = R.say(word=f"w{i}")
        dag.add(P)
    return dag


def test_limit_counts_what_it_leaves_out(tmp_path: Path) -> None:
    plan = dag_of(tmp_path, 16).plan()
    lines = plan.explain(limit=3).splitlines()
    assert len(lines) == 5 and lines[3] == "  ... and 13 more" and lines[4] == plan.summary()
    assert not any("more" in line for line in plan.explain(limit=16).splitlines())
    assert len(plan.explain().splitlines()) == 17


def test_the_dry_run_listing_in_batches_is_explain_line_for_line(tmp_path: Path) -> None:
    plan = dag_of(tmp_path, 25).plan()
    out = io.StringIO()
    writes: list[str] = []

    class Counting(Reporter):
        def emit(self, text: str) -> None:
            writes.append(text)
            super().emit(text)

    Counting(stream=out).emit_lines(plan.explain_lines(), batch=4)
    assert out.getvalue() == plan.explain() + "\n"
    assert len(writes) == 7  # 26 lines, 4 at a time
