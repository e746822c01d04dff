"""Job TOML files: read, check and describe them before any engine code runs.

A job file holds necroflow *metadata* (top-level keys starting with ``.``) and free user
parameters (everything else, any TOML value, nested tables included).  :func:`load_job`
returns a :class:`JobDocument` or raises :class:`ConfigError` - never a traceback - for a
missing file, bad bytes, TOML syntax, unknown metadata, wrong types or malformed grids;
all problems of one file are reported together.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema

from ._pydantic import translate
from .errors import ConfigError, format_key, raise_errors
from .grid import Combo, check_unique_names, expand, find_axes
from .naming import canonical

PIPELINE_KEY = ".pipeline"
PIPELINE_GRID_KEY = ".pipeline__grid"
REQUESTS_KEY = ".requests"
CONTAINER_KEY = ".container"
METADATA_KEYS: tuple[str, ...] = (PIPELINE_KEY, PIPELINE_GRID_KEY, REQUESTS_KEY, CONTAINER_KEY)

PIPELINE_PATTERN = r"^[^:]+\.py:[A-Za-z_][A-Za-z0-9_]*$"
LABEL_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
#: A request may also be a glob over labels ("sorted_*", "bam_s?", "qc_[ab]").
REQUEST_PATTERN = r"^(?=.*[*?\[])[A-Za-z0-9_*?\[\]!-]+$|^[A-Za-z_][A-Za-z0-9_]*$"
_PIPELINE_RE = re.compile(PIPELINE_PATTERN)
_LABEL_RE = re.compile(LABEL_PATTERN)
_REQUEST_RE = re.compile(REQUEST_PATTERN)


def _check_pipeline(ref: str) -> str:
    if not _PIPELINE_RE.match(ref):
        raise ValueError(
            f"{ref!r} is not a factory reference; write 'path/to/factory.py:function' "
            "(a .py file, a colon, then the function name)"
        )
    return ref


def _check_label(label: str) -> str:
    if not _REQUEST_RE.match(label):
        raise ValueError(
            f"{label!r} is not an output name; use a Pipeline attribute name such as "
            "'counts' (letters, digits and '_', not starting with a digit), or a glob over "
            "them such as 'sorted_*'"
        )
    return label


PipelineRef = Annotated[
    str,
    AfterValidator(_check_pipeline),
    WithJsonSchema({"type": "string", "pattern": PIPELINE_PATTERN}),
]
Label = Annotated[
    str, AfterValidator(_check_label), WithJsonSchema({"type": "string", "pattern": REQUEST_PATTERN})
]


class JobFile(BaseModel):
    """A necroflow job file.

    Keys starting with '.' are necroflow metadata; every other key is a user parameter
    passed to the pipeline factory.  A key ending in '__grid' holds a list of values and
    expands into one combo per value (Cartesian product over all grids).
    """

    model_config = ConfigDict(extra="allow", title="necroflow job", defer_build=True)

    pipeline: PipelineRef | None = Field(
        None,
        alias=".pipeline",
        title="pipeline factory",
        description=(
            "The pipeline factory to call, as 'path/to/factory.py:function'. The path is "
            "resolved from the directory where necroflow is invoked. Required unless "
            "'.pipeline__grid' is given."
        ),
        examples=["pipelines/rna.py:rna_pipeline"],
    )
    pipeline_grid: list[PipelineRef] | None = Field(
        None,
        alias=".pipeline__grid",
        min_length=1,
        title="grid of pipeline factories",
        json_schema_extra={"uniqueItems": True},
        description=(
            "Several pipeline factories ('file.py:function' each): the job fans out across "
            "them like any other grid axis. Use instead of '.pipeline'."
        ),
        examples=[["pipelines/rna.py:star", "pipelines/rna.py:hisat"]],
    )
    requests: list[Label] | None = Field(
        None,
        alias=".requests",
        min_length=1,
        title="requested outputs",
        json_schema_extra={"uniqueItems": True},
        description=(
            "Names of the Pipeline attributes whose outputs you want (e.g. 'counts' for "
            "P.counts). Only these get links and manifest entries; their ancestors run as "
            "needed. Defaults to all sinks of the pipeline."
        ),
        examples=[["counts", "qc"]],
    )
    container: str | None = Field(
        None,
        alias=".container",
        min_length=1,
        title="default container image",
        description=(
            "The container image that rules naming none of their own run in (e.g. "
            "'docker.io/library/ubuntu:24.04'). Its content id is part of every such job's hash."
        ),
        examples=["docker.io/biocontainers/samtools:1.16"],
    )


@dataclass(frozen=True)
class JobDocument:
    """A checked job file: metadata split from user parameters, grids not yet expanded.

    ``document`` keeps the whole top-level table in file order; grid axes are expanded
    in that order by :func:`necroflow.schemas.expand`.
    """

    source: Path
    pipeline: str | None
    pipeline_grid: list[str] | None
    requests: list[str] | None
    params: dict[str, Any]
    document: dict[str, Any] = field(repr=False)
    container: str | None = None

    def __hash__(self) -> int:  # the parsed tables are dicts; the file identifies the job
        return hash((str(self.source), self.pipeline, tuple(self.pipeline_grid or ())))

    @property
    def stem(self) -> str:
        """The job file name without its suffix: the first part of every combo name."""
        return self.source.stem


def suggest(key: str, valid: tuple[str, ...] = METADATA_KEYS) -> str:
    """A 'did you mean' phrase for an unknown key, or the list of valid keys."""
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    if close:
        return f"did you mean '{close[0]}'?"
    return "valid metadata keys are " + ", ".join(f"'{k}'" for k in valid)


def load_job(path: str | os.PathLike[str]) -> JobDocument:
    """Read and check one job TOML file.

    Raises :class:`ConfigError` (or :class:`ConfigErrors` with several problems) naming
    the file, the key and, for syntax errors, line and column.
    """
    p = Path(path)
    data = _read(p)
    text = _decode(p, data)
    document = _parse(p, text)
    return job_from_dict(document, source=p)


#: A job file is a few lines of TOML; anything this big is a mistake (or /dev/zero).
MAX_JOB_FILE_BYTES = 4 << 20


def _read(p: Path) -> bytes:
    """The file's bytes: a regular file (links followed) of at most MAX_JOB_FILE_BYTES.

    A FIFO, a device or a socket is refused before it is read (``open`` of a FIFO would
    wait for a writer forever; ``/dev/zero`` would fill the memory).
    """
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError
            if not stat.S_ISREG(st.st_mode):
                raise ConfigError("is not a regular file (a FIFO, device or socket); expected a job .toml file",
                                  file=p)
            if st.st_size > MAX_JOB_FILE_BYTES:
                raise ConfigError(f"is {st.st_size} bytes; a job file is at most {MAX_JOB_FILE_BYTES} bytes", file=p)
            chunks, left = [], MAX_JOB_FILE_BYTES + 1
            while left > 0 and (chunk := os.read(fd, left)):
                chunks.append(chunk)
                left -= len(chunk)
            data = b"".join(chunks)
        finally:
            os.close(fd)
        if len(data) > MAX_JOB_FILE_BYTES:
            raise ConfigError(f"is larger than {MAX_JOB_FILE_BYTES} bytes; a job file is a few lines of TOML", file=p)
        return data
    except FileNotFoundError:
        raise ConfigError("file not found; check the path", file=p) from None
    except IsADirectoryError:
        raise ConfigError("is a directory; expected a job .toml file", file=p) from None
    except PermissionError:
        raise ConfigError("permission denied; cannot read the file", file=p) from None
    except OSError as e:
        raise ConfigError(f"cannot read the file: {e.strerror or e}", file=p) from None


def _decode(p: Path, data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]  # a UTF-8 byte-order mark some editors write; harmless, skip it
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise ConfigError(
            f"not valid UTF-8 (byte 0x{data[e.start]:02x}); save the file as UTF-8 text",
            file=p,
            line=line,
            col=col,
        ) from None


_POS = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_END = re.compile(r"\s*\(at end of document\)\s*$")


def _parse(p: Path, text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e.args[0]) if e.args else str(e)
        line = col = None
        m = _POS.search(msg)
        if m:
            line, col = int(m.group(1)), int(m.group(2))
            msg = msg[: m.start()]
        elif _END.search(msg):
            line = text.count("\n") + 1
            msg = _END.sub("", msg) + " at end of file"
        msg = "invalid TOML: " + (msg[:1].lower() + msg[1:] if msg else "syntax error")
        lines = text.splitlines()
        if line is not None and 0 < line <= len(lines) and lines[line - 1].lstrip().startswith("."):
            msg += '; metadata keys must be quoted, e.g. ".pipeline" = "factory.py:func"'
        raise ConfigError(msg, file=p, line=line, col=col) from None


def job_from_dict(document: dict[str, Any], source: str | os.PathLike[str]) -> JobDocument:
    """Check an already-parsed job table (as from ``tomllib``) and build its JobDocument."""
    src = Path(source)
    errors: list[ConfigError] = []
    meta, params = _split_metadata(document, src, errors)
    parsed: JobFile | None = None
    try:
        parsed = JobFile.model_validate(meta)
    except ValidationError as e:
        errors.extend(translate(e, file=src))
    if parsed is not None:
        _check_metadata(parsed, src, errors)
    _, grid_errors = find_axes(document, file=src)
    errors.extend(e for e in grid_errors if e.key != PIPELINE_GRID_KEY)
    raise_errors(errors)
    assert parsed is not None
    return JobDocument(source=src, pipeline=parsed.pipeline, pipeline_grid=parsed.pipeline_grid,
                       requests=parsed.requests, params=params, document=document, container=parsed.container)


def _split_metadata(document: dict[str, Any], src: Path, errors: list[ConfigError]
                    ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(necroflow's '.' keys, user parameters); unknown '.' keys are errors with a suggestion."""
    meta: dict[str, Any] = {}
    params: dict[str, Any] = {}
    for key, value in document.items():
        if not isinstance(key, str):
            errors.append(ConfigError("keys must be strings", file=src, key=repr(key)))
        elif key.startswith("."):
            if key in METADATA_KEYS:
                meta[key] = value
            else:
                errors.append(ConfigError(
                    f"unknown metadata key; {suggest(key)} (keys starting with '.' are "
                    "reserved for necroflow; user parameters must not start with '.')",
                    file=src, key=format_key((key,))))
        else:
            params[key] = value
    return meta, params


