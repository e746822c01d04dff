"""Unit tests of the config layer: every error names the file and the key."""

from __future__ import annotations

import os
import pickle
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from necroflow.resources import ACCEPTED_FORMS
from necroflow.schemas import (
    Combo,
    ConfigError,
    ConfigErrors,
    ConstraintsConfig,
    Manifest,
    Resource,
    check_unique_names,
    config_for,
    config_model_of,
    expand,
    is_safe_component,
    job_from_dict,
    load_combos,
    load_job,
    load_settings,
    parse_constraints,
    read_manifest,
    validate_params,
    write_manifest,
)
from necroflow.schemas.naming import MAX_NAME, unspell


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_of(fn: Any, *args: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        fn(*args)
    return info.value


def job(doc: dict[str, Any], name: str = "exp.toml") -> list[Combo]:
    return expand(job_from_dict(doc, source=Path("jobs") / name))


# --------------------------------------------------------------------- loading


def test_load_job_splits_metadata_from_user_params(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "exp.toml",
        """
        ".pipeline" = "path/to/factory.py:rna"
        ".requests" = ["counts", "qc"]
        pipeline = "a user key, not metadata"
        request = 3
        [align]
        threads = 4
        ".suffix" = "nested dotted keys are user data"
        """,
    )
    spec = load_job(path)
    assert spec.pipeline == "path/to/factory.py:rna"
    assert spec.requests == ["counts", "qc"]
    assert spec.params == {
        "pipeline": "a user key, not metadata",
        "request": 3,
        "align": {"threads": 4, ".suffix": "nested dotted keys are user data"},
    }
    [combo] = expand(spec)
    assert combo.name == "exp"
    assert combo.params == spec.params
    assert combo.pipeline == "path/to/factory.py:rna"
    assert combo.axes == []
    assert combo.source == path


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    err = error_of(load_job, tmp_path / "nope.toml")
    assert str(err) == f"{tmp_path / 'nope.toml'}: file not found; check the path"


def test_directory_instead_of_file(tmp_path: Path) -> None:
    err = error_of(load_job, tmp_path)
    assert str(tmp_path) in str(err) and "is a directory" in str(err)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read anything")
def test_unreadable_file(tmp_path: Path) -> None:
    path = write(tmp_path, "exp.toml", '".pipeline" = "f.py:g"\n')
    path.chmod(0)
    assert "permission denied" in str(error_of(load_job, path))


def test_bad_bytes_give_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "exp.toml"
    path.write_bytes(b'".pipeline" = "f.py:g"\nref = "hg\xff38"\n')
    err = error_of(load_job, path)
    assert (err.file, err.line, err.col) == (str(path), 2, 10)
    assert str(err).startswith(f"{path}: line 2, column 10: not valid UTF-8")


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "exp.toml"
    path.write_bytes(b'\xef\xbb\xbf".pipeline" = "f.py:g"\n')
    assert load_job(path).pipeline == "f.py:g"


def test_toml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "exp.toml", '".pipeline" = "f.py:g"\nref = hg38\n')
    err = error_of(load_job, path)
    assert (err.line, err.col) == (2, 7)
    assert str(err) == f"{path}: line 2, column 7: invalid TOML: invalid value"


def test_unquoted_metadata_key_gets_a_hint(tmp_path: Path) -> None:
    path = write(tmp_path, "exp.toml", '.pipeline = "f.py:g"\n')
    err = error_of(load_job, path)
    assert err.line == 1
    assert 'metadata keys must be quoted, e.g. ".pipeline"' in str(err)


def test_unknown_metadata_key_suggests_the_closest(tmp_path: Path) -> None:
    path = write(tmp_path, "exp.toml", '".pipline" = "f.py:g"\n')
    err = error_of(load_job, path)
    assert str(err).startswith(
        f"{path}: key '.pipline': unknown metadata key; did you mean '.pipeline'?"
    )
    err = error_of(job_from_dict, {".pipeline": "f.py:g", ".request": ["a"]}, "j.toml")
    assert "key '.request'" in str(err) and "did you mean '.requests'?" in str(err)
    err = error_of(job_from_dict, {".pipeline": "f.py:g", ".zzz": 1}, "j.toml")
    assert "valid metadata keys are '.pipeline', '.pipeline__grid', '.requests'" in str(err)


