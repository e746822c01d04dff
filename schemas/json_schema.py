"""JSON Schemas for editors: job files (with or without a pipeline's typed keys) and manifests.

The schemas are generated from the Pydantic models, then shaped for the TOML language
servers people use, Taplo (Even Better TOML, ``@taplo/lsp``) and tombi, which are tested
for real in ``tests/editor``:

* **draft-07 keywords only**, ``definitions`` instead of ``$defs``, no ``null`` (TOML has
  none), no keywords beside a ``$ref`` (Taplo ignores them there), and
  ``additionalProperties`` set explicitly everywhere (tombi's strict mode treats a missing
  one as ``false``).
* **No ``allOf``/``anyOf``/``oneOf`` on a table that should complete.**  Taplo never offers
  the ``properties`` of a schema that has an ``allOf`` (it takes that for the
  ``{"allOf": [{"$ref": ...}]}`` wrapper and completes the members only), so required keys
  are checked under ``if``/``then``, which completion ignores.  An ``anyOf`` of plain types
  (a ``Resource``: an integer or a size string) becomes one multi-type schema, so a bad
  value gets one message instead of one per branch.
* **Every mistake fails at its own key, never at the table.**  Taplo 0.9 attaches an error
  about a table to every key and value in it (a misspelt ``.pipline`` used to give ten
  copies), so an unknown key is rejected by the schema of its *value* (``additionalProperties``
  / ``patternProperties`` with a ``not`` that carries the explanation), as is a key set
  together with its ``__grid`` form.  Only a missing required key is about the table as a
  whole; it is reported as ``"ref" is a required property``, once per missing key (Taplo
  shows that one message on every line of the table), and only while the table has no
  unknown key, so a misspelt key is one message, not also "the real key is missing".
"""

from __future__ import annotations

import copy
import re
from typing import Any

from pydantic import BaseModel

from .grid import GRID_SUFFIX
from .job import METADATA_KEYS, PIPELINE_GRID_KEY, PIPELINE_KEY, JobFile
from .manifest import Manifest

DRAFT = "http://json-schema.org/draft-07/schema#"
_REF_TEMPLATE = "#/definitions/{model}"

# A top-level key starting with '.' that is not one of the metadata keys.
UNKNOWN_METADATA_PATTERN = r"^\.(?!(?:" + "|".join(re.escape(k[1:]) for k in METADATA_KEYS) + r")$)"
_METADATA_LIST = ", ".join(f"'{k}'" for k in METADATA_KEYS)

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


def _reject(message: str, hover: bool = True) -> dict[str, Any]:
    """A schema no value satisfies, explaining why (the editors show it on the key).

    Taplo reports ``{"description": MESSAGE} is not allowed for VALUE``, tombi
    ``"not" schema is matched``; both on the offending key's line, once.  With ``hover``,
    the message is also the key's hover text; not for ``additionalProperties``, which
    Taplo's hover merges into the text of *every* key of the table.
    ``additionalProperties: true`` keeps tombi's strict mode from also complaining about
    the keys inside a table value.
    """
    schema: dict[str, Any] = {"not": {"description": message}, "additionalProperties": True}
    if hover:
        schema["description"] = message
    return schema


_UNKNOWN_METADATA = _reject(
    f"unknown metadata key: the metadata keys are {_METADATA_LIST}; keys starting with '.' "
    "are reserved for necroflow, user parameters must not start with '.'"
)


def _both_set(key: str, grid_key: str) -> dict[str, Any]:
    return _reject(f"'{key}' and '{grid_key}' are both set; keep one")


def _open(schema: dict[str, Any]) -> dict[str, Any]:
    """A subschema that only adds checks to a table described elsewhere.

    tombi's strict mode reads every schema of a table on its own and, without an explicit
    ``additionalProperties: true``, would flag each key the subschema does not list.
    """
    return {**schema, "additionalProperties": True}


