"""Helpers shared by the cluster backend tests (a module, not fixtures, to keep calls plain)."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from necroflow.backends.base import TaskResult


def collect(events: queue.Queue[TaskResult], n: int, timeout: float) -> dict[str, TaskResult]:
    """Wait for ``n`` results (failing after ``timeout`` s) and check no job reports twice."""
    results: dict[str, TaskResult] = {}
    deadline = time.monotonic() + timeout
    while len(results) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            pytest.fail(f"only {len(results)} of {n} results after {timeout} s: {sorted(results)}")
        try:
            r = events.get(timeout=left)
        except queue.Empty:
            continue
        assert r.key not in results, f"job {r.key} reported twice: {results[r.key]} and {r}"
        results[r.key] = r
    return results


def assert_no_extra_results(events: queue.Queue[TaskResult], wait: float = 0.5) -> None:
    """Every job reports exactly once: nothing else may arrive."""
    try:
        extra = events.get(timeout=wait)
    except queue.Empty:
        return
    pytest.fail(f"unexpected extra result {extra}")


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


METRIC_KEYS = ("start", "end", "wall", "cpu", "max_rss", "host", "job_id")


def node_files(workdir: Path) -> set[str]:
    """Names in a node folder outside .rip/ (must be the outputs only)."""
    return {p.name for p in workdir.iterdir() if p.name != ".rip"}


def log_has(path: Path, text: str) -> bool:
    """True once ``path`` exists and contains ``text`` (the backend may not have created it yet)."""
    try:
        return text in path.read_text()
    except FileNotFoundError:
        return False
