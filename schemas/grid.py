"""Grid expansion: every key ending in ``__grid`` is one axis of a Cartesian product.

Axes are taken in the order they are written in the TOML (a nested table's axes come
where that table first appears); ``.pipeline__grid`` is an axis like any other.  Each
combination becomes a :class:`Combo` with a folder-safe, unique name (see
:mod:`necroflow.schemas.naming`) and the user parameters with the ``__grid`` suffix
stripped and nested structure kept.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, format_key, raise_errors
from .naming import canonical, combo_name, spell_axis, spell_key, spell_stem

if TYPE_CHECKING:
    from .job import JobDocument

GRID_SUFFIX = "__grid"
MAX_COMBOS = 100_000  # per job file: a few short lines can otherwise ask for billions
PIPELINE_AXIS = ".pipeline"


@dataclass(frozen=True)
class Axis:
    """One grid axis: where it is written, the key it fills, and its values."""

    raw_path: tuple[str, ...]  # as written, e.g. ("align", "threads__grid")
    path: tuple[str, ...]  # filled key, e.g. ("align", "threads"); (".pipeline",) for factories
    values: list[Any]

    @property
    def key(self) -> str:
        """Dotted key for people and manifests: ``align.threads`` or ``.pipeline``."""
        return ".".join(self.path)


@dataclass(frozen=True)
class Combo:
    """One point of a job's grid: everything needed to build one pipeline.

    ``params`` is the user table after expansion (metadata removed, ``__grid`` suffixes
    stripped, nesting kept); ``axes`` lists ``(key, value)`` per grid axis in file order.
    """

    name: str
    pipeline: str
    requests: list[str] | None
    params: dict[str, Any]
    source: Path
    axes: list[tuple[str, Any]]
    container: str | None = None  # the job file's default container image ('.container')

    def __hash__(self) -> int:  # a combo is identified by its job file and folder name
        return hash((str(self.source), self.name))


def _has_grid_key(value: Any) -> str | None:
    """The first key ending in ``__grid`` anywhere inside ``value``, if any."""
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str) and k.endswith(GRID_SUFFIX):
                return k
            inner = _has_grid_key(v)
            if inner:
                return inner
    elif isinstance(value, list):
        for v in value:
            inner = _has_grid_key(v)
            if inner:
                return inner
    return None


def find_axes(
    document: dict[str, Any], *, file: str | Path | None = None
) -> tuple[list[Axis], list[ConfigError]]:
    """Collect the grid axes of a job table in file order, with any problems found."""
    axes: list[Axis] = []
    errors: list[ConfigError] = []

    def bad(path: tuple[str, ...], msg: str) -> None:
        errors.append(ConfigError(msg, file=file, key=format_key(path)))

    def walk(table: dict[str, Any], path: tuple[str, ...], top: bool) -> None:
        for key, value in table.items():
            here = (*path, key)
            if top and key.startswith(".") and key != PIPELINE_AXIS + GRID_SUFFIX:
                continue
            if key.endswith(GRID_SUFFIX):
                axis = _grid_axis(table, key, value, here, top, bad)
                if axis is not None:
                    axes.append(axis)
            elif isinstance(value, dict):
                walk(value, here, False)
            elif isinstance(value, list):
                inner = _has_grid_key(value)
                if inner:
                    bad(here, f"contains a grid key '{inner}' inside an array; grids work in tables "
                        "and nested tables, not inside arrays")

    walk(document, (), True)
    return axes, errors


def _grid_axis(table: dict[str, Any], key: str, value: Any, here: tuple[str, ...], top: bool,
               bad: Callable[[tuple[str, ...], str], None]) -> Axis | None:
    """The axis of one ``key__grid`` entry, or None after reporting what is wrong with it."""
    base = key[: -len(GRID_SUFFIX)]
    filled = (PIPELINE_AXIS,) if top and key.startswith(".") else (*here[:-1], base)
    ok = True
    if base in ("", ".") or base.endswith(GRID_SUFFIX):
        bad(here, f"a grid key is a name followed by one '{GRID_SUFFIX}', like 'ref__grid'")
        ok = False
    if not (top and key.startswith(".")) and base in table:
        bad(here, f"both '{base}' and '{key}' are set; keep one of them")
        ok = False
    if not isinstance(value, list) or not value:
        bad(here, "must be a non-empty list of values, one per combo, e.g. "
            f'{key} = ["a", "b"] (got {_brief(value)})')
        return None
    seen: set[str] = set()
    for v in value:
        c = canonical(v)
        if c in seen:
            bad(here, f"value {_brief(v)} is listed twice; each value makes one combo, list it once")
            ok = False
            break
        seen.add(c)
    inner = _has_grid_key(value)
    if inner:
        bad(here, f"a grid value contains another grid key '{inner}'; grids can't be "
            "nested inside grid values, write the axes side by side instead")
        ok = False
    return Axis(here, filled, list(value)) if ok else None


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def expand(job: JobDocument) -> list[Combo]:
    """Expand a job's grids into its combos (one combo named after the stem if no grid).

    The number of combos is the product of the axis lengths.  Raises ConfigError for a
    grid that is not a non-empty list or repeats a value.
    """
    axes, errors = find_axes(job.document, file=job.source)
    raise_errors(errors)
    total = math.prod(len(a.values) for a in axes)
    if total > MAX_COMBOS:
        sizes = " x ".join(f"{a.key} ({len(a.values)})" for a in axes)
        raise ConfigError(
            f"the grid expands to {total:,} combos ({sizes}), more than the {MAX_COMBOS:,} "
            "one job file may make; shrink an axis or split the job file",
            file=job.source,
        )
    stem = spell_stem(job.stem)
    key_parts = ["pipeline" if a.path == (PIPELINE_AXIS,) else spell_key(a.path) for a in axes]
    value_parts = [
        spell_axis(a.values, [str(v).rpartition(":")[2] for v in a.values])
        if a.path == (PIPELINE_AXIS,)
        else spell_axis(a.values)
        for a in axes
    ]
    combos: list[Combo] = []
    seen: dict[str, int] = {}
    for choice in itertools.product(*(range(len(a.values)) for a in axes)):
        assign = {a.raw_path: a.values[i] for a, i in zip(axes, choice, strict=True)}
        name = combo_name(
            stem, [(k, vals[i]) for k, vals, i in zip(key_parts, value_parts, choice, strict=True)]
        )
        if name in seen:  # only possible through a hash collision; refuse rather than overwrite
            raise ConfigError(
                f"two combos would share the folder name '{name}'; rename a grid value",
                file=job.source,
            )
        seen[name] = 1
        pipeline = assign.get((PIPELINE_AXIS + GRID_SUFFIX,), job.pipeline)
        assert isinstance(pipeline, str)
        combos.append(
            Combo(
                name=name,
                pipeline=pipeline,
                requests=list(job.requests) if job.requests is not None else None,
                params=_build(job.document, (), True, assign),
                source=job.source,
                axes=[(a.key, _copy(a.values[i])) for a, i in zip(axes, choice, strict=True)],
                container=job.container,
            )
        )
    return combos


def _copy(value: Any) -> Any:
    """Copy a TOML value: only tables and arrays are mutable, scalars are shared."""
    if isinstance(value, dict):
        return {k: _copy(v) if isinstance(v, dict | list) else v for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) if isinstance(v, dict | list) else v for v in value]
    return value


def _build(
    table: dict[str, Any], path: tuple[str, ...], top: bool, assign: dict[tuple[str, ...], Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in table.items():
        if top and key.startswith("."):
            continue
        here = (*path, key)
        if here in assign:
            out[key[: -len(GRID_SUFFIX)]] = _copy(assign[here])
        elif isinstance(value, dict):
            out[key] = _build(value, here, False, assign)
        else:
            out[key] = _copy(value)
    return out


def check_unique_names(combos: Iterable[Combo]) -> None:
    """Refuse two combos (from different job files) that would share one folder."""
    first: dict[str, Combo] = {}
    errors: list[ConfigError] = []
    for c in combos:
        other = first.setdefault(c.name, c)
        if other is not c:
            errors.append(
                ConfigError(
                    f"combo '{c.name}' is also produced by {other.source}; two jobs would "
                    "write the same result folder - rename one job file",
                    file=c.source,
                )
            )
    raise_errors(errors)
