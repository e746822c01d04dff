"""The shapes of what a node folder records, checked on every read.

A record is trusted only when it has exactly the shape necroflow writes: anything else
(truncated, hand-edited, a list where a table belongs) reads as "no record", which makes
its job rerun.  The plan works on the checked dicts (cheap); the faces (why, report, GUI)
get typed values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

RUNNING = "running"
UP_TO_DATE = "up_to_date"
FAILED = "failed"
INTERRUPTED = "interrupted"
CLEANED = "cleaned"
STATES = frozenset({RUNNING, UP_TO_DATE, FAILED, INTERRUPTED, CLEANED})


def _is_int(v: Any) -> bool:
    return type(v) is int


def valid_outputs(outs: Any) -> bool:
    """Outputs of the shape the readers rely on.  The other signature fields (``ctime_ns``,
    ``ino``, ``hashed_ns``: absent in older records) are only compared with a file's own, so
    a wrong value there just reads as "moved": the file is hashed again."""
    if type(outs) is not dict:
        return False
    for fn, o in outs.items():
        if (type(o) is not dict or type(o.get("sha256")) is not str or type(o.get("size")) is not int
                or type(o.get("mtime_ns")) is not int or type(fn) is not str):
            return False
    return True


def valid_inputs(ins: Any) -> bool:
    if type(ins) is not dict:
        return False
    for slot, c in ins.items():
        if type(c) is not dict or type(slot) is not str:
            return False
        sha = c.get("sha256")
        if sha is not None and type(sha) is not str:
            return False
    return True


def valid_record(rec: Any) -> bool:
    """True when ``rec`` has the shape of a record (or of the index's shorter copy of one)."""
    return type(rec) is dict and valid_outputs(rec.get("outputs")) and valid_inputs(rec.get("inputs", {}))


def parse_record(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        rec = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return rec if valid_record(rec) else None


def index_copy(record: dict[str, Any]) -> dict[str, Any]:
    """What the index keeps of a record: output signatures and the input hashes consumed."""
    return {"outputs": record["outputs"],
            "inputs": {k: {"sha256": v.get("sha256")} for k, v in record.get("inputs", {}).items()}}


@dataclass(frozen=True, slots=True)
class OutputRecord:
    """One recorded output file: its content hash and the signature it was hashed at."""

    sha256: str
    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class ConsumedInput:
    """One input a job read: the parent job, its file and the content hash it had."""

    job: str
    file: str
    sha256: str | None


@dataclass(frozen=True, slots=True)
class Record:
    """A node's record of its last successful run."""

    job: str
    fingerprint: str
    outputs: dict[str, OutputRecord]
    inputs: dict[str, ConsumedInput]

    @classmethod
    def from_dict(cls, rec: dict[str, Any]) -> Record:
        return cls(
            job=str(rec.get("job", "")), fingerprint=str(rec.get("fingerprint", "")),
            outputs={fn: OutputRecord(o["sha256"], o["size"], o["mtime_ns"]) for fn, o in rec["outputs"].items()},
            inputs={slot: ConsumedInput(str(c.get("job", "")), str(c.get("file", "")), c.get("sha256"))
                    for slot, c in rec.get("inputs", {}).items()},
        )


def parse_metrics(text: str | None) -> dict[str, Any]:
    """``metrics.json`` as a flat dict of scalars; anything else reads as empty."""
    if not text:
        return {}
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    if type(data) is not dict:
        return {}
    return {k: v for k, v in data.items() if type(k) is str and (v is None or type(v) in (int, float, str, bool))}
