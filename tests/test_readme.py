"""The README is executed: python blocks run in order in one namespace, console blocks are
transcripts whose commands run for real and whose shown output must appear (in order;
``...`` skips lines, ``*`` matches any text within a line)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BLOCK = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```", re.S | re.M)


def blocks(lang: str) -> list[str]:
    return [body for kind, body in BLOCK.findall(README.read_text()) if kind == lang]


def test_every_block_is_of_a_checked_kind() -> None:
    kinds = {kind for kind, _ in BLOCK.findall(README.read_text())}
    assert kinds <= {"python", "console", "toml", "sh", "text"}, kinds


def test_python_blocks_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """The container example runs for real in the podman test image (``NECROFLOW_README_IMAGE``).

    Where podman cannot be set up (not root) that one example is left out with a warning and
    the rest still runs; ``NECROFLOW_REQUIRE_PODMAN=1`` (CI) makes it a failure instead."""
    image = None
    try:
        image = request.getfixturevalue("podman_image")
    except pytest.skip.Exception as e:
        warnings.warn(f"README container example not run: {e}", stacklevel=1)
    else:
        monkeypatch.setenv("NECROFLOW_README_IMAGE", image.name)
    monkeypatch.chdir(tmp_path)
    ns: dict[str, object] = {"__name__": "readme"}
    for i, code in enumerate(blocks("python")):
        exec(compile(code, f"README.md python block {i + 1}", "exec"), ns)  # noqa: S102
    if image is not None:  # the container example really ran, in the image
        assert list((tmp_path / "results" / "shout_in_image").glob("*/shout.txt")), "README container example did not run"


def _matches(expected: list[str], actual: list[str]) -> bool:
    pos = 0
    for want in expected:
        if want == "...":
            continue
        pattern = re.compile(".*".join(re.escape(part) for part in want.rstrip().split("*")) + r"\Z")
        while pos < len(actual) and not pattern.match(actual[pos].rstrip()):
            pos += 1
        if pos == len(actual):
            return False
        pos += 1
    return True


# The folder the README's transcripts write to, as a reader on a fresh machine would.
README_OUTDIR = Path("/tmp/necroflow-readme")


@contextlib.contextmanager
def _readme_outdir() -> Iterator[None]:
    """The README's own outdir, fresh for the transcripts and removed after; one test run at a time."""
    with open(f"{README_OUTDIR}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        shutil.rmtree(README_OUTDIR, ignore_errors=True)
        try:
            yield
        finally:
            shutil.rmtree(README_OUTDIR, ignore_errors=True)


def test_console_transcripts() -> None:
    """Run as written, with no help from the environment: ``set -u`` fails a command that uses a
    variable the reader's shell may not have (``$TMP`` is unset on Debian)."""
    env = {k: v for k, v in os.environ.items() if k not in ("TMP", "TMPDIR", "TEMP")}
    bindir = Path(sys.executable).parent
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    with _readme_outdir():
        for block in blocks("console"):
            _run_transcript(block, env)


def _run_transcript(block: str, env: dict[str, str]) -> None:
    steps: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif steps:
            steps[-1][1].append(line)
    for cmd, expected in steps:
        proc = subprocess.run(f"set -u\n{cmd}", shell=True, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=120)
        out = (proc.stdout + proc.stderr).splitlines()
        assert proc.returncode == 0, f"{cmd!r} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
        assert _matches(expected, out), f"{cmd!r}: expected\n" + "\n".join(expected) + "\n--- got ---\n" + "\n".join(out)


def test_toml_blocks_are_valid_job_files() -> None:
    """Every TOML block parses; one with a ``#:schema`` directive is a job file valid against
    the committed JSON Schema; the grid example shown is the file in examples/."""
    import json
    import tomllib

    import jsonschema

    schema = json.loads((ROOT / "json-schema" / "job.schema.json").read_text())
    grid = (ROOT / "examples" / "necroalchemy_grid.toml").read_text()
    checked = 0
    for block in blocks("toml"):
        doc = tomllib.loads(block)
        if block.startswith("#:schema"):
            jsonschema.validate(doc, schema)
            checked += 1
        if "__grid" in block:
            assert tomllib.loads(grid) == doc, "README grid block differs from examples/necroalchemy_grid.toml"
    assert checked >= 2


def test_cli_synopsis_options_exist() -> None:
    from typer.testing import CliRunner

    from necroflow.cli import app

    text = "\n".join(b for b in blocks("text") if "necroflow run" in b)
    helps = ""
    for cmd in ("run", "validate", "schema", "status", "graph", "report", "clean"):
        helps += CliRunner().invoke(app, [cmd, "--help"], terminal_width=200).output
    for opt in sorted(set(re.findall(r"(--[a-z][a-z-]+)", text))):
        assert opt in helps, f"README shows {opt} but no command's --help has it"


def test_sh_block_necroflow_commands_parse() -> None:
    """Commands shown in sh blocks (cluster examples) use real commands and options: each is
    parsed by the CLI itself, without running it."""
    import shlex

    import typer.main

    from necroflow.cli import app

    cli = typer.main.get_command(app)
    seen = 0
    for block in blocks("sh"):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            while words and "=" in words[0] and not words[0].startswith("-"):
                words = words[1:]  # VAR=value prefixes
            if not words or words[0] != "necroflow":
                continue
            args = words[1:]
            ctx = cli.make_context("necroflow", list(args), resilient_parsing=False)  # type: ignore[attr-defined]
            with ctx:
                sub = cli.get_command(ctx, args[0])  # type: ignore[attr-defined]
                assert sub is not None, line
                sub.make_context(args[0], list(args[1:]), parent=ctx)
            seen += 1
    assert seen >= 2


def test_setup_commands_exist_in_makefile() -> None:
    make = (ROOT / "Makefile").read_text()
    for block in blocks("sh"):
        for target in re.findall(r"^make (\w+)", block, re.M):
            assert re.search(rf"^{target}:", make, re.M), f"Makefile has no target {target}"
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