def test_missing_pipeline() -> None:
    err = error_of(job_from_dict, {"ref": "hg38"}, "j.toml")
    assert str(err).startswith("j.toml: missing required key '.pipeline'")


@pytest.mark.parametrize(
    ("doc", "key", "text"),
    [
        ({".pipeline": 3}, ".pipeline", "must be a string (got 3)"),
        ({".pipeline": "factory.py"}, ".pipeline", "'factory.py' is not a factory reference"),
        ({".pipeline": "factory:rna"}, ".pipeline", "write 'path/to/factory.py:function'"),
        ({".pipeline__grid": "f.py:g"}, ".pipeline__grid", "must be a list"),
        ({".pipeline__grid": []}, ".pipeline__grid", "must not be empty"),
        ({".pipeline__grid": ["f.py:g", "f.py:g"]}, ".pipeline__grid", "'f.py:g' is listed twice"),
        ({".pipeline": "f.py:g", ".pipeline__grid": ["f.py:h"]}, ".pipeline__grid", "both set"),
        ({".pipeline": "f.py:g", ".requests": "counts"}, ".requests", "must be a list"),
        ({".pipeline": "f.py:g", ".requests": []}, ".requests", "must not be empty"),
        ({".pipeline": "f.py:g", ".requests": ["../x"]}, ".requests[0]", "is not an output name"),
        ({".pipeline": "f.py:g", ".requests": [""]}, ".requests[0]", "is not an output name"),
        ({".pipeline": "f.py:g", ".requests": ["a", "a"]}, ".requests", "'a' is listed twice"),
        ({".pipeline": "f.py:g", "ref__grid": "hg38"}, "ref__grid", "must be a non-empty list"),
        ({".pipeline": "f.py:g", "ref__grid": []}, "ref__grid", "must be a non-empty list"),
        ({".pipeline": "f.py:g", "t": {"x__grid": 3}}, "t.x__grid", "must be a non-empty list"),
        ({".pipeline": "f.py:g", "ref__grid": ["a", "a"]}, "ref__grid", "'a' is listed twice"),
        (
            {".pipeline": "f.py:g", "n__grid": [{"a": 1, "b": 2}, {"b": 2, "a": 1}]},
            "n__grid",
            "listed twice",
        ),
        (
            {".pipeline": "f.py:g", "ref": "x", "ref__grid": ["a"]},
            "ref__grid",
            "both 'ref' and 'ref__grid'",
        ),
        ({".pipeline": "f.py:g", "__grid": [1]}, "__grid", "a name followed by one '__grid'"),
        (
            {".pipeline": "f.py:g", "a__grid__grid": [1]},
            "a__grid__grid",
            "followed by one '__grid'",
        ),
        ({".pipeline": "f.py:g", "s": [{"x__grid": [1, 2]}]}, "s", "inside an array"),
        ({".pipeline": "f.py:g", "s__grid": [{"x__grid": [1, 2]}]}, "s__grid", "can't be nested"),
    ],
)
def test_each_bad_job_names_file_and_key(doc: dict[str, Any], key: str, text: str) -> None:
    err = error_of(job_from_dict, doc, "jobs/exp.toml")
    assert err.file == "jobs/exp.toml"
    assert f"key '{key}'" in str(err), str(err)
    assert text in str(err), str(err)
    assert str(err).startswith("jobs/exp.toml: ")


def test_grid_error_reads_as_documented() -> None:
    err = error_of(job_from_dict, {".pipeline": "f.py:g", "ref__grid": []}, "jobs/exp.toml")
    assert str(err).startswith("jobs/exp.toml: key 'ref__grid': must be a non-empty list")


