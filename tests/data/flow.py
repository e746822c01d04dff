"""Factories for the CLI tests: small shell rules, one shared upstream step, typed and untyped configs.

Job files in ``good/`` and ``bad/`` name these as ``flow.py:NAME``; the tests run
``necroflow`` with this folder as the working directory, since ``.pipeline`` paths are
resolved from where necroflow is invoked.
"""

from __future__ import annotations

# ruff: noqa: F821  (output labels such as Text[text] name outputs, not variables)
from pydantic import BaseModel, ConfigDict

from necroflow import NodeType, Pipeline, Rules


class Text(NodeType):
    """A line of text."""

    filename = "text.txt"


class Shared(NodeType):
    """The step every combo shares."""

    filename = "shared.txt"


class Summary(NodeType):
    """The final output."""

    filename = "summary.txt"


R = Rules()


@R.command("echo shared-{tag} > {shared}")
def shared(tag: str) -> Shared[shared]:
    """Common work: must run once however many job files and combos use it."""


@R.command("echo {word} > {text}")
def make_text(word: str) -> Text[text]:
    """One word per combo."""


@R.command("test {word} != fail && cat {shared} {text} > {summary}")
def summarise(shared: Shared, text: Text, word: str) -> Summary[summary]:
    """Fails for the word 'fail', so tests can break one combo on purpose."""


@R.command("sleep {seconds} && echo done > {summary}")
def nap(seconds: float) -> Summary[summary]:
    """A job that takes long enough to be interrupted by a test."""


def basic(config: dict, R: Rules) -> Pipeline:
    """Untyped config (a plain dict) and the module's Rules passed in."""
    P = Pipeline()
    P.shared = R.shared(tag=config.get("tag", "t"))
    P.text = R.make_text(word=config["word"])
    P.summary = R.summarise(P.shared, P.text, word=config["word"])
    return P


def one_arg(config):
    """The ``factory(config)`` spelling: uses the module's Rules itself."""
    P = Pipeline()
    P.text = R.make_text(word=config["word"])
    return P


class WordConfig(BaseModel):
    """Typed config: unknown keys and wrong types are errors naming the key."""

    model_config = ConfigDict(extra="forbid")

    word: str
    repeat: int = 1


def typed(config: WordConfig, R: Rules) -> Pipeline:
    """A typed factory: receives a validated WordConfig, not a dict."""
    assert isinstance(config, WordConfig)
    P = Pipeline()
    P.text = R.make_text(word=config.word * config.repeat)
    return P


def raises(config: dict, R: Rules) -> Pipeline:
    """A factory with a bug: the error must point at this file and line, not dump a traceback."""
    P = Pipeline()
    P.text = R.make_text(word=config["missing_key"])
    return P


def slow(config: dict, R: Rules) -> Pipeline:
    """One long job, for signal tests."""
    P = Pipeline()
    P.nap = R.nap(seconds=config.get("seconds", 30))
    return P


def not_a_pipeline(config: dict) -> int:
    """Returns the wrong thing."""
    return 42
