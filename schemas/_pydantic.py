"""Turn Pydantic's ValidationError into ConfigErrors people can act on."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .errors import ConfigError, format_key

_FRIENDLY = {
    "string_type": "must be a string",
    "list_type": "must be a list",
    "dict_type": "must be a table",
    "model_type": "must be a table",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "missing": "is required but missing",
}


def _got(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def describe(err: Mapping[str, Any]) -> str:
    """One Pydantic error entry as a short sentence (with the offending value)."""
    kind = err.get("type", "")
    msg = str(err.get("msg", ""))
    if kind == "value_error":
        msg = msg.removeprefix("Value error, ")
        return msg
    if kind == "assertion_error":
        return msg.removeprefix("Assertion failed, ")
    if kind == "too_short" and err.get("ctx", {}).get("min_length") == 1:
        return "must not be empty"
    text = _FRIENDLY.get(kind, msg[:1].lower() + msg[1:])
    if kind == "missing":
        return text
    return f"{text} (got {_got(err.get('input'))})"


def translate(
    exc: ValidationError,
    *,
    file: str | Path | None,
    prefix: Sequence[str | int] = (),
    combo: str | None = None,
    key_of: Callable[[tuple[str | int, ...]], str] | None = None,
    skip: Callable[[Mapping[str, Any]], bool] | None = None,
) -> list[ConfigError]:
    """Map each Pydantic error to a ConfigError naming the file, combo and key path."""
    out: list[ConfigError] = []
    for err in exc.errors(include_url=False):
        if skip is not None and skip(err):
            continue
        loc = tuple(prefix) + tuple(p for p in err["loc"] if isinstance(p, str | int))
        key = key_of(loc) if key_of else format_key(loc)
        out.append(ConfigError(describe(err), file=file, key=key, combo=combo))
    return out
