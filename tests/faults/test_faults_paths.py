"""Path safety: names from code or config never lead necroflow outside the outdir.

* NodeType filenames and rule names are single plain path components (hostile lists and
  Hypothesis);
* ``.requests`` labels are Pipeline attribute names, never paths;
* grid values and job-file stems become one safe folder name each;
* symlinks planted in the outdir (outputs, ``job.log``, node, rule and combo folders)
  pointing at a "victim" folder outside: reruns, ``--autoclean``, ``necroflow clean`` and
  link writing never delete, truncate or write anything in the victim folder.
"""

from __future__ import annotations

import io
import os
import tomllib
from pathlib import Path

import pytest
import tomli_w
from faultlib import WORKLOAD, run
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from necroflow import NodeType, Reporter, Rules
from necroflow.cli import app
from necroflow.jobs import JobSet, load_jobs
from necroflow.rules import RuleError
from necroflow.schemas import load_combos
from necroflow.schemas.naming import is_safe_component

HOSTILE_NAMES = [
    "", ".", "..", "../x", "../../etc/passwd", "/etc/passwd", "/", "a/b", "a/../b", "a\\b",
    "..\\x", ".rip", ".rip/state", ".ripx", "x\0y", " x", "x ", "\n", "a" * 300, "./x",
]


# -- names from code --------------------------------------------------------------------------

@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_nodetype_filenames_are_refused(name: str) -> None:
    with pytest.raises((ValueError, TypeError)):
        type("Evil", (NodeType,), {"filename": name})


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=0, max_size=40))
def test_any_accepted_filename_stays_in_its_node_folder(name: str) -> None:
    try:
        t = type("T", (NodeType,), {"filename": name})
    except (ValueError, TypeError):
        return
    node = "/outdir/rule/0123456789abcdef"
    full = os.path.normpath(os.path.join(node, t.filename))
    assert os.path.dirname(full) == node and os.path.basename(full) == t.filename
    assert not t.filename.startswith(".rip")


class Out(NodeType):
    filename = "out.txt"


@pytest.mark.parametrize("name", HOSTILE_NAMES + ["1abc", "a-b", "a.b", "register", "_private"])
def test_hostile_rule_names_are_refused(name: str) -> None:
    with pytest.raises((RuleError, ValueError, TypeError)):
        Rules().register(name, outputs={"out": Out}, command="touch {out}")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_any_accepted_rule_name_is_one_component(name: str) -> None:
    try:
        rule = Rules().register(name, outputs={"out": Out}, command="touch {out}")
    except (RuleError, ValueError, TypeError):
        return
    assert is_safe_component(rule.name) and rule.name not in (".rip",)
    assert os.path.dirname(os.path.normpath(os.path.join("/o", rule.name))) == "/o"


# -- names from config ------------------------------------------------------------------------

@pytest.mark.parametrize("label", ["../../etc", "/abs", "a/b", "..", ".rip", "copy/../..", "", "copy "])
def test_hostile_requests_are_refused(label: str, tmp_path: Path) -> None:
    job = tmp_path / "req.toml"
    job.write_text(tomli_w.dumps({".pipeline": f"{WORKLOAD}/partial.py:partial", ".requests": [label],
                                  "text": "x"}))
    res = CliRunner().invoke(app, ["validate", str(job)])
    assert res.exit_code == 2, res.output
    assert ".requests" in res.output and "Traceback" not in res.output


TOML_VALUES = st.recursive(
    st.none().map(lambda _: "none") | st.booleans() | st.integers() | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False) | st.dates(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=150, deadline=None)
@given(values=st.lists(TOML_VALUES, min_size=1, max_size=5), key=st.text(min_size=1, max_size=12))
def test_grid_values_become_safe_folder_names(tmp_path_factory: pytest.TempPathFactory,
                                             values: list[object], key: str) -> None:
    tmp = tmp_path_factory.mktemp("grid")
    job = tmp / "g.toml"
    job.write_text(tomli_w.dumps({".pipeline": "f.py:f", f"{key}__grid": values}))
    try:
        combos = load_combos([job])
    except Exception as e:  # noqa: BLE001 - only ConfigError may come out
        from necroflow.schemas import ConfigError

        assert isinstance(e, ConfigError), repr(e)
        return
    names = [c.name for c in combos]
    assert len(set(names)) == len(names)
    for n in names:
        assert is_safe_component(n), n
        assert os.path.dirname(os.path.normpath(os.path.join("/o", n))) == "/o"


@pytest.mark.parametrize("stem", ["..", ".", "...", "-rf", ".rip", "a b", "%2F", "x\\y", "~", "$(x)", "é"])
def test_job_file_stems_become_safe_folder_names(stem: str, tmp_path: Path) -> None:
    job = tmp_path / f"{stem}.toml"
    job.write_text('".pipeline" = "f.py:f"\nv__grid = [1, 2]\n')
    for c in load_combos([job]):
        assert is_safe_component(c.name), c.name


# -- planted symlinks ---------------------------------------------------------------------------

