"""Shared fixtures: small and generic on purpose (each test module declares its own rules)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# The podman fixtures (podman_image, podman_retag): for containers/ and for test_readme.py.
from podman_fixture import podman_image, podman_retag  # noqa: F401

from necroflow import Reporter

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def outdir(tmp_path: Path) -> Path:
    """A fresh, not yet existing output directory."""
    return tmp_path / "out"


@pytest.fixture
def quiet() -> Reporter:
    """A reporter writing into a buffer (``quiet.stream.getvalue()``), so tests can read what a
    person would have seen without cluttering pytest's output."""
    return Reporter(stream=io.StringIO())


@pytest.fixture
def script(tmp_path: Path) -> Callable[..., Path]:
    """Write a Python script into ``tmp_path`` (dedented) and return its path; run it with
    ``python_cmd(path)`` so it imports this checkout of necroflow."""

    def write(source: str, name: str = "flow.py") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(source))
        return path

    return write


def python_env(**extra: str) -> dict[str, str]:
    """Environment for a child interpreter that imports this checkout of necroflow."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


@pytest.fixture
def run_python() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``python -c CODE`` or ``python FILE`` to completion in a fresh interpreter."""

    def run(*args: str | Path, timeout: float = 60, cwd: Path | None = None,
            **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                              timeout=timeout, cwd=cwd, env=python_env(**env))

    return run


@pytest.fixture
def spawn_python() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start ``python FILE`` in the background (own session, so signals reach only it).

    Every process started here is killed at teardown if the test did not end it."""
    procs: list[subprocess.Popen[str]] = []

    def spawn(*args: str | Path, cwd: Path | None = None, **env: str) -> subprocess.Popen[str]:
        p = subprocess.Popen([sys.executable, *map(str, args)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=cwd, env=python_env(**env),
                             start_new_session=True)
        procs.append(p)
        return p

    yield spawn
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.communicate(timeout=10)