def _check_metadata(parsed: JobFile, src: Path, errors: list[ConfigError]) -> None:
    """Rules across metadata keys: one way to name the pipeline, no duplicates in lists."""
    if parsed.pipeline is None and parsed.pipeline_grid is None and not _mentions_pipeline(errors):
        errors.append(ConfigError(f"missing required key '{PIPELINE_KEY}'; add a line like "
                                  f'"{PIPELINE_KEY}" = "path/to/factory.py:function"', file=src))
    if parsed.pipeline is not None and parsed.pipeline_grid is not None:
        errors.append(ConfigError(f"'{PIPELINE_KEY}' and '{PIPELINE_GRID_KEY}' are both set; keep one",
                                  file=src, key=PIPELINE_GRID_KEY))
    for key, items in ((PIPELINE_GRID_KEY, parsed.pipeline_grid), (REQUESTS_KEY, parsed.requests)):
        dup = _first_duplicate(items or [])
        if dup is not None:
            errors.append(ConfigError(f"{dup!r} is listed twice; list each entry once", file=src, key=key))


def _mentions_pipeline(errors: list[ConfigError]) -> bool:
    return any(e.key.startswith(PIPELINE_KEY) or ".pipeline" in e.message for e in errors)


def _first_duplicate(items: list[Any]) -> Any:
    seen: set[str] = set()
    for item in items:
        c = canonical(item)
        if c in seen:
            return item
        seen.add(c)
    return None


def load_combos(paths: Sequence[str | Path]) -> list[Combo]:
    """Load, check and expand several job files; report every file's problems at once."""
    errors: list[ConfigError] = []
    combos: list[Combo] = []
    for p in paths:
        try:
            combos.extend(expand(load_job(p)))
        except ConfigError as e:
            errors.extend(e.errors)
    raise_errors(errors)
    check_unique_names(combos)
    return combos
