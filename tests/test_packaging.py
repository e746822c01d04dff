"""Packaging, for real: build the sdist and the wheel, install the wheel and an editable copy
into fresh virtual environments, and use them from outside the checkout.

The config layer lives in the top-level ``schemas/`` folder but is installed as
``necroflow.schemas`` (pyproject's ``package-dir``): an install must have
``necroflow.schemas`` and no top-level ``schemas``, and the ``necroflow`` command must work.

How it stays fast and offline:

- One build environment: a fresh venv (the base interpreter, no pip) with
  ``setuptools>=77`` (pyproject's build requirement) installed from the package index pip is
  configured with (a local ``file://`` index is preferred when pip's config names one).  The
  test venv's own setuptools is used instead when it is new enough.  The wheel is built with
  ``pip wheel --no-deps --no-build-isolation`` in it, the sdist through
  ``setuptools.build_meta``.  The editable install uses build isolation, as ``make venv``
  does.
- The fresh venvs get necroflow only (``--no-deps``); its dependencies (pydantic, typer, ...)
  come from the test venv's site-packages through a ``.pth`` line, which puts them *after*
  the venv's own site-packages, so the installed necroflow is the one imported.
- Everything is built from a copy of the checkout, so the repo gets no ``build/`` folder,
  and the installed code runs with its working directory in ``tmp_path``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import textwrap
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
VERSION = PYPROJECT["project"]["version"]
NEEDS_SETUPTOOLS = (77,)  # build-system requires setuptools>=77

COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".hypothesis", ".mypy_cache",
    ".ruff_cache", ".pytest_cache", "demo-results", "results", "work", ".venv-*",
)


def _source_modules() -> set[str]:
    """Every file the wheel must hold for the package code, by its path inside the wheel."""
    files = {f"necroflow/{p.relative_to(REPO / 'necroflow').as_posix()}"
             for p in (REPO / "necroflow").rglob("*.py") if "__pycache__" not in p.parts}
    files |= {f"necroflow/schemas/{p.relative_to(REPO / 'schemas').as_posix()}"
              for p in (REPO / "schemas").rglob("*.py") if "__pycache__" not in p.parts}
    return files | {"necroflow/py.typed"}


def _dotted(wheel_path: str) -> str:
    return wheel_path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


# --- running things -------------------------------------------------------------------------


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment minus anything that would put the checkout on sys.path."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")}
    env.update(PYTHONNOUSERSITE="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    env.update(extra)
    return env


def _pip_env() -> dict[str, str]:
    """Prefer the local ``file://`` package index that pip's config names (offline, fast)."""
    env = _clean_env()
    if "PIP_INDEX_URL" in os.environ:
        return env
    out = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True,
                         text=True, timeout=60, env=env).stdout
    local: list[str] = []
    for line in out.splitlines():
        key, _, value = line.partition("=")
        if key.endswith("index-url"):
            local += [u for u in value.strip().strip("'\"").split() if u.startswith("file:")]
    if local:
        env["PIP_INDEX_URL"] = local[0]
        env["PIP_EXTRA_INDEX_URL"] = " ".join(local[1:]) or local[0]
    return env