def test_all_problems_of_a_file_are_reported_together(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "exp.toml",
        """
        ".pipline" = "f.py:g"
        ".requests" = ["ok", "not ok"]
        ref__grid = []
        [t]
        x__grid = "one"
        """,
    )
    err = error_of(load_job, path)
    assert isinstance(err, ConfigErrors)
    keys = [e.key for e in err.errors]
    assert keys == [".pipline", ".requests[1]", "ref__grid", "t.x__grid"]
    assert len(str(err).splitlines()) == 4
    assert all(line.startswith(f"{path}: ") for line in str(err).splitlines())


def test_errors_survive_pickling() -> None:
    one = ConfigError("bad", file="a.toml", key="k", line=1, col=2, combo="a__k+1")
    assert str(pickle.loads(pickle.dumps(one))) == str(one)
    many = ConfigErrors([one, ConfigError("worse", file="b.toml")])
    again = pickle.loads(pickle.dumps(many))
    assert isinstance(again, ConfigErrors) and str(again) == str(many)


def test_load_combos_reports_every_file_and_clashing_names(tmp_path: Path) -> None:
    good = write(tmp_path, "exp.toml", '".pipeline" = "f.py:g"\n')
    bad = write(tmp_path, "bad.toml", '".pipeline" = 1\n')
    err = error_of(load_combos, [good, bad, tmp_path / "gone.toml"])
    assert [e.file for e in err.errors] == [str(bad), str(tmp_path / "gone.toml")]
    (tmp_path / "other").mkdir()
    twin = write(tmp_path / "other", "exp.toml", '".pipeline" = "f.py:g"\n')
    err = error_of(load_combos, [good, twin])
    assert err.file == str(twin) and "combo 'exp' is also produced by" in str(err)
    assert [c.name for c in load_combos([good])] == ["exp"]


def test_check_unique_names_accepts_distinct() -> None:
    check_unique_names(job({".pipeline": "f.py:g", "a__grid": [1, 2]}))


# ------------------------------------------------------------------- expansion


def test_seed_example_names_and_axis_order() -> None:
    combos = job(
        {
            ".pipeline": "factory.py:factory",
            "ref__grid": ["hg38", "mm10"],
            "aligner__grid": ["bwa", "bowtie2"],
        },
        "experiment.toml",
    )
    assert [c.name for c in combos] == [
        "experiment__ref+hg38__aligner+bwa",
        "experiment__ref+hg38__aligner+bowtie2",
        "experiment__ref+mm10__aligner+bwa",
        "experiment__ref+mm10__aligner+bowtie2",
    ]
    assert combos[1].params == {"ref": "hg38", "aligner": "bowtie2"}
    assert combos[1].axes == [("ref", "hg38"), ("aligner", "bowtie2")]


def test_axis_order_follows_the_file_not_the_alphabet(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "exp.toml",
        """
        ".pipeline" = "f.py:g"
        zeta__grid = [1, 2]
        alpha__grid = ["a"]
        [align]
        threads__grid = [2, 8]
        mode = "fast"
        """,
    )
    combos = expand(load_job(path))
    assert combos[0].name == "exp__zeta+1__alpha+a__align.threads+2"
    assert combos[0].params == {"zeta": 1, "alpha": "a", "align": {"threads": 2, "mode": "fast"}}
    assert [c.axes[-1] for c in combos] == [("align.threads", 2), ("align.threads", 8)] * 2


def test_pipeline_grid_fans_out_across_factories() -> None:
    combos = job(
        {
            ".pipeline__grid": ["pipes/rna.py:star", "pipes/rna.py:hisat"],
            ".requests": ["counts"],
            "ref__grid": ["hg38", "mm10"],
        }
    )
    assert [(c.name, c.pipeline) for c in combos] == [
        ("exp__pipeline+star__ref+hg38", "pipes/rna.py:star"),
        ("exp__pipeline+star__ref+mm10", "pipes/rna.py:star"),
        ("exp__pipeline+hisat__ref+hg38", "pipes/rna.py:hisat"),
        ("exp__pipeline+hisat__ref+mm10", "pipes/rna.py:hisat"),
    ]
    assert all(c.params == {"ref": c.axes[1][1]} for c in combos)
    assert combos[0].axes[0] == (".pipeline", "pipes/rna.py:star")
    assert all(c.requests == ["counts"] for c in combos)


