"""Containers: a rule's command runs inside a pinned image instead of whatever is on PATH.

``container="registry/image:tag"`` on a rule (or a run-wide default for rules that name
none: ``.container`` in a job file, ``--container`` on the command line, or
:func:`default_container` in Python) runs its command in that image, with the outdir
mounted read-only and the job's own folder read-write, both at their own absolute paths
(source files too, read-only), as the invoking user.  The image is part of the fingerprint
by its content id (``podman/docker image inspect`` ``{{.Id}}``; for apptainer/singularity,
the image file's content hash): a re-tagged image reruns its rules.

The runtime is ``podman`` or ``docker`` (same CLI) or ``apptainer``/``singularity``, the
first found on PATH unless :func:`use_runtime` (``--container-runtime``) names one.  A
missing runtime or image is a :class:`ContainerError` naming the rule and the image when the
pipeline is added to a DAG, before any job starts.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

RUNTIMES = ("podman", "docker", "apptainer", "singularity")


class ContainerError(RuntimeError):
    """A container a rule needs cannot be used: no runtime, or no such image."""


@dataclass(frozen=True)
class Runtime:
    name: str  # podman | docker | apptainer | singularity
    path: str

    @property
    def oci(self) -> bool:
        """podman and docker: images by name, ``run`` with ``-v`` mounts."""
        return self.name in ("podman", "docker")


_choice: ContextVar[str | None] = ContextVar("necroflow_container_runtime", default=None)
_default_image: ContextVar[str | None] = ContextVar("necroflow_default_container", default=None)
# (runtime path, image) -> content id, asked once per DAG (a tag may move between DAGs)
_ids: ContextVar[dict[tuple[str, str], str] | None] = ContextVar("necroflow_image_ids", default=None)


@contextmanager
def remember_ids(cache: dict[tuple[str, str], str]) -> Iterator[None]:
    """Ask the runtime about each image once inside the block (a DAG's ``add``)."""
    token = _ids.set(cache)
    try:
        yield
    finally:
        _ids.reset(token)


def use_runtime(name: str | None) -> None:
    """Choose the runtime: a name (``podman``) or a path; None means the first found."""
    _choice.set(name)


@contextmanager
def default_container(image: str | None) -> Iterator[None]:
    """Rules called inside this block that name no container of their own run in ``image``."""
    token = _default_image.set(image)
    try:
        yield
    finally:
        _default_image.reset(token)


def current_default() -> str | None:
    return _default_image.get()


def find_runtime(rule: str, image: str) -> Runtime:
    choice = _choice.get()
    names = [choice] if choice else list(RUNTIMES)
    for name in names:
        path = shutil.which(name)
        if path:
            base = os.path.basename(path)
            kind = next((r for r in RUNTIMES if base.startswith(r)), "podman")
            return Runtime(kind, path)
    wanted = f"--container-runtime {choice}" if choice else "one of " + ", ".join(RUNTIMES)
    raise ContainerError(f"rule {rule!r}: container image {image!r} needs a container runtime, but "
                         f"{wanted} is not on PATH; install one (podman is a package on most systems) "
                         "or name it with --container-runtime")


def image_id(rule: str, image: str) -> tuple[Runtime, str]:
    """The runtime and the content id of ``image`` (asked once per :func:`remember_ids` block)."""
    rt = find_runtime(rule, image)
    key = (rt.path, image)
    cache = _ids.get()
    if cache is None:
        return rt, _inspect(rt, rule, image)
    if key not in cache:
        cache[key] = _inspect(rt, rule, image)
    return rt, cache[key]


def _inspect(rt: Runtime, rule: str, image: str) -> str:
    if not rt.oci:
        if not os.path.isfile(image):
            raise ContainerError(f"rule {rule!r}: container image {image!r} is not a file {rt.name} can run; "
                                 "give the path of a .sif image")
        from .store import hash_path

        return "sha256:" + hash_path(image)
    try:
        proc = subprocess.run([rt.path, "image", "inspect", "--format", "{{.Id}}", image], capture_output=True,
                              text=True, timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ContainerError(f"rule {rule!r}: {rt.name} could not be asked about image {image!r}: {e}") from None
    ident = proc.stdout.strip()
    if proc.returncode != 0 or not ident:
        said = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no answer"]
        raise ContainerError(f"rule {rule!r}: container image {image!r} is not available to {rt.name} "
                             f"({said[0]}); build, load or pull it first ({rt.name} pull {image})")
    return ident if ident.startswith("sha256:") else f"sha256:{ident}"


def wrap(command: str, rt: Runtime, image: str, workdir: str, read_only: list[str], name: str) -> str:
    """The shell command that runs ``command`` inside the image: ``workdir`` mounted
    read-write, every path of ``read_only`` read-only, all at their own paths.

    With podman/docker the container is named ``name`` and the wrapping shell kills it when
    it is stopped itself (a time limit, Ctrl-C): the container belongs to the runtime's
    daemon or monitor, not to the job's process group, and would outlive it otherwise.
    """
    q = shlex.quote
    uid, gid = os.getuid(), os.getgid()
    if not rt.oci:
        argv = [rt.path, "exec", "--containall", "--pwd", workdir]
        for path in _outermost(read_only, workdir):
            argv += ["--bind", f"{path}:{path}:ro"]
        argv += ["--bind", f"{workdir}:{workdir}:rw", image, "/bin/sh", "-c", command]
        return " ".join(q(a) for a in argv)
    argv = [rt.path, "run", "--rm", "--name", name, "--user", f"{uid}:{gid}", "--workdir", workdir]
    if rt.name == "podman" and uid != 0:
        argv += ["--userns=keep-id"]  # rootless podman: files come out as the invoking user's
    for path in _outermost(read_only, workdir):
        argv += ["-v", f"{path}:{path}:ro"]
    argv += ["-v", f"{workdir}:{workdir}:rw", image, "/bin/sh", "-c", command]
    return (f"nf_rt={q(rt.path)}; nf_name={q(name)}; {' '.join(q(a) for a in argv)} & nf_pid=$!; "
            """trap '"$nf_rt" kill "$nf_name" >/dev/null 2>&1; wait $nf_pid' TERM INT HUP; wait $nf_pid""")


def _outermost(paths: list[str], workdir: str) -> list[str]:
    """Distinct paths, none inside another one (the outdir covers its node folders)."""
    out: list[str] = []
    for p in sorted(set(paths), key=len):
        if p == workdir or any(p == o or p.startswith(o.rstrip("/") + "/") for o in out):
            continue
        out.append(p)
    return out