@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A folder outside the outdir, shaped to tempt: node-like subfolders, outputs, links."""
    v = tmp_path / "victim"
    (v / "0123456789abcdef" / ".rip").mkdir(parents=True)
    (v / "0123456789abcdef" / ".rip" / "state").write_text("up_to_date\n")
    for name in ("copy.txt", "source.txt", "final.txt", "job.log", "manifest.toml", "keep.txt"):
        (v / name).write_text(f"precious {name}\n")
        (v / "0123456789abcdef" / name).write_text(f"precious {name}\n")
    os.symlink(v / "keep.txt", v / "precious_link")
    return v


def snapshot(root: Path) -> dict[str, str]:
    out = {}
    for d, dirs, files in os.walk(root):
        for name in files + dirs:
            p = Path(d) / name
            rel = str(p.relative_to(root))
            out[rel] = "link:" + os.readlink(p) if p.is_symlink() else (p.read_text() if p.is_file() else "dir")
    return out


def partial_job(tmp: Path, text: str = "hello") -> Path:
    job = tmp / "pj.toml"
    job.write_text(f'".pipeline" = "{WORKLOAD}/partial.py:partial"\n".requests" = ["final"]\ntext = "{text}"\n')
    return job


def execute(js: JobSet, **kw: object) -> None:
    js.dag.execute(progress=Reporter(io.StringIO()), **kw)  # type: ignore[arg-type]


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> JobSet:
    monkeypatch.setenv("NF_FAULT_LOG", str(tmp_path / "jobs.log"))
    js = load_jobs([partial_job(tmp_path)], tmp_path / "out", base=tmp_path)
    execute(js)
    return js


def dirs(js: JobSet) -> dict[str, Path]:
    P = js.runs[0].pipeline
    out = {"step": P.copy.job.dir, "final": P.final.job.dir, "source": P.copy.job.inputs["src"].job.dir}
    assert all(out.values())
    return out  # type: ignore[return-value]


def test_output_replaced_by_symlink_then_autoclean(built: JobSet, victim: Path) -> None:
    before = snapshot(victim)
    step = dirs(built)["step"]
    (victim / "copy.txt").write_text("hello\n")  # same bytes as the real output: still up to date
    before = snapshot(victim)
    (step / "copy.txt").unlink()
    os.symlink(victim / "copy.txt", step / "copy.txt")
    src = dirs(built)["source"]
    (src / "source.txt").unlink()
    os.symlink(victim / "source.txt", src / "source.txt")  # different bytes: downstream reruns
    execute(built, autoclean=True)
    assert snapshot(victim) == before
    assert not (step / "copy.txt").exists() or not (step / "copy.txt").is_symlink()


def test_planted_job_log_link_is_not_written_through(built: JobSet, victim: Path) -> None:
    before = snapshot(victim)
    for d in dirs(built).values():
        (d / ".rip" / "state").write_text("interrupted\n")  # forces a rerun of every job
        (d / ".rip" / "job.log").unlink()
        os.symlink(victim / "job.log", d / ".rip" / "job.log")
    execute(built)
    assert snapshot(victim) == before, "a rerun wrote through a planted job.log symlink"


def test_planted_node_and_rule_links_survive_autoclean_and_clean(built: JobSet, victim: Path,
                                                                 tmp_path: Path) -> None:
    outdir = built.dag.outdir
    os.symlink(victim / "0123456789abcdef", outdir / "step" / "fedcba9876543210")  # node-folder link
    os.symlink(victim, outdir / "ghost")  # a rule-folder link, with a node-like folder inside
    orphan = outdir / "step" / "00000000000000aa"  # a real orphan, holding links to the victim
    (orphan / ".rip").mkdir(parents=True)
    (orphan / ".rip" / "state").write_text("up_to_date\n")
    os.symlink(victim, orphan / "copy.txt")
    os.symlink(victim / "keep.txt", orphan / ".rip" / "job.log")
    before = snapshot(victim)
    execute(built, autoclean=True)
    assert snapshot(victim) == before
    assert not orphan.exists(), "the real orphan folder should have been cleaned"
    orphan2 = outdir / "step" / "00000000000000bb"
    (orphan2 / ".rip").mkdir(parents=True)
    os.symlink(victim, orphan2 / "copy.txt")
    job = partial_job(tmp_path)
    res = run(["clean", "--outdir", outdir, "--orphans", job], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert snapshot(victim) == before
    assert not orphan2.exists()


def test_planted_combo_folder_links(built: JobSet, victim: Path, tmp_path: Path) -> None:
    """Combo link writing and pruning never go through a symlink."""
    outdir = built.dag.outdir
    job = partial_job(tmp_path)
    combo = outdir / "pj"
    if combo.exists():
        for d, _, files in os.walk(combo, topdown=False):
            for f in files:
                os.unlink(Path(d) / f)
            for sub in Path(d).iterdir():
                if sub.is_symlink():
                    sub.unlink()
            os.rmdir(d)
    plain = tmp_path / "plain_victim"  # no node-like folders: nothing else refuses it first
    plain.mkdir()
    (plain / "keep.txt").write_text("precious\n")
    os.symlink(plain / "keep.txt", plain / "precious_link")
    os.symlink(plain, combo)
    plain_before = snapshot(plain)
    res = run(["run", "-q", "--outdir", outdir, job], cwd=tmp_path, NF_FAULT_LOG=str(tmp_path / "j.log"))
    assert "Traceback" not in res.stderr, res.stderr
    assert snapshot(plain) == plain_before, "links or a manifest were written through a symlinked combo folder"
    assert "symlink" in res.stderr, res.stderr
    before = snapshot(victim)
    # a real combo folder with a planted link inside: the link goes, the victim stays
    combo.unlink()
    res = run(["run", "-q", "--outdir", outdir, job], cwd=tmp_path, NF_FAULT_LOG=str(tmp_path / "j.log"))
    assert res.returncode == 0, res.stderr
    os.symlink(victim, combo / "step")
    os.symlink(victim / "keep.txt", combo / "manifest.toml.bak")
    res = run(["run", "-q", "--outdir", outdir, job], cwd=tmp_path, NF_FAULT_LOG=str(tmp_path / "j.log"))
    assert res.returncode == 0, res.stderr
    assert snapshot(victim) == before
    manifest = tomllib.loads((combo / "manifest.toml").read_text())
    assert list(manifest["outputs"]) == ["final"]