def test_same_function_name_in_two_files_gets_distinct_names() -> None:
    combos = job({".pipeline__grid": ["a/f.py:run", "b/f.py:run"]})
    a, b = (c.name for c in combos)
    assert a != b and a.startswith("exp__pipeline+run~") and b.startswith("exp__pipeline+run~")


def test_grid_of_tables_and_params_are_independent_copies() -> None:
    combos = job(
        {
            ".pipeline": "f.py:g",
            "sample__grid": [{"path": "a.fq", "lane": 1}, {"path": "b.fq", "lane": 2}],
            "shared": [1],
        }
    )
    assert combos[0].name == "exp__sample+path=a.fq,lane=1"
    assert combos[0].params["sample"] == {"path": "a.fq", "lane": 1}
    combos[0].params["shared"].append(2)
    assert combos[1].params["shared"] == [1]


@pytest.mark.parametrize(
    ("value", "spelled"),
    [
        ("hg38", "hg38"),
        ("a b", "a%20b"),
        ("/data/s1.fq", "%2Fdata%2Fs1.fq"),
        ("x+y", "x%2By"),
        ("a__b", "a_%5Fb"),
        ("_x_", "%5Fx%5F"),
        ("50%", "50%25"),
        ("é", "%C3%A9"),
        ("..", ".."),
        (0.5, "0.5"),
        (1e-05, "1e-05"),
        (float("inf"), "inf"),
        (True, "true"),
        (-3, "-3"),
        ([1, 2], "1,2"),
    ],
)
def test_value_spelling(value: Any, spelled: str) -> None:
    [combo] = job({".pipeline": "f.py:g", "v__grid": [value]})
    assert combo.name == f"exp__v+{spelled}"
    assert is_safe_component(combo.name)
    if "~" not in spelled:
        assert unspell(spelled) in (value, str(value).lower(), repr(value), "1,2")


def test_values_spelled_alike_are_told_apart_by_hash() -> None:
    combos = job({".pipeline": "f.py:g", "v__grid": [1, "1", 1.0, True, "true"]})
    names = [c.name for c in combos]
    assert len(set(names)) == 5
    assert names[2] == "exp__v+1.0"  # 1.0 is spelled differently from 1, so it stays plain
    assert all("~" in n for i, n in enumerate(names) if i != 2)


def test_keys_are_spelled_safely() -> None:
    [combo] = job({".pipeline": "f.py:g", "my key+x__grid": [1], "t": {"a.b__grid": [2]}})
    assert combo.name == "exp__my%20key%2Bx+1__t.a%2Eb+2"
    assert combo.params == {"my key+x": 1, "t": {"a.b": 2}}


def test_hidden_and_option_like_stems_are_escaped() -> None:
    assert job({".pipeline": "f.py:g"}, ".hidden.toml")[0].name == "%2Ehidden"
    assert job({".pipeline": "f.py:g"}, "-rf.toml")[0].name == "%2Drf"


def test_long_values_and_many_axes_stay_within_limits() -> None:
    doc: dict[str, Any] = {".pipeline": "f.py:g"}
    doc.update({f"axis_number_{i}__grid": ["v" * 300, "w" * 300] for i in range(12)})
    doc["short__grid"] = ["x" * 100 + "a", "x" * 100 + "b"]
    combos = job(doc, "e" * 250 + ".toml")
    names = {c.name for c in combos}
    assert len(names) == len(combos) == 2**13
    assert all(len(n.encode()) <= MAX_NAME and is_safe_component(n) for n in names)


# --------------------------------------------------------- typed pipeline config


class Align(BaseModel):
    threads: int = 1
    mode: str = "fast"


class RnaConfig(BaseModel):
    ref: str
    gene_model: str = "gencode"
    align: Align = Align()
    ram: Resource = 0


def combo_of(params: dict[str, Any], axes: list[tuple[str, Any]] | None = None) -> Combo:
    return Combo("exp__ref+x", "f.py:g", None, params, Path("jobs/exp.toml"), axes or [])


