"""Garbage collection of node folders: content-addressed outdirs otherwise grow without bound.

Every change of a param, command or upstream job gives a new hash folder and leaves the old
one behind (nothing is overwritten in place).  :func:`find_garbage` lists the folders that
can go — orphans that no current job needs, and/or folders whose last recorded state is
older than a cut-off — with the bytes each one holds, so a dry run can show what would be
freed.  :func:`remove` deletes them.

Safety rules, each with a test: only ``outdir/{rule}/{hash16}`` folders are ever candidates;
a symlinked rule or node folder is never entered or removed through its link; deletion
never follows a symlink (``shutil.rmtree`` on Linux works on directory file descriptors);
and removal holds the outdir lock, so it cannot race a running ``necroflow run``.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from .store import NodeFolder, Outdir, OutdirLock
from .store.outdir import HASH16

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_AGE_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}


@dataclass(frozen=True)
class Garbage:
    """One node folder that can be removed, and why."""

    outdir: Path
    path: Path  # outdir/{rule}/{hash16}
    key: str  # "{rule}/{hash16}"
    reason: str  # "orphan", "older than 30d", or both
    bytes: int  # disk space it holds (allocated blocks, hard links counted once)
    mtime: float  # when its .rip/state was last written (folder mtime when there is none)
    state: str | None  # last recorded state, None when the folder has no state record


def parse_age(text: str) -> float:
    """``"90"``/``"90s"``, ``"15m"``, ``"12h"``, ``"30d"``, ``"2w"`` -> seconds (for ``--older-than``)."""
    m = _AGE.match(str(text))
    if not m:
        raise ValueError(f"age {text!r} is not understood: write a number with an optional unit "
                         "s, m, h, d or w, e.g. 30d or 12h")
    return float(m.group(1)) * _AGE_UNITS[m.group(2)]


def format_bytes(n: int) -> str:
    """1536 -> '1.5 KiB': sizes for people in dry-run listings."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def tree_bytes(path: Path, seen: set[tuple[int, int]] | None = None) -> int:
    """Allocated bytes of a tree, without following symlinks; hard links counted once."""
    seen = set() if seen is None else seen
    total = 0
    stack = [str(path)]
    while stack:
        d = stack.pop()
        try:
            it = os.scandir(d)
        except OSError:
            continue
        with it:
            for e in it:
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                ident = (st.st_dev, st.st_ino)
                if ident in seen:
                    continue
                seen.add(ident)
                total += st.st_blocks * 512
                if stat.S_ISDIR(st.st_mode):
                    stack.append(e.path)
    return total


def node_folders(outdir: Path) -> list[Path]:
    """Every ``outdir/{rule}/{hash16}`` node folder; link folders of combos are skipped."""
    return [Path(f.path) for _, f in Outdir(outdir).node_folders()]


def find_garbage(outdir: str | os.PathLike[str], keep: set[str] | None = None,
                 older_than: float | None = None, now: float | None = None) -> list[Garbage]:
    """Node folders that can be removed, with the bytes each holds.

    ``keep`` is the set of job keys (``rule/hash16``) the current jobs need; any other folder
    is an orphan.  ``older_than`` (seconds) keeps only folders whose ``.rip/state`` was last
    written longer ago than that.  Given both, a folder must be an orphan *and* old; given
    only ``older_than``, any old folder qualifies (no job file needed); given neither,
    nothing is selected and a ValueError says what to pass.
    """
    if keep is None and older_than is None:
        raise ValueError("find_garbage needs keep (the job keys still needed: orphans go) and/or "
                         "older_than (seconds: folders last run longer ago go)")
    root = Path(outdir).absolute()
    now = time.time() if now is None else now
    cutoff = None if older_than is None else now - older_than
    seen: set[tuple[int, int]] = set()
    out: list[Garbage] = []
    for folder in node_folders(root):
        key = f"{folder.parent.name}/{folder.name}"
        if keep is not None and key in keep:
            continue
        mtime = _state_mtime(folder)
        if mtime is None:
            try:
                mtime = os.lstat(folder).st_mtime
            except OSError:
                continue
        if cutoff is not None and mtime > cutoff:
            continue
        reasons = []
        if keep is not None:
            reasons.append("orphan")
        if older_than is not None:
            reasons.append(f"last run {_age_text(now - mtime)} ago")
        out.append(Garbage(outdir=root, path=folder, key=key, reason=", ".join(reasons),
                           bytes=tree_bytes(folder, seen), mtime=mtime, state=NodeFolder(folder).state()))
    return out


def _state_mtime(folder: Path) -> float | None:
    return NodeFolder(folder).state_time()


def _age_text(seconds: float) -> str:
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


class UnsafePath(RuntimeError):
    """A garbage entry that does not point at a real node folder inside its outdir."""


def _check_inside(g: Garbage) -> None:
    """Refuse anything but a real directory exactly two levels under a real outdir."""
    outdir = g.outdir
    path = g.path
    if path.parent.parent != outdir or not HASH16.match(path.name):
        raise UnsafePath(f"{path} is not an outdir/{{rule}}/{{hash16}} folder of {outdir}; refusing to remove it")
    for p in (path.parent, path):
        st = os.lstat(p)
        if not stat.S_ISDIR(st.st_mode):
            raise UnsafePath(f"{p} is a symlink or not a directory; refusing to remove anything through it")
    real_out = os.path.realpath(outdir)
    if os.path.dirname(os.path.dirname(os.path.realpath(path))) != real_out:
        raise UnsafePath(f"{path} resolves outside {real_out}; refusing to remove it")


def remove(garbage: list[Garbage], lock: bool = True) -> int:
    """Delete the listed folders; returns the bytes freed.

    Holds each outdir's lock while deleting (``lock=False`` when the caller holds it
    already), skips a folder whose state record was written after it was listed (a run
    in between may need it again), re-checks that every path is a real node folder inside
    its outdir, and deletes without following symlinks: a link inside a folder is unlinked, its target
    untouched.  Folders that vanished meanwhile are skipped.
    """
    if not shutil.rmtree.avoids_symlink_attacks:  # pragma: no cover - every Linux/macOS CPython has it
        raise RuntimeError("this platform's shutil.rmtree can follow symlinks; refusing to delete")
    freed = 0
    by_outdir: dict[Path, list[Garbage]] = {}
    for g in garbage:
        by_outdir.setdefault(g.outdir, []).append(g)
    for outdir, items in by_outdir.items():
        held = OutdirLock(outdir) if lock else None
        if held is not None:
            held.acquire()
        try:
            for g in items:
                if not os.path.lexists(g.path):
                    continue
                if _state_mtime(g.path) not in (g.mtime, None):
                    continue  # a run wrote it after it was listed: it may be needed again
                _check_inside(g)
                shutil.rmtree(g.path)
                freed += g.bytes
        finally:
            if held is not None:
                held.release()
    return freed


def render_garbage(garbage: list[Garbage], dry_run: bool = True) -> str:
    """The listing ``necroflow clean`` prints: one line per folder, then the total."""
    w = max((len(g.key) for g in garbage), default=0)
    lines = [f"  {g.key:<{w}}  {format_bytes(g.bytes):>10}  {g.state or 'no state':<11}  ({g.reason})"
             for g in garbage]
    total = sum(g.bytes for g in garbage)
    verb = "would free" if dry_run else "freed"
    lines.append(f"{len(garbage)} folder(s), {verb} {format_bytes(total)}"
                 + (" (dry run: nothing deleted)" if dry_run and garbage else ""))
    return "\n".join(lines)
