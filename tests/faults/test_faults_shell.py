"""Shell safety: values and paths reach commands as single literal arguments, never as code.

Every command here prints its argv NUL-separated (see ``workload/argv.py``); the test
splits the output and compares it with the values it passed.  Values that would run
code if they were ever interpreted try to create a file named ``CANARY``; the test looks
for it everywhere afterwards.
"""

from __future__ import annotations

import io
import os
import string
import tempfile
from pathlib import Path

import pytest
from faultlib import WORKLOAD, run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from necroflow import DAG, Pipeline, Reporter
from necroflow.jobs import load_factory
from necroflow.schemas.naming import is_safe_component

NASTY = [
    "a b", "  two  spaces  ", "\ttab", "it's", 'say "hi"', "'", '"', "\\", "a\\'b", "a'\"'\"'b",
    "; touch CANARY", "&& touch CANARY", "| touch CANARY", "$(touch CANARY)", "`touch CANARY`",
    "$(touch CANARY", "a\nb", "\ntouch CANARY\n", "line\r\nfeed", "-n", "--help", "-e", "-",
    "--", "-rf /", "*", "?", "[a-z]*", "~", "~root", "$HOME", "${PATH}", "$0", "$@", "!!", "#x",
    "a|b", "a&b", "a>b", "a<b", "(x)", "{v}", "{{v}}", "%s", "%d%n", "", " ", "é ☃ 𝄞",
    "\x01\x1b[31mred", "x=1 y=2", "IFS=; touch CANARY", "> CANARY", "a;b;c",
]
# Anything but NUL (no argv can hold it) and lone surrogates (not text).
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=40)
NASTY_DIR = "o u t's $(touch CANARY) `touch CANARY`; \"q\" -n\nnl"

ARGV = WORKLOAD / "argv.py"


def rules():  # type: ignore[no-untyped-def]
    _, module = load_factory(f"{ARGV}:grid", job_file=ARGV)
    return module.R


def split_args(path: Path) -> list[str]:
    data = path.read_bytes()
    assert data.endswith(b"\0") or data == b"", data
    return [a.decode() for a in data.split(b"\0")[:-1]]


def canaries(root: Path) -> list[Path]:
    return [Path(d) / f for d, _, files in os.walk(root) for f in files if "CANARY" in f]


def run_values(outdir: Path, values: list[str]) -> list[list[str]]:
    R = rules()
    P = Pipeline()
    nodes = []
    for i, v in enumerate(values):
        node = R.show(v=v)
        setattr(P, f"v{i}", node)
        nodes.append(node)
    P.paths = R.show_paths(nodes[0])
    dag = DAG(outdir)
    dag.add(P)
    dag.execute(progress=Reporter(io.StringIO()))
    src, dst = nodes[0].path, P.paths.path
    assert src is not None and dst is not None
    assert split_args(dst) == [str(src), str(dst)], "paths did not arrive as two arguments"
    return [split_args(n.path) for n in nodes if n.path is not None]


def test_nasty_values_and_outdir(tmp_path: Path) -> None:
    outdir = tmp_path / NASTY_DIR / "-rf"
    got = run_values(outdir, NASTY)
    assert got == [[v] for v in NASTY]
    assert not canaries(tmp_path), "a value was executed"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(TEXT, min_size=1, max_size=6, unique=True))
def test_any_text_is_one_argument(tmp_path: Path, values: list[str]) -> None:
    with tempfile.TemporaryDirectory(dir=tmp_path) as d:
        got = run_values(Path(d) / "out", values)
        assert got == [[v] for v in values]
        assert not canaries(Path(d))


def test_lists_tables_and_numbers(tmp_path: Path) -> None:
    R = rules()
    items = ["a b", "-x", "$(touch CANARY)", "", "'"]
    table = {"k": "v w", "z": [1, "$(touch CANARY)"]}
    P = Pipeline()
    P.out = R.show_many(items=items, table=table, n=-5, x=0.1, flag=True)
    dag = DAG(tmp_path / "out dir")
    dag.add(P)
    dag.execute(progress=Reporter(io.StringIO()))
    assert P.out.path is not None
    args = split_args(P.out.path)
    assert args[: len(items)] == items, "each list item must be one argument"
    rest = args[len(items):]
    assert len(rest) == 4, rest
    import json

    assert json.loads(rest[0]) == table
    assert rest[1:3] == ["-5", "0.1"]
    assert not canaries(tmp_path)


def test_grid_values_through_the_cli(tmp_path: Path) -> None:
    """A job TOML grid of hostile values, run by the real CLI into an outdir with a hostile name."""
    values = [v for v in NASTY if v.isprintable() or "\n" in v][:30]
    lines = ", ".join(toml_string(v) for v in values)
    job = tmp_path / "argvjob.toml"
    job.write_text(f'".pipeline" = "{ARGV}:grid"\n".requests" = ["args"]\nv__grid = [{lines}]\n')
    outdir = tmp_path / NASTY_DIR
    res = run(["run", "-q", "--outdir", outdir, job], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    combos = [p for p in outdir.iterdir() if (p / "manifest.toml").exists()]
    assert len(combos) == len(values)
    seen = []
    for combo in combos:
        assert is_safe_component(combo.name), combo.name
        (link,) = [Path(d) / f for d, _, fs in os.walk(combo) for f in fs if f == "args.bin"]
        assert link.is_symlink() and link.resolve().is_relative_to(outdir.resolve())
        (arg,) = split_args(link)
        seen.append(arg)
    assert sorted(seen) == sorted(values)
    assert not canaries(tmp_path)


def toml_string(v: str) -> str:
    """A TOML basic string for any text (control characters escaped)."""
    out = []
    for ch in v:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in string.printable and ch not in "\t\n\r\x0b\x0c" or ord(ch) > 127:
            out.append(ch)
        else:
            out.append(f"\\u{ord(ch):04x}")
    return '"' + "".join(out) + '"'


@pytest.mark.parametrize("bad", ["x\0y"])
def test_nul_in_a_value_fails_the_job_cleanly(tmp_path: Path, bad: str) -> None:
    """No argv can carry NUL: the job fails with a message; the run does not crash."""
    from necroflow import JobFailed

    R = rules()
    P = Pipeline()
    P.out = R.show(v=bad)
    dag = DAG(tmp_path / "out")
    dag.add(P)
    with pytest.raises((JobFailed, TypeError, ValueError), match="(?i)nul|null"):
        dag.execute(progress=Reporter(io.StringIO()))