def test_validate_params_returns_the_model() -> None:
    cfg = validate_params(
        RnaConfig, combo_of({"ref": "hg38", "align": {"threads": 4}, "ram": "8Gi"})
    )
    assert cfg == RnaConfig(ref="hg38", align=Align(threads=4), ram=8 * 1024**3)


def test_unknown_key_is_an_error_with_a_suggestion() -> None:
    err = error_of(validate_params, RnaConfig, combo_of({"ref": "hg38", "gene_modle": "x"}))
    assert str(err) == (
        "jobs/exp.toml: combo 'exp__ref+x': key 'gene_modle': unknown key; did you mean "
        "'gene_model'? this pipeline accepts: align, gene_model, ram, ref"
    )


def test_unknown_nested_key_and_wrong_types_are_all_reported() -> None:
    err = error_of(
        validate_params, RnaConfig, combo_of({"ref": 3, "align": {"threads": "four", "mdoe": "x"}})
    )
    assert sorted(e.key for e in err.errors) == ["align.mdoe", "align.threads", "ref"]
    assert all(e.combo == "exp__ref+x" and e.file == "jobs/exp.toml" for e in err.errors)
    assert "key 'align.threads': must be an integer (got 'four')" in str(err)


def test_value_from_a_grid_is_named_by_its_grid_key() -> None:
    err = error_of(validate_params, RnaConfig, combo_of({"ref": 5}, axes=[("ref", 5)]))
    assert (
        str(err) == "jobs/exp.toml: combo 'exp__ref+x': key 'ref__grid': must be a string (got 5)"
    )


def test_missing_required_key() -> None:
    err = error_of(validate_params, RnaConfig, combo_of({}))
    assert str(err) == "jobs/exp.toml: combo 'exp__ref+x': key 'ref': is required but missing"


def test_bad_resource_names_key_and_accepted_forms() -> None:
    err = error_of(validate_params, RnaConfig, combo_of({"ref": "x", "ram": "64GG"}))
    assert err.key == "ram" and ACCEPTED_FORMS in str(err) and "'64GG'" in str(err)


def test_models_that_allow_extra_keys_are_respected() -> None:
    class Loose(BaseModel):
        model_config = ConfigDict(extra="allow")
        ref: str

    assert validate_params(Loose, combo_of({"ref": "a", "more": 1})).model_extra == {"more": 1}


def test_config_model_of_resolves_string_annotations(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "factory_mod_for_test.py",
        """
        from __future__ import annotations
        from pydantic import BaseModel

        class Cfg(BaseModel):
            ref: str

        def typed(config: Cfg, R): ...
        def optional(config: Cfg | None): ...
        def plain(config, R): ...
        def broken(config: Missing): ...
        """,
    )
    sys.path.insert(0, str(tmp_path))
    try:
        import factory_mod_for_test as mod  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(tmp_path))
    assert config_model_of(mod.typed) is mod.Cfg
    assert config_model_of(mod.optional) is mod.Cfg
    assert config_model_of(mod.plain) is None
    err = error_of(config_model_of, mod.broken)
    assert err.file == str(path) and "'Missing'" in str(err)
    combo = combo_of({"ref": "hg38"})
    assert config_for(mod.typed, combo) == mod.Cfg(ref="hg38")
    assert config_for(mod.plain, combo) == {"ref": "hg38"}


# ----------------------------------------------------------- resources, manifest


def test_constraints_model_and_cli_pairs() -> None:
    assert ConstraintsConfig(threads=2, ram="1Ki", gpu="2", scratch="10G").as_dict() == {
        "threads": 2,
        "ram": 1024,
        "gpu": 2,
        "scratch": 10**10,
    }
    assert parse_constraints(["ram=64Gi", "gpu=2", "queue=fast"]) == {
        "ram": 64 * 1024**3,
        "gpu": 2,
        "queue": "fast",
    }
    err = error_of(parse_constraints, ["ram=64GG"])
    assert str(err).startswith("--constraint: key 'ram': invalid resource value '64GG'")
    assert ACCEPTED_FORMS in str(err)
    assert "key 'threads'" in str(error_of(parse_constraints, ["threads=0"]))
    assert "key 'gpu'" in str(error_of(parse_constraints, ["gpu=2XB"]))
    assert "is not KEY=VALUE" in str(error_of(parse_constraints, ["ram"]))


