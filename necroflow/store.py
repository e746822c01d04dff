"""The only code that touches ``outdir/{rule}/{hash16}/`` and its ``.rip/`` records.

Layout of one node folder::

    outdir/{rule}/{hash16}/{filename}...     declared outputs, nothing else
    outdir/{rule}/{hash16}/.rip/state         running | up_to_date | failed | interrupted | cleaned
    .rip/dependencies.toml                    provenance: rule, params, inputs, upstream configs
    .rip/{filename}.hash                      SHA-256 of the output's content (hex)
    .rip/record.json                          sizes/mtimes of hashed outputs, parents' hashes consumed
    .rip/metrics.json                         start, end, wall, cpu, max_rss, exit code, host, job id
    .rip/job.log                              the job's stdout and stderr

Every record is written atomically (temp file in the same folder + ``os.replace``), and
``state`` is written last on success: a crash at any moment leaves either the previous
record or ``running``, and ``running`` is never trusted.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import stat as _stat
from pathlib import Path
from typing import Any

RIP = ".rip"
LOCK_NAME = "necroflow.lock"
CHUNK = 1 << 20

RUNNING = "running"
UP_TO_DATE = "up_to_date"
FAILED = "failed"
INTERRUPTED = "interrupted"
CLEANED = "cleaned"


class OutdirLocked(RuntimeError):
    """Another necroflow process holds the outdir lock."""


def atomic_write(path: Path, data: str | bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    mode = "wb" if isinstance(data, bytes) else "w"
    try:
        with open(tmp, mode) as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:  # a full disk must not leave half-written temp files in .rip/
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read_text(path: Path) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    except UnicodeDecodeError:
        return ""


def read_state(node_dir: Path) -> str | None:
    s = read_text(node_dir / RIP / "state")
    return None if s is None else s.strip()


def write_state(node_dir: Path, state: str) -> None:
    atomic_write(node_dir / RIP / "state", state)


def read_record(node_dir: Path) -> dict[str, Any] | None:
    s = read_text(node_dir / RIP / "record.json")
    if not s:
        return None
    try:
        rec = json.loads(s)
    except ValueError:
        return None
    return rec if isinstance(rec, dict) else None


def write_record(node_dir: Path, record: dict[str, Any]) -> None:
    atomic_write(node_dir / RIP / "record.json", json.dumps(record, sort_keys=True, separators=(",", ":")))


INDEX_NAME = "index.json"
INDEX_VERSION = 1

# One index entry: the state file's (inode, mtime_ns) when it was indexed, the state it
# held, and the node's record.json.  An entry is trusted only while the state file still
# has that inode and mtime (every state write is a fresh file via rename, and any edit
# moves the mtime); anything else falls back to the node's own files.
IndexEntry = tuple[int, int, str, dict[str, Any]]


def load_index(outdir: Path) -> dict[str, IndexEntry]:
    """``outdir/.rip/index.json``: a cache of every node's state and record, so that a no-op
    rerun reads one file instead of two per node.  A missing or damaged index is empty."""
    text = read_text(outdir / RIP / INDEX_NAME)
    if not text:
        return {}
    try:
        doc = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(doc, dict) or doc.get("version") != INDEX_VERSION or not isinstance(doc.get("nodes"), dict):
        return {}
    return doc["nodes"]  # entries are checked when used: valid_entry()


def valid_entry(e: Any) -> bool:
    return (isinstance(e, (list, tuple)) and len(e) == 4 and isinstance(e[0], int) and isinstance(e[1], int)
            and isinstance(e[2], str) and isinstance(e[3], dict))


def index_record(record: dict[str, Any]) -> dict[str, Any]:
    """What the index keeps of a record: output signatures and the input hashes consumed
    (the rest of ``record.json`` is provenance the plan does not need)."""
    ins = record.get("inputs")
    return {
        "outputs": record.get("outputs"),
        "inputs": {k: {"sha256": v.get("sha256")} for k, v in ins.items() if isinstance(v, dict)}
        if isinstance(ins, dict) else {},
    }


def write_index(outdir: Path, nodes: dict[str, IndexEntry]) -> None:
    doc = {"version": INDEX_VERSION, "nodes": {k: list(v) for k, v in nodes.items()}}
    atomic_write(outdir / RIP / INDEX_NAME, json.dumps(doc, separators=(",", ":")))


def state_stamp(node_dir: str | Path) -> tuple[int, int, int] | None:
    """(inode, mtime_ns, size) of a node's state file, for checking an index entry (the
    size must also equal the indexed state word's: cheap insurance on file systems with
    coarse timestamps that reuse inodes)."""
    try:
        st = os.stat(f"{node_dir}/{RIP}/state")
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def signature(path: str | Path) -> tuple[int, int] | None:
    """(size, mtime_ns) of a file, or a cheap digest of a tree's (names, sizes, mtimes); None if absent."""
    try:
        st = os.lstat(path)
        if _stat.S_ISLNK(st.st_mode):
            # A linked output (``ln -s {ref} {index}``) is judged by what it points to; a
            # linked directory is a tree like any other (its own mtime ignores edits inside).
            st = os.stat(path)
    except OSError:
        return None  # absent, or a dangling symlink: not an output
    if _stat.S_ISDIR(st.st_mode):
        h = hashlib.sha256()
        total = 0
        for rel, fst in _walk_tree(path):
            h.update(f"{rel}\0{fst.st_size}\0{fst.st_mtime_ns}\0".encode("utf-8", "surrogateescape"))
            total += fst.st_size
        return total, int.from_bytes(h.digest()[:8], "big")
    return st.st_size, st.st_mtime_ns


