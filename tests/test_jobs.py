"""necroflow.jobs in process: job files to one DAG, combo links, pruning and its safety limits."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from necroflow import Reporter
from necroflow.jobs import check_folders, load_factory, load_jobs
from necroflow.links import link_combos, prune_combos
from necroflow.schemas import ConfigError

DATA = Path(__file__).resolve().parent / "data"


def write(path: Path, body: str, factory: str = "flow.py:basic") -> Path:
    path.write_text(f'".pipeline" = "{factory}"\n{body}')
    return path


def run_and_link(jobs: list[Path], out: Path) -> dict[str, str]:
    jobset = load_jobs(jobs, out, base=DATA)
    jobset.dag.execute(progress=Reporter(io.StringIO()))
    return link_combos(jobset)


def test_pipeline_grid_fans_out_across_factories_sharing_one_module(tmp_path: Path) -> None:
    job = tmp_path / "fan.toml"
    job.write_text('".pipeline__grid" = ["flow.py:basic", "flow.py:one_arg"]\nword = "w"\n')
    jobset = load_jobs([job], tmp_path / "out", base=DATA)
    assert [r.combo.name for r in jobset.runs] == ["fan__pipeline+basic", "fan__pipeline+one_arg"]
    # both factories come from one import of flow.py, so their make_text jobs are one job
    text_jobs = {r.requested["text"].job.fingerprint for r in jobset.runs if "text" in r.requested}
    assert len(text_jobs) == 1
    assert load_factory("flow.py:basic", job_file=job, base=DATA)[1] is load_factory(
        "flow.py:typed", job_file=job, base=DATA)[1]


def test_links_never_replace_a_real_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    job = write(tmp_path / "one.toml", 'word = "x"\n')
    status = run_and_link([job], out)
    assert status == {"one": "linked"}
    link = next(p for p in (out / "one").rglob("*") if p.is_symlink())
    link.unlink()
    link.write_text("my notes\n")
    status = link_combos(load_jobs([job], out, base=DATA))
    assert status["one"].startswith("not linked:") and "not a symlink" in status["one"]
    assert link.read_text() == "my notes\n"


def test_pruning_removes_only_links_and_manifests_of_the_same_job_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    job = write(tmp_path / "exp.toml", 'word__grid = ["a", "b"]\n')
    (tmp_path / "sub").mkdir()
    other = write(tmp_path / "sub" / "exp.toml", 'word = "z"\n')
    run_and_link([job], out)
    notes = out / "exp__word+b" / "notes.txt"
    notes.write_text("keep me\n")
    stranger = out / "exp__word+zz"  # same stem, but no manifest: not ours to touch
    stranger.mkdir()
    (stranger / "x").symlink_to("nowhere")
    write(job, 'word__grid = ["a"]\n')
    jobset = load_jobs([job], out, base=DATA)
    jobset.dag.execute(progress=Reporter(io.StringIO()))
    removed = prune_combos(jobset)
    assert removed == [out / "exp__word+b"]
    assert sorted(os.listdir(out / "exp__word+b")) == ["notes.txt"]  # links and manifest gone, notes kept
    assert os.path.islink(stranger / "x")
    # a job file of the same stem elsewhere does not own exp.toml's combo folders
    assert prune_combos(load_jobs([other], out, base=DATA)) == []
    assert (out / "exp__word+a" / "manifest.toml").exists()


def test_rule_folder_that_is_an_old_combo_folder_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "make_text").mkdir(parents=True)
    (out / "make_text" / "manifest.toml").write_text('[outputs]\nx = "a/b/c"\n')
    jobset = load_jobs([write(tmp_path / "j.toml", 'word = "x"\n', "flow.py:one_arg")], tmp_path / "elsewhere",
                       base=DATA)
    jobset.dag.outdir = out
    with pytest.raises(ConfigError, match="rule 'make_text' writes to .* combo folder from an earlier run"):
        check_folders(jobset)


def test_incomplete_combo_keeps_what_an_earlier_run_linked(tmp_path: Path) -> None:
    out = tmp_path / "out"
    job = write(tmp_path / "w.toml", 'word = "x"\n')
    assert run_and_link([job], out) == {"w": "linked"}
    before = sorted(p.name for p in (out / "w").rglob("*"))
    jobset = load_jobs([job], out, base=DATA)
    summary = jobset.runs[0].requested["summary"]
    (summary.job.dir / ".rip" / "state").write_text("failed\n")
    assert link_combos(jobset) == {"w": "incomplete"}
    assert sorted(p.name for p in (out / "w").rglob("*")) == before


@pytest.mark.parametrize("access", ['config["sample"]', "config.sample"])
def test_a_misspelt_job_file_key_is_named_with_its_close_match(tmp_path: Path, access: str) -> None:
    flow = tmp_path / "spell.py"
    flow.write_text("from necroflow import Pipeline\n\n"
                    f"def make(config):\n    name = {access}\n    return Pipeline()\n")
    job = write(tmp_path / "job.toml", 'smaple = "NA12878"\n', factory=f"{flow}:make")
    with pytest.raises(ConfigError) as e:
        load_jobs([job], tmp_path / "out")
    text = str(e.value)
    assert "the job file sets no key 'sample' (did you mean 'smaple'?)" in text and "spell.py, line 4" in text