def _run(cmd: list[str | Path] | str, *, cwd: Path, env: dict[str, str] | None = None,
         timeout: float = 180, label: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run to completion; a non-zero exit fails the test with the output's tail."""
    argv = cmd if isinstance(cmd, str) else [str(c) for c in cmd]
    res = subprocess.run(argv, cwd=cwd, env=env or _clean_env(), capture_output=True, text=True,
                         timeout=timeout, shell=isinstance(cmd, str))
    if res.returncode != 0:
        what = label or (argv if isinstance(argv, str) else " ".join(argv))
        pytest.fail(f"{what} exited {res.returncode} (cwd {cwd})\n--- stdout\n{res.stdout[-3000:]}"
                    f"\n--- stderr\n{res.stderr[-3000:]}", pytrace=False)
    return res


def _pip(*args: str | Path, python: Path, cwd: Path) -> None:
    """``pip`` of the test venv, acting on the environment of ``python``."""
    _run([sys.executable, "-m", "pip", "--python", python, *args], cwd=cwd, env=_pip_env(),
         timeout=300)


@dataclass(frozen=True)
class Env:
    root: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def necroflow(self) -> Path:
        return self.root / "bin" / "necroflow"

    @property
    def site_packages(self) -> Path:
        out = _run([self.python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                   cwd=self.root)
        return Path(out.stdout.strip())


def _fresh_venv(root: Path) -> Env:
    """A new venv of the base interpreter (not of the test venv), without pip."""
    base = getattr(sys, "_base_executable", sys.executable)
    _run([base, "-m", "venv", "--without-pip", root], cwd=root.parent)
    return Env(root)


def _borrow_dependencies(env: Env) -> None:
    """Let ``env`` import the test venv's packages, after its own site-packages."""
    ours = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (env.site_packages / "_necroflow_test_deps.pth").write_text("\n".join(ours) + "\n")


def _setuptools_version(python: Path | str) -> tuple[int, ...]:
    out = subprocess.run([str(python), "-c", "import setuptools; print(setuptools.__version__)"],
                         capture_output=True, text=True, timeout=60, env=_clean_env())
    if out.returncode != 0:
        return (0,)
    return tuple(int(p) for p in out.stdout.strip().split(".")[:2] if p.isdigit())


# --- fixtures: build once, install twice ----------------------------------------------------


@dataclass(frozen=True)
class Dists:
    wheel: Path
    sdist: Path
    builder: Path  # a python with setuptools>=77


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("packaging")


@pytest.fixture(scope="module")
def dists(work: Path) -> Dists:
    src = work / "src"
    shutil.copytree(REPO, src, ignore=COPY_IGNORE)
    if _setuptools_version(sys.executable) >= NEEDS_SETUPTOOLS:
        builder = Path(sys.executable)
    else:  # the test venv's setuptools is too old for pyproject: a build env from the index
        env = _fresh_venv(work / "build-env")
        _pip("install", "-q", f"setuptools>={'.'.join(map(str, NEEDS_SETUPTOOLS))}",
             python=env.python, cwd=work)
        builder = env.python
    out = work / "dist"
    _pip("wheel", "-q", "--no-deps", "--no-build-isolation", "-w", out, src, python=builder, cwd=work)
    _run([builder, "-c", f"import setuptools.build_meta as b; b.build_sdist({str(out)!r})"], cwd=src)
    (wheel,) = out.glob("necroflow-*.whl")
    (sdist,) = out.glob("necroflow-*.tar.gz")
    return Dists(wheel, sdist, builder)


@pytest.fixture(scope="module")
def wheel_env(work: Path, dists: Dists) -> Env:
    env = _fresh_venv(work / "wheel-venv")
    _pip("install", "-q", "--no-deps", "--no-index", dists.wheel, python=env.python, cwd=work)
    _borrow_dependencies(env)
    return env


@pytest.fixture(scope="module")
def editable(work: Path) -> tuple[Env, Path]:
    """A fresh venv with an editable install of a copy of the checkout (build isolation)."""
    src = work / "editable-src"
    shutil.copytree(REPO, src, ignore=COPY_IGNORE)
    env = _fresh_venv(work / "editable-venv")
    _pip("install", "-q", "--no-deps", "-e", src, python=env.python, cwd=work)
    _borrow_dependencies(env)
    return env, src


PROBE = textwrap.dedent("""
    import importlib.metadata, importlib.util, json, sys
    import necroflow, necroflow.schemas, necroflow.cli
    wanted = sys.argv[1].split(",")
    print(json.dumps({
        "necroflow": necroflow.__file__,
        "schemas": necroflow.schemas.__file__,
        "top_level_schemas": importlib.util.find_spec("schemas") is not None,
        "missing": [m for m in wanted if importlib.util.find_spec(m) is None],
        "version": importlib.metadata.version("necroflow"),
        "sys_path": sys.path,
    }))
""")


def _probe(python: Path, cwd: Path) -> dict:
    modules = ",".join(sorted(_dotted(f) for f in _source_modules() if f.endswith(".py")))
    res = _run([python, "-c", PROBE, modules], cwd=cwd,
               label=f"{python} -c 'import necroflow, necroflow.schemas, necroflow.cli; ...'")
    return json.loads(res.stdout)


def _check_cli(necroflow: Path, cwd: Path) -> None:
    res = _run([necroflow, "--version"], cwd=cwd)
    assert res.stdout.strip() == f"necroflow {VERSION}", res.stdout
    res = _run(f"'{necroflow}' schema | head -n 5", cwd=cwd)
    assert res.stdout.startswith("{") and len(res.stdout.splitlines()) == 5, res.stdout
    assert res.stderr == "", f"`necroflow schema | head` is not quiet:\n{res.stderr}"
    schema = json.loads(_run([necroflow, "schema"], cwd=cwd).stdout)
    assert "$schema" in schema and "properties" in schema, sorted(schema)


# --- what is in the files -------------------------------------------------------------------


def test_wheel_ships_every_module_under_its_installed_name(dists: Dists) -> None:
    names = set(zipfile.ZipFile(dists.wheel).namelist())
    missing = sorted(_source_modules() - names)
    assert not missing, (
        "the wheel lacks these source files (is every package listed in pyproject's "
        "[tool.setuptools] packages?):\n  " + "\n  ".join(missing))


def test_wheel_has_no_top_level_schemas_tests_or_json_schema(dists: Dists) -> None:
    names = zipfile.ZipFile(dists.wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"necroflow", f"necroflow-{VERSION}.dist-info"}, sorted(tops)
    assert not [n for n in names if n.startswith(("necroflow/tests", "necroflow/json-schema",
                                                  "necroflow/json_schema/"))]
    dist_info = f"necroflow-{VERSION}.dist-info"
    with zipfile.ZipFile(dists.wheel) as z:
        if f"{dist_info}/top_level.txt" in z.namelist():
            assert z.read(f"{dist_info}/top_level.txt").decode().split() == ["necroflow"]
        entry_points = z.read(f"{dist_info}/entry_points.txt").decode()
    assert "necroflow = necroflow.cli:main" in entry_points, entry_points


def test_sdist_holds_the_sources_and_builds_the_same_wheel(dists: Dists, work: Path) -> None:
    """pip installs from an sdist by building a wheel from it: that wheel must equal ours."""
    with tarfile.open(dists.sdist) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
        t.extractall(work / "sdist", filter="data")
    expected = {f.replace("necroflow/schemas/", "schemas/", 1) for f in _source_modules()}
    missing = sorted(expected - names)
    assert not missing, "the sdist lacks these source files:\n  " + "\n  ".join(missing)
    assert "pyproject.toml" in names and "README.md" in names
    (unpacked,) = (work / "sdist").iterdir()
    top_level = unpacked / "necroflow.egg-info" / "top_level.txt"
    if top_level.exists():
        assert top_level.read_text().split() == ["necroflow"]
    out = work / "dist-from-sdist"
    _pip("wheel", "-q", "--no-deps", "--no-build-isolation", "-w", out, unpacked,
         python=dists.builder, cwd=work)
    (again,) = out.glob("necroflow-*.whl")
    ours = {n for n in zipfile.ZipFile(dists.wheel).namelist() if ".dist-info/" not in n}
    theirs = {n for n in zipfile.ZipFile(again).namelist() if ".dist-info/" not in n}
    assert ours == theirs, f"only from the checkout: {sorted(ours - theirs)}; only from the sdist: {sorted(theirs - ours)}"


# --- a wheel install ------------------------------------------------------------------------


def test_wheel_install_imports_from_site_packages(wheel_env: Env, tmp_path: Path) -> None:
    got = _probe(wheel_env.python, tmp_path)
    site = wheel_env.site_packages
    assert got["necroflow"] == str(site / "necroflow" / "__init__.py")
    assert got["schemas"] == str(site / "necroflow" / "schemas" / "__init__.py")
    assert not got["missing"], f"modules the wheel install lacks: {got['missing']}"
    assert not got["top_level_schemas"], "`import schemas` works in a wheel install"
    assert got["version"] == VERSION
    assert not any(p and Path(p).resolve() == REPO for p in got["sys_path"]), got["sys_path"]


def test_wheel_install_console_script(wheel_env: Env, tmp_path: Path) -> None:
    _check_cli(wheel_env.necroflow, tmp_path)


def test_wheel_install_python_m_schemas_export(wheel_env: Env, tmp_path: Path) -> None:
    """The Makefile's ``python -m necroflow.schemas.export DIR`` from an installed package."""
    _run([wheel_env.python, "-m", "necroflow.schemas.export", tmp_path / "js"], cwd=tmp_path)
    for name in ("job.schema.json", "manifest.schema.json"):
        assert json.loads((tmp_path / "js" / name).read_text())["$schema"]


FLOW = '''
from __future__ import annotations

from necroflow import NodeType, Pipeline, Rules


class Counts(NodeType):
    filename = "counts.txt"


R = Rules()


@R.command("echo {n} > {counts}")
def count(n: int) -> Counts[counts]:  # noqa: F821
    """One output."""


def factory(config, R):
    P = Pipeline()
    P.counts = R.count(n=config["n"])
    return P
'''


def test_wheel_install_runs_a_pipeline_and_agrees_with_the_checkout(wheel_env: Env, tmp_path: Path) -> None:
    """The installed engine runs a job, and what the checkout recorded is up to date for it
    (same fingerprints from site-packages as from the repo)."""
    (tmp_path / "flow.py").write_text(FLOW)
    (tmp_path / "job.toml").write_text('".pipeline" = "flow.py:factory"\nn = 3\n')
    _run([wheel_env.necroflow, "run", "--outdir", "installed", "job.toml"], cwd=tmp_path)
    (counts,) = (tmp_path / "installed").glob("count/*/counts.txt")
    assert counts.read_text().strip() == "3"
    _run([sys.executable, "-m", "necroflow.cli", "run", "--outdir", "checkout", "job.toml"],
         cwd=tmp_path)
    assert [p.relative_to(tmp_path / "checkout") for p in (tmp_path / "checkout").glob("count/*")] == [
        p.relative_to(tmp_path / "installed") for p in (tmp_path / "installed").glob("count/*")]
    res = _run([wheel_env.necroflow, "run", "--outdir", "checkout", "job.toml"], cwd=tmp_path)
    assert "Nothing to do" in res.stdout + res.stderr, res.stdout + res.stderr


# --- editable installs ----------------------------------------------------------------------


def test_editable_install_imports_from_the_checkout(editable: tuple[Env, Path], tmp_path: Path) -> None:
    env, src = editable
    got = _probe(env.python, tmp_path)
    assert got["necroflow"] == str(src / "necroflow" / "__init__.py")
    assert got["schemas"] == str(src / "schemas" / "__init__.py")
    assert not got["missing"], f"modules the editable install lacks: {got['missing']}"
    assert not got["top_level_schemas"], "`import schemas` works in an editable install"
    assert got["version"] == VERSION


def test_editable_install_sees_new_files(editable: tuple[Env, Path], tmp_path: Path) -> None:
    """Editable means live: a module added to schemas/ after the install is importable."""
    env, src = editable
    probe = src / "schemas" / "_packaging_probe.py"
    probe.write_text("WHERE = __file__\n")
    try:
        res = _run([env.python, "-c", "import necroflow.schemas._packaging_probe as p; print(p.WHERE)"],
                   cwd=tmp_path)
    finally:
        probe.unlink()
    assert res.stdout.strip() == str(probe)


def test_editable_install_console_script(editable: tuple[Env, Path], tmp_path: Path) -> None:
    _check_cli(editable[0].necroflow, tmp_path)


def test_the_test_venv_is_an_editable_install_of_this_checkout(tmp_path: Path) -> None:
    """The venv running these tests (``make test``'s ``pip install -e .``) imports the repo."""
    import importlib.metadata

    # look in site-packages: `python -m pytest` from the repo also puts necroflow.egg-info on sys.path
    site = [sysconfig.get_paths()["purelib"]]
    dist = next(iter(importlib.metadata.distributions(name="necroflow", path=site)), None)
    direct = dist.read_text("direct_url.json") if dist else None
    if not direct or not json.loads(direct).get("dir_info", {}).get("editable"):
        pytest.skip("necroflow is not installed editable in this interpreter")
    got = _probe(Path(sys.executable), tmp_path)
    assert got["necroflow"] == str(REPO / "necroflow" / "__init__.py")
    assert got["schemas"] == str(REPO / "schemas" / "__init__.py")
    assert not got["missing"], got["missing"]
    assert not got["top_level_schemas"], "`import schemas` works outside the repo"
    bindir = Path(sysconfig.get_paths()["scripts"])
    if (bindir / "necroflow").exists():
        _check_cli(bindir / "necroflow", tmp_path)

