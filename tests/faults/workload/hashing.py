# ruff: noqa: F821  - output labels in return annotations are names, not variables
"""A pipeline whose params exercise the canonical encoding: nested tables, floats, dates, unicode.

``table`` is rebuilt in *set iteration order*, which follows PYTHONHASHSEED: if dict order
leaked into a fingerprint, two interpreters with different seeds would disagree.
Every command logs ``start $PWD`` to ``$NF_FAULT_LOG``.
"""

from __future__ import annotations

import datetime

from necroflow import NodeType, Pipeline, Rules


class Seq(NodeType):
    """A sequence file."""

    filename = "seq.txt"


class SortedSeq(Seq):
    """A subtype: accepted wherever Seq is."""

    filename = "sorted.txt"


class Stats(NodeType):
    """Numbers about a sequence."""

    filename = "stats.json"


class Log(NodeType):
    """A side log."""

    filename = "side.log"


R = Rules()
_LOG = 'echo "start $PWD" >> "$NF_FAULT_LOG"; '


@R.command(_LOG + "printf '%s\\n' {name} {table} {when} > {seq}")
def make(name: str, table: dict, when: datetime.datetime, weights: list) -> Seq[seq]:
    """Params of every kind."""


@R.command(_LOG + "sort {seq} > {out}", threads=2)
def sort(seq: Seq) -> SortedSeq[out]:
    """Constraints never enter the fingerprint."""


@R.command(_LOG + "wc -c < {seq} > {stats} && echo {x} > {log}")
def stats(seq: Seq, x: float) -> (Stats[stats], Log[log]):
    """Two outputs from one command."""


def hashing(config: dict, R: Rules) -> Pipeline:
    P = Pipeline()
    table = config["table"]
    reordered = {k: table[k] for k in set(table)}  # order depends on PYTHONHASHSEED
    P.seq = R.make(name=config["name"], table=reordered, when=config["when"], weights=config["weights"])
    P.sorted = R.sort(P.seq)
    P.stats, P.log = R.stats(P.sorted, x=config["x"])
    return P
