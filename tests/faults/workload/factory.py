# ruff: noqa: F821  - output labels in return annotations are names, not variables
"""Fault-injection workload: four samples, jobs of varying length, one shared and one merged node.

Every command appends ``start $PWD`` and ``end $PWD`` lines to the file named by the
``NF_FAULT_LOG`` environment variable (outside the outdir).  The variable is expanded by
the job's shell, so it is not part of any fingerprint: each test run can point it at a
fresh file and count exactly which jobs ran, and which were cut short.

``expand`` writes a few MB so that hashing it keeps the finaliser busy for several
milliseconds: a SIGKILL landing "while .rip records are written" is then likely, with
no test hook in the engine.
"""

from __future__ import annotations

from necroflow import NodeType, Pipeline, Rules


class Ref(NodeType):
    """A prepared reference, shared by every sample."""

    filename = "ref.txt"


class Reads(NodeType):
    """One sample's raw reads."""

    filename = "reads.txt"


class Expanded(NodeType):
    """A large deterministic file derived from the reads (slow to hash)."""

    filename = "expanded.bin"


class Aligned(NodeType):
    """Checksum of the expanded reads against the reference."""

    filename = "aligned.txt"


class Merged(NodeType):
    """Every sample's alignment, concatenated."""

    filename = "merged.txt"


R = Rules()

_START = 'echo "start $PWD" >> "$NF_FAULT_LOG" && '
_END = ' && echo "end $PWD" >> "$NF_FAULT_LOG"'


@R.command(_START + "sleep 0.1 && printf 'reference %s\\n' {ref} > {out}" + _END)
def prepare_ref(ref: str) -> Ref[out]:
    """Shared by all samples: runs once."""


@R.command(_START + "sleep {delay} && printf 'read-%s-%s\\n' {sample} 1 2 3 4 5 > {reads}" + _END)
def fetch(sample: str, delay: float) -> Reads[reads]:
    """Sample-specific length."""


@R.command(_START + "yes \"$(cat {reads})\" | head -c {nbytes} > {expanded}" + _END)
def expand(reads: Reads, nbytes: int) -> Expanded[expanded]:
    """Large output: its hashing takes the finaliser a while."""


@R.command(_START + "sleep {delay} && cksum < {expanded} > {aligned} && cat {ref} >> {aligned}" + _END)
def align(expanded: Expanded, ref: Ref, delay: float) -> Aligned[aligned]:
    """Depends on two parents: the sample chain and the shared reference."""


@R.command(_START + "sleep 0.02 && cat {a} {b} {c} {d} > {merged}" + _END)
def merge(a: Aligned, b: Aligned, c: Aligned, d: Aligned) -> Merged[merged]:
    """Joins the four sample chains."""


def workload(config: dict, R: Rules) -> Pipeline:
    """``samples`` is a list of {name, delay}; four entries expected."""
    P = Pipeline()
    P.ref = R.prepare_ref(ref=config["ref"])
    aligned = []
    for i, s in enumerate(config["samples"]):
        reads = R.fetch(sample=s["name"], delay=s["delay"])
        big = R.expand(reads, nbytes=config["nbytes"])
        setattr(P, f"aligned_{i}", R.align(big, P.ref, delay=s["delay"]))
        aligned.append(getattr(P, f"aligned_{i}"))
    P.merged = R.merge(*aligned)
    return P
