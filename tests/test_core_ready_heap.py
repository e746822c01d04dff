"""The built-in schedulers run from an incremental heap; the order must be the one calling
the scheduler function on every free slot gives."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from necroflow import (
    DAG,
    NodeType,
    Pipeline,
    Reporter,
    Rules,
    fifo_scheduler,
    smallest_component_scheduler,
)


class Txt(NodeType):
    filename = "x.txt"


def _dag(outdir: Path) -> DAG:
    r = Rules()
    r.register("ref", {"g": str}, {"o": Txt}, "echo {g} > {o}")
    r.register("raw", {"s": str}, {"o": Txt}, "echo {s} > {o}")
    r.register("align", {"a": Txt, "b": Txt}, {"o": Txt}, "cat {a} {b} > {o}")
    r.register("count", {"a": Txt}, {"o": Txt}, "wc -c < {a} > {o}")
    dag = DAG(outdir)
    for i in range(12):
        P = Pipeline()
        P.ref = r.ref(g="hg38" if i % 3 else "mm10")
        P.raw = r.raw(s=f"s{i}")
        P.al = r.align(P.raw, P.ref)
        P.count = r.count(P.al)
        dag.add(P)
    return dag


class Starts(Reporter):
    def __init__(self) -> None:
        super().__init__(io.StringIO(), verbose=0)
        self.order: list[str] = []

    def on_start(self, job: Any) -> None:
        self.order.append(job.key)


@pytest.mark.parametrize("builtin", [fifo_scheduler, smallest_component_scheduler])
def test_heap_order_equals_calling_the_scheduler(tmp_path: Path, builtin: Any) -> None:
    orders = []
    for name, sched in (("heap", builtin), ("call", lambda ready, rem: builtin(ready, rem))):
        rep = Starts()
        _dag(tmp_path / name).execute(resource_caps={"threads": 1}, scheduler=sched, progress=rep)
        orders.append(rep.order)
    assert len(orders[0]) == 12 * 3 + 2
    assert orders[0] == orders[1]
