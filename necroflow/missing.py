"""Missing input files: an error when a run is about to start, a warning while validating.

``necroflow run`` refuses a job whose input files do not exist before anything runs.
``necroflow validate`` checks the job files of a fresh clone, whose data may not be made
yet, so there a missing file is a warning: it runs the factories inside
:func:`missing_files_as_warnings`, which collects the missing files instead of raising.

Two kinds of input file take part: :class:`~necroflow.SourceFile` params (checked when the
rule is called) and the paths a factory's typed config checks itself, with
:func:`check_input_file` in a Pydantic validator::

    InputFile = Annotated[Path, AfterValidator(check_input_file)]
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .sources import SourceMissing, content_hash

if TYPE_CHECKING:
    from .schemas import Combo, ConfigError


class MissingSourceFile(SourceMissing):
    """A missing source file, raised when its rule is called; ``path`` is absolute."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class MissingFile:
    """One input file that does not exist: its absolute path, what it is, and what to do."""

    path: str
    what: str = "input file"
    detail: str = ""  # "param 'reads' of rule 'align'"
    hint: str = ""


_found: ContextVar[list[MissingFile] | None] = ContextVar("necroflow_missing_files", default=None)


def missing_file_is_warning() -> bool:
    """True inside :func:`missing_files_as_warnings` (``necroflow validate``)."""
    return _found.get() is not None


@contextmanager
def missing_files_as_warnings(enabled: bool = True) -> Iterator[list[MissingFile]]:
    """Inside the block a missing input file is noted in the yielded list, not raised
    (with ``enabled=False`` the block is strict and the list stays empty)."""
    found: list[MissingFile] = []
    if not enabled:
        yield found
        return
    token = _found.set(found)
    try:
        yield found
    finally:
        _found.reset(token)


def note_missing(path: str | os.PathLike[str], what: str = "input file", detail: str = "",
                 hint: str = "") -> bool:
    """Note a missing file while validating and return True; False means: raise as usual."""
    found = _found.get()
    if found is None:
        return False
    found.append(MissingFile(os.path.abspath(os.fspath(path)), what, detail, hint))
    return True


def check_input_file(path: Any, *, hint: str = "") -> Path:
    """The path, if it names a file; for a factory's config validator.

    A folder is always an error (ValueError, which Pydantic reports with the key).  A path
    that does not exist is an error too, except while validating, where it is noted and
    reported as a warning.  ``hint`` says how to make the file ("run make_data.py").
    """
    p = Path(path)
    if p.is_file():
        return p
    if p.is_dir():
        raise ValueError(f"{p} is a directory, not a file")
    if note_missing(p, "input file", hint=hint):
        return p
    raise ValueError(f"{p} does not exist; paths are relative to the directory necroflow runs in"
                     + (f". {hint}" if hint else ""))


def source_hash(path: str) -> str:
    """The content hash of a source file; while validating, a stand-in for a missing one."""
    try:
        return content_hash(path)
    except SourceMissing:
        if not missing_file_is_warning():
            raise
        return "missing:" + hashlib.sha256(path.encode()).hexdigest()


def missing_warnings(found: list[tuple[Combo, MissingFile]]) -> list[ConfigError]:
    """One warning per missing file and the key naming it, with the first combo it is in.

    The key is found by its value (the path as written, taken from the current directory),
    so it is named for config paths and ``SourceFile`` params alike; a path the factory
    built itself has no key, and the warning names the rule's param instead.
    """
    from .schemas import ConfigError
    from .schemas.params import key_as_written

    seen: dict[tuple[str, str, MissingFile], list[Combo]] = {}
    for combo, m in found:
        loc = _locate(combo.params, m.path)
        key = key_as_written(combo, loc) if loc is not None else ""
        seen.setdefault((str(combo.source), key, m), []).append(combo)
    warnings = []
    for (file, key, m), combos in seen.items():
        also = f" (also in {len(combos) - 1} more combo(s))" if len(combos) > 1 else ""
        detail = f" ({m.detail})" if m.detail else ""
        hint = f". {m.hint}" if m.hint else ""
        warnings.append(ConfigError(f"{m.what} {m.path}{detail} does not exist yet; 'necroflow run' refuses "
                                    f"this job until it does{hint}{also}", file=file, key=key,
                                    combo=combos[0].name))
    return warnings


def missing_source_error(combo: Combo, e: SourceMissing) -> ConfigError:
    """A missing source file as a job-file error: at the key naming it, else at ``.pipeline``."""
    from .schemas import ConfigError
    from .schemas.params import key_as_written

    loc = _locate(combo.params, e.path) if isinstance(e, MissingSourceFile) else None
    key = key_as_written(combo, loc) if loc is not None else ".pipeline"
    return ConfigError(f"{e}; make the file or correct the path (factory {combo.pipeline})",
                       file=combo.source, key=key, combo=combo.name)


def _locate(value: Any, path: str, loc: tuple[str | int, ...] = ()) -> tuple[str | int, ...] | None:
    """Where in ``value`` (nested tables and lists) a string names ``path``."""
    if isinstance(value, str):
        return loc if value and os.path.abspath(value) == path else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for k, v in items:
        found = _locate(v, path, (*loc, k))
        if found is not None:
            return found
    return None
