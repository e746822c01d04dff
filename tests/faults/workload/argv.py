# ruff: noqa: F821  - output labels in return annotations are names, not variables
"""Commands that print their own argv, NUL-separated: what a value turned into, exactly.

``printf '%s\\0' ARGS`` writes each argument followed by a NUL byte, so the output splits
back into the exact argument list the shell built; a value that was split, globbed,
expanded or executed shows up as a different list.
"""

from __future__ import annotations

from necroflow import NodeType, Pipeline, Rules


class Args(NodeType):
    """NUL-terminated arguments."""

    filename = "args.bin"


class PathArgs(NodeType):
    """NUL-terminated paths."""

    filename = "path args.bin"


R = Rules()


@R.command("printf '%s\\0' {v} > {out}")
def show(v: str) -> Args[out]:
    """One value: must come out as exactly one argument."""


@R.command("printf '%s\\0' {items} {table} {n} {x} {flag} > {out}")
def show_many(items: list, table: dict, n: int, x: float, flag: bool) -> Args[out]:
    """A list gives one argument per item; a table one JSON argument; numbers one each."""


@R.command("printf '%s\\0' {src} {out} > {out}")
def show_paths(src: Args) -> PathArgs[out]:
    """Input and output paths: one argument each, whatever the outdir is called."""


def grid(config: dict, R: Rules) -> Pipeline:
    """One value per combo, from a job TOML grid."""
    P = Pipeline()
    P.args = R.show(v=config["v"])
    P.paths = R.show_paths(P.args)
    return P
