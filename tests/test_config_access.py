"""Untyped factories get a plain dict that also reads keys as attributes (the seed's ``config.ref``)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from necroflow.jobs import load_jobs
from necroflow.schemas.params import Config, as_config


def test_config_is_a_dict_with_attribute_access() -> None:
    c = as_config({"ref": "hg38", "align": {"threads": 4}, "samples": [{"name": "a"}]})
    assert isinstance(c, dict) and isinstance(c, Config)
    assert c.ref == c["ref"] == "hg38"
    assert c.align.threads == 4
    assert c.samples[0].name == "a"
    with pytest.raises(AttributeError, match="no key 'missing'.*ref"):
        _ = c.missing


def test_seed_style_factory_reads_attributes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "fac.py").write_text(textwrap.dedent('''
        from __future__ import annotations
        from necroflow import NodeType, Pipeline, Rules

        class Out(NodeType):
            filename = "out.txt"

        R = Rules()

        @R.command("echo {ref} > {out}")
        def make(ref: str) -> Out[out]:
            """Write the ref."""

        def factory(config, R):
            P = Pipeline()
            P.out = R.make(ref=config.ref)
            return P
    '''))
    (tmp_path / "job.toml").write_text('".pipeline" = "fac.py:factory"\nref = "hg38"\n')
    monkeypatch.chdir(tmp_path)
    jobset = load_jobs(["job.toml"], tmp_path / "out")
    jobset.dag.execute()
    node = jobset.runs[0].requested["out"]
    assert node.path is not None and node.path.read_text() == "hg38\n"