def test_manifest_round_trip_is_atomic(tmp_path: Path) -> None:
    m = Manifest(
        combo="exp__ref+hg38",
        job_file="jobs/exp.toml",
        pipeline="f.py:rna",
        axes={"ref": "hg38"},
        params={"ref": "hg38", "align": {"threads": 4}},
        outputs={"counts": "count/a3f1bc9200000000/counts.txt"},
    )
    path = tmp_path / "manifest.toml"
    write_manifest(path, m)
    write_manifest(path, m)
    assert read_manifest(path) == m
    assert os.listdir(tmp_path) == ["manifest.toml"]
    text = path.read_text()
    assert text.index("[outputs]") < text.index("[axes]") < text.index("[params]")


def test_manifest_errors_name_file_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, "manifest.toml", '[outputs]\ncounts = "../../etc/passwd"\n')
    err = error_of(read_manifest, path)
    assert (
        err.file == str(path)
        and err.key == "outputs.counts"
        and "relative to the outdir" in str(err)
    )
    path.write_text("combo = 1\n")
    assert {e.key for e in error_of(read_manifest, path).errors} == {"combo", "outputs"}
    assert "manifest not found" in str(error_of(read_manifest, tmp_path / "none.toml"))


# --------------------------------------------------------------------- settings


def test_settings_from_env_with_flags_on_top(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NECROFLOW_OUTDIR", "from-env")
    monkeypatch.setenv("NECROFLOW_CORES", "8")
    monkeypatch.setenv("NECROFLOW_CONSTRAINTS", "ram=64Gi,gpu=2")
    monkeypatch.setenv("NECROFLOW_KEEP_GOING", "true")
    monkeypatch.setenv("NECROFLOW_BACKEND", "slurm")
    s = load_settings(outdir=None, cores=None)
    assert (s.outdir, s.cores, s.keep_going, s.backend) == (Path("from-env"), 8, True, "slurm")
    assert s.constraints == {"ram": 64 * 1024**3, "gpu": 2}
    s = load_settings(outdir="flag", cores="all", constraints=["ram=1G"])
    assert (s.outdir, s.cores, s.constraints) == (Path("flag"), "all", {"ram": 10**9})
    assert s.thread_cap() >= 1
    monkeypatch.setenv("NECROFLOW_CONSTRAINTS", '{"ram": "2Ki"}')
    assert load_settings().constraints == {"ram": 2048}


@pytest.mark.parametrize(
    ("env", "flags", "expected"),
    [
        (
            {"NECROFLOW_CORES": "lots"},
            {},
            "NECROFLOW_CORES: must be a positive integer or 'all' (got 'lots')",
        ),
        ({}, {"cores": 0}, "--cores: must be a positive integer or 'all' (got 0)"),
        (
            {"NECROFLOW_CONSTRAINTS": "ram=64GG"},
            {},
            "NECROFLOW_CONSTRAINTS: key 'ram': invalid resource",
        ),
        ({}, {"constraints": ["ram=64GG"]}, "--constraint: key 'ram': invalid resource"),
        (
            {"NECROFLOW_BACKEND": "k8s"},
            {},
            "NECROFLOW_BACKEND: input should be 'local', 'slurm' or 'dask'",
        ),
        ({"NECROFLOW_KEEP_GOING": "maybe"}, {}, "NECROFLOW_KEEP_GOING: must be true or false"),
        ({}, {"slurm_poll_interval": -1}, "--slurm-poll-interval: input should be greater than 0"),
        ({}, {"quiet": True, "verbose": True}, "--quiet and --verbose (or NECROFLOW_QUIET"),
    ],
)
def test_settings_errors_name_their_origin(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], flags: dict[str, Any], expected: str
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    err = error_of(lambda: load_settings(**flags))
    assert str(err).startswith(expected), str(err)
