"""Fixtures for tests that run real (rootful) podman containers, loaded by ``tests/conftest.py``
so that every test folder can use them (``containers/``, and ``test_readme.py`` for the README's
container example).

``podman_image`` runs ``scripts/podman-up.sh`` once per session: it installs podman, runc and
busybox-static from apt when they are missing, writes a containers.conf that works in this
sandbox, and builds the small busybox image ``localhost/necroflow-test:1`` without any
registry.  The fixture points ``CONTAINERS_CONF`` at that file for the session (restored at
the end).  Tests skip when podman cannot be set up (no root, no apt, no mirror); set
``NECROFLOW_REQUIRE_PODMAN=1`` to turn that skip into a failure.

The image tag is shared by the whole session: a test that moves it to another image
(``build_alternative``) must move it back, which the ``podman_retag`` fixture does for it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from podman_helpers import PodmanImage, inspect_image

REPO = Path(__file__).resolve().parents[1]
UP = REPO / "scripts" / "podman-up.sh"
IMAGE = os.environ.get("NECROFLOW_PODMAN_IMAGE", "localhost/necroflow-test:1")


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("NECROFLOW_REQUIRE_PODMAN") == "1":
        pytest.fail(f"{reason} (NECROFLOW_REQUIRE_PODMAN=1 forbids skipping)")
    pytest.skip(reason)


def _up(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(UP), *args], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "NECROFLOW_PODMAN_IMAGE": IMAGE})


@pytest.fixture(scope="session")
def podman_image() -> Iterator[PodmanImage]:
    """Rootful podman with the busybox test image, set up by ``scripts/podman-up.sh``."""
    if os.geteuid() != 0:
        _skip_or_fail("rootful podman tests need root")
    try:
        proc = _up()
    except (OSError, subprocess.TimeoutExpired) as exc:
        _skip_or_fail(f"scripts/podman-up.sh could not run: {exc}")
    if proc.returncode != 0:
        _skip_or_fail(f"scripts/podman-up.sh failed: {proc.stderr.strip()}")
    line = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    prefix = "export CONTAINERS_CONF="
    if not line.startswith(prefix):
        pytest.fail(f"scripts/podman-up.sh printed {proc.stdout!r}, expected '{prefix}...'")
    conf = Path(line[len(prefix):])
    podman = shutil.which("podman")
    if podman is None:
        pytest.fail("scripts/podman-up.sh succeeded but podman is not on PATH")

    def setup(*args: str) -> str:
        p = _up(*args)
        if p.returncode != 0:
            pytest.fail(f"scripts/podman-up.sh {' '.join(args)} failed: {p.stderr.strip()}")
        return inspect_image(podman, IMAGE, "{{.Id}}")

    saved = os.environ.get("CONTAINERS_CONF")
    os.environ["CONTAINERS_CONF"] = str(conf)
    try:
        yield PodmanImage(
            name=IMAGE, podman=podman, containers_conf=conf,
            base_id=inspect_image(podman, IMAGE, "{{.Id}}"),
            build_alternative=lambda word: setup("--variant", word),
            rebuild_base=lambda: setup(), reimport_base=lambda: setup("--import"))
    finally:
        if saved is None:
            os.environ.pop("CONTAINERS_CONF", None)
        else:
            os.environ["CONTAINERS_CONF"] = saved


@pytest.fixture
def podman_retag(podman_image: PodmanImage) -> Iterator[PodmanImage]:
    """``podman_image`` for a test that moves the tag; the base image is put back afterwards."""
    try:
        yield podman_image
    finally:
        if podman_image.image_id() != podman_image.base_id and podman_image.rebuild_base() != podman_image.base_id:
            pytest.fail("could not restore the base test image after re-tagging it")
