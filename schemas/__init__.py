"""The config layer: job TOMLs, grids, typed configs, resources, manifests, settings.

Everything here is checked before the engine sees it, and nothing here imports the
engine (only :mod:`necroflow.resources`).  Typical use by the CLI::

    combos = load_combos(["jobs/exp.toml"])          # ConfigError on any bad input
    for combo in combos:
        factory = ...import combo.pipeline...
        config = config_for(factory, combo)          # dict, or the factory's typed model

``RunSettings``/``load_settings`` (pydantic-settings) and the JSON Schema functions are
imported lazily, so importing this package stays cheap on the CLI's start-up path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import ConfigError, ConfigErrors, format_key
from .grid import Axis, Combo, check_unique_names, expand, find_axes
from .job import METADATA_KEYS, JobDocument, JobFile, job_from_dict, load_combos, load_job
from .manifest import Manifest, read_manifest, write_manifest
from .naming import is_safe_component
from .params import config_for, config_model_of, validate_params
from .resources import ConstraintsConfig, Resource, ResourceOrScalar, parse_constraints

if TYPE_CHECKING:
    from .json_schema import job_schema, manifest_schema, pipeline_job_schema
    from .settings import RunSettings, load_settings

_LAZY = {
    "RunSettings": "settings",
    "load_settings": "settings",
    "job_schema": "json_schema",
    "manifest_schema": "json_schema",
    "pipeline_job_schema": "json_schema",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "METADATA_KEYS",
    "Axis",
    "Combo",
    "ConfigError",
    "ConfigErrors",
    "ConstraintsConfig",
    "JobFile",
    "JobDocument",
    "Manifest",
    "Resource",
    "ResourceOrScalar",
    "RunSettings",
    "check_unique_names",
    "config_for",
    "config_model_of",
    "expand",
    "find_axes",
    "format_key",
    "is_safe_component",
    "job_from_dict",
    "job_schema",
    "load_combos",
    "load_job",
    "load_settings",
    "manifest_schema",
    "parse_constraints",
    "pipeline_job_schema",
    "read_manifest",
    "validate_params",
    "write_manifest",
]
