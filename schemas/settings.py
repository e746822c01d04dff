"""Run options from ``NECROFLOW_*`` environment variables, with command-line flags on top.

``load_settings(**flags)`` builds :class:`RunSettings`; a flag given as ``None`` means "not
given", so the environment (then the default) decides.  Errors name the flag or the
environment variable the bad value came from.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, PositiveFloat, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ._pydantic import translate
from .errors import ConfigError, raise_errors
from .resources import parse_constraints

ENV_PREFIX = "NECROFLOW_"


class RunSettings(BaseSettings):
    """Options of one ``necroflow run``; every field also reads ``NECROFLOW_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", validate_default=True)

    outdir: Path | None = Field(None, description="Output directory (NECROFLOW_OUTDIR).")
    cores: int | Literal["all"] = Field(
        "all", description="Thread cap: a positive integer or 'all' CPUs (NECROFLOW_CORES)."
    )
    constraints: Annotated[dict[str, Any], NoDecode] = Field(
        default_factory=dict,
        description=(
            "Extra resource caps, e.g. {'ram': '64Gi'}; from the environment as JSON or "
            "'ram=64Gi,gpu=2' (NECROFLOW_CONSTRAINTS)."
        ),
    )
    keep_going: bool = Field(False, description="Continue independent branches past failures.")
    autoclean: bool = Field(False, description="Delete orphan outputs.")
    dry_run: bool = Field(False, description="Show what would run, run nothing.")
    backend: Literal["local", "slurm", "dask"] = Field("local", description="Where jobs run.")
    quiet: bool = Field(False, description="Print only errors and the final summary.")
    verbose: bool = Field(False, description="Print every job's command and state changes.")
    slurm_partition: str | None = Field(None, description="SLURM partition (sbatch --partition).")
    slurm_account: str | None = Field(None, description="SLURM account (sbatch --account).")
    slurm_poll_interval: PositiveFloat = Field(
        1.0, description="Seconds between SLURM state polls (one squeue call per poll)."
    )
    slurm_extra_args: str | None = Field(
        None,
        description="Extra sbatch arguments for every job, shell-quoted, e.g. '--qos=short --exclusive'.",
    )
    slurm_submit_rate: PositiveFloat = Field(
        10.0, description="Maximum sbatch submissions per second."
    )
    slurm_array_size: int = Field(
        1000, ge=0, description="Most SLURM jobs in one job array; 0 or 1 submits each job by itself."
    )
    slurm_array_throttle: int = Field(0, ge=0, description="Most tasks of one SLURM array running at once (0: no limit).")
    slurm_group_size: int = Field(
        0, ge=0, description="Pack up to N ready jobs into one SLURM allocation (0: only rules with group=)."
    )
    slurm_group_cpus: int | None = Field(None, ge=1, description="CPUs of a group's allocation (default: one member's).")
    retries: int = Field(0, ge=0, description="Retries of a failed job, unless its rule says (NECROFLOW_RETRIES).")
    time_limit: str | None = Field(
        None, description="Most time any one job may run: seconds, '2h', '90m' or '1:30:00' (NECROFLOW_TIME_LIMIT)."
    )
    container: str | None = Field(
        None, description="Container image for rules that name none (NECROFLOW_CONTAINER); a job file's .container wins."
    )
    container_runtime: str | None = Field(
        None, description="podman, docker, apptainer or singularity (or a path); default: the first found."
    )
    dask_scheduler: str | None = Field(
        None,
        description="Address of a Dask scheduler (tcp://host:8786); none starts a local cluster.",
    )

    @field_validator("time_limit", mode="before")
    @classmethod
    def _time_limit(cls, value: Any) -> Any:
        if value is None:
            return None
        from necroflow.resources import parse_time

        parse_time(value)  # raises ValueError with the accepted forms
        return str(value)

    @field_validator("cores", mode="before")
    @classmethod
    def _cores(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip().lower()
            if text == "all":
                return "all"
            if text.isdigit():
                value = int(text)
            else:
                raise ValueError(f"must be a positive integer or 'all' (got {value!r})")
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"must be a positive integer or 'all' (got {value!r})")
        return value

    @field_validator("constraints", mode="before")
    @classmethod
    def _constraints(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("{"):
                try:
                    value = json.loads(text)
                except json.JSONDecodeError as e:
                    raise ValueError(f"is not valid JSON: {e}") from None
            else:
                value = [part for part in text.split(",") if part.strip()]
        try:
            if isinstance(value, list | tuple):
                return parse_constraints([str(v) for v in value])
            if isinstance(value, dict):
                return parse_constraints(value)
        except ConfigError as e:  # re-raised as a field error so it names its true origin
            raise ValueError(f"key '{e.key}': {e.message}" if e.key else e.message) from None
        raise ValueError("must be a table of KEY = VALUE caps")

    @model_validator(mode="after")
    def _one_verbosity(self) -> RunSettings:
        if self.quiet and self.verbose:
            raise ValueError(
                "--quiet and --verbose (or NECROFLOW_QUIET and NECROFLOW_VERBOSE) can't both be "
                "on; choose one"
            )
        return self

    def thread_cap(self) -> int:
        """``cores`` as a number: 'all' means every CPU this process may use."""
        if self.cores == "all":
            try:
                return len(os.sched_getaffinity(0)) or 1
            except AttributeError:  # not on Linux
                return os.cpu_count() or 1
        return self.cores


def load_settings(**flags: Any) -> RunSettings:
    """Settings from the environment with the given flags on top (``None`` = not given).

    Raises ConfigError naming the flag (``--cores``) or variable (``NECROFLOW_CORES``).
    """
    given = {k: v for k, v in flags.items() if v is not None}
    unknown = sorted(set(given) - set(RunSettings.model_fields))
    if unknown:
        raise ConfigError(f"unknown run option(s): {', '.join(unknown)}")
    try:
        return RunSettings(**given)
    except ValidationError as e:
        errors = []
        for err in translate(e, file=None, key_of=lambda loc: str(loc[0]) if loc else ""):
            name = err.key
            if not name:
                origin = None  # a rule across options: the message names them
            elif name in given:
                origin = "--" + ("constraint" if name == "constraints" else name.replace("_", "-"))
            else:
                origin = ENV_PREFIX + name.upper()
            errors.append(ConfigError(err.message, file=origin))
        raise_errors(errors)
        raise AssertionError("unreachable") from None
