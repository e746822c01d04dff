"""The JSON Schemas: committed files match the models, and a real validator agrees."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field

from necroflow.schemas import (
    ConfigError,
    Resource,
    job_from_dict,
    job_schema,
    manifest_schema,
    pipeline_job_schema,
)
from necroflow.schemas.export import schema_files

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_DIR = ROOT / "json-schema"


def validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def committed(name: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))


def test_committed_schema_files_match_the_models() -> None:
    for name, text in schema_files().items():
        path = SCHEMA_DIR / name
        assert path.is_file(), f"{path} missing: run python -m necroflow.schemas.export"
        assert path.read_text(encoding="utf-8") == text, (
            f"{path} is stale: run python -m necroflow.schemas.export"
        )


def test_export_writes_and_checks(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "necroflow.schemas.export", *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            check=False,
        )

    stale = run("--check", "out")
    assert stale.returncode == 1 and "out/job.schema.json: out of date" in stale.stderr
    wrote = run("out")
    assert wrote.returncode == 0 and "wrote out/job.schema.json" in wrote.stdout
    assert run("--check", "out").returncode == 0
    text = (tmp_path / "out" / "job.schema.json").read_text()
    assert text.endswith("}\n") and json.loads(text) == job_schema()
    assert run("out").stdout == ""  # unchanged files are not rewritten


GOOD_JOBS = [
    {".pipeline": "factory.py:rna"},
    {".pipeline": "path/to/f.py:rna", ".requests": ["counts", "qc"], "pipeline": 1, "request": "x"},
    {
        ".pipeline": "f.py:g",
        "ref__grid": ["hg38", "mm10"],
        "align": {"threads__grid": [1, 4], "x": {"y": 1}},
    },
    {".pipeline__grid": ["a.py:f", "b.py:f"], "sample__grid": [{"path": "a"}, {"path": "b"}]},
    {".pipeline": "f.py:g", "t": {".ext": "user data may start with a dot below the top"}},
]

BAD_JOBS = {
    "missing .pipeline": {"ref": "x"},
    "both pipeline keys": {".pipeline": "f.py:g", ".pipeline__grid": ["f.py:h"]},
    "unknown metadata": {".pipeline": "f.py:g", ".pipline": "x"},
    "pipeline not a string": {".pipeline": 3},
    "pipeline without function": {".pipeline": "factory.py"},
    "requests not a list": {".pipeline": "f.py:g", ".requests": "counts"},
    "requests empty": {".pipeline": "f.py:g", ".requests": []},
    "request label unsafe": {".pipeline": "f.py:g", ".requests": ["../x"]},
    "grid not a list": {".pipeline": "f.py:g", "ref__grid": "hg38"},
    "grid empty": {".pipeline": "f.py:g", "ref__grid": []},
    "grid duplicate": {".pipeline": "f.py:g", "ref__grid": ["a", "a"]},
    "nested grid empty": {".pipeline": "f.py:g", "t": {"u": {"x__grid": []}}},
    "pipeline grid empty": {".pipeline__grid": []},
}


@pytest.mark.parametrize("schema_file", ["job.schema.json"])
def test_committed_job_schema_accepts_good_and_rejects_bad(schema_file: str) -> None:
    v = validator(committed(schema_file))
    for doc in GOOD_JOBS:
        assert list(v.iter_errors(doc)) == [], doc
        job_from_dict(doc, "x.toml")  # necroflow agrees
    for why, doc in BAD_JOBS.items():
        assert list(v.iter_errors(doc)), f"schema accepted a bad job: {why}"
        with pytest.raises(ConfigError):
            job_from_dict(doc, "x.toml")


def test_schema_documents_the_metadata_for_completion() -> None:
    props = committed("job.schema.json")["properties"]
    assert set(props) == {".pipeline", ".pipeline__grid", ".requests", ".container"}
    assert all(len(p["description"]) > 40 for p in props.values())
    schema_text = json.dumps(committed("job.schema.json"))
    assert '"null"' not in schema_text and "$defs" not in schema_text


def test_manifest_schema_validates_manifests(tmp_path: Path) -> None:
    from necroflow.schemas import Manifest, write_manifest

    path = tmp_path / "manifest.toml"
    write_manifest(
        path, Manifest(combo="exp", params={"a": [1]}, outputs={"counts": "count/0123/c.txt"})
    )
    v = validator(committed("manifest.schema.json"))
    assert committed("manifest.schema.json") == manifest_schema()
    assert list(v.iter_errors(tomllib.loads(path.read_text()))) == []
    assert list(v.iter_errors({"combo": "exp"}))  # outputs missing
    assert list(v.iter_errors({"outputs": {"counts": 3}}))


class Align(BaseModel):
    """Aligner options."""

    threads: int = Field(1, description="Threads for the aligner.")
    mode: str = "fast"


class RnaConfig(BaseModel):
    """Options of the RNA pipeline."""

    ref: str = Field(description="Reference genome name.")
    ram: Resource = 0
    align: Align = Align()
    path: str | None = None


def test_pipeline_job_schema_covers_typed_keys_and_their_grids() -> None:
    schema = pipeline_job_schema(RnaConfig)
    v = validator(schema)
    props = schema["properties"]
    assert {"ref", "ref__grid", "ram", "ram__grid", "align", "align__grid", ".pipeline"} <= set(
        props
    )
    assert "Reference genome name." in props["ref__grid"]["description"]
    good = [
        {".pipeline": "f.py:rna", "ref": "hg38"},
        {".pipeline": "f.py:rna", "ref__grid": ["hg38", "mm10"], "ram": "64Gi"},
        {".pipeline": "f.py:rna", "ref": "x", "align": {"threads__grid": [1, 2]}, "path": "a"},
    ]
    bad = [
        {".pipeline": "f.py:rna"},  # ref missing (neither ref nor ref__grid)
        {".pipeline": "f.py:rna", "ref": 3},
        {".pipeline": "f.py:rna", "ref": "x", "reff": 1},  # unknown key
        {".pipeline": "f.py:rna", "ref": "x", "ram": "64GG"},
        {".pipeline": "f.py:rna", "ref__grid": []},
        {".pipeline": "f.py:rna", "ref__grid": [3]},
        {".pipeline": "f.py:rna", "ref": "x", "align": {"treads": 1}},
        {".pipeline": "f.py:rna", "ref": "x", "unknown__grid": [1]},
    ]
    for doc in good:
        assert list(v.iter_errors(doc)) == [], doc
    for doc in bad:
        assert list(v.iter_errors(doc)), doc


def test_pipeline_job_schema_with_extra_keys_allowed() -> None:
    class Loose(BaseModel):
        model_config = ConfigDict(extra="allow")
        ref: str

    v = validator(pipeline_job_schema(Loose))
    assert list(v.iter_errors({".pipeline": "f.py:g", "ref": "x", "more__grid": [1, 2]})) == []
    assert list(v.iter_errors({".pipeline": "f.py:g", "ref": "x", "more__grid": []}))


toml_scalars = st.one_of(st.text(max_size=8), st.integers(-5, 5), st.booleans())


@settings(max_examples=100, deadline=None)
@given(
    user=st.dictionaries(
        st.text(max_size=8).filter(lambda k: not k.startswith(".") and not k.endswith("__grid")),
        st.one_of(toml_scalars, st.lists(toml_scalars, max_size=3)),
        max_size=4,
    ),
    grids=st.dictionaries(
        st.text(min_size=1, max_size=8).filter(
            lambda k: not k.startswith(".") and not k.endswith("__grid")
        ),
        st.lists(
            st.one_of(st.text(max_size=8), st.integers(-5, 5)), min_size=1, max_size=3, unique=True
        ),
        max_size=3,
    ),
)
def test_schema_accepts_every_job_necroflow_accepts(
    user: dict[str, Any], grids: dict[str, Any]
) -> None:
    doc: dict[str, Any] = {".pipeline": "f.py:g", **user}
    doc.update({f"{k}__grid": v for k, v in grids.items() if k not in user})
    job_from_dict(doc, "x.toml")
    assert list(validator(committed("job.schema.json")).iter_errors(doc)) == []
