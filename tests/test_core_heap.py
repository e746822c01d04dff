"""The cycle collector stays out of DAG building (necroflow/heap.py): paused around
necroflow's own loops and restored after, and its first threshold raised (never lowered) once
a DAG is large, until the DAG is planned."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from necroflow import DAG, NodeType, Pipeline, Rules
from necroflow.heap import LARGE_DAG_JOBS, LARGE_THRESHOLD, fit_to, paused, restore


@pytest.fixture(autouse=True)
def restore_gc() -> Iterator[None]:
    threshold, enabled = gc.get_threshold(), gc.isenabled()
    yield
    gc.set_threshold(*threshold)
    (gc.enable if enabled else gc.disable)()


def test_paused_turns_the_collector_off_and_restores_it() -> None:
    gc.enable()
    with paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    with paused():
        pass
    assert not gc.isenabled(), "a collector the user turned off stays off"
    gc.enable()
    with pytest.raises(KeyError), paused():
        raise KeyError("boom")
    assert gc.isenabled()


def test_fit_to_raises_only_for_large_dags_and_never_lowers() -> None:
    gc.set_threshold(700, 10, 10)
    fit_to(LARGE_DAG_JOBS - 1)
    assert gc.get_threshold() == (700, 10, 10)
    fit_to(LARGE_DAG_JOBS)
    assert gc.get_threshold() == (LARGE_THRESHOLD, 10, 10)
    gc.set_threshold(LARGE_THRESHOLD * 3, 5, 5)
    fit_to(10 * LARGE_DAG_JOBS)
    assert gc.get_threshold() == (LARGE_THRESHOLD * 3, 5, 5)
    gc.set_threshold(0)  # 0 means "collector off by threshold": left alone
    fit_to(10 * LARGE_DAG_JOBS)
    assert gc.get_threshold()[0] == 0


def test_restore_puts_back_what_fit_to_raised_only() -> None:
    gc.set_threshold(700, 10, 10)
    fit_to(LARGE_DAG_JOBS)
    restore()
    assert gc.get_threshold() == (700, 10, 10)
    restore()  # nothing raised: nothing to do
    assert gc.get_threshold() == (700, 10, 10)
    fit_to(LARGE_DAG_JOBS)
    gc.set_threshold(5000, 10, 10)  # the user's own choice since: kept
    restore()
    assert gc.get_threshold() == (5000, 10, 10)


class Word(NodeType):
    filename = "word.txt"


r = Rules()


@r.command("echo {word} > {out}")
def say(word: str) -> Word[out]:  # noqa: F821
    """One word."""


def test_a_large_dag_raises_the_threshold(tmp_path: Path) -> None:
    gc.set_threshold(700, 10, 10)
    dag = DAG(tmp_path)
    for i in range(LARGE_DAG_JOBS // 1000):
        P = Pipeline()
        for j in range(1000):
            setattr(P, f"w{j}", r.say(word=f"w{i}-{j}"))
        dag.add(P)
        if len(dag.jobs) < LARGE_DAG_JOBS:
            assert gc.get_threshold()[0] == 700
    assert len(dag.jobs) == LARGE_DAG_JOBS
    assert gc.get_threshold()[0] == LARGE_THRESHOLD
    dag.plan()  # building is over
    assert gc.get_threshold()[0] == 700
