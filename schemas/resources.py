"""Pydantic types for resource amounts and constraint tables.

``Resource`` accepts what :func:`necroflow.resources.parse_resource` accepts (``64Gi``,
``8G``, ``512``) and stores an integer; a bad size such as ``"64GG"`` is rejected with the
key and the accepted forms.  Use it in typed pipeline configs and for CLI caps.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PositiveInt,
    ValidationError,
    WithJsonSchema,
)

from necroflow.resources import ACCEPTED_FORMS, parse_resource

from ._pydantic import translate
from .errors import ConfigError, raise_errors

RESOURCE_PATTERN = r"^\s*\d+(\.\d+)?\s*([KMGTP]i?)?\s*[Bb]?\s*$"

_RESOURCE_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "integer", "minimum": 0},
        {"type": "string", "pattern": RESOURCE_PATTERN},
    ],
    "description": f"A resource amount: {ACCEPTED_FORMS}.",
    "examples": ["64Gi", "8G", 512],
}

Resource = Annotated[int, BeforeValidator(parse_resource), WithJsonSchema(_RESOURCE_SCHEMA)]
"""An amount such as ``"64Gi"`` (64·1024³) or ``"8G"`` (8·1000³), stored as an int."""


_PLAIN_NUMBER = re.compile(r"^\s*\d+\.\d+\s*$")


def _resource_or_scalar(value: Any) -> Any:
    """Numbers and size strings become ints; other strings (``"a100"``) and bools stay."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and not value.is_integer():
        return value
    if isinstance(value, int | float):
        return parse_resource(value)
    if isinstance(value, str) and value.strip()[:1].isdigit():
        try:
            return parse_resource(value)
        except ValueError:
            if _PLAIN_NUMBER.match(value):
                return float(value)  # a fraction such as 0.5 (no unit) stays a number
            raise  # looks like an amount: a typo like 64GG is an error, not a word
    if isinstance(value, str):
        return value
    raise ValueError(f"must be a number, a size like '64Gi' or a word (got {value!r})")


ResourceOrScalar = Annotated[
    int | float | bool | str,
    BeforeValidator(_resource_or_scalar),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0},
                {"type": "number", "minimum": 0},
                {"type": "boolean"},
                {"type": "string"},
            ],
            "description": f"A resource amount ({ACCEPTED_FORMS}) or a plain value.",
        }
    ),
]


class ConstraintsConfig(BaseModel):
    """Resource requirements of a job, or resource caps of a run.

    ``threads`` and ``ram`` are typed; any other key (``gpu = 2``, ``scratch = "100G"``)
    is allowed as a resource amount or a plain scalar.
    """

    model_config = ConfigDict(extra="allow", title="constraints", defer_build=True)
    __pydantic_extra__: dict[str, ResourceOrScalar] = Field(init=False)

    threads: PositiveInt | None = Field(
        None, description="Number of CPU threads (a positive integer)."
    )
    ram: Resource | None = Field(None, description=f"Memory: {ACCEPTED_FORMS}.")

    def as_dict(self) -> dict[str, Any]:
        """The set values as a plain dict (ints for amounts), the way backends take them."""
        return self.model_dump(exclude_none=True)


def parse_constraints(
    items: Iterable[str] | Mapping[str, Any], *, source: str = "--constraint"
) -> dict[str, Any]:
    """Check constraints given as ``KEY=VALUE`` strings (CLI) or a mapping (settings, TOML).

    Returns a plain dict with amounts as ints; raises ConfigError naming ``source`` and
    the key (``--constraint: key 'ram': invalid resource value '64GG': expected ...``).
    """
    errors: list[ConfigError] = []
    data: dict[str, Any] = {}
    if isinstance(items, Mapping):
        data = dict(items)
    else:
        for item in items:
            key, sep, value = item.partition("=")
            key = key.strip()
            if not sep or not key:
                errors.append(
                    ConfigError(
                        f"{item!r} is not KEY=VALUE; write e.g. ram=64Gi or threads=8", file=source
                    )
                )
                continue
            data[key] = value.strip()
    if not errors:
        try:
            return ConstraintsConfig.model_validate(data).as_dict()
        except ValidationError as e:
            errors.extend(translate(e, file=source, key_of=_first_segment))
    raise_errors(errors)
    raise AssertionError("unreachable")


def _first_segment(loc: tuple[str | int, ...]) -> str:
    return str(loc[0]) if loc else ""
