"""JSON Schemas for editors: job files (with or without a pipeline's typed keys) and manifests.

The schemas are generated from the Pydantic models, then shaped for TOML language servers:
draft-07 keywords only, ``definitions`` instead of ``$defs``, no ``null`` (TOML has none),
no keywords beside a ``$ref`` (Taplo ignores them there), and ``additionalProperties`` set
explicitly everywhere (tombi's strict mode treats a missing one as ``false``).
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

from .grid import GRID_SUFFIX
from .job import METADATA_KEYS, PIPELINE_GRID_KEY, PIPELINE_KEY, JobFile
from .manifest import Manifest

DRAFT = "http://json-schema.org/draft-07/schema#"
_REF_TEMPLATE = "#/definitions/{model}"

_GRID = {
    "type": "array",
    "minItems": 1,
    "uniqueItems": True,
    "description": (
        "A grid axis: a non-empty list of distinct values. The job expands into one combo "
        "per value (Cartesian product over all '__grid' keys); the factory sees the key "
        "without the '__grid' suffix."
    ),
}

_USER_VALUE = {
    "description": "A user parameter: any TOML value. Tables may hold '__grid' keys too.",
    "patternProperties": {f"{GRID_SUFFIX}$": {"$ref": "#/definitions/Grid"}},
    "additionalProperties": {"$ref": "#/definitions/UserValue"},
}


def _toml_shape(node: Any) -> Any:
    """Strip JSON-only parts (null, null defaults) and wrap ``$ref`` siblings in allOf."""
    if isinstance(node, list):
        return [_toml_shape(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _toml_shape(v) for k, v in node.items()}
    if "anyOf" in out:
        kept = [s for s in out["anyOf"] if s != {"type": "null"}]
        if len(kept) != len(out["anyOf"]):
            if len(kept) == 1:
                rest = {k: v for k, v in out.items() if k != "anyOf"}
                inner = kept[0]
                merged = {**inner, **rest} if "$ref" not in inner else {**rest, "allOf": [inner]}
                out = merged
            else:
                out["anyOf"] = kept
    if "default" in out and out["default"] is None:
        del out["default"]
    if "$ref" in out and len(out) > 1:
        ref = out.pop("$ref")
        out["allOf"] = [{"$ref": ref}, *out.get("allOf", [])]
    return out


def _model_schema(model: type[BaseModel]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(schema, definitions) of a model, by alias, in the TOML shape."""
    raw = model.model_json_schema(by_alias=True, ref_template=_REF_TEMPLATE)
    defs = raw.pop("$defs", {})
    return _toml_shape(raw), {k: _toml_shape(v) for k, v in defs.items()}


def job_schema() -> dict[str, Any]:
    """The JSON Schema of a job TOML: metadata keys with docs, free user keys, grids."""
    base, _ = _model_schema(JobFile)
    props = {k: base["properties"][k] for k in METADATA_KEYS}
    return {
        "$schema": DRAFT,
        "title": "necroflow job",
        "description": base.get("description", ""),
        "type": "object",
        "properties": props,
        "patternProperties": {f"{GRID_SUFFIX}$": {"$ref": "#/definitions/Grid"}},
        "additionalProperties": {"$ref": "#/definitions/UserValue"},
        "propertyNames": {
            "anyOf": [{"enum": list(METADATA_KEYS)}, {"not": {"pattern": r"^\."}}],
        },
        "oneOf": [{"required": [PIPELINE_KEY]}, {"required": [PIPELINE_GRID_KEY]}],
        "definitions": {"Grid": _GRID, "UserValue": _USER_VALUE},
        "x-taplo": {"initKeys": [PIPELINE_KEY]},
    }


def _grid_form(name: str, field_schema: dict[str, Any]) -> dict[str, Any]:
    items = {
        k: v
        for k, v in field_schema.items()
        if k not in ("title", "description", "examples", "default")
    }
    desc = field_schema.get("description")
    text = f"Grid over '{name}': a list of values, one combo per value."
    return {
        "type": "array",
        "minItems": 1,
        "uniqueItems": True,
        "items": items or {},
        "description": f"{text} {desc}" if desc else text,
    }


def _typed_object(schema: dict[str, Any]) -> dict[str, Any]:
    """Add a ``key__grid`` variant for every property; require ``key`` or ``key__grid``."""
    props = dict(schema.get("properties", {}))
    for name, sub in list(props.items()):
        props[f"{name}{GRID_SUFFIX}"] = _grid_form(name, sub)
    out = {k: v for k, v in schema.items() if k not in ("properties", "required")}
    out["properties"] = props
    out.setdefault("additionalProperties", False)
    required = schema.get("required", [])
    if required:
        out["allOf"] = [
            *out.get("allOf", []),
            *(
                {"anyOf": [{"required": [r]}, {"required": [f"{r}{GRID_SUFFIX}"]}]}
                for r in required
            ),
        ]
    return out


def pipeline_job_schema(config_model: type[BaseModel]) -> dict[str, Any]:
    """The job schema plus a typed pipeline's own keys (each also in its ``__grid`` form).

    Unknown user keys are rejected, as :func:`validate_params` does at run time (unless the
    model allows extra keys).
    """
    schema = job_schema()
    model_schema, defs = _model_schema(config_model)
    typed = _typed_object(model_schema)
    allows_extra = config_model.model_config.get("extra") == "allow"
    schema["title"] = f"necroflow job for {config_model.__name__}"
    if model_schema.get("description"):
        schema["description"] = f"{schema['description']}\n\n{model_schema['description']}"
    schema["properties"] = {**schema["properties"], **typed["properties"]}
    if allows_extra:
        schema["additionalProperties"] = {"$ref": "#/definitions/UserValue"}
    else:
        schema.pop("patternProperties")
        schema["additionalProperties"] = False
    if typed.get("allOf"):
        schema["allOf"] = typed["allOf"]
    for name, d in defs.items():
        if d.get("type") == "object" and "properties" in d:
            d = _typed_object(d)
        schema["definitions"][name] = d
    return schema


def manifest_schema() -> dict[str, Any]:
    """The JSON Schema of a combo's ``manifest.toml``."""
    base, defs = _model_schema(Manifest)
    base["$schema"] = DRAFT
    base["properties"]["outputs"]["additionalProperties"] = {
        "type": "string",
        "description": "Path relative to the outdir: '{rule}/{hash16}/{file}'.",
    }
    if defs:
        base["definitions"] = defs
    return copy.deepcopy(base)