def _if_present_else(
    present: str, then: dict[str, Any], otherwise: dict[str, Any] | None
) -> dict[str, Any]:
    """``if`` key ``present`` is set ``then`` ... ``else`` ...: one message, never an anyOf."""
    rule: dict[str, Any] = {"if": _open({"required": [present]}), "then": _open(then)}
    if otherwise is not None:
        rule["else"] = _open(otherwise)
    return _open(rule)


def _key_rule(key: str, required: bool) -> dict[str, Any]:
    """``key`` or ``key__grid``, not both; one of them when the key is required."""
    grid_key = f"{key}{GRID_SUFFIX}"
    return _if_present_else(
        grid_key,
        {"properties": {key: _both_set(key, grid_key)}},
        {"required": [key]} if required else None,
    )


_PIPELINE_RULE = _if_present_else(
    PIPELINE_GRID_KEY,
    {"properties": {PIPELINE_KEY: _both_set(PIPELINE_KEY, PIPELINE_GRID_KEY)}},
    {"required": [PIPELINE_KEY]},
)

# Families of keywords that only constrain values of some types (draft-07 §6).
_TYPE_KEYWORDS: dict[str, frozenset[str]] = {
    "string": frozenset({"pattern", "minLength", "maxLength", "format"}),
    "number": frozenset(
        {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}
    ),
    "array": frozenset({"items", "minItems", "maxItems", "uniqueItems", "contains"}),
    "object": frozenset(
        {
            "properties",
            "patternProperties",
            "additionalProperties",
            "required",
            "minProperties",
            "maxProperties",
            "propertyNames",
        }
    ),
    "boolean": frozenset(),
}
_FAMILY = {"integer": "number", **{t: t for t in _TYPE_KEYWORDS}}
_ANNOTATIONS = frozenset({"title", "description", "examples", "default"})


def _merge_typed_branches(branches: list[Any]) -> dict[str, Any] | None:
    """One schema equivalent to ``anyOf`` of single-type branches, or None if there is none.

    ``anyOf: [{type: integer, minimum: 0}, {type: string, pattern: P}]`` is the same as
    ``{type: [integer, string], minimum: 0, pattern: P}`` (``minimum`` ignores strings,
    ``pattern`` ignores numbers), and a bad value then gets that keyword's own message.
    """
    families: dict[str, dict[str, Any]] = {}
    types: list[str] = []
    for b in branches:
        if not isinstance(b, dict) or not isinstance(b.get("type"), str):
            return None
        family = _FAMILY.get(b["type"])
        if family is None:
            return None
        keywords = {k: v for k, v in b.items() if k not in _ANNOTATIONS and k != "type"}
        if not set(keywords) <= _TYPE_KEYWORDS[family]:
            return None
        if families.setdefault(family, keywords) != keywords:
            return None  # two branches of one family that differ: not expressible
        if b["type"] not in types:
            types.append(b["type"])
    if "integer" in types and "number" in types:
        types.remove("integer")
    merged: dict[str, Any] = {"type": types[0] if len(types) == 1 else types}
    for keywords in families.values():
        merged.update(keywords)
    return merged


