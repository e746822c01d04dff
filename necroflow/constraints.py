"""The one constraint vocabulary: what a rule may ask of the machine that runs it.

Constraints never enter a fingerprint: they say how a job runs, not what it makes.  Every
key is checked and normalised here, when the rule is declared, so a bad value fails at
import time, naming the rule; backends read the normalised values and nothing else.

=============  =========================================  ======================================
key            accepted values                            read by
=============  =========================================  ======================================
threads        positive int                               slots (local cap), ``{threads}``,
                                                          SLURM ``--cpus-per-task``, Dask
ram            amount (``"8Gi"``, ``"8G"``, bytes)        slots, SLURM ``--mem``, Dask
gpus           non-negative int                           slots, SLURM ``--gpus``
time           seconds (int/float) or text: ``"2h"``,     local/Dask time limit, SLURM
               ``"90m"``, ``"45s"``, ``"1d"``, ``"1h30m"``  ``--time``
               or SLURM time text (``"1:30:00"``,
               ``"2-00:00:00"``, ``"90"`` = minutes)
retries        non-negative int                           the run loop (attempts = retries + 1)
partition,     text                                       SLURM ``--partition``/``--account``/
account, qos                                              ``--qos``
sbatch_args    text (split like a shell) or list of text  SLURM, appended last
group          text                                       SLURM grouping of short jobs
(any other)    amount                                     slots (a user resource, e.g. ``gpu``)
=============  =========================================  ======================================

``threads``, ``ram``, ``gpus``, ``time`` and user amounts may also be a callable of the
attempt number (1, 2, ...), evaluated per attempt (``ram=lambda attempt: f"{4 * attempt}Gi"``).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from typing import Any

from .declare import RuleError
from .resources import ACCEPTED_FORMS, parse_resource, parse_time

__all__ = ["ConstraintError", "Constraints", "PerAttempt", "parse_time"]


class ConstraintError(RuleError):
    """A constraint value that cannot work; the message names the rule and the key."""


TEXT_KEYS = frozenset({"partition", "account", "qos", "group"})
COUNT_KEYS = frozenset({"threads", "gpus", "retries"})
#: Keys that are not amounts of a resource a run can cap.
NOT_RESOURCES = TEXT_KEYS | {"time", "retries", "sbatch_args"}
#: Keys whose value may depend on the attempt number.
PER_ATTEMPT = frozenset({"threads", "ram", "gpus", "time"})
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
class PerAttempt:
    """A constraint value computed from the attempt number (1 for the first run of a job)."""

    __slots__ = ("fn", "key")

    def __init__(self, fn: Callable[[int], Any], key: str) -> None:
        self.fn = fn
        self.key = key

    def __call__(self, attempt: int) -> Any:
        return self.fn(attempt)

    def __repr__(self) -> str:
        return f"<{self.key} per attempt>"


def normalise(key: str, value: Any, where: str = "") -> Any:
    """One checked value: ints for counts and amounts, seconds for time, text, or a list of args."""
    if not isinstance(key, str) or not _NAME_RE.match(key):
        raise ConstraintError(f"{where}constraint name {key!r} must be an identifier")
    if callable(value) and not isinstance(value, type):
        if key not in PER_ATTEMPT and key in (TEXT_KEYS | COUNT_KEYS | {"sbatch_args"}):
            raise ConstraintError(f"{where}constraint {key} cannot depend on the attempt; give a plain value")
        return PerAttempt(value, key)
    if key in COUNT_KEYS:
        low = 1 if key == "threads" else 0
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            kind = "a positive integer" if low else "a non-negative integer"
            raise ConstraintError(f"{where}constraint {key}={value!r} must be {kind}, e.g. {key}={max(low, 2)}")
        return value
    if key == "time":
        try:
            return parse_time(value)
        except ValueError as e:
            raise ConstraintError(f"{where}constraint {e}") from None
    if key in TEXT_KEYS:
        if not isinstance(value, str) or not value.strip():
            raise ConstraintError(f"{where}constraint {key}={value!r} must be non-empty text")
        return value
    if key == "sbatch_args":
        if isinstance(value, str):
            try:
                return shlex.split(value)
            except ValueError as e:
                raise ConstraintError(f"{where}constraint sbatch_args={value!r} cannot be split: {e}") from None
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return list(value)
        raise ConstraintError(f"{where}constraint sbatch_args={value!r} must be text or a list of text")
    try:
        return parse_resource(value)
    except ValueError:
        raise ConstraintError(f"{where}constraint {key}={value!r} is not an amount: expected {ACCEPTED_FORMS}") from None


class Constraints(dict[str, Any]):
    """Execution resources of a rule: ``Constraints(threads=4, ram="8Gi", time="2h")``.

    Values are checked and normalised when declared (see the module's table); a key whose
    value is a callable of the attempt number is evaluated by :meth:`for_attempt`.
    Constraints never enter the fingerprint.
    """

    def __init__(self, _rule: str = "", **kw: Any) -> None:
        super().__init__()
        where = f"rule {_rule!r}: " if _rule else ""
        for key, value in kw.items():
            self[key] = normalise(key, value, where)

    def for_attempt(self, attempt: int, where: str = "") -> dict[str, Any]:
        """Plain values for one attempt: every per-attempt callable evaluated and checked."""
        out = dict(self)
        for key, value in self.items():
            if isinstance(value, PerAttempt):
                try:
                    result = value(attempt)
                except Exception as e:
                    raise ConstraintError(f"{where}constraint {key} for attempt {attempt} raised "
                                          f"{type(e).__name__}: {e}") from None
                out[key] = normalise(key, result, f"{where}attempt {attempt}: ")
        return out

    @property
    def varies(self) -> bool:
        """True when some value depends on the attempt number."""
        return any(isinstance(v, PerAttempt) for v in self.values())


def resource_demand(values: Mapping[str, Any], caps: Mapping[str, int]) -> dict[str, int]:
    """How much of each capped resource a job takes (threads default to 1, the rest to 0)."""
    out = {}
    for key in caps:
        v = values.get(key, 1 if key == "threads" else 0)
        out[key] = v if isinstance(v, int) and not isinstance(v, bool) else 0
    return out
