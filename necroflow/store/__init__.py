"""The only code that touches ``outdir/{rule}/{hash16}/`` and its ``.rip/`` records.

:class:`Outdir` is an output directory (its lock, node folders and index);
:class:`NodeFolder` one node folder and its records.  Nothing outside this package names a
``.rip`` file.
"""

from .durable import Barrier
from .events import EventLog, EventTail
from .files import NotAFile, atomic_write, read_text, remove_output
from .folder import IndexEntry, NodeFolder
from .hashing import Signature, hash_file, hash_path, signature
from .lock import OutdirLock, OutdirLocked, UnsafeOutdir, live_holder
from .outdir import NodeReader, Outdir, is_node_folder, valid_entry
from .records import (
    CLEANED,
    FAILED,
    INTERRUPTED,
    RUNNING,
    STATES,
    UP_TO_DATE,
    ConsumedInput,
    OutputRecord,
    Record,
)

__all__ = [
    "Barrier", "CLEANED", "EventLog", "EventTail", "FAILED", "INTERRUPTED", "RUNNING", "STATES", "UP_TO_DATE", "ConsumedInput", "IndexEntry",
    "NodeFolder", "NodeReader", "NotAFile", "Outdir", "OutdirLock", "OutdirLocked", "OutputRecord", "Record",
    "Signature", "UnsafeOutdir", "atomic_write", "live_holder", "hash_file", "hash_path", "is_node_folder", "read_state",
    "read_text", "remove_output", "signature", "valid_entry", "write_state",
]


def read_state(node_dir: str | object) -> str | None:
    """The state word of a node folder (``up_to_date``...), None when it has none."""
    import os

    return NodeFolder(os.fspath(node_dir)).state()  # type: ignore[arg-type]


def write_state(node_dir: str | object, state: str) -> None:
    """Overwrite a node folder's state word (tests and tools; the run loop records through NodeFolder)."""
    import os

    NodeFolder(os.fspath(node_dir)).write_state(state)  # type: ignore[arg-type]
