"""Property tests of grid expansion, combo naming and metadata stripping."""

from __future__ import annotations

import math
import os
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from necroflow.schemas import expand, find_axes, is_safe_component, job_from_dict
from necroflow.schemas.naming import MAX_NAME, unspell

# Keys: any text (TOML quotes what it must), but user keys never start with '.', and a
# plain key never ends with '__grid' (that would make it a grid).
keys = st.text(min_size=0, max_size=12).filter(lambda k: not k.endswith("__grid"))
user_keys = keys.filter(lambda k: not k.startswith("."))
scalars = st.one_of(
    st.text(max_size=20),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.booleans(),
    st.dates(),
)
grid_values = st.lists(scalars, min_size=1, max_size=4, unique_by=lambda v: (type(v), repr(v)))
stems = st.text(min_size=1, max_size=30).filter(lambda s: "/" not in s and "\0" not in s)


@st.composite
def tables(draw: st.DrawFn, depth: int = 0) -> tuple[dict[str, Any], int]:
    """A user table in TOML-canonical order (values first, then sub-tables).

    Returns the table and how many grid axes it holds, at most four in all.
    """
    names = draw(st.lists(user_keys, max_size=5, unique=True))
    table: dict[str, Any] = {}
    subtables: dict[str, Any] = {}
    axes = 0
    for name in names:
        kind = draw(st.sampled_from(["plain", "grid", "table"] if depth < 2 else ["plain", "grid"]))
        if kind == "grid" and name and axes < 3 and name + "__grid" not in table:
            table[name + "__grid"] = draw(grid_values)
            axes += 1
        elif kind == "table":
            sub, n = draw(tables(depth + 1))
            if axes + n <= 3:
                subtables[name] = sub
                axes += n
        else:
            table[name] = draw(st.one_of(scalars, st.lists(scalars, max_size=3)))
    # a plain key and its grid form can't both exist
    for key in list(table):
        if key.endswith("__grid") and key[: -len("__grid")] in table:
            del table[key[: -len("__grid")]]
    table.update(subtables)
    return table, axes


@st.composite
def jobs(draw: st.DrawFn) -> dict[str, Any]:
    table, _ = draw(tables())
    doc: dict[str, Any] = {}
    if draw(st.booleans()):
        funcs = draw(
            st.lists(
                st.sampled_from(["rna", "dna", "run", "qc"]), min_size=1, max_size=3, unique=True
            )
        )
        files = draw(
            st.lists(
                st.sampled_from(["a.py", "pipes/b.py", "my dir/c.py"]),
                min_size=len(funcs),
                max_size=len(funcs),
            )
        )
        doc[".pipeline__grid"] = [f"{f}:{fn}" for f, fn in zip(files, funcs, strict=True)]
    else:
        doc[".pipeline"] = "factory.py:main"
    if draw(st.booleans()):
        doc[".requests"] = ["counts", "qc"]
    doc.update(table)
    return doc


def grid_lengths(table: dict[str, Any]) -> list[int]:
    out: list[int] = []
    for key, value in table.items():
        if key.endswith("__grid"):
            out.append(len(value))
        elif isinstance(value, dict):
            out.extend(grid_lengths(value))
    return out


def has_grid_key(value: Any) -> bool:
    if isinstance(value, dict):
        return any(k.endswith("__grid") or has_grid_key(v) for k, v in value.items())
    return False


def get(table: dict[str, Any], path: list[str]) -> Any:
    for seg in path:
        table = table[seg]
    return table


@settings(max_examples=150, deadline=None)
@given(doc=jobs(), stem=stems)
def test_grid_expansion_properties(doc: dict[str, Any], stem: str) -> None:
    spec = job_from_dict(doc, Path("jobs") / f"{stem}.toml")
    combos = expand(spec)

    # count = product of axis lengths (a job without grids is one combo)
    assert len(combos) == math.prod(grid_lengths(doc))

    # names are unique, safe single path components, within the length limit
    names = [c.name for c in combos]
    assert len(set(names)) == len(names)
    for name in names:
        assert is_safe_component(name), name
        assert len(name.encode()) <= min(MAX_NAME, 255)
        assert all(ord(ch) < 128 for ch in name)
    # ... and the file system agrees: each is one new folder directly under the outdir
    with tempfile.TemporaryDirectory() as outdir:
        for name in names:
            (Path(outdir) / name).mkdir()
        assert sorted(os.listdir(outdir)) == sorted(names)
    assert len({hash(c) for c in combos}) == len(combos)

    for combo in combos:
        # metadata never reaches the user's params, and grids are gone
        assert not any(k.startswith(".") for k in combo.params)
        assert not has_grid_key(combo.params)
        # each axis value sits at its key in params (or chose the factory)
        for key, value in combo.axes:
            if key == ".pipeline":
                assert combo.pipeline == value
        # names split cleanly: stem, then one key+value per axis
        if "~" not in combo.name:
            parts = combo.name.split("__")
            assert len(parts) == 1 + len(combo.axes)
            assert unspell(parts[0]) == stem
            for part, (key, value) in zip(parts[1:], combo.axes, strict=True):
                k, _, v = part.partition("+")
                if key != ".pipeline":
                    assert unspell(k) == key
                    if isinstance(value, str):
                        assert unspell(v) == value


@settings(max_examples=150, deadline=None)
@given(doc=jobs())
def test_params_hold_the_axis_values(doc: dict[str, Any]) -> None:
    spec = job_from_dict(doc, "j.toml")
    for combo in expand(spec):
        # the spec's own axis list gives exact paths (keys may contain dots)
        axes, errors = find_axes(spec.document)
        assert errors == []
        chosen = dict(combo.axes)
        for axis in axes:
            if axis.path == (".pipeline",):
                continue
            assert get(combo.params, list(axis.path)) == chosen[axis.key]


@settings(max_examples=150, deadline=None)
@given(doc=jobs())
def test_round_trip_through_tomli_w_and_tomllib(doc: dict[str, Any]) -> None:
    text = tomli_w.dumps(doc)
    again = tomllib.loads(text)
    assert again == doc
    first = expand(job_from_dict(doc, "exp.toml"))
    second = expand(job_from_dict(again, "exp.toml"))
    assert [c.name for c in first] == [c.name for c in second]
    assert [c.params for c in first] == [c.params for c in second]


@settings(max_examples=100, deadline=None)
@given(
    table=tables(),
    meta=st.fixed_dictionaries(
        {".pipeline": st.just("f.py:g")}, optional={".requests": st.just(["a"])}
    ),
)
def test_metadata_never_reaches_params(
    table: tuple[dict[str, Any], int], meta: dict[str, Any]
) -> None:
    user, _ = table
    spec = job_from_dict({**meta, **user}, "j.toml")
    assert spec.params == user
    for combo in expand(spec):
        assert set(combo.params) == {k.removesuffix("__grid") for k in user}
