"""One node folder, ``outdir/{rule}/{hash16}/``, and the records in its ``.rip/``.

Layout::

    {filename}...            declared outputs (and their companions), nothing else
    .rip/state               running | up_to_date | failed | interrupted | cleaned
    .rip/dependencies.toml   provenance: rule, command, params, inputs, upstream configs
    .rip/{filename}.hash     SHA-256 of the output's content (hex)
    .rip/record.json         what was hashed (sizes, mtimes) and each input's hash consumed
    .rip/metrics.json        start, end, wall, cpu, max_rss, exit code, host, job id
    .rip/job.log             the job's stdout and stderr

Every record is written atomically and ``state`` last on success: a crash at any moment
leaves either the previous records or ``running``, and ``running`` is never trusted.
"""

from __future__ import annotations

import json
import os
import stat
import tomllib
from typing import Any

from .files import atomic_write, read_bytes, read_text, remove_output, unlink_quietly
from .hashing import fs_time_ns, hash_path, signature, signature_fields, trusted
from .records import (
    CLEANED,
    FAILED,
    RUNNING,
    UP_TO_DATE,
    ConsumedInput,
    Record,
    index_copy,
    parse_metrics,
    parse_record,
)

RIP = ".rip"

#: (state file inode, mtime_ns, state word, index copy of the record): what the outdir index
#: keeps per node; trusted only while the state file still has that inode and mtime.
IndexEntry = tuple[int, int, str, dict[str, Any]]


def _json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, indent=1, default=str)


