"""The 1-second ext4 of ``ext4.py``, and what a stat signature sees on it (no necroflow here).

A signature below is (size, mtime_ns, ctime_ns, ino).  Each test names the fields that
catch its edit.  "racy" is git's rule: a signature whose mtime or ctime is not older than
the moment it was taken, compared in whole seconds, is not trusted.  Edits that no field
catches are caught only by that rule (or by hashing).  docs/ext4-1s-notes.md has the table.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from ext4 import coarse_dir_fixture, coarse_fs, coarse_fs_method  # noqa: F401  (the fixture)

NS = 10**9
T = TypeVar("T")
Sig = tuple[int, int, int, int]


def sig(path: Path) -> Sig:
    st = os.stat(path)
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def changed(a: Sig, b: Sig) -> set[str]:
    return {name for name, x, y in zip(("size", "mtime", "ctime", "ino"), a, b, strict=True) if x != y}


def racy(s: Sig, taken_ns: int) -> bool:
    """git's racy rule in whole seconds, on mtime and ctime (ctime: see test_racy_rule_needs_ctime)."""
    return max(s[1], s[2]) // NS >= taken_ns // NS


def next_second(margin: float = 0.02) -> None:
    """Sleep until ``margin`` s after the next wall-clock second starts."""
    time.sleep(1 - time.time() % 1 + margin)


def in_one_second(action: Callable[[], T], tries: int = 5) -> T:
    """Run ``action`` so that it starts and ends within one wall-clock second (retried if not).

    It starts 20 ms into the second and must end before 900 ms, so the kernel's coarse
    clock (a jiffy behind at most) agrees with ``time.time()`` about which second it is.
    """
    for _ in range(tries):
        next_second()
        t0 = time.time_ns()
        result = action()
        t1 = time.time_ns()
        if t0 // NS == t1 // NS and t1 % NS < 0.9 * NS:
            return result
    pytest.fail(f"could not run {action} within one second in {tries} tries (machine too busy?)")


