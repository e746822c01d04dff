"""Keeping Python's cycle collector out of DAG building.

A DAG is a few objects per job that all live until the run ends, and they hold no garbage
cycles worth collecting while they are made.  CPython's collector does not know that: its
youngest generation is scanned every 700 new container objects (2,000 from 3.13), and its
oldest every time the heap has grown by a quarter, so building a growing DAG scans the same
live objects over and over.  At 300,000 jobs that was two thirds of the build time (10.0 s of
CPU against 3.6 s with the collector off: ``bench/nfbench/scenario_scale.py``).

Two measures, each bounded in time:

- :func:`paused` turns the collector off around a loop of necroflow's own that allocates and
  frees nothing cyclic (classifying a plan), and back on after.  It never wraps user code: a
  factory may well leave cyclic garbage.
- :func:`fit_to` raises the first threshold of the collector to :data:`LARGE_THRESHOLD` once
  a DAG holds :data:`LARGE_DAG_JOBS` jobs (a factory called from the user's own loop cannot be
  bracketed), and :func:`restore` puts the old threshold back when the DAG is planned, i.e.
  when building is over.  Cycles made meanwhile are still collected, in larger batches.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

LARGE_DAG_JOBS = 20_000
LARGE_THRESHOLD = 100_000


@contextmanager
def paused() -> Iterator[None]:
    """The collector off inside the block (if it was on), on again after."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


_raised_from: list[int] = []  # the first threshold fit_to replaced, until restore puts it back


def fit_to(jobs: int) -> None:
    """Raise the collector's first threshold once a DAG is large (never lowers it)."""
    if jobs >= LARGE_DAG_JOBS:
        first, *rest = gc.get_threshold()
        if 0 < first < LARGE_THRESHOLD:
            gc.set_threshold(LARGE_THRESHOLD, *rest)
            _raised_from[:] = [first]


def restore() -> None:
    """Building is over (the DAG is being planned): the threshold fit_to raised goes back,
    unless someone set another one since."""
    if _raised_from:
        first, *rest = gc.get_threshold()
        if first == LARGE_THRESHOLD:
            gc.set_threshold(_raised_from[0], *rest)
        _raised_from.clear()
