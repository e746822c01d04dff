# ruff: noqa: F821  - output labels in return annotations are names, not variables
"""A step that writes part of its output and then fails, when ``$NF_FAULT_FAIL`` exists.

``source -> step -> final``; every command logs ``start $PWD`` to ``$NF_FAULT_LOG``.
``step`` copies its input in two halves and fails between them, so after a failure the
output file exists, holds the first half only, and has a fresh mtime.
"""

from __future__ import annotations

from necroflow import NodeType, Pipeline, Rules


class Text(NodeType):
    """Source text."""

    filename = "source.txt"


class Copy(NodeType):
    """The copied text (partial after a failure)."""

    filename = "copy.txt"


class Final(NodeType):
    """What the consumer made of the copy."""

    filename = "final.txt"


class Empty(NodeType):
    """Declared, never written."""

    filename = "never.txt"


R = Rules()
_LOG = 'echo "start $PWD" >> "$NF_FAULT_LOG"; '


@R.command(_LOG + "printf '%s\\n' {text} > {out}")
def source(text: str) -> Text[out]:
    """The upstream file."""


@R.command(
    _LOG + "head -c 4 {src} > {copy}; if [ -e \"$NF_FAULT_FAIL\" ]; then exit 7; fi; cat {src} > {copy}"
)
def step(src: Text) -> Copy[copy]:
    """Partial write, then failure while the flag file exists."""


@R.command(_LOG + "tr a-z A-Z < {copy} > {final}")
def final(copy: Copy) -> Final[final]:
    """Consumer of the step."""


@R.command(_LOG + "true")
def lazy(copy: Copy) -> Empty[empty]:
    """Exits 0 without writing its declared output."""


def partial(config: dict, R: Rules) -> Pipeline:
    P = Pipeline()
    P.copy = R.step(R.source(text=config["text"]))
    P.final = R.final(P.copy)
    if config.get("lazy"):
        P.empty = R.lazy(P.copy)
    return P
