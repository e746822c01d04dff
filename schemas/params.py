"""Typed pipeline configs: validate a combo's user parameters into the factory's model.

A factory may annotate its config parameter with a Pydantic model
(``def rna(config: RnaConfig, R)``); the combo's params are validated into it, per combo
after grid expansion.  Unknown keys are errors unless the model explicitly sets
``extra="allow"`` or ``extra="ignore"`` (a typo must never be silently dropped).
"""

from __future__ import annotations

import difflib
import inspect
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ._pydantic import translate
from .errors import ConfigError, format_key, raise_errors
from .grid import GRID_SUFFIX, Combo

M = TypeVar("M", bound=BaseModel)


def _forbids_extra(model: type[BaseModel]) -> bool:
    """Forbid unknown keys unless the model author chose 'allow' or 'ignore' explicitly."""
    return model.model_config.get("extra") in (None, "forbid")


def _accepted_names(model: type[BaseModel]) -> dict[str, str]:
    """Every spelling a model accepts for its fields (name and aliases) -> field name."""
    names: dict[str, str] = {}
    for name, info in model.model_fields.items():
        names[name] = name
        if info.alias:
            names[info.alias] = name
        if isinstance(info.validation_alias, str):
            names[info.validation_alias] = name
    return names


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The BaseModel inside ``X``, ``X | None`` or ``Optional[X]``, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        found = [m for m in (_model_in(a) for a in typing.get_args(annotation)) if m]
        return found[0] if len(found) == 1 else None
    if origin is typing.Annotated:
        return _model_in(typing.get_args(annotation)[0])
    return None


def unknown_keys(
    model: type[BaseModel], data: Any, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], str]]:
    """``(key path, hint)`` for every key the model (or its nested models) would not take."""
    if not isinstance(data, dict):
        return []
    found: list[tuple[tuple[str, ...], str]] = []
    names = _accepted_names(model)
    for key, value in data.items():
        field = names.get(key)
        if field is None:
            if _forbids_extra(model):
                found.append(((*path, key), _hint(key, names)))
            continue
        sub = _model_in(model.model_fields[field].annotation)
        if sub is not None:
            found.extend(unknown_keys(sub, value, (*path, key)))
    return found


def _hint(key: str, names: dict[str, str]) -> str:
    valid = sorted(set(names.values()))
    close = difflib.get_close_matches(key, list(names), n=1, cutoff=0.6)
    listing = ", ".join(valid) if valid else "(none)"
    did = f"did you mean '{close[0]}'? " if close else ""
    return f"unknown key; {did}this pipeline accepts: {listing}"


def validate_params(model_cls: type[M], combo: Combo) -> M:
    """Validate ``combo.params`` into ``model_cls``; errors name file, combo and key.

    A key filled from a grid axis is shown with that axis (``key 'ref' (from ref__grid)``)
    so the user finds the line to fix.
    """
    grid_keys = {k for k, _ in combo.axes}
    errors: list[ConfigError] = []
    unknown = unknown_keys(model_cls, combo.params)
    reported = set()
    for path, hint in unknown:
        reported.add(path)
        errors.append(
            ConfigError(hint, file=combo.source, key=_key(path, grid_keys), combo=combo.name)
        )
    result: M | None = None
    try:
        result = model_cls.model_validate(combo.params)
    except ValidationError as e:
        errors.extend(
            translate(
                e,
                file=combo.source,
                combo=combo.name,
                key_of=lambda loc: _key(loc, grid_keys),
                skip=lambda err: (
                    err["type"] == "extra_forbidden"
                    and tuple(str(p) for p in err["loc"]) in reported
                ),
            )
        )
    raise_errors(errors)
    assert result is not None
    return result


def key_as_written(combo: Combo, loc: tuple[str | int, ...]) -> str:
    """The dotted key of ``loc`` in ``combo.params`` as the job file spells it (``ref__grid``)."""
    return _key(loc, {k for k, _ in combo.axes})


def _key(loc: tuple[str | int, ...], grid_keys: set[str]) -> str:
    """Show a key as written in the file: a value from ``ref__grid`` is named ``ref__grid``."""
    for i in range(len(loc), 0, -1):
        if all(isinstance(p, str) for p in loc[:i]) and ".".join(map(str, loc[:i])) in grid_keys:
            return format_key((*loc[: i - 1], f"{loc[i - 1]}{GRID_SUFFIX}", *loc[i:]))
    return format_key(loc)


def config_model_of(factory: Callable[..., Any]) -> type[BaseModel] | None:
    """The Pydantic model annotating the factory's first parameter, or None.

    Annotations written as strings (``from __future__ import annotations``) are resolved
    in the factory's module; a name that can't be resolved is a ConfigError.
    """
    try:
        params = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        return None
    if not params:
        return None
    first = params[0]
    ann = first.annotation
    if ann is inspect.Parameter.empty:
        return None
    if isinstance(ann, str):
        try:
            hints = typing.get_type_hints(factory, include_extras=True)
        except Exception as e:  # NameError, AttributeError, SyntaxError from bad annotations
            src = getattr(getattr(factory, "__code__", None), "co_filename", None)
            raise ConfigError(
                f"cannot resolve the annotation {ann!r} of parameter '{first.name}' of "
                f"{getattr(factory, '__qualname__', factory)!s}: {e}; import the model at "
                "module level",
                file=src,
            ) from None
        ann = hints.get(first.name, ann)
    model = _model_in(ann)
    return model


class Config(dict[str, Any]):
    """The user's parameters: a plain dict that also reads keys as attributes.

    The seed documents "a plain dict" and writes factories as ``config.ref``; both
    ``config["ref"]`` and ``config.ref`` work.  Nested tables are Configs too.
    """

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(
                f"config has no key {name!r}; keys: {', '.join(map(str, self)) or 'none'}", name=name, obj=self
            ) from None


def as_config(value: Any) -> Any:
    """Wrap dicts (recursively, also inside lists) as :class:`Config`."""
    if isinstance(value, dict):
        return Config({k: as_config(v) for k, v in value.items()})
    if isinstance(value, list):
        return [as_config(v) for v in value]
    return value


def config_for(factory: Callable[..., Any], combo: Combo) -> Any:
    """What the factory receives: its typed model if it declares one, else a :class:`Config` dict."""
    model = config_model_of(factory)
    if model is None:
        return as_config(combo.params)
    return validate_params(model, combo)
