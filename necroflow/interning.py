"""One Job for identical rule calls: the shared reference every sample's pipeline asks for.

A factory run per sample calls ``R.index(genome="hg38")`` once per sample; each call used to
make its own Job, which the DAG then folded into one by fingerprint but every pipeline kept
alive (a sample's ``align`` job points at its own copy).  At a million jobs that was a
quarter of the memory.  Identical calls -- the same rule, the same canonical params, the
same parent nodes -- now return the Job already made.

Only calls whose fingerprint is known at once are shared: a call that hashes source files
or a container image waits until a DAG resolves it, and the file may change in between.

The table is small and recent-first (the last ``CAPACITY`` distinct calls, a hit moving to
the front), not one entry per Job: a table of every call cost as much memory as the
duplicates it saved.  A shared call recurs in every pipeline, so it stays while fewer than
``CAPACITY`` other distinct calls come between two of its uses.  It is emptied whenever a
DAG is created, so a Job's ``outdir`` convenience (``node.path``) keeps meaning "the outdir
of the DAG it was built for" when one process builds DAGs for several outdirs in turn.

Keys name parents by ``id()``: the table holds its Jobs, and a Job holds its parents, so
those ids cannot be reused while the entry is there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .nodes import Job

CAPACITY = 256
_recent: dict[tuple[Any, ...], Job] = {}


def shared(key: tuple[Any, ...]) -> Job | None:
    """The Job an identical recent call made, if any (it becomes the most recent)."""
    job = _recent.pop(key, None)
    if job is not None:
        _recent[key] = job
    return job


def remember(key: tuple[Any, ...], job: Job) -> None:
    """Share ``job`` with later identical calls (until the next DAG is created)."""
    _recent[key] = job
    if len(_recent) > CAPACITY:
        del _recent[next(iter(_recent))]  # the least recently made or used


def forget_all() -> None:
    """A new DAG is being built: later calls make fresh Jobs."""
    _recent.clear()
