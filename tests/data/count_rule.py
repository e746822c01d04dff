"""A pipeline with a rule named ``count``: a job file ``count.toml`` would collide with it."""

from __future__ import annotations

# ruff: noqa: F821  (output labels such as Text[text] name outputs, not variables)
from necroflow import NodeType, Pipeline, Rules


class Counts(NodeType):
    filename = "counts.txt"


R = Rules()


@R.command("echo {n} > {counts}")
def count(n: int) -> Counts[counts]:
    """Its output folder is outdir/count/."""


def factory(config, R):
    P = Pipeline()
    P.counts = R.count(n=config["n"])
    return P
