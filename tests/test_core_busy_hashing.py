"""While a big output is hashed on a recorder thread, free slots keep running other jobs."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import pytest

from necroflow import DAG, NodeType, Pipeline, Reporter, Rules, fifo_scheduler, recorder


class Blob(NodeType):
    filename = "blob.bin"


class Txt(NodeType):
    filename = "x.txt"


def test_other_jobs_start_while_a_big_output_is_hashed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hashing = threading.Event()
    started_meanwhile = threading.Event()
    seen_during_hash: list[bool] = []
    real_hash = recorder.hash_path

    def slow_hash(path: Any) -> str:
        if Path(path).name == "blob.bin":
            hashing.set()
            seen_during_hash.append(started_meanwhile.wait(10))  # True as soon as another job starts
        return real_hash(path)

    monkeypatch.setattr(recorder, "hash_path", slow_hash)

    class Starts(Reporter):
        def on_start(self, job: Any) -> None:
            if hashing.is_set():
                started_meanwhile.set()

    r = Rules()
    r.register("big", {}, {"o": Blob}, "head -c 2000000 /dev/zero > {o}")
    r.register("use", {"b": Blob}, {"o": Txt}, "wc -c < {b} > {o}")
    r.register("other", {"i": int}, {"o": Txt}, "sleep 0.1; echo {i} > {o}")
    P = Pipeline()
    P.used = r.use(r.big())
    for i in range(4):
        setattr(P, f"o{i}", r.other(i=i))
    DAG(tmp_path / "out").add(P).execute(resource_caps={"threads": 2}, scheduler=fifo_scheduler,
                                         progress=Starts(io.StringIO(), verbose=0))
    assert seen_during_hash == [True], "no job started while the big output was being hashed"