def _toml_shape(node: Any) -> Any:
    """Strip JSON-only parts (null, null defaults), merge typed anyOfs, wrap ``$ref`` siblings."""
    if isinstance(node, list):
        return [_toml_shape(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _toml_shape(v) for k, v in node.items()}
    if "anyOf" in out:
        kept = [s for s in out["anyOf"] if s != {"type": "null"}]
        rest = {k: v for k, v in out.items() if k != "anyOf"}
        merged = _merge_typed_branches(kept)
        if merged is not None and not set(rest) & set(merged):
            out = {**merged, **rest}
        elif len(kept) != len(out["anyOf"]):
            if len(kept) == 1:
                inner = kept[0]
                out = {**inner, **rest} if "$ref" not in inner else {**rest, "allOf": [inner]}
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


def _checked_when(no_unknown_keys: dict[str, Any], rules: list[dict[str, Any]]) -> dict[str, Any]:
    """Apply ``rules`` (required keys, key vs key__grid) while the table has no unknown key.

    ``if``/``then`` rather than ``allOf`` on the table itself, which would hide its
    ``properties`` from Taplo's completion.
    """
    if not rules:
        return {}
    then = rules[0] if len(rules) == 1 else _open({"allOf": rules})
    return {"if": _open(no_unknown_keys), "then": then}


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
        "patternProperties": {
            f"{GRID_SUFFIX}$": {"$ref": "#/definitions/Grid"},
            UNKNOWN_METADATA_PATTERN: {"$ref": "#/definitions/UnknownMetadataKey"},
        },
        "additionalProperties": {"$ref": "#/definitions/UserValue"},
        **_checked_when(
            {"propertyNames": {"not": {"pattern": UNKNOWN_METADATA_PATTERN}}}, [_PIPELINE_RULE]
        ),
        "definitions": {
            "Grid": _GRID,
            "UnknownMetadataKey": _UNKNOWN_METADATA,
            "UserValue": _USER_VALUE,
        },
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


def _typed_table(
    schema: dict[str, Any], title: str, extra_keys: tuple[str, ...] = ()
) -> tuple[dict[str, Any], dict[str, Any] | None, list[dict[str, Any]]]:
    """A model's table, every key also in its ``key__grid`` form, unknown keys rejected at the key.

    Returns the table's schema, the condition "no unknown key" (None when the model allows
    extra keys) and the rules for its required keys and key/``key__grid`` pairs.
    ``extra_keys`` are further keys the table accepts (the metadata keys at the top level).
    """
    fields = dict(schema.get("properties", {}))
    props = {**fields, **{f"{n}{GRID_SUFFIX}": _grid_form(n, s) for n, s in fields.items()}}
    table = {k: v for k, v in schema.items() if k not in ("properties", "required")}
    table["properties"] = props
    no_unknown = None
    if table.get("additionalProperties", False) is False:
        table["additionalProperties"] = _reject(
            f"unknown key: {title} has no such key; its keys are "
            f"{', '.join(sorted(fields)) or '(none)'} (each also as key{GRID_SUFFIX} for a grid)",
            hover=False,
        )
        no_unknown = {"propertyNames": {"enum": sorted({*extra_keys, *props})}}
    required = set(schema.get("required", []))
    return table, no_unknown, [_key_rule(name, name in required) for name in fields]


def _typed_object(schema: dict[str, Any], title: str) -> dict[str, Any]:
    table, no_unknown, rules = _typed_table(schema, title)
    return {**table, **_checked_when(no_unknown or {}, rules)}


def pipeline_job_schema(config_model: type[BaseModel]) -> dict[str, Any]:
    """The job schema plus a typed pipeline's own keys (each also in its ``__grid`` form).

    Unknown user keys are rejected, as :func:`validate_params` does at run time (unless the
    model allows extra keys).
    """
    schema = job_schema()
    name = config_model.__name__
    model_schema, defs = _model_schema(config_model)
    allows_extra = config_model.model_config.get("extra") == "allow"
    if not allows_extra:
        model_schema["additionalProperties"] = False
    table, no_unknown, rules = _typed_table(model_schema, name, extra_keys=METADATA_KEYS)
    schema["title"] = f"necroflow job for {name}"
    if model_schema.get("description"):
        schema["description"] = f"{schema['description']}\n\n{model_schema['description']}"
    schema["properties"] = {**schema["properties"], **table["properties"]}
    if no_unknown is None:  # extra keys allowed: free user keys and their grids, as in a job
        no_unknown = schema["if"]
    else:
        schema["patternProperties"] = {
            UNKNOWN_METADATA_PATTERN: {"$ref": "#/definitions/UnknownMetadataKey"}
        }
        schema["additionalProperties"] = table["additionalProperties"]
    schema.update(_checked_when(no_unknown, [_PIPELINE_RULE, *rules]))
    for def_name, d in defs.items():
        if d.get("type") == "object" and "properties" in d:
            d = _typed_object(d, d.get("title", def_name))
        schema["definitions"][def_name] = d
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
