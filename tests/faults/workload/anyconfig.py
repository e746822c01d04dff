# ruff: noqa: F821  - output labels in return annotations are names, not variables
"""Factories for hostile-input tests: one takes any config, one indexes it blindly, one is typed."""

from __future__ import annotations

import json

from pydantic import BaseModel

from necroflow import NodeType, Pipeline, Rules


class Out(NodeType):
    """The config, echoed."""

    filename = "out.txt"


R = Rules()


@R.command("printf '%s' {cfg} > {out}")
def echo_cfg(cfg: str) -> Out[out]:
    """Echo a text."""


def anything(config: dict, R: Rules) -> Pipeline:
    """Accepts every config: all of it goes into one param."""
    P = Pipeline()
    P.out = R.echo_cfg(cfg=json.dumps(config, sort_keys=True, default=str))
    return P


def strict(config: dict, R: Rules) -> Pipeline:
    """Needs ``sample`` (text) and ``n`` (a number): a factory that trusts its config."""
    P = Pipeline()
    P.out = R.echo_cfg(cfg=config["sample"] + "x" * (config["n"] + 1))
    return P


class Typed(BaseModel):
    """A typed config: pydantic checks it before the factory runs."""

    sample: str
    n: int = 1
    tags: list[str] = []


def typed(config: Typed, R: Rules) -> Pipeline:
    P = Pipeline()
    P.out = R.echo_cfg(cfg=f"{config.sample}:{config.n}:{','.join(config.tags)}")
    return P
