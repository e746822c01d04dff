"""Job TOMLs to a DAG and back to combo folders: the Python face of ``necroflow run``.

``load_jobs`` validates job files, expands grids, imports each factory once and builds
one pipeline per combo into a shared DAG (so work common to several job files runs once).
``write_links`` gives every combo a folder of symlinks to its requested outputs and a
``manifest.toml``.  The CLI is a thin layer over these two calls.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from .graph import DAG, Node, Pipeline
from .rules import Rules
from .schemas import Combo, ConfigError, config_for, load_combos


@dataclass
class ComboRun:
    combo: Combo
    pipeline: Pipeline
    requested: dict[str, Node] = field(default_factory=dict)  # label -> canonical node


@dataclass
class JobSet:
    dag: DAG
    runs: list[ComboRun]


_modules: dict[Path, ModuleType] = {}


def load_factory(ref: str, *, job_file: Path, base: Path | None = None) -> tuple[Callable[..., Any], ModuleType]:
    """Import ``path/to/file.py:function`` (path relative to ``base``, default: the current directory)."""
    path_text, _, func = ref.rpartition(":")
    base = base or Path.cwd()
    path = (base / path_text).resolve()
    if not path.is_file():
        raise ConfigError(f"factory file {path_text!r} not found (looked at {path}; paths are relative to the directory necroflow runs in)",
                          file=job_file, key=".pipeline")
    module = _modules.get(path)
    if module is None:
        name = f"necroflow_factory_{abs(hash(str(path))):x}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ConfigError(f"cannot import {path_text!r}", file=job_file, key=".pipeline")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        sys.path.insert(0, str(path.parent))
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            del sys.modules[name]
            raise ConfigError(f"importing {path_text} failed: {_user_error(e, path)}", file=job_file, key=".pipeline") from None
        finally:
            try:
                sys.path.remove(str(path.parent))
            except ValueError:
                pass
        _modules[path] = module
    fn = getattr(module, func, None)
    if fn is None or not callable(fn):
        funcs = sorted(k for k, v in vars(module).items() if inspect.isfunction(v) and v.__module__ == module.__name__)
        raise ConfigError(f"{path_text} has no function {func!r}; functions defined there: {', '.join(funcs) or 'none'}",
                          file=job_file, key=".pipeline")
    return fn, module


def _user_error(e: BaseException, path: Path) -> str:
    """'TypeError: ... (factory.py, line 12)': the innermost frame in the user's file."""
    where = ""
    for fr in reversed(traceback.extract_tb(e.__traceback__)):
        if fr.filename == str(path):
            where = f" ({path.name}, line {fr.lineno})"
            break
    return f"{type(e).__name__}: {e}{where}"


def _rules_of(module: ModuleType, job_file: Path, ref: str) -> Rules:
    found = {id(v): v for v in vars(module).values() if isinstance(v, Rules)}
    if len(found) == 1:
        return next(iter(found.values()))
    if not found:
        raise ConfigError(f"{ref}: the factory takes a Rules argument, but its module defines no Rules() instance",
                          file=job_file, key=".pipeline")
    names = [k for k, v in vars(module).items() if isinstance(v, Rules)]
    raise ConfigError(f"{ref}: the module defines several Rules instances ({', '.join(names)}); "
                      "keep one, or make the factory take only config and use its own", file=job_file, key=".pipeline")


def build_pipeline(combo: Combo, base: Path | None = None) -> Pipeline:
    factory, module = load_factory(combo.pipeline, job_file=combo.source, base=base)
    config = config_for(factory, combo)
    try:
        nparams = len(inspect.signature(factory).parameters)
    except (TypeError, ValueError):
        nparams = 1
    args: tuple[Any, ...] = (config,)
    if nparams >= 2:
        args = (config, _rules_of(module, combo.source, combo.pipeline))
    path = Path(getattr(module, "__file__", "") or "")
    try:
        P = factory(*args)
    except ConfigError:
        raise
    except Exception as e:
        raise ConfigError(f"combo {combo.name}: factory {combo.pipeline} raised {_user_error(e, path)}",
                          file=combo.source) from None
    if not isinstance(P, Pipeline):
        raise ConfigError(f"combo {combo.name}: factory {combo.pipeline} returned {type(P).__name__}, not a Pipeline",
                          file=combo.source)
    return P


def load_jobs(paths: Sequence[str | os.PathLike[str]], outdir: str | os.PathLike[str],
              base: Path | None = None) -> JobSet:
    """Validate job files and build one shared DAG.  Raises ConfigError on any bad input."""
    combos = load_combos([str(p) for p in paths])
    dag = DAG(outdir)
    runs: list[ComboRun] = []
    for combo in combos:
        P = build_pipeline(combo, base)
        try:
            dag.add(P, combo.requests)
        except KeyError as e:
            raise ConfigError(str(e.args[0]), file=combo.source, key=".requests") from None
        runs.append(ComboRun(combo, P, dag.pipeline_requests[-1]))
    rules = {j.rule.name for j in dag.jobs.values()}
    for run in runs:
        if run.combo.name in rules:
            raise ConfigError(
                f"combo folder {run.combo.name!r} would collide with the output folder of rule {run.combo.name!r}; "
                "rename the job file (its stem names the combo folder)", file=run.combo.source)
    return JobSet(dag, runs)


def write_links(dag: DAG, run: ComboRun) -> Path:
    """``outdir/{combo}/``: symlinks to the requested outputs only, and ``manifest.toml``.

    Links left from an earlier run that are no longer requested are removed.  Only
    symlinks and empty folders inside the combo folder are ever deleted.
    """
    from .schemas import Manifest, write_manifest

    outdir = dag.outdir
    folder = outdir / run.combo.name
    folder.mkdir(parents=True, exist_ok=True)
    wanted: dict[Path, Path] = {}
    outputs: dict[str, str] = {}
    for label, node in run.requested.items():
        rel = node.relpath
        outputs[label] = rel
        wanted[folder / rel] = outdir / rel
    for dirpath, dirnames, filenames in os.walk(folder, topdown=False):
        d = Path(dirpath)
        for name in filenames + dirnames:
            p = d / name
            if p.is_symlink() and p not in wanted:
                p.unlink()
        if d != folder:
            try:
                d.rmdir()  # only succeeds when empty
            except OSError:
                pass
    for link, target in wanted.items():
        link.parent.mkdir(parents=True, exist_ok=True)
        rel_target = os.path.relpath(target, link.parent)
        if link.is_symlink():
            if os.readlink(link) == rel_target:
                continue
            link.unlink()
        elif link.exists():
            raise ConfigError(f"{link} exists and is not a symlink; necroflow will not overwrite it", file=run.combo.source)
        os.symlink(rel_target, link)
    combo = run.combo
    manifest = Manifest(combo=combo.name, job_file=str(combo.source), pipeline=combo.pipeline,
                        requests=combo.requests, axes={k: v for k, v in combo.axes}, params=combo.params,
                        outputs=outputs)
    write_manifest(folder / "manifest.toml", manifest)
    return folder
