"""Errors of the config layer, written for the person who edits the job file.

Every problem carries *where* it is (file, dotted key path, combo, line/column for TOML
syntax errors) separately from *what* is wrong, so the CLI can print one line per problem
and exit 2 without a traceback, and tests can assert on the parts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def format_key(path: Sequence[str | int]) -> str:
    """Render a key path the way a person would write it in TOML: ``align.threads__grid``.

    Segments that are not bare TOML keys are quoted (``"my key"``), list positions become
    ``[i]``; a top-level metadata key such as ``.pipeline`` is shown as written.
    """
    out = ""
    for i, seg in enumerate(path):
        if isinstance(seg, int):
            out += f"[{seg}]"
            continue
        if i == 0 and seg.startswith(".") and _BARE.match(seg[1:] or "-"):
            text = seg
        elif _BARE.match(seg):
            text = seg
        else:
            text = '"' + seg.replace("\\", "\\\\").replace('"', '\\"') + '"'
        out += text if i == 0 else "." + text
    return out


class ConfigError(Exception):
    """One invalid input: the file, the key path, and what to do about it.

    ``str(err)`` reads like ``jobs/exp.toml: key 'ref__grid': must be a non-empty list``;
    TOML syntax errors add ``line L, column C``, per-combo errors add ``combo 'NAME'``.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        key: str = "",
        line: int | None = None,
        col: int | None = None,
        combo: str | None = None,
    ) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.key = key
        self.line = line
        self.col = col
        self.combo = combo
        super().__init__(str(self))

    @property
    def errors(self) -> list[ConfigError]:
        """All problems carried by this exception (one here; several for ConfigErrors)."""
        return [self]

    def __str__(self) -> str:
        parts: list[str] = []
        if self.file:
            parts.append(self.file)
        if self.line is not None:
            parts.append(f"line {self.line}" + (f", column {self.col}" if self.col else ""))
        if self.combo:
            parts.append(f"combo '{self.combo}'")
        if self.key:
            parts.append(f"key '{self.key}'")
        parts.append(self.message)
        return ": ".join(parts)

    def __reduce__(self) -> tuple[Any, ...]:
        """Keep the keyword-only fields when pickled (multiprocessing, dask workers)."""
        return (_rebuild, (self.message, self.file, self.key, self.line, self.col, self.combo))


def _rebuild(
    message: str, file: str | None, key: str, line: int | None, col: int | None, combo: str | None
) -> ConfigError:
    return ConfigError(message, file=file, key=key, line=line, col=col, combo=combo)


class ConfigErrors(ConfigError):
    """Several problems found in one pass, so the user can fix them all before rerunning.

    It is a :class:`ConfigError` itself (catch one type); ``errors`` lists the parts and
    ``str()`` prints one problem per line.
    """

    def __init__(self, errors: Iterable[ConfigError]) -> None:
        flat: list[ConfigError] = []
        for e in errors:
            flat.extend(e.errors)
        if not flat:
            raise ValueError("ConfigErrors needs at least one error")
        self._errors = flat
        first = flat[0]
        super().__init__(
            first.message,
            file=first.file,
            key=first.key,
            line=first.line,
            col=first.col,
            combo=first.combo,
        )

    @property
    def errors(self) -> list[ConfigError]:
        return list(self._errors)

    def __str__(self) -> str:
        return "\n".join(ConfigError.__str__(e) for e in self._errors)

    def __reduce__(self) -> tuple[Any, ...]:
        return (ConfigErrors, (self._errors,))


def raise_errors(errors: Sequence[ConfigError]) -> None:
    """Raise nothing, the single error, or all of them as one :class:`ConfigErrors`."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ConfigErrors(errors)
