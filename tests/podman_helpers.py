"""The podman test image as the container tests see it (the fixtures are in podman_fixture.py)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


def inspect_image(podman: str, ref: str, fmt: str) -> str:
    out = subprocess.run([podman, "image", "inspect", "--format", fmt, ref],
                         capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.strip()


@dataclass(frozen=True)
class PodmanImage:
    """The test image and how to use it.

    ``build_alternative(word)`` loads a different image (the base plus ``/etc/necroflow-variant``
    holding ``word``) under the same tag and returns its Id; ``rebuild_base()`` moves the tag
    back and returns the base Id.  Both are deterministic: the same word gives the same Id.
    ``reimport_base()`` loads the base content with ``podman import``, which gives a new Id
    on every call although the files are identical.
    """

    name: str
    podman: str
    containers_conf: Path
    base_id: str
    build_alternative: Callable[[str], str] = field(repr=False)
    rebuild_base: Callable[[], str] = field(repr=False)
    reimport_base: Callable[[], str] = field(repr=False)

    def inspect(self, fmt: str) -> str:
        """``podman image inspect --format fmt`` of the tag, e.g. ``{{.Digest}}``."""
        return inspect_image(self.podman, self.name, fmt)

    def image_id(self) -> str:
        """The Id the tag points at now: the sha256 of the image config."""
        return self.inspect("{{.Id}}")

    def run_argv(self, command: str, *, ro: Sequence[Path] = (), rw: Sequence[Path] = (),
                 workdir: Path | None = None, user: str | None = None) -> list[str]:
        """``podman run`` for ``sh -c command``: removed afterwards, no network, as ``user``
        (default: the invoking uid:gid), host folders bind-mounted at the same absolute path."""
        argv = [self.podman, "run", "--rm", "--network", "none",
                "--user", user or f"{os.getuid()}:{os.getgid()}"]
        for path, mode in [*((p, "ro") for p in ro), *((p, "rw") for p in rw)]:
            p = Path(path).resolve()
            if ":" in str(p) or "," in str(p):
                raise ValueError(f"podman -v cannot mount a path with ':' or ',': {p}")
            argv += ["-v", f"{p}:{p}:{mode}"]
        if workdir is not None:
            argv += ["--workdir", str(Path(workdir).resolve())]
        return [*argv, self.name, "/bin/sh", "-c", command]

    def run(self, command: str, *, ro: Sequence[Path] = (), rw: Sequence[Path] = (),
            workdir: Path | None = None, user: str | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        argv = self.run_argv(command, ro=ro, rw=rw, workdir=workdir, user=user)
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