class NodeFolder:
    """Reads and writes the records of one node folder (paths as text: this is a hot path)."""

    __slots__ = ("path", "rip")

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.rip = f"{self.path}/{RIP}"

    def __repr__(self) -> str:
        return f"NodeFolder({self.path!r})"

    @property
    def log_path(self) -> str:
        return f"{self.rip}/job.log"

    @property
    def script_job_path(self) -> str:
        """Where a script rule's job data (JSON) lives."""
        return f"{self.rip}/script-job.json"

    def write_library(self, files: dict[str, str]) -> str:
        """Write ``.rip/pylib/`` (files by relative path) for a script in a container; returns it."""
        root = f"{self.rip}/pylib"
        for rel, text in files.items():
            os.makedirs(os.path.dirname(f"{root}/{rel}"), exist_ok=True)
            atomic_write(f"{root}/{rel}", text)
        return root

    def write_script_job(self, data: dict[str, Any]) -> str:
        atomic_write(self.script_job_path, json.dumps(data, indent=1, sort_keys=True))
        return self.script_job_path

    def file(self, name: str) -> str:
        return f"{self.path}/{name}"

    # -- writing -------------------------------------------------------------------------
    def begin(self, files: list[str], first_attempt: bool = True) -> None:
        """Create the folder, mark it running, clear every output and log of an earlier attempt
        (and, on a run's first attempt, the attempts an earlier run kept)."""
        rip = self.rip
        if os.path.islink(rip):  # a planted link would send every record outside the node folder
            os.unlink(rip)
        os.makedirs(rip, exist_ok=True)
        self.write_state(RUNNING)
        unlink_quietly(self.log_path)  # backends open job.log for writing: never truncate a planted link's target
        if first_attempt and os.path.isdir(f"{rip}/attempts") and not os.path.islink(f"{rip}/attempts"):
            import shutil

            shutil.rmtree(f"{rip}/attempts")
        for fn in files:
            remove_output(self.file(fn))
            unlink_quietly(f"{rip}/{fn}.hash")

    def write_state(self, state: str) -> None:
        atomic_write(f"{self.rip}/state", state)

    def append_log(self, text: str) -> None:
        try:
            fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError:
            return
        try:
            os.write(fd, text.encode(errors="replace"))
        finally:
            os.close(fd)

    def record_failure(self, metrics: dict[str, Any], provenance: dict[str, Any], note: str = "") -> None:
        """Metrics and provenance of a failed attempt, then ``failed``; ``note`` goes to the log."""
        atomic_write(f"{self.rip}/metrics.json", _json(metrics))
        self._write_provenance(provenance)
        if note:
            self.append_log(f"\nnecroflow: {note}\n")
        self.write_state(FAILED)

    def record_success(self, job: str, fingerprint: str, outputs: dict[str, dict[str, Any]],
                       inputs: dict[str, dict[str, Any]], metrics: dict[str, Any],
                       provenance: dict[str, Any]) -> dict[str, Any]:
        """Every record of a successful run but the state; returns the record for :meth:`commit`.

        The state is written by :meth:`commit` once a :class:`~necroflow.store.durable.Barrier`
        has made these records (and the outputs) durable.
        """
        rip = self.rip
        atomic_write(f"{rip}/metrics.json", _json(metrics))
        self._write_provenance(provenance)
        for fn, o in outputs.items():
            atomic_write(f"{rip}/{fn}.hash", o["sha256"])
        record = {"job": job, "fingerprint": fingerprint, "outputs": outputs, "inputs": inputs}
        atomic_write(f"{rip}/record.json", json.dumps(record, sort_keys=True, separators=(",", ":")))
        return record

    def commit(self, record: dict[str, Any]) -> IndexEntry | None:
        """Mark the node up to date (its records are durable); returns its index entry."""
        self.write_state(UP_TO_DATE)
        stamp = self.stamp()
        return None if stamp is None else (stamp[0], stamp[1], UP_TO_DATE, index_copy(record))

    def _write_provenance(self, doc: dict[str, Any]) -> None:
        import tomli_w

        atomic_write(f"{self.rip}/dependencies.toml", tomli_w.dumps(doc))

    def keep_attempt(self, attempt: int) -> str:
        """Keep this attempt's log and metrics as ``.rip/attempts/N/`` (before a retry clears them)."""
        where = f"{self.rip}/attempts/{attempt}"
        os.makedirs(where, exist_ok=True)
        for name in ("job.log", "metrics.json"):
            src, dst = f"{self.rip}/{name}", f"{where}/{name}"
            unlink_quietly(dst)
            try:
                os.link(src, dst)  # the next attempt writes new files; the link keeps this one's
            except FileNotFoundError:
                pass
            except OSError:
                data = read_bytes(src)
                if data is not None:
                    atomic_write(dst, data)
        return where

    def clean_outputs(self, files: list[str]) -> list[str]:
        """Delete the outputs (autoclean), keep the records, mark ``cleaned``; returns what went."""
        removed = []
        for fn in files:
            p = self.file(fn)
            if os.path.lexists(p):
                remove_output(p)
                removed.append(p)
        self.write_state(CLEANED)
        return removed

    # -- reading -------------------------------------------------------------------------
    def state(self) -> str | None:
        s = read_text(f"{self.rip}/state", limit=64)
        return None if s is None else s.strip()

    def stamp(self) -> tuple[int, int, int] | None:
        """(inode, mtime_ns, size) of the state file, for checking an index entry."""
        try:
            st = os.stat(f"{self.rip}/state")
        except OSError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def state_time(self) -> float | None:
        """When the state was last written (the state file's mtime), None without one."""
        try:
            return os.lstat(f"{self.rip}/state").st_mtime
        except OSError:
            return None

    def record_dict(self) -> dict[str, Any] | None:
        """``record.json`` as checked data; None when absent or of the wrong shape."""
        return parse_record(read_text(f"{self.rip}/record.json"))

    def record(self) -> Record | None:
        rec = self.record_dict()
        return None if rec is None else Record.from_dict(rec)

    def consumed(self) -> dict[str, ConsumedInput]:
        rec = self.record()
        return {} if rec is None else rec.inputs

    def metrics(self) -> dict[str, Any]:
        return parse_metrics(read_text(f"{self.rip}/metrics.json"))

    def provenance(self) -> dict[str, Any] | None:
        """``dependencies.toml`` as a table; None when absent or unreadable."""
        try:
            data = read_bytes(f"{self.rip}/dependencies.toml")
        except OSError:
            return None
        if data is None:
            return None
        try:
            return tomllib.loads(data.decode())
        except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
            return None

    def log_tail(self, lines: int = 20, path: str | None = None) -> str:
        """The last lines of the job log (or of another file in the folder)."""
        try:
            fd = os.open(path or self.log_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return ""
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):  # a FIFO planted as the log would block here
                return ""
            size = st.st_size
            data = os.pread(fd, 8192, max(0, size - 8192)).decode(errors="replace")
        except OSError:
            return ""
        finally:
            os.close(fd)
        return "\n".join(data.rstrip("\n").split("\n")[-lines:])

    def current_hashes(self, record: dict[str, Any], files: list[str], persist: bool
                       ) -> tuple[dict[str, str] | None, str, bool]:
        """(content hashes, the first file missing, whether anything was re-hashed).

        Only files whose signature moved are re-hashed.  A hand-edited output is accepted as
        the new content: its record is updated (when ``persist``) and its consumers see a
        different hash.  Hashes are None when an output (or its record) is missing; ``record``
        may be the index's shorter copy.
        """
        outs = record["outputs"]
        result: dict[str, str] = {}
        changed = False
        for fn in files:
            path = f"{self.path}/{fn}"
            now = fs_time_ns()  # before the stat: the racy rule compares stamps with this
            sig = signature(path)
            if sig is None:
                return None, fn, False
            rec = outs.get(fn)
            if rec is None:
                return None, "", False
            if trusted(rec, sig):
                result[fn] = rec["sha256"]
                continue
            try:
                sha = hash_path(path)
            except OSError:  # not a file or folder any more (a FIFO planted there): unusable, rerun
                return None, fn, False
            result[fn] = sha
            outs[fn] = {"sha256": sha, **signature_fields(sig, now)}  # so it is not hashed again
            changed = True
        if changed and persist:
            full = self.record_dict() or record
            full["outputs"] = outs
            atomic_write(f"{self.rip}/record.json", json.dumps(full, sort_keys=True, separators=(",", ":")))
            for fn in files:
                atomic_write(f"{self.rip}/{fn}.hash", result[fn])
        return result, "", changed