def _walk_tree(root: str | Path) -> list[tuple[str, os.stat_result]]:
    out: list[tuple[str, os.stat_result]] = []
    stack = [("", str(root))]
    while stack:
        rel, full = stack.pop()
        with os.scandir(full) as it:
            for e in it:
                r = f"{rel}/{e.name}" if rel else e.name
                if e.is_dir(follow_symlinks=False):
                    stack.append((r, e.path))
                    out.append((r + "/", e.stat(follow_symlinks=False)))
                else:
                    out.append((r, e.stat(follow_symlinks=False)))
    out.sort(key=lambda x: x[0])
    return out


def hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def hash_path(path: Path) -> str:
    """SHA-256 of a file's bytes; for a directory, of its sorted (name, kind, content hash) tree."""
    if os.path.isdir(path):
        h = hashlib.sha256(b"tree\0")
        for rel, st in _walk_tree(path):
            full = path / rel.rstrip("/")
            if _stat.S_ISDIR(st.st_mode):
                h.update(f"d\0{rel}\0".encode("utf-8", "surrogateescape"))
            elif _stat.S_ISLNK(st.st_mode):
                h.update(f"l\0{rel}\0{os.readlink(full)}\0".encode("utf-8", "surrogateescape"))
            else:
                h.update(f"f\0{rel}\0{hash_file(full)}\0".encode("utf-8", "surrogateescape"))
        return h.hexdigest()
    return hash_file(path)


def remove_output(path: Path) -> None:
    """Remove a declared output (file, symlink or tree) before a job reruns."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if _stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def prepare_node_dir(node_dir: Path, filenames: list[str]) -> None:
    """Create the folder, clear outputs of any earlier attempt, mark the node running."""
    rip = node_dir / RIP
    if os.path.islink(rip):  # a planted link would send every record outside the node folder
        os.unlink(rip)
    os.makedirs(rip, exist_ok=True)
    write_state(node_dir, RUNNING)
    try:  # backends open job.log for writing: never truncate whatever a planted link points at
        os.unlink(rip / "job.log")
    except FileNotFoundError:
        pass
    for fn in filenames:
        remove_output(node_dir / fn)
        try:
            os.unlink(rip / f"{fn}.hash")
        except FileNotFoundError:
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class OutdirLock:
    """``outdir/.rip/necroflow.lock`` held with ``fcntl.flock`` for the whole run.

    The kernel drops a flock when its holder dies, so a lock file left by a killed
    process never blocks the next run.
    """

    def __init__(self, outdir: Path) -> None:
        self.path = outdir / RIP / LOCK_NAME
        self.fd: int | None = None

    def acquire(self) -> None:
        os.makedirs(self.path.parent, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = ""
            try:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
            except OSError:
                pass
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                who = f" (pid {holder})" if holder else ""
                if holder.isdigit() and not _alive(int(holder)):
                    raise OutdirLocked(
                        f"necroflow process {holder} that ran on {self.path.parent.parent} is gone, but jobs it "
                        f"started still run and hold its lock; wait for them to end or stop them "
                        f"(`fuser -k {self.path}`), then rerun"
                    ) from None
                raise OutdirLocked(
                    f"another necroflow process{who} is running on {self.path.parent.parent}; "
                    f"wait for it to finish or stop it (lock: {self.path})"
                ) from None
            raise
        try:  # the pid is a courtesy for the error message; the flock is the lock
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:  # e.g. disk full: the run then fails on its first record, with a message
            pass
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            try:
                os.ftruncate(self.fd, 0)
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            finally:
                os.close(self.fd)
                self.fd = None

    def __enter__(self) -> OutdirLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
