"""Canonical encoding of rule calls and the content-addressed hash.

The fingerprint of a rule call is SHA-256 over a typed, unambiguous encoding of:
rule name, command template, declared input/output types, literal params and the
fingerprints (plus output labels) of its parents.  Constraints never enter it.

Params are encoded as canonical JSON (sorted keys, no whitespace).  JSON already keeps
``1``, ``1.0``, ``true`` and ``"1"`` apart; dates and datetimes become their ISO text,
so a TOML date, a Python date and the same value typed on a command line hash alike.
Values that cannot be encoded stably (sets, None, arbitrary objects) are refused with an
error naming the parameter, before any job runs: whatever is hashed can also be written
to ``dependencies.toml``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
from pathlib import PurePath
from typing import Any

VERSION = b"necroflow-fp-1\0"


class UnhashableParam(TypeError):
    """A literal param whose value has no stable, TOML-writable encoding."""


def canonical(value: Any, where: str) -> Any:
    """Return ``value`` normalised to JSON/TOML-safe data, or raise UnhashableParam."""
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:  # lone surrogates: not UTF-8, not TOML, not hashable text
            raise UnhashableParam(f"{where}: {value!r:.60} is not valid Unicode text (lone surrogate)") from None
        return value
    if isinstance(value, bool) or isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise UnhashableParam(f"{where}: {value!r} has no stable encoding; pass it as a string")
        return value
    if isinstance(value, (_dt.date, _dt.time)):  # datetime is a date subclass
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [canonical(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise UnhashableParam(f"{where}: dict key {k!r} is not a string")
            out[k] = canonical(v, f"{where}.{k}")
        return out
    if value is None:
        raise UnhashableParam(
            f"{where}: None cannot be hashed or stored in dependencies.toml; "
            "omit the parameter or pass a string"
        )
    raise UnhashableParam(
        f"{where}: a {type(value).__name__} value ({value!r:.60}) has no stable encoding; "
        "use str, int, float, bool, date, or lists/dicts of them"
    )


_ENCODE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def dumps(value: Any) -> str:
    """Canonical JSON text of already-canonical data."""
    return "{}" if not value and isinstance(value, dict) else _ENCODE(value)


def rule_digest(name: str, command: str, inputs: dict[str, str], params: list[str],
                outputs: dict[str, str]) -> bytes:
    """Digest of everything a rule contributes, computed once per rule."""
    payload = dumps({"rule": name, "command": command, "inputs": inputs, "params": params,
                     "outputs": outputs})
    return hashlib.sha256(payload.encode()).digest()


_PREFIXES: dict[bytes, Any] = {}


def _prefix(rule_dig: bytes) -> Any:
    """SHA-256 state after the version tag and a rule's digest: hashed once per rule, copied per call."""
    h = _PREFIXES.get(rule_dig)
    if h is None:
        h = _PREFIXES[rule_dig] = hashlib.sha256(VERSION + rule_dig)
    return h


def call_fingerprint(rule_dig: bytes, params_json: str, parents: list[tuple[str, str, str]]) -> str:
    """Fingerprint of one rule call.

    ``parents`` is a list of (input name, parent fingerprint, parent output label) in the
    rule's declared input order.  Every variable-length field is length-prefixed.
    """
    h = _prefix(rule_dig).copy()
    pb = params_json.encode()
    chunks = [len(pb).to_bytes(8, "big"), pb]
    for name, fp, label in parents:
        for part in (name, fp, label):
            b = part.encode()
            chunks += (len(b).to_bytes(4, "big"), b)
    h.update(b"".join(chunks))  # one update of the same bytes: the same digest, fewer calls
    return h.hexdigest()
