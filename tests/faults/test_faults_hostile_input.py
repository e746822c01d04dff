"""Hostile job files: ``necroflow validate`` never shows a traceback, exits 0 or 2, names the problem.

Hypothesis writes job TOMLs with random nesting, keys with dots and unicode, empty
strings, wrong types under the metadata keys, invalid grids, dotted-key syntax and
table headers, plus random bytes and random edits of valid files.  The validator runs
in-process through the CLI's Typer app (``CliRunner``), so hundreds of files take
seconds; a handful also go through a real ``necroflow validate`` subprocess.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
import tomli_w
from faultlib import WORKLOAD, run
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from typer.testing import CliRunner

from necroflow.cli import app

FACTORY = WORKLOAD / "anyconfig.py"
REFS = [f"{FACTORY}:anything", f"{FACTORY}:strict", f"{FACTORY}:typed"]
BAD_REFS = [f"{FACTORY}:missing", f"{FACTORY}", "nofile.py:f", "", "x:y", ":", f"{FACTORY}:R",
            f"{FACTORY}:Typed", "../../../../etc/passwd.py:x", "a.py:1abc"]
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=16)
KEY = st.one_of(
    TEXT,
    st.sampled_from(["sample", "n", "tags", "a.b", "a..b", ".", "..", ".x", ".pipelin", "__grid",
                     "x__grid__grid", "é", "", " ", "\n", "\"", "'", "\\", "[", "=", "#"]),
)
SCALAR = st.one_of(
    TEXT, st.integers(-(2**63), 2**63 - 1), st.floats(), st.booleans(),
    st.datetimes(min_value=dt.datetime(1, 1, 1)), st.dates(), st.times(),
)
VALUE = st.recursive(
    SCALAR, lambda c: st.lists(c, max_size=4) | st.dictionaries(KEY, c, max_size=4), max_leaves=12
)
GRID = st.one_of(st.lists(VALUE, max_size=4), VALUE)
PIPELINE = st.one_of(st.sampled_from(REFS), st.sampled_from(BAD_REFS), VALUE)
REQUESTS = st.one_of(st.lists(st.sampled_from(["out", "nope", "../x", "", "out"]), max_size=3), VALUE)


@st.composite
def job_documents(draw: st.DrawFn) -> dict:
    doc: dict = {}
    if draw(st.booleans()) or draw(st.booleans()):
        doc[".pipeline"] = draw(PIPELINE)
    if draw(st.integers(0, 4)) == 0:
        doc[".pipeline__grid"] = draw(st.lists(PIPELINE, max_size=3) | VALUE)
    if draw(st.booleans()):
        doc[".requests"] = draw(REQUESTS)
    if draw(st.integers(0, 5)) == 0:
        doc[draw(st.sampled_from([".pipline", ".request", ".x", ".", ".pipeline.x"]))] = draw(VALUE)
    if draw(st.booleans()):  # plausible user config for the strict/typed factories
        doc["sample"] = draw(st.one_of(TEXT, VALUE))
        doc["n"] = draw(st.one_of(st.integers(-5, 5), VALUE))
    doc.update(draw(st.dictionaries(KEY, VALUE, max_size=5)))
    for _ in range(draw(st.integers(0, 3))):
        doc[draw(KEY) + "__grid"] = draw(GRID)
    if draw(st.integers(0, 6)) == 0:  # a grid inside a nested table, or inside a grid value
        doc[draw(KEY)] = {draw(KEY) + "__grid": draw(GRID)}
    return doc


@st.composite
def plausible_documents(draw: st.DrawFn) -> dict:
    """Mostly valid: the catch-all factory, user keys of any shape, grids of distinct values."""
    user_key = KEY.filter(lambda k: not k.startswith(".") and not k.endswith("__grid"))
    doc: dict = {".pipeline": REFS[0]}
    doc.update(draw(st.dictionaries(user_key, VALUE, max_size=6)))
    for _ in range(draw(st.integers(0, 3))):
        values = draw(st.lists(VALUE, min_size=1, max_size=3, unique_by=repr))
        doc[draw(user_key.filter(lambda k: k not in doc)) + "__grid"] = values
    if draw(st.booleans()):
        doc[".requests"] = ["out"]
    return doc


@st.composite
def dotted_toml(draw: st.DrawFn) -> str:
    """Raw TOML text with dotted keys, table headers and arrays of tables (often invalid)."""
    bare = st.from_regex(r"[A-Za-z0-9_-]{1,6}", fullmatch=True)
    path = st.lists(st.one_of(bare, TEXT.map(lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"')),
                    min_size=1, max_size=3).map(".".join)
    value = st.sampled_from(['"x"', "1", "1.5", "true", "[1, 2]", '["a", "a"]', "[]", "{a = 1}",
                             "1979-05-27", '"""multi\nline"""', "nan", "inf", "'lit'", "", "[1, \"a\"]"])
    lines = []
    if draw(st.booleans()):
        lines.append(f'".pipeline" = "{draw(st.sampled_from(REFS + BAD_REFS))}"')
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.integers(0, 5))
        if kind == 0:
            lines.append(f"[{draw(path)}]")
        elif kind == 1:
            lines.append(f"[[{draw(path)}]]")
        else:
            suffix = "__grid" if kind == 2 else ""
            lines.append(f"{draw(path)}{suffix} = {draw(value)}")
    return "\n".join(lines) + "\n"


def check_validate(path: Path) -> tuple[int, str]:
    res = CliRunner().invoke(app, ["validate", str(path)])
    text = res.output
    assert res.exit_code in (0, 2), f"exit {res.exit_code}: {text}\n{res.exception!r}"
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in text, text
    if res.exit_code == 2:
        assert "error" in text and str(path) in text, f"the message should name the file: {text}"
        assert len(text.strip()) > len(str(path)) + 20, f"the message should say what is wrong: {text}"
    else:
        assert "OK:" in text, text
    try:
        event(f"exit {res.exit_code}")  # --hypothesis-show-statistics: how many were valid
    except InvalidArgument:  # called outside a Hypothesis test
        pass
    return res.exit_code, text


@settings(SETTINGS, max_examples=300)
@given(doc=job_documents())
def test_generated_job_documents(tmp_path_factory: pytest.TempPathFactory, doc: dict) -> None:
    path = tmp_path_factory.mktemp("doc") / "job.toml"
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")
    check_validate(path)


@settings(SETTINGS, max_examples=150)
@given(doc=plausible_documents())
def test_plausible_job_documents(tmp_path_factory: pytest.TempPathFactory, doc: dict) -> None:
    path = tmp_path_factory.mktemp("plausible") / "job.toml"
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")
    check_validate(path)


@settings(SETTINGS, max_examples=150)
@given(text=dotted_toml())
def test_dotted_keys_and_tables(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    path = tmp_path_factory.mktemp("dotted") / "job.toml"
    path.write_text(text, encoding="utf-8")
    check_validate(path)


@settings(SETTINGS, max_examples=150)
@given(data=st.binary(max_size=400))
def test_random_bytes(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("bytes") / "job.toml"
    path.write_bytes(data)
    code, _ = check_validate(path)
    assert code == 2


VALID = tomli_w.dumps({".pipeline": REFS[0], ".requests": ["out"], "sample": "s1", "n": 2,
                       "ref__grid": ["hg38", "mm10"], "opts": {"k": [1, 2], "deep": {"x": "y"}}}).encode()


@settings(SETTINGS, max_examples=200)
@given(edits=st.lists(st.tuples(st.integers(0, len(VALID)), st.integers(0, 3), st.binary(max_size=3)),
                      min_size=1, max_size=4))
def test_random_edits_of_a_valid_file(tmp_path_factory: pytest.TempPathFactory,
                                      edits: list[tuple[int, int, bytes]]) -> None:
    data = bytearray(VALID)
    for pos, cut, insert in edits:
        pos = min(pos, len(data))
        data[pos:pos + cut] = insert
    path = tmp_path_factory.mktemp("edit") / "job.toml"
    path.write_bytes(bytes(data))
    check_validate(path)


def test_the_valid_file_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "job.toml"
    path.write_bytes(VALID)
    assert check_validate(path)[0] == 0


@pytest.mark.parametrize(
    "doc, needle",
    [
        ({".pipeline": REFS[0], "a__grid": list(range(300)), "b__grid": list(range(300)),
          "c__grid": list(range(300))}, "combos"),
        ({".pipeline": REFS[0], "x__grid": []}, "x__grid"),
        ({".pipeline": REFS[0], "x__grid": [1, 1]}, "twice"),
        ({".pipeline": REFS[0], "x__grid": "abc"}, "x__grid"),
        ({".pipeline": REFS[0], "x": 1, "x__grid": [1, 2]}, "x__grid"),
        ({".pipeline": REFS[0], "t": {"y__grid": [{"z__grid": [1]}]}}, "grid"),
        ({".pipeline": REFS[2], "sample": 5}, "sample"),
        ({".pipeline": REFS[2], "sample": "s", "n": "many"}, "n"),
        ({".pipeline": REFS[2], "sample": "s", "tags": "notalist"}, "tags"),
        ({".pipeline": REFS[1], "sample": ["x"], "n": 1}, "strict"),
        ({".pipeline": REFS[1]}, "sample"),
        ({".pipeline": 42}, ".pipeline"),
        ({".pipeline": [REFS[0]]}, ".pipeline"),
        ({".pipeline": {"a": 1}}, ".pipeline"),
        ({".pipeline": REFS[0], ".requests": "out"}, ".requests"),
        ({".pipeline": REFS[0], ".requests": []}, ".requests"),
        ({".pipeline": REFS[0], ".requests": [1]}, ".requests"),
        ({".pipeline": REFS[0], ".requests": ["nope"]}, "nope"),
        ({".pipeline": REFS[0], ".pipeline__grid": [REFS[0]]}, "pipeline"),
        ({".pipeline__grid": []}, ".pipeline__grid"),
        ({".pipeline__grid": [REFS[0], REFS[0]]}, "twice"),
        ({".pipeline": REFS[0], ".unknown": 1}, ".unknown"),
        ({"sample": "s"}, ".pipeline"),
        ({".pipeline": REFS[0], "v": "a\u0000b"}, "NUL"),
    ],
)
def test_each_problem_is_named(doc: dict, needle: str, tmp_path: Path) -> None:
    path = tmp_path / "job.toml"
    path.write_text(tomli_w.dumps(doc))
    t0 = time.monotonic()
    code, text = check_validate(path)
    assert time.monotonic() - t0 < 10
    if needle == "NUL":  # accepted by validation today; the job then fails cleanly at launch
        return
    assert code == 2, text
    assert needle.lower() in text.lower(), f"expected {needle!r} in: {text}"


def test_huge_plain_list_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "job.toml"
    path.write_text(tomli_w.dumps({".pipeline": REFS[0], "big": list(range(100_000)),
                                   "wide": {f"k{i}": i for i in range(10_000)}}))
    t0 = time.monotonic()
    assert check_validate(path)[0] == 0
    assert time.monotonic() - t0 < 20


def test_real_subprocess_sample(tmp_path: Path) -> None:
    """The installed entry point behaves like the in-process one: exit 2, message, no traceback."""
    cases = {
        "bytes.toml": b"\xff\xfe\x00garbage\x80",
        "syntax.toml": b'".pipeline" = "unterminated\n',
        "types.toml": tomli_w.dumps({".pipeline": 42, ".requests": {"a": 1}}).encode(),
        "grid.toml": tomli_w.dumps({".pipeline": REFS[0], "x__grid": [1, 1]}).encode(),
        "factory.toml": tomli_w.dumps({".pipeline": REFS[1]}).encode(),
        "explode.toml": tomli_w.dumps({".pipeline": REFS[0], **{f"a{i}__grid": list(range(20)) for i in range(6)}}).encode(),
    }
    paths = []
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        paths.append(tmp_path / name)
    for p in paths:
        res = run(["validate", p], cwd=tmp_path)
        assert res.returncode == 2, (p.name, res.stdout, res.stderr)
        assert "Traceback" not in res.stderr + res.stdout
        assert p.name in res.stderr, res.stderr
