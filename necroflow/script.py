"""The job a script rule is running, for the script itself: ``from necroflow.script import job``.

``job.inputs.<name>`` and ``job.outputs.<label>`` are absolute paths (``str``; a list input
is a list of them), ``job.params.<name>`` the literal params, ``job.threads`` the thread
count it may use, ``job.rule`` and ``job.key`` its names.  Item access works too
(``job.inputs["bam"]``).  The data comes from the JSON file named by ``$NECROFLOW_JOB``,
which necroflow writes when the job starts.
"""

from __future__ import annotations

import json
import os
from typing import Any

__all__ = ["ScriptJob", "load"]  # and ``job``, loaded on first use


class Section:
    """Attribute and item access to one table of the job's data."""

    def __init__(self, name: str, data: dict[str, Any]) -> None:
        self._name = name
        self._data = data

    def __getattr__(self, key: str) -> Any:
        try:
            return self._data[key]
        except KeyError:
            raise AttributeError(f"job.{self._name} has no {key!r}; it has: {', '.join(self._data) or 'nothing'}") from None

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Any:
        return iter(self._data)

    def __repr__(self) -> str:
        return f"job.{self._name}({self._data!r})"


class ScriptJob:
    def __init__(self, data: dict[str, Any]) -> None:
        self.rule: str = data["rule"]
        self.key: str = data["job"]
        self.inputs = Section("inputs", data["inputs"])
        self.outputs = Section("outputs", data["outputs"])
        self.params = Section("params", data["params"])
        self.threads: int = data["threads"]


def load(path: str | None = None) -> ScriptJob:
    """The job described by ``path`` (default: ``$NECROFLOW_JOB``)."""
    path = path or os.environ.get("NECROFLOW_JOB")
    if not path:
        raise RuntimeError("necroflow.script: $NECROFLOW_JOB is not set; this module is for scripts that "
                           "necroflow runs as script rules (@r.script)")
    with open(path) as f:
        return ScriptJob(json.load(f))


def __getattr__(name: str) -> Any:  # ``job`` is loaded on first use, not at import
    if name == "job":
        value = load()
        globals()["job"] = value
        return value
    raise AttributeError(name)
