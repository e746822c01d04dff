"""The container test infrastructure works for real: rootful podman, bind mounts at the same
absolute path, the invoking uid:gid, no network, and an image whose Id changes under its tag."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from podman_helpers import PodmanImage


def _folders(tmp_path: Path) -> tuple[Path, Path]:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    (src / "words.txt").write_text("necro flow\n")
    return src, out


def test_command_writes_into_rw_mount_as_invoking_user(podman_image: PodmanImage,
                                                       tmp_path: Path) -> None:
    src, out = _folders(tmp_path)
    proc = podman_image.run(f"tr a-z A-Z < {src}/words.txt > upper.txt && id -u && id -g && pwd",
                            ro=[src], rw=[out], workdir=out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(os.getuid()), str(os.getgid()), str(out.resolve())]
    made = out / "upper.txt"
    assert made.read_text() == "NECRO FLOW\n"
    st = made.stat()
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another uid needs root")
def test_other_uid_is_not_remapped(podman_image: PodmanImage, tmp_path: Path) -> None:
    # Rootful podman without a user namespace: the uid inside is the uid on the host.
    src, out = _folders(tmp_path)
    os.chown(out, 12345, 12345)
    proc = podman_image.run(f"cat {src}/words.txt > copy.txt", ro=[src], rw=[out], workdir=out,
                            user="12345:12345")
    assert proc.returncode == 0, proc.stderr
    st = (out / "copy.txt").stat()
    assert (st.st_uid, st.st_gid) == (12345, 12345)


def test_read_only_mount_refuses_writes(podman_image: PodmanImage, tmp_path: Path) -> None:
    src, out = _folders(tmp_path)
    # As the invoking user (root here, who could write anywhere else): the mount itself refuses.
    proc = podman_image.run(f"echo x > {src}/new.txt", ro=[src], rw=[out])
    assert proc.returncode != 0
    assert "Read-only file system" in proc.stderr
    proc = podman_image.run(f"echo changed > {src}/words.txt", ro=[src], rw=[out])
    assert proc.returncode != 0
    assert not (src / "new.txt").exists()
    assert (src / "words.txt").read_text() == "necro flow\n"


def test_retagging_changes_the_image_id(podman_retag: PodmanImage) -> None:
    image = podman_retag
    base = image.image_id()
    assert base == image.base_id
    layers = image.inspect("{{.RootFS.Layers}}")

    alt = image.build_alternative("alt")
    assert alt != base and image.image_id() == alt
    assert image.run("cat /etc/necroflow-variant").stdout == "alt\n"
    assert image.build_alternative("alt") == alt  # deterministic: same content, same Id

    assert image.rebuild_base() == base
    assert image.run("test -e /etc/necroflow-variant").returncode == 1

    # `podman import` of identical files: same layer, but a new Id (and Digest) every time.
    first = image.reimport_base()
    digest = image.inspect("{{.Digest}}")
    second = image.reimport_base()
    assert len({base, first, second}) == 3
    assert image.inspect("{{.Digest}}") != digest
    assert image.inspect("{{.RootFS.Layers}}") == layers
