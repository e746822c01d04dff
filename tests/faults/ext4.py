"""A small ext4 with 1-second timestamps, mounted for one test (a helper module, not a conftest).

ext4 made with 128-byte inodes (``mkfs.ext4 -I 128``) has no room for the extra timestamp
fields, so mtime, ctime and atime are whole seconds (``st_mtime_ns % 10**9 == 0``).  Two
same-size writes within one second then leave (size, mtime) identical, and often ctime and
the inode too: the file system the stat-signature tests need.  See docs/ext4-1s-notes.md.

How it is made, first that works:

1. ``loop``: ``mkfs.ext4 -q -F -I 128 IMG`` then ``mount -o loop IMG MNT`` (needs root and
   loop devices; ``-o loop`` sets autoclear, so ``umount`` frees the loop device).  About
   25 ms for mkfs + mount + umount.
2. ``fuse2fs``: the same image served from user space (Debian package ``fuse2fs``), run in
   the foreground as our child, unmounted with ``umount`` (root) or ``fusermount -u``.

With ``NECROFLOW_REQUIRE_LOOP=1`` (CI), method 1 must work: if it fails, the test fails
with the reason instead of falling back or skipping.  Otherwise a test that cannot get
either file system is skipped, with the reason of each attempt.  ``NECROFLOW_COARSE_FS=loop``
or ``=fuse2fs`` tries that method only (to test the other path on a machine that has both).

Use::

    from ext4 import coarse_fs

    def test_x(tmp_path):
        with coarse_fs(tmp_path) as root:   # a Path: the mount point (holds lost+found)
            ...

or the ``coarse_dir`` fixture (an empty directory on that file system), which a conftest
or test module makes visible with ``from ext4 import coarse_dir_fixture``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REQUIRE_ENV = "NECROFLOW_REQUIRE_LOOP"
METHOD_ENV = "NECROFLOW_COARSE_FS"
SIZE_MB = 32
TIMEOUT = 60  # seconds for any one mkfs/mount/umount


class CoarseFsUnavailable(Exception):
    """The 1-second file system cannot be made here; the message says why."""


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, check=False)


def _why(res: subprocess.CompletedProcess[str]) -> str:
    return f"`{' '.join(res.args)}` exited {res.returncode}: {(res.stderr or res.stdout).strip()}"


def _mkfs(img: Path, size_mb: int) -> None:
    if shutil.which("mkfs.ext4") is None:
        raise CoarseFsUnavailable("mkfs.ext4 not found (Debian: apt-get install e2fsprogs)")
    with open(img, "wb") as f:
        f.truncate(size_mb << 20)  # sparse
    # -I 128: no extra inode space, hence no sub-second stamps (mke2fs warns about 2038 on stdout).
    # -m 0: no reserved blocks; -E nodiscard: nothing to discard on a sparse image file.
    res = _run(["mkfs.ext4", "-q", "-F", "-I", "128", "-m", "0", "-E", "nodiscard", str(img)])
    if res.returncode != 0:
        raise CoarseFsUnavailable(_why(res))


def _umount(mnt: Path) -> bool:
    """Unmount; True if cleanly, False if it was busy and only lazily detached."""
    if not os.path.ismount(mnt):
        return True
    res = _run(["umount", str(mnt)])
    if res.returncode == 0 or not os.path.ismount(mnt):
        return True
    # Busy (a test left a process or an open file there): detach now, freed when unused.
    _run(["umount", "-l", str(mnt)])
    return False


def _check_whole_seconds(mnt: Path, method: str) -> None:
    probe = mnt / ".coarse-probe"
    try:
        for _ in range(3):  # one ns stamp could be a multiple of 1e9 by chance; three cannot
            probe.write_bytes(b"x")
            st = probe.stat()
            if st.st_mtime_ns % 10**9 or st.st_ctime_ns % 10**9:
                raise CoarseFsUnavailable(f"{method}: stamps are not whole seconds: {st}")
            time.sleep(0.003)
    finally:
        probe.unlink(missing_ok=True)


@contextlib.contextmanager
def _loop(img: Path, mnt: Path) -> Iterator[None]:
    if os.geteuid() != 0:
        raise CoarseFsUnavailable("loop: mount(8) of a loop device needs root")
    if shutil.which("mount") is None:
        raise CoarseFsUnavailable("loop: mount(8) not found")
    res = _run(["mount", "-t", "ext4", "-o", "loop", str(img), str(mnt)])
    if res.returncode != 0:
        raise CoarseFsUnavailable(
            f"loop: {_why(res)} (no /dev/loop-control or loop module? a container without CAP_SYS_ADMIN?)")
    try:
        yield
    finally:
        _umount(mnt)


@contextlib.contextmanager
def _fuse2fs(img: Path, mnt: Path) -> Iterator[None]:
    exe = shutil.which("fuse2fs")
    if exe is None:
        raise CoarseFsUnavailable("fuse2fs: not installed (Debian: apt-get install fuse2fs)")
    if not os.path.exists("/dev/fuse"):
        raise CoarseFsUnavailable("fuse2fs: no /dev/fuse")
    # -f: stay in the foreground as our child, so we can wait for it (no stray daemon).
    # Its messages (on stdout and stderr) go to a file: a pipe could fill up while it runs.
    log = img.with_suffix(".fuse2fs.log")
    with open(log, "wb") as out:
        proc = subprocess.Popen([exe, str(img), str(mnt), "-f", "-o", "rw"],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while not os.path.ismount(mnt):
            if proc.poll() is not None:
                err = log.read_text(errors="replace").strip()
                raise CoarseFsUnavailable(f"fuse2fs exited {proc.returncode}: {err}")
            if time.monotonic() > deadline:
                raise CoarseFsUnavailable("fuse2fs: not mounted after 10 s")
            time.sleep(0.005)
        yield
    finally:
        clean = True
        if os.path.ismount(mnt):
            if os.geteuid() == 0:
                clean = _umount(mnt)
            else:
                fusermount = shutil.which("fusermount3") or shutil.which("fusermount") or "fusermount"
                _run([fusermount, "-u", "-z", str(mnt)])
        try:
            # Lazily detached (busy): fuse2fs would serve the open files until they close.
            proc.wait(timeout=10 if clean else 0.5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.unlink(missing_ok=True)


METHODS = {"loop": _loop, "fuse2fs": _fuse2fs}


@contextlib.contextmanager
def coarse_fs(tmp_path: Path, size_mb: int = SIZE_MB) -> Iterator[Path]:
    """Make, mount and yield an ext4 with 1-second stamps; unmount and delete it on exit.

    Skips the calling test (or fails it, under NECROFLOW_REQUIRE_LOOP=1) when impossible.
    The yielded mount point is root-owned and holds ``lost+found``.
    """
    require = os.environ.get(REQUIRE_ENV) == "1"
    wanted = os.environ.get(METHOD_ENV, "")
    if wanted and wanted not in METHODS:
        raise ValueError(f"{METHOD_ENV}={wanted!r}: expected one of {sorted(METHODS)}")
    methods = ["loop"] if require else [wanted] if wanted else list(METHODS)
    base = Path(tmp_path) / "coarse-fs"
    base.mkdir(parents=True, exist_ok=True)
    img, mnt = base / "ext4-I128.img", base / "mnt"
    mnt.mkdir(exist_ok=True)
    reasons: list[str] = []
    try:
        try:
            _mkfs(img, size_mb)
        except (CoarseFsUnavailable, OSError, subprocess.TimeoutExpired) as e:
            reasons.append(f"mkfs: {e}")
        else:
            for name in methods:
                with contextlib.ExitStack() as stack:
                    try:
                        stack.enter_context(METHODS[name](img, mnt))
                        _check_whole_seconds(mnt, name)
                    except (CoarseFsUnavailable, OSError, subprocess.TimeoutExpired) as e:
                        reasons.append(str(e))
                        continue
                    yield mnt
                    return
        why = "no 1-second ext4 here: " + "; ".join(reasons)
        if require:
            pytest.fail(f"{why} ({REQUIRE_ENV}=1)", pytrace=False)
        pytest.skip(why)
    finally:
        img.unlink(missing_ok=True)


def coarse_fs_method(path: Path) -> str:
    """'loop' or 'fuse2fs': how the file system holding ``path`` was mounted (from /proc/mounts)."""
    path = Path(path).resolve()
    best = ("", "")
    with open("/proc/mounts") as f:
        for line in f:
            _dev, point, fstype, *_ = line.split()
            point = point.replace("\\040", " ")
            if (path == Path(point) or Path(point) in path.parents) and len(point) > len(best[0]):
                best = (point, fstype)
    return {"ext4": "loop", "fuse.ext4": "fuse2fs", "fuseblk": "fuse2fs"}.get(best[1], best[1])


@pytest.fixture(name="coarse_dir")
def coarse_dir_fixture(tmp_path: Path) -> Iterator[Path]:
    """An empty directory on a freshly made 1-second ext4 (see ``coarse_fs``)."""
    with coarse_fs(tmp_path) as root:
        work = root / "work"
        work.mkdir()
        yield work
