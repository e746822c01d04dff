"""Resource sizes with SI and binary suffixes: ``"8G"`` is 8·1000³, ``"8Gi"`` is 8·1024³."""

from __future__ import annotations

import math
import re
from typing import Any

_SI = {"": 1, "K": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4, "P": 1000**5}
_BIN = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4, "Pi": 1024**5}
_UNITS = {**_SI, **_BIN}
_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP]i?)?\s*[Bb]?\s*$")

ACCEPTED_FORMS = (
    "a non-negative integer, or a number with a suffix: K M G T P (powers of 1000) "
    "or Ki Mi Gi Ti Pi (powers of 1024), e.g. 512, 8G, 64Gi, 1.5Ti"
)


def parse_resource(value: int | float | str) -> int:
    """Parse a resource amount into an integer.

    >>> parse_resource("8Gi")
    8589934592
    >>> parse_resource("8G")
    8000000000
    >>> parse_resource(4)
    4
    """
    if isinstance(value, bool):
        raise ValueError(f"invalid resource value {value!r}: expected {ACCEPTED_FORMS}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"invalid resource value {value!r}: must not be negative")
        return value
    if isinstance(value, float):
        if value < 0 or value != value or value in (float("inf"),):
            raise ValueError(f"invalid resource value {value!r}: expected {ACCEPTED_FORMS}")
        if not value.is_integer():
            raise ValueError(
                f"invalid resource value {value!r}: a fractional amount needs a unit "
                f"(e.g. '1.5G'); expected {ACCEPTED_FORMS}"
            )
        return int(value)
    if not isinstance(value, str):
        raise ValueError(f"invalid resource value {value!r}: expected {ACCEPTED_FORMS}")
    m = _RE.match(value)
    if not m:
        raise ValueError(f"invalid resource value {value!r}: expected {ACCEPTED_FORMS}")
    number, unit = m.group(1), m.group(2) or ""
    mult = _UNITS[unit]
    if "." in number:
        from decimal import Decimal

        amount = Decimal(number) * mult
        if amount != amount.to_integral_value():
            raise ValueError(f"invalid resource value {value!r}: does not resolve to a whole number")
        return int(amount)
    return int(number) * mult


def format_resource(n: int) -> str:
    """Render bytes-like amounts for people: 8589934592 -> '8Gi'."""
    for unit in ("Pi", "Ti", "Gi", "Mi", "Ki"):
        if n >= _BIN[unit] and n % _BIN[unit] == 0:
            return f"{n // _BIN[unit]}{unit}"
    return str(n)


_UNIT_TIME = re.compile(r"^(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")
_SLURM_TIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")

TIME_FORMS = ("seconds as a number (3600), a duration such as '2h', '90m', '45s', '1d' or '1h30m', "
              "or SLURM time text: '90' (minutes), '1:30:00', '2-00:00:00'")


def parse_time(value: Any) -> int:
    """A time limit in whole seconds (rounded up): ``"2h"`` -> 7200, ``"1:30:00"`` -> 5400.

    >>> parse_time(3600), parse_time("90m"), parse_time("2-00:00:00"), parse_time("90")
    (3600, 5400, 172800, 5400)
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"invalid time {value!r}: expected {TIME_FORMS}")
    if isinstance(value, (int, float)):
        if not value > 0 or math.isinf(value):
            raise ValueError(f"invalid time {value!r}: must be a positive number of seconds")
        return math.ceil(value)
    text = value.strip().lower().replace(" ", "")
    seconds = _slurm_seconds(text)
    if seconds is None:
        m = _UNIT_TIME.match(text)
        if not text or not m or not any(m.groups()):
            raise ValueError(f"invalid time {value!r}: expected {TIME_FORMS}")
        d, h, mi, s = (float(g) if g else 0.0 for g in m.groups())
        seconds = math.ceil(((d * 24 + h) * 60 + mi) * 60 + s)
    if seconds <= 0:
        raise ValueError(f"invalid time {value!r}: must be longer than zero")
    return seconds


def _slurm_seconds(text: str) -> int | None:
    """SLURM's forms: minutes, minutes:seconds, hours:minutes:seconds, days-hours[:minutes[:seconds]]."""
    m = _SLURM_TIME.match(text)
    if not m:
        return None
    days, a, b, c = m.groups()
    n = [int(x) for x in (a, b, c) if x is not None]
    if days is not None:  # days-hours[:minutes[:seconds]]
        h, mi, s = (n + [0, 0])[:3]
        return ((int(days) * 24 + h) * 60 + mi) * 60 + s
    if len(n) == 1:
        return n[0] * 60
    if len(n) == 2:
        return n[0] * 60 + n[1]
    return (n[0] * 60 + n[1]) * 60 + n[2]
