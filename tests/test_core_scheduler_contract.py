"""A custom scheduler sees the ready jobs every time and decides, even when only one is ready."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

from necroflow import DAG, NodeType, Pipeline, Reporter, Rules


class T(NodeType):
    filename = "t.txt"


R = Rules()
R.register("step", {"i": int}, {"out": T}, "date +%s.%N > {out}")
R.register("after", {"x": T}, {"out": T}, "cat {x} > {out}")


def test_the_scheduler_is_asked_even_for_a_lone_ready_job(tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def recording(ready: list[Any], remaining: Any) -> list[Any]:
        calls.append([j.key for j in ready])
        return list(ready)

    P = Pipeline()
    P.c = R.after(R.after(R.step(i=1)))  # a chain: never more than one job ready
    dag = DAG(tmp_path / "out")
    dag.add(P)
    dag.execute(scheduler=recording, progress=Reporter(stream=io.StringIO()))
    assert [len(c) for c in calls] == [1, 1, 1], calls


def test_a_scheduler_may_hold_a_lone_job_back(tmp_path: Path) -> None:
    """While ``slow`` runs, the scheduler keeps ``late`` waiting although it is the only ready job."""
    R2 = Rules()
    R2.register("slow", {}, {"out": T}, "sleep 0.5; date +%s.%N > {out}")
    R2.register("late", {}, {"out": T}, "date +%s.%N > {out}")
    R2.register("tick", {}, {"out": T}, "date +%s.%N > {out}")  # ends early: the loop asks again
    started: dict[str, float] = {}

    def hold_late(ready: list[Any], remaining: Any) -> list[Any]:
        names = {j.rule.name for j in remaining}
        order = [j for j in ready if j.rule.name in ("slow", "tick")]
        if "slow" not in names:
            order += [j for j in ready if j.rule.name == "late"]
        return order

    class Starts(Reporter):
        def on_start(self, job: Any) -> None:
            started[job.rule.name] = time.monotonic()

    P = Pipeline()
    P.slow = R2.slow()
    P.late = R2.late()
    P.tick = R2.tick()
    dag = DAG(tmp_path / "out")
    dag.add(P)
    dag.execute(scheduler=hold_late, resource_caps={"threads": 3}, progress=Starts(stream=io.StringIO()))
    assert started["late"] - started["slow"] >= 0.4, started
