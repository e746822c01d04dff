# ruff: noqa: F821  - output labels in return annotations are names, not variables
"""Slow jobs with grandchildren, for signal tests: two branches of ``hold -> after``.

``hold`` logs ``start <shell pid> <dir>`` (the shell leads the job's process group), then
sleeps in a background grandchild *and* in the foreground, so stopping the job means
stopping a whole group.  ``seconds`` gives each branch its sleep.
"""

from __future__ import annotations

from necroflow import NodeType, Pipeline, Rules


class Held(NodeType):
    """Written only if the sleep ran to its end."""

    filename = "held.txt"


class After(NodeType):
    """A dependant: must never start when its parent did not finish."""

    filename = "after.txt"


R = Rules()


@R.command(
    'echo "start $$ $PWD" >> "$NF_FAULT_LOG"; sleep {seconds} & sleep {seconds}; wait; '
    "echo {branch} > {held}"
)
def hold(branch: str, seconds: float) -> Held[held]:
    """Sleeps (with a grandchild) then writes."""


@R.command('echo "start $$ $PWD" >> "$NF_FAULT_LOG"; cat {held} > {after}')
def after(held: Held) -> After[after]:
    """Consumes a held file."""


def slow(config: dict, R: Rules) -> Pipeline:
    """``seconds`` is a list: one branch per entry."""
    P = Pipeline()
    for i, s in enumerate(config["seconds"]):
        setattr(P, f"after_{i}", R.after(R.hold(branch=f"b{i}", seconds=s)))
    return P
