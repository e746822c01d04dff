"""``necroflow validate`` on job files whose input data is not there yet (a fresh clone).

A missing input file is a warning for ``validate`` (exit 0) naming the file, key and combo,
an error with ``--strict``, and always an error for ``run``, before anything runs.  Both
kinds of input file take part: paths a typed config checks with ``check_input_file`` (the
RNA-seq example) and ``SourceFile`` params.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
from test_cli import REPO, many, ok

FIRST = "rnaseq__min_seed+15__min_mapq+0"


def fresh_clone(tmp: Path) -> Path:
    """The RNA-seq example as a fresh clone has it: everything but the generated data."""
    shutil.copytree(REPO / "examples" / "rnaseq", tmp / "examples" / "rnaseq",
                    ignore=shutil.ignore_patterns("data", "__pycache__"))
    return tmp


def test_validate_warns_about_the_data_a_fresh_clone_has_not_made(tmp_path: Path) -> None:
    root = fresh_clone(tmp_path)
    job = "examples/rnaseq/rnaseq.toml"
    lenient, strict, run = many([(["validate", job], {}), (["validate", "--strict", job], {}),
                                 (["run", "--outdir", root / "out", job], {})], cwd=root)
    ok(lenient)
    assert "OK: 4 combo(s) from 1 file(s), 28 distinct jobs; 5 missing input file(s)" in lenient.out, str(lenient)
    warnings = lenient.err.splitlines()
    assert len(warnings) == 5 and all(w.startswith(f"necroflow: warning: {job}: combo '{FIRST}': key '")
                                      for w in warnings), str(lenient)
    keys = [w.split("key '")[1].split("'")[0] for w in warnings]
    assert keys == ["reference", "annotation", "samples.ctrl_1", "samples.ctrl_2", "samples.treat_1"]
    assert f"input file {root}/examples/rnaseq/data/reference.fa does not exist yet" in warnings[0]
    assert all("make_data.py examples/rnaseq/data" in w and "(also in 3 more combo(s))" in w for w in warnings)
    for r in (strict, run):
        assert r.code == 2 and "Traceback" not in r.text and r.out == "", str(r)
        assert f"combo '{FIRST}': key 'samples.ctrl_1'" in r.err and "does not exist" in r.err, str(r)
        assert "make_data.py examples/rnaseq/data" in r.err
    assert not (root / "out").exists() or not any((root / "out").iterdir())  # run started nothing


FACTORY = '''
from __future__ import annotations

from necroflow import NodeType, Pipeline, Rules, SourceFile


class Up(NodeType):
    """The text, upper-cased."""

    filename = "up.txt"


R = Rules()


@R.command("tr a-z A-Z < {reads} > {up}")
def shout(reads: SourceFile) -> Up[up]:  # noqa: F821
    """Upper-case a file from outside the outdir."""


def factory(config, R):
    P = Pipeline()
    P.up = R.shout(reads=config["reads"])
    P.notes = R.shout(reads=config["folder"] + "/notes.txt")  # a path the factory makes itself
    return P
'''


@pytest.fixture
def source_job(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_text("a\n")
    (tmp_path / "f.py").write_text(textwrap.dedent(FACTORY))
    job = tmp_path / "job.toml"
    job.write_text('".pipeline" = "f.py:factory"\nreads__grid = ["data/a.txt", "data/b.txt"]\nfolder = "data"\n')
    return job


def test_missing_source_files_are_warnings_for_validate_only(source_job: Path) -> None:
    root = source_job.parent
    lenient, strict, run = many([(["validate", "job.toml"], {}), (["validate", "--strict", "job.toml"], {}),
                                 (["run", "--outdir", root / "out", "job.toml"], {})], cwd=root)
    ok(lenient)
    assert "2 missing input file(s)" in lenient.out, str(lenient)
    notes, b = lenient.err.splitlines()
    assert notes == (f"necroflow: warning: job.toml: combo 'job__reads+data%2Fa.txt': source file "
                     f"{root}/data/notes.txt (param 'reads' of rule 'shout') does not exist yet; 'necroflow run' "
                     "refuses this job until it does (also in 1 more combo(s))")
    assert b.startswith("necroflow: warning: job.toml: combo 'job__reads+data%2Fb.txt': key 'reads__grid': "
                        f"source file {root}/data/b.txt (param 'reads' of rule 'shout') does not exist yet"), b
    for r in (strict, run):
        assert r.code == 2 and "Traceback" not in r.text, str(r)
        assert r.err.startswith("necroflow: error: job.toml: combo 'job__reads+data%2Fa.txt': key '.pipeline': "
                                f"rule 'shout': source file 'reads': {root}/data/notes.txt does not exist"), str(r)
    assert not (root / "out" / "shout").exists()
    (root / "data" / "notes.txt").write_text("n\n")
    run = many([(["run", "--outdir", root / "out", "job.toml"], {})], cwd=root)[0]
    assert run.code == 2 and "key 'reads__grid'" in run.err and f"{root}/data/b.txt does not exist" in run.err
    (root / "data" / "b.txt").write_text("b\n")
    quiet, ran = many([(["validate", "job.toml"], {}), (["run", "-q", "--outdir", root / "out", "job.toml"], {})],
                      cwd=root)
    assert ok(quiet).err == "" and "missing" not in quiet.out
    ok(ran)


def test_check_input_file_in_and_out_of_validation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from necroflow import check_input_file, missing_file_is_warning
    from necroflow.missing import missing_files_as_warnings

    monkeypatch.chdir(tmp_path)
    (tmp_path / "here.txt").write_text("x")
    assert check_input_file("here.txt") == Path("here.txt")
    with pytest.raises(ValueError, match="gone.txt does not exist; paths are relative.*make it"):
        check_input_file("gone.txt", hint="make it")
    assert not missing_file_is_warning()
    with missing_files_as_warnings() as found:
        assert missing_file_is_warning()
        assert check_input_file("gone.txt", hint="make it") == Path("gone.txt")
        with pytest.raises(ValueError, match="is a directory"):  # a folder is never a warning
            check_input_file(tmp_path)
    assert [(m.path, m.hint) for m in found] == [(str(tmp_path / "gone.txt"), "make it")]
    assert not missing_file_is_warning()


def test_load_jobs_reports_missing_files_as_warnings(source_job: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from necroflow.jobs import load_jobs

    monkeypatch.chdir(source_job.parent)
    jobset = load_jobs([source_job], source_job.parent / "out", missing_files_ok=True)
    assert [(w.key, w.combo) for w in jobset.warnings] == [("", "job__reads+data%2Fa.txt"),
                                                           ("reads__grid", "job__reads+data%2Fb.txt")]
    assert len(jobset.runs) == 2