def rewrite_in_place(path: Path, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.write(data)


def touch_r(ref: Path, path: Path) -> None:
    subprocess.run(["touch", "-r", str(ref), str(path)], check=True)


def cp_p(src: Path, dst: Path) -> None:
    subprocess.run(["cp", "-p", str(src), str(dst)], check=True)


# ---------------------------------------------------------------- the file system itself


def test_fixture_yields_a_1_second_ext4(tmp_path: Path) -> None:
    with coarse_fs(tmp_path) as root:
        assert os.path.ismount(root)
        assert coarse_fs_method(root) in ("loop", "fuse2fs")
        if os.environ.get("NECROFLOW_REQUIRE_LOOP") == "1":
            assert coarse_fs_method(root) == "loop"
        elif os.environ.get("NECROFLOW_COARSE_FS"):
            assert coarse_fs_method(root) == os.environ["NECROFLOW_COARSE_FS"]
        stamps = []
        for i in range(6):
            f = root / f"f{i}"
            f.write_bytes(b"x")
            st = f.stat()
            assert st.st_mtime_ns % NS == 0 and st.st_ctime_ns % NS == 0 and st.st_atime_ns % NS == 0, st
            stamps.append(st.st_mtime_ns)
            time.sleep(0.11)
        assert len(set(stamps)) <= 2, "six writes over 0.66 s span at most two whole seconds"
        assert root.stat().st_mtime_ns % NS == 0
    assert not os.path.ismount(root), "unmounted on exit"
    assert not (tmp_path / "coarse-fs" / "ext4-I128.img").exists(), "image deleted on exit"


def test_unmounts_when_the_body_raises(tmp_path: Path) -> None:
    with pytest.raises(ZeroDivisionError), coarse_fs(tmp_path) as root:
        (root / "x").write_bytes(b"x")
        1 / 0  # noqa: B018
    assert not os.path.ismount(root)


def test_unmounts_even_when_busy(tmp_path: Path) -> None:
    with coarse_fs(tmp_path) as root:
        held = open(root / "held", "wb")  # noqa: SIM115  (an open file makes umount busy)
    try:
        assert not os.path.ismount(root), "lazily detached"
    finally:
        held.close()


def test_setup_is_fast(tmp_path: Path) -> None:
    """mkfs + mount + umount: about 26 ms (loop) or 31 ms (fuse2fs) on the CI machine."""
    t0 = time.monotonic()
    for i in range(3):
        with coarse_fs(tmp_path / str(i)):
            pass
    per = (time.monotonic() - t0) / 3
    print(f"coarse_fs create+mount+unmount: {per * 1000:.0f} ms")
    assert per < 5, f"{per:.2f} s per file system"


# ---------------------------------------------------------------- same second: nothing moves


def test_in_place_rewrite_in_one_second_changes_nothing(coarse_dir: Path) -> None:
    """open('r+b') + same-size write: size, mtime, ctime and inode all identical. Racy rule only."""
    f = coarse_dir / "f"

    def act() -> tuple[Sig, int, Sig]:
        f.write_bytes(b"AAAA")
        before, taken = sig(f), time.time_ns()
        rewrite_in_place(f, b"BBBB")
        return before, taken, sig(f)

    before, taken, after = in_one_second(act)
    assert f.read_bytes() == b"BBBB"
    assert changed(before, after) == set()
    assert before[1] % NS == 0
    assert racy(before, taken), "the racy rule is what catches it"


def test_truncating_rewrite_in_one_second_changes_nothing(coarse_dir: Path) -> None:
    """open('wb') (O_TRUNC) + same-size write: the same inode is reused, nothing moves."""
    f = coarse_dir / "f"

    def act() -> tuple[Sig, Sig]:
        f.write_bytes(b"AAAA")
        before = sig(f)
        f.write_bytes(b"CCCC")
        return before, sig(f)

    before, after = in_one_second(act)
    assert changed(before, after) == set()


def test_temp_and_rename_in_one_second_changes_only_the_inode(coarse_dir: Path) -> None:
    """Write a temp file, rename it over: size, mtime, ctime equal; the inode catches it."""
    f, tmp = coarse_dir / "f", coarse_dir / "f.tmp"

    def act() -> tuple[Sig, Sig]:
        f.write_bytes(b"AAAA")
        before = sig(f)
        tmp.write_bytes(b"EEEE")
        os.replace(tmp, f)
        return before, sig(f)

    before, after = in_one_second(act)
    assert changed(before, after) == {"ino"}


def test_unlink_and_recreate_in_one_second_can_change_nothing(coarse_dir: Path) -> None:
    """rm + create again: size, mtime, ctime equal, and ext4 hands out the freed inode again
    (300/300 times with the kernel driver, 297/300 with fuse2fs), so often no field moves.
    The inode is not a "new file" detector; only the racy rule catches this."""
    f = coarse_dir / "f"

    def act() -> tuple[Sig, Sig]:
        f.write_bytes(b"AAAA")
        before = sig(f)
        f.unlink()
        f.write_bytes(b"IIII")
        return before, sig(f)

    results = [in_one_second(act) for _ in range(3)]
    for before, after in results:
        assert changed(before, after) <= {"ino"}
    assert any(changed(b, a) == set() for b, a in results), "the inode was never reused"


def test_touch_r_in_one_second_changes_nothing(coarse_dir: Path) -> None:
    """Edit, then ``touch -r`` within the second: ctime is set to now, but now is the same
    whole second, so nothing moves. Racy rule only."""
    f, ref = coarse_dir / "f", coarse_dir / "ref"

    def act() -> tuple[Sig, Sig]:
        f.write_bytes(b"AAAA")
        ref.touch()
        touch_r(f, ref)
        before = sig(f)
        rewrite_in_place(f, b"FFFF")
        touch_r(ref, f)
        return before, sig(f)

    before, after = in_one_second(act)
    assert f.read_bytes() == b"FFFF"
    assert changed(before, after) == set()


def test_cp_p_over_in_one_second_changes_nothing(coarse_dir: Path) -> None:
    """``cp -p src f`` (same size, src's old mtime): cp truncates f in place (same inode)."""
    f, src = coarse_dir / "f", coarse_dir / "src"

    def act() -> tuple[Sig, Sig]:
        f.write_bytes(b"AAAA")
        src.write_bytes(b"HHHH")
        os.utime(src, ns=(os.stat(f).st_atime_ns, os.stat(f).st_mtime_ns))
        before = sig(f)
        cp_p(src, f)
        return before, sig(f)

    before, after = in_one_second(act)
    assert f.read_bytes() == b"HHHH"
    assert changed(before, after) == set()


# ---------------------------------------------------------------- a later second: ctime moves


def test_touch_r_a_second_later_moves_only_ctime(coarse_dir: Path) -> None:
    """Edit in a later second, restore mtime with ``touch -r``: ctime catches it."""
    f, ref = coarse_dir / "f", coarse_dir / "ref"
    f.write_bytes(b"AAAA")
    ref.touch()
    touch_r(f, ref)
    before = sig(f)
    next_second()
    rewrite_in_place(f, b"FFFF")
    touch_r(ref, f)
    assert changed(before, sig(f)) == {"ctime"}


def test_utime_a_second_later_moves_only_ctime(coarse_dir: Path) -> None:
    """The same with os.utime(ns=old): utime always sets ctime to now."""
    f = coarse_dir / "f"
    f.write_bytes(b"AAAA")
    before = sig(f)
    next_second()
    rewrite_in_place(f, b"GGGG")
    os.utime(f, ns=(before[1], before[1]))
    assert changed(before, sig(f)) == {"ctime"}


def test_cp_p_over_a_second_later_moves_only_ctime(coarse_dir: Path) -> None:
    f, src = coarse_dir / "f", coarse_dir / "src"
    f.write_bytes(b"AAAA")
    src.write_bytes(b"HHHH")
    before = sig(f)
    os.utime(src, ns=(before[1], before[1]))
    next_second()
    cp_p(src, f)
    assert changed(before, sig(f)) == {"ctime"}


def test_in_place_rewrite_a_second_later_moves_mtime_and_ctime(coarse_dir: Path) -> None:
    f = coarse_dir / "f"
    f.write_bytes(b"AAAA")
    before = sig(f)
    next_second()
    rewrite_in_place(f, b"BBBB")
    assert changed(before, sig(f)) == {"mtime", "ctime"}


# ---------------------------------------------------------------- the racy rule


def test_racy_rule_needs_ctime(coarse_dir: Path) -> None:
    """After ``touch -r`` the mtime is old but the ctime is now.  A signature taken in that
    second, then an edit + ``touch -r`` in the same second: no field moves, and a racy
    rule on mtime alone would trust the signature.  On ctime it does not."""
    f, ref = coarse_dir / "f", coarse_dir / "ref"
    ref.write_bytes(b"r")
    os.utime(ref, ns=(10**18, 10**18))  # 2001: long ago

    def act() -> tuple[Sig, int, Sig]:
        f.write_bytes(b"AAAA")
        touch_r(ref, f)
        before, taken = sig(f), time.time_ns()
        rewrite_in_place(f, b"ZZZZ")
        touch_r(ref, f)
        return before, taken, sig(f)

    before, taken, after = in_one_second(act)
    assert changed(before, after) == set()
    assert before[1] // NS < taken // NS, "mtime alone looks old enough to trust"
    assert racy(before, taken), "ctime is in the second the signature was taken"


def test_racy_rule_clears_once_the_second_is_over(coarse_dir: Path) -> None:
    """A signature taken in a later second than the stamps is trusted, and rightly: any
    same-size edit after it lands in a new second, so mtime and ctime move."""
    f = coarse_dir / "f"
    f.write_bytes(b"AAAA")
    next_second()
    before, taken = sig(f), time.time_ns()
    assert not racy(before, taken)
    rewrite_in_place(f, b"BBBB")
    assert changed(before, sig(f)) == {"mtime", "ctime"}


# ---------------------------------------------------------------- contrast: the normal file system


@pytest.fixture
def ns_dir(tmp_path: Path) -> Path:
    probe = tmp_path / "probe"
    stamps = set()
    for _ in range(3):
        probe.write_bytes(b"x")
        stamps.add(probe.stat().st_mtime_ns % NS)
        time.sleep(0.003)
    if stamps == {0}:
        pytest.skip(f"{tmp_path} has whole-second stamps: no contrast to draw")
    return tmp_path


def test_ns_fs_touch_r_moves_only_ctime(ns_dir: Path) -> None:
    """Even within one second (here: 10 ms), ``touch -r`` keeps size and mtime but not ctime."""
    f, ref = ns_dir / "f", ns_dir / "ref"
    f.write_bytes(b"AAAA")
    ref.touch()
    touch_r(f, ref)
    before = sig(f)
    time.sleep(0.01)
    rewrite_in_place(f, b"FFFF")
    touch_r(ref, f)
    assert changed(before, sig(f)) == {"ctime"}


def test_ns_fs_cp_p_moves_only_ctime(ns_dir: Path) -> None:
    f, src = ns_dir / "f", ns_dir / "src"
    f.write_bytes(b"AAAA")
    src.write_bytes(b"HHHH")
    before = sig(f)
    os.utime(src, ns=(before[1], before[1]))
    time.sleep(0.01)
    cp_p(src, f)
    assert changed(before, sig(f)) == {"ctime"}


def test_ns_fs_cp_p_to_a_new_name_keeps_mtime(ns_dir: Path) -> None:
    """``cp -p`` to a new file (a copied outdir): mtime kept, ctime and inode new."""
    src, dst = ns_dir / "src", ns_dir / "dst"
    src.write_bytes(b"HHHH")
    time.sleep(0.01)
    cp_p(src, dst)
    assert changed(sig(src), sig(dst)) == {"ctime", "ino"}


def test_ns_fs_same_size_rewrite_moves_mtime_and_ctime(ns_dir: Path) -> None:
    """10 ms apart, more than a jiffy, so even kernels with coarse stamps move them."""
    f = ns_dir / "f"
    f.write_bytes(b"AAAA")
    before = sig(f)
    time.sleep(0.01)
    rewrite_in_place(f, b"BBBB")
    assert changed(before, sig(f)) == {"mtime", "ctime"}
