"""Folder names for grid combos: readable for plain values, safe and unique for all others.

A combo folder is named ``{stem}__{key}+{value}__{key}+{value}`` (the seed's scheme).
Each part is *spelled* with a small, reversible percent-escape so any TOML key or value
becomes a safe path component:

* kept as is: ASCII letters, digits and ``. - , = _``;
* every other character (space, ``/``, ``+``, ``%``, ``:``, ``~``, quotes, non-ASCII, ...)
  becomes ``%XX`` per UTF-8 byte (``a/b`` -> ``a%2Fb``, ``é`` -> ``%C3%A9``);
* an underscore that would form ``__`` with the previous one, or that would start or end
  a part, becomes ``%5F``; so a name always splits cleanly on ``__`` into stem and axes,
  and each axis on its first ``+`` into key and value;
* a leading ``.`` or ``-`` of the whole name is escaped (no hidden folders, no names that
  look like command-line options, never ``.`` or ``..``).

Values are spelled from their TOML text: ``true``/``false``, ``3``, ``0.5``, ISO dates;
arrays as ``a,b`` and tables as ``k=v,k=v``; the ``.pipeline__grid`` axis is spelled
``pipeline+FUNCTION``.  Long parts and any two values of one axis that would be spelled
alike (``1`` and ``"1"``, two factories with the same function name) get a short content
hash instead of their tail: ``…~1a2b3c4d``.  ``~`` never appears in a plain spelling, so a
hashed spelling can't collide with a plain one.  A whole name is capped at
:data:`MAX_NAME` ASCII bytes (well under the usual 255-byte limit).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
from collections.abc import Sequence
from typing import Any

MAX_PART = 48  # longest spelled key or value before it is shortened with a hash
MAX_STEM = 64  # longest spelled job-file stem
MAX_NAME = 200  # longest whole combo name (leaves room for temp-file suffixes)
_HASH_LEN = 8
_KEEP = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-,=")


def spell(text: str, *, extra_escapes: str = "") -> str:
    """Escape ``text`` into a safe, reversible name part (see the module docstring)."""
    out: list[str] = []
    last = len(text) - 1
    for i, ch in enumerate(text):
        if ch in _KEEP and ch not in extra_escapes:
            out.append(ch)
        elif ch == "_" and 0 < i < last and not (out and out[-1] == "_"):
            out.append("_")
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
    return "".join(out)


def unspell(part: str) -> str:
    """Invert :func:`spell` for parts that were not shortened (used by tests and tools)."""
    raw = bytearray()
    i = 0
    while i < len(part):
        if part[i] == "%":
            raw.append(int(part[i + 1 : i + 3], 16))
            i += 3
        else:
            raw.extend(part[i].encode())
            i += 1
    return raw.decode("utf-8", "surrogatepass")


def canonical(value: Any) -> str:
    """A typed, order-insensitive text form of a TOML value: equal iff the values are equal.

    ``1``, ``1.0``, ``true`` and ``"1"`` all differ; ``{a=1,b=2}`` equals ``{b=2,a=1}``.
    Used to detect duplicate grid values and to derive short hashes.
    """
    return json.dumps(_typed(value), separators=(",", ":"), ensure_ascii=True)


def _typed(v: Any) -> Any:
    if isinstance(v, bool):
        return ["b", v]
    if isinstance(v, int):
        return ["i", str(v)]
    if isinstance(v, float):
        return ["f", repr(v)]
    if isinstance(v, str):
        return ["s", v]
    if isinstance(v, dict):
        return ["d", sorted([str(k), _typed(x)] for k, x in v.items())]
    if isinstance(v, list | tuple):
        return ["l", [_typed(x) for x in v]]
    if isinstance(v, _dt.datetime | _dt.date | _dt.time):
        return [type(v).__name__, v.isoformat()]
    return ["r", type(v).__name__, repr(v)]


def short_hash(text: str) -> str:
    """First hex digits of SHA-256: enough to tell apart the values of one grid axis."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_LEN]


def value_text(value: Any) -> str:
    """The readable text a value is spelled from (lossy for arrays and tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int | str):
        return str(value)
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, dict):
        return ",".join(f"{k}={value_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ",".join(value_text(v) for v in value)
    return str(value)


def _trim(spelled: str, limit: int) -> str:
    """Cut a spelled string to ``limit`` chars without splitting a ``%XX`` escape."""
    cut = spelled[:limit]
    pct = cut.rfind("%", max(0, len(cut) - 2))
    if pct != -1 and len(cut) - pct < 3:
        cut = cut[:pct]
    return cut


def with_hash(spelled: str, identity: str, limit: int) -> str:
    """Shorten ``spelled`` to fit ``limit`` and append ``~hash`` of ``identity``."""
    return _trim(spelled, limit - _HASH_LEN - 1) + "~" + short_hash(identity)


def spell_part(text: str, identity: str, *, limit: int = MAX_PART) -> str:
    """Spell one key or value; hash-shorten it when longer than ``limit``."""
    s = spell(text)
    return s if len(s) <= limit else with_hash(s, identity, limit)


def spell_axis(values: Sequence[Any], texts: Sequence[str] | None = None) -> list[str]:
    """Spell every value of one grid axis so that distinct values get distinct spellings.

    Values whose plain spellings coincide all get a hash suffix of their typed identity.
    """
    idents = [canonical(v) for v in values]
    src = texts if texts is not None else [value_text(v) for v in values]
    out = [spell_part(t, i) for t, i in zip(src, idents, strict=True)]
    seen: dict[str, int] = {}
    for s in out:
        seen[s] = seen.get(s, 0) + 1
    return [
        with_hash(spell(t), i, MAX_PART) if seen[s] > 1 else s
        for s, t, i in zip(out, src, idents, strict=True)
    ]


def spell_key(path: Sequence[str]) -> str:
    """Spell a (nested) key path as ``seg.seg``; dots inside a segment are escaped."""
    text = ".".join(spell(seg, extra_escapes=".") for seg in path)
    return text if len(text) <= MAX_PART else with_hash(text, json.dumps(list(path)), MAX_PART)


def spell_stem(stem: str) -> str:
    """Spell the job file's stem: like a value, plus no leading ``.`` or ``-``."""
    s = spell(stem)
    if s[:1] in (".", "-"):
        s = f"%{ord(s[0]):02X}" + s[1:]
    if not s:
        s = "%22%22"  # an empty stem (a file named ``.toml`` has stem ``.toml``, so rare)
    return s if len(s) <= MAX_STEM else with_hash(s, stem, MAX_STEM)


def combo_name(stem_spelled: str, parts: Sequence[tuple[str, str]]) -> str:
    """Join spelled stem and ``(key, value)`` parts; cap the total at :data:`MAX_NAME`."""
    name = "__".join([stem_spelled, *(f"{k}+{v}" for k, v in parts)])
    return name if len(name) <= MAX_NAME else with_hash(name, name, MAX_NAME)


def is_safe_component(name: str) -> bool:
    """True when ``name`` is a single, portable, non-hidden path component."""
    return (
        0 < len(name.encode()) <= 255
        and name not in (".", "..")
        and not name.startswith((".", "-"))
        and "/" not in name
        and "\\" not in name
        and "\0" not in name
    )
