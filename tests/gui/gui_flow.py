"""The pipeline of the GUI tests: ``make`` writes a word, ``slow`` waits ``secs`` then copies it.

Job files for it are written by ``gui_helpers.job_file`` (a grid over words).
"""

from __future__ import annotations

from necroflow import NodeType, Pipeline, Rules


class Word(NodeType):
    """A word in a file."""

    filename = "word.txt"


class Copy(NodeType):
    """The same word, copied after a while."""

    filename = "copy.txt"


R = Rules()


@R.command("printf '%s\\n' {word} > {text}; echo made {word}")
def make(word: str) -> Word[text]:  # noqa: F821
    """Write the word."""


@R.command("echo start {word}; sleep {secs}; cat {text} > {copy}; echo done {word}")
def slow(text: Word, word: str, secs: float) -> Copy[copy]:  # noqa: F821
    """Wait, then copy the word."""


def pipeline(config: dict, R: Rules) -> Pipeline:
    """One word's two jobs."""
    P = Pipeline()
    P.text = R.make(word=config["word"])
    P.copy = R.slow(P.text, word=config["word"], secs=config.get("secs", 0))
    return P
