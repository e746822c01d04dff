"""necroalchemy: the README's raw -> align -> count pipeline, with shell stand-ins for the tools.

Each step is a one-line shell command, so the example runs anywhere: no aligner needed.
A shared "reference index" step is built once and used by every sample.
"""

from __future__ import annotations

from necroflow import NodeType, Pipeline, Rules


class Reads(NodeType):
    """Raw reads of one sample."""

    filename = "reads.txt"


class RefIndex(NodeType):
    """An index of the reference, shared by every sample aligned against it."""

    filename = "ref.idx"


class Alignment(NodeType):
    """Reads placed on the reference."""

    filename = "aligned.txt"


class Counts(NodeType):
    """A per-sample count table."""

    filename = "counts.txt"


R = Rules()


@R.command("printf '%s\\n' {sample} {sample} {sample} > {reads}")
def raw_reads(sample: str) -> Reads[reads]:
    """Pretend to sequence a sample: three reads named after it."""


@R.command("printf 'index of %s\\n' {ref} > {index} && sleep 0.2")
def index_ref(ref: str) -> RefIndex[index]:
    """Build the reference index (slow in real life: done once, shared)."""


@R.command("awk -v a={aligner} '{{print a, $0}}' {reads} | cat - {index} > {aligned}", threads=1)
def align(reads: Reads, index: RefIndex, aligner: str) -> Alignment[aligned]:
    """Align reads to the reference with the chosen aligner."""


@R.command("wc -l < {aligned} > {counts}")
def count(aligned: Alignment) -> Counts[counts]:
    """Count aligned lines."""


def necroalchemy(config: dict, R: Rules) -> Pipeline:
    """One sample's chain; the job TOML gives ``sample``, ``ref`` and ``aligner``."""
    P = Pipeline()
    P.reads = R.raw_reads(sample=config["sample"])
    P.index = R.index_ref(ref=config["ref"])
    P.aligned = R.align(P.reads, P.index, aligner=config.get("aligner", "bwa"))
    P.counts = R.count(P.aligned)
    return P
