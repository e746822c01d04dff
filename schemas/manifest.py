"""``manifest.toml``: what a combo folder holds, for people and for downstream scripts.

``[outputs]`` maps each requested Pipeline attribute name to its path relative to the
outdir (``counts = "count/a3f1bc92…/counts.txt"``); the other keys say where the combo came
from.  Written atomically (temp file in the same folder, then ``os.replace``) so a reader
never sees half a manifest.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from ._pydantic import translate
from .errors import ConfigError, raise_errors


def _check_relpath(path: str) -> str:
    p = PurePosixPath(path)
    if not path or p.is_absolute() or ".." in p.parts or "\0" in path or "\\" in path:
        raise ValueError(
            f"{path!r} must be a path relative to the outdir, like 'count/<hash>/counts.txt'"
        )
    return path


RelPath = Annotated[str, AfterValidator(_check_relpath)]


class Manifest(BaseModel):
    """The manifest of one combo folder under the outdir."""

    model_config = ConfigDict(extra="allow", title="necroflow manifest", defer_build=True)

    combo: str | None = Field(None, description="Name of the combo folder this manifest lives in.")
    job_file: str | None = Field(None, description="The job TOML this combo was expanded from.")
    pipeline: str | None = Field(
        None, description="The factory that built the pipeline ('file.py:function')."
    )
    requests: list[str] | None = Field(
        None, description="The requested output names ('.requests'), if the job gave any."
    )
    axes: dict[str, Any] = Field(
        default_factory=dict,
        description="The grid value of each axis for this combo, keyed by the axis' dotted key.",
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="The user parameters the factory received (after grid expansion).",
    )
    outputs: dict[str, RelPath] = Field(
        description=(
            "Requested outputs keyed by Pipeline attribute name; each value is the output's "
            "path relative to the outdir ('{rule}/{hash16}/{file}')."
        ),
    )


def manifest_to_toml(manifest: Manifest) -> str:
    """Render a manifest as TOML text (metadata first, then tables)."""
    import tomli_w

    data = manifest.model_dump(exclude_none=True)
    first = ("combo", "job_file", "pipeline", "requests", "outputs", "axes", "params")
    ordered = {k: data.pop(k) for k in first if k in data}
    ordered.update(data)  # extra keys a newer necroflow may have added, kept as they are
    return tomli_w.dumps(ordered)


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once at import: os.umask is process-wide, not thread-safe to probe later


def write_manifest(path: str | os.PathLike[str], manifest: Manifest) -> None:
    """Write ``manifest`` to ``path`` atomically: a temp file beside it, then os.replace."""
    target = Path(path)
    text = manifest_to_toml(manifest)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            os.fchmod(fh.fileno(), 0o666 & ~_UMASK)  # mkstemp makes 0600; a manifest is for everyone
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def read_manifest(path: str | os.PathLike[str]) -> Manifest:
    """Read and check a manifest.toml; ConfigError names the file and key on problems."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError("manifest not found", file=p) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read the manifest: {e}", file=p) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"invalid TOML: {e}", file=p) from None
    try:
        return Manifest.model_validate(data)
    except ValidationError as e:
        raise_errors(translate(e, file=p))
        raise AssertionError("unreachable") from None
