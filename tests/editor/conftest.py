"""Fixtures that provide the real editor tools: Taplo from npm, tombi from the test extra.

Taplo's packages are installed once into a folder of the suite's own, keyed by their
versions: ``$NECROFLOW_EDITOR_TOOLS`` if set, else pytest's cache folder
(``.pytest_cache/d/editor-tools``).  Nothing is installed globally; a machine needs only
``node`` and ``npm``.  Without them, or without access to the npm registry, the Taplo tests
are skipped; ``NECROFLOW_REQUIRE_EDITOR_TOOLS=1`` turns that skip into a failure (for CI).
The first run downloads about 30 MB; later runs reuse the folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

import pytest
from editor_tools import Taplo, Tombi

# Pinned: the schemas are shaped for (and tested against) exactly these builds.
TAPLO_PACKAGES = {"@taplo/cli": "0.7.0", "@taplo/lsp": "0.8.0"}


def _tools_dir(config: pytest.Config) -> Path:
    configured = os.environ.get("NECROFLOW_EDITOR_TOOLS")
    if configured:
        path = Path(configured).resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path
    cache = getattr(config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir("editor-tools")).resolve()
    path = Path(tempfile.gettempdir()) / "necroflow-editor-tools"
    path.mkdir(exist_ok=True)
    return path


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("NECROFLOW_REQUIRE_EDITOR_TOOLS") == "1":
        pytest.fail(f"{reason} (NECROFLOW_REQUIRE_EDITOR_TOOLS=1 forbids skipping)")
    pytest.skip(reason)


def _npm_install(npm: str, prefix: Path) -> None:
    """Install the pinned packages into ``prefix`` atomically (a half install is never used)."""
    staging = Path(tempfile.mkdtemp(prefix=f"{prefix.name}.", dir=prefix.parent))
    try:
        specs = [f"{name}@{version}" for name, version in TAPLO_PACKAGES.items()]
        proc = subprocess.run(
            [npm, "install", "--prefix", str(staging), "--no-audit", "--no-fund", *specs],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode != 0:
            _unavailable(f"npm install {' '.join(specs)} failed: {proc.stderr.strip()[-500:]}")
        (staging / ".installed").write_text(" ".join(specs) + "\n")
        try:
            staging.rename(prefix)
        except OSError:  # another session installed it meanwhile
            if not (prefix / ".installed").exists():
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


@pytest.fixture(scope="session")
def taplo(pytestconfig: pytest.Config) -> Taplo:
    """``@taplo/cli`` and ``@taplo/lsp`` from npm, installed on first use."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _unavailable("node and npm are needed to test the schemas with Taplo")
    key = "-".join(f"{name.split('/')[-1]}{version}" for name, version in TAPLO_PACKAGES.items())
    prefix = _tools_dir(pytestconfig) / f"taplo-{key}"
    if not (prefix / ".installed").exists():
        if prefix.exists():
            shutil.rmtree(prefix)
        _npm_install(npm, prefix)
    tools = Taplo(node=node, prefix=prefix)
    assert tools.cli.exists(), f"{tools.cli} missing after npm install"
    return tools


@pytest.fixture(scope="session")
def tombi() -> Tombi:
    """The ``tombi`` executable of the ``test`` extra."""
    exe = Path(sys.executable).with_name("tombi")
    found = str(exe) if exe.exists() else shutil.which("tombi")
    if found is None:
        pytest.fail("tombi is not installed; it is in the 'test' extra: pip install -e '.[test]'")
    return Tombi(found)
