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
from collections.abc import Callable, Iterable, Sequence
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
        if str(path.parent) not in sys.path:  # as for a script; stays for imports made later by the factory
            sys.path.insert(0, str(path.parent))
        try:
            spec.loader.exec_module(module)
        except (Exception, SystemExit) as e:
            del sys.modules[name]
            raise ConfigError(f"importing {path_text} failed: {_user_error(e, path)}", file=job_file, key=".pipeline") from None
        _modules[path] = module
    fn = getattr(module, func, None)
    if fn is None or not callable(fn):
        funcs = sorted(k for k, v in vars(module).items() if inspect.isfunction(v) and v.__module__ == module.__name__)
        raise ConfigError(f"{path_text} has no function {func!r}; functions defined there: {', '.join(funcs) or 'none'}",
                          file=job_file, key=".pipeline")
    return fn, module


def _user_error(e: BaseException, path: Path) -> str:
    """'TypeError: ... (factory.py, line 12)': the innermost frame in the user's file.

    People fix their factory from this line, so it points at their code, not ours; a
    SyntaxError carries its own file and line (there is no frame for it).
    """
    if isinstance(e, SyntaxError) and e.filename:
        return f"SyntaxError: {e.msg} ({Path(e.filename).name}, line {e.lineno})"
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
        raise ConfigError(f"{ref}: the factory takes a second (Rules) argument, but its module defines no "
                          "Rules() instance; add 'R = Rules()' there, or make the factory take only config",
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
    except (Exception, SystemExit) as e:
        raise ConfigError(f"factory {combo.pipeline} raised {_user_error(e, path)}",
                          file=combo.source, key=".pipeline", combo=combo.name) from None
    if not isinstance(P, Pipeline):
        raise ConfigError(f"factory {combo.pipeline} returned {type(P).__name__}, not a Pipeline; "
                          "end the factory with 'return P'", file=combo.source, key=".pipeline", combo=combo.name)
    return P


def load_jobs(paths: Sequence[str | os.PathLike[str]], outdir: str | os.PathLike[str],
              base: Path | None = None) -> JobSet:
    """Validate job files and build one shared DAG.  Raises ConfigError on any bad input.

    Every combo's pipeline goes into the same DAG, so a job that several combos (or
    several job files) share is one job and runs once.
    """
    combos = load_combos([str(p) for p in paths])
    dag = DAG(outdir)
    runs: list[ComboRun] = []
    for combo in combos:
        P = build_pipeline(combo, base)
        _check_requests(P, combo)
        dag.add(P, combo.requests)
        runs.append(ComboRun(combo, P, dag.pipeline_requests[-1]))
    jobset = JobSet(dag, runs)
    check_folders(jobset)
    return jobset


def _check_requests(P: Pipeline, combo: Combo) -> None:
    """Every ``.requests`` label must be a Pipeline attribute: name the bad one, suggest the close one."""
    import difflib

    labels = list(P.labels)
    for label in combo.requests or ():
        if label not in P:
            close = difflib.get_close_matches(label, labels, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(f"requested output {label!r} is not an attribute of the pipeline built by "
                              f"{combo.pipeline}; {hint}its outputs are: {', '.join(labels) or 'none'}",
                              file=combo.source, key=".requests", combo=combo.name)


def check_folders(jobset: JobSet) -> None:
    """Refuse a combo folder and a rule folder that would be the same ``outdir/NAME``.

    Rule outputs live in ``outdir/{rule}/{hash16}/`` and combo links in ``outdir/{combo}/``;
    a job file ``count.toml`` (combo ``count``) next to a rule ``count`` would mix the two,
    and link pruning could then touch real outputs.  Checked against this run's rules and
    against what earlier runs left in the outdir.
    """
    outdir = jobset.dag.outdir
    rules = {j.rule.name for j in jobset.dag.jobs.values()}
    for run in jobset.runs:
        name = run.combo.name
        if name in rules:
            raise ConfigError(
                f"combo folder {name!r} would be the same folder as the outputs of rule {name!r} "
                f"({outdir / name}); rename the job file (its stem names the combo folder)",
                file=run.combo.source)
        folder = outdir / name
        if _holds_rule_outputs(folder):
            raise ConfigError(
                f"{folder} holds outputs of a rule {name!r} from an earlier run, so it can't be this "
                "job's combo folder; rename the job file, or use another --outdir",
                file=run.combo.source)
    for rule in sorted(rules):
        if (outdir / rule / "manifest.toml").exists():
            owner = next((r for r in jobset.runs if rule in {j.rule.name for j in r.pipeline.jobs}), jobset.runs[0])
            raise ConfigError(
                f"rule {rule!r} writes to {outdir / rule}, which is a combo folder from an earlier run "
                "(it has a manifest.toml); rename the rule, or move that folder away",
                file=owner.combo.source, key=".pipeline", combo=owner.combo.name)


def _holds_rule_outputs(folder: Path) -> bool:
    """True when ``folder`` has ``{hash16}/.rip/`` children that are real folders (not links)."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return False
    for e in entries:
        if (len(e.name) == 16 and e.is_dir(follow_symlinks=False)
                and os.path.isdir(os.path.join(e.path, ".rip")) and not os.path.islink(os.path.join(e.path, ".rip"))):
            return True
    return False


def combo_complete(run: ComboRun, failed: Iterable[str] = ()) -> bool:
    """True when every requested output of the combo is recorded up to date on disk."""
    from . import store

    bad = set(failed)
    for node in run.requested.values():
        d = node.job.dir
        if node.job.key in bad or d is None or store.read_state(d) != store.UP_TO_DATE:
            return False
    return True


def link_combos(jobset: JobSet, failed: Iterable[str] = ()) -> dict[str, str]:
    """Links and manifest for every complete combo; prune combo folders no longer produced.

    Returns combo name -> ``"linked"``, or why it was not (``"incomplete"``, or the error
    met while linking).  A combo whose requested outputs did not all succeed keeps what an
    earlier run left, so a failed rerun never removes links to good results.
    """
    bad = set(failed)
    status: dict[str, str] = {}
    for run in jobset.runs:
        if not combo_complete(run, bad):
            status[run.combo.name] = "incomplete"
            continue
        try:
            write_links(jobset.dag, run)
            status[run.combo.name] = "linked"
        except (ConfigError, OSError) as e:
            status[run.combo.name] = f"not linked: {e}"
    prune_combos(jobset)
    return status


def prune_combos(jobset: JobSet) -> list[Path]:
    """Remove combo folders an earlier run of the same job file made that it no longer makes.

    A grid value taken out of ``exp.toml`` should not leave ``exp__ref+old/`` behind, looking
    current.  Only folders named after one of this run's job files, holding a manifest that
    names that same file, are touched, and only their symlinks, manifest and then-empty
    folders are deleted: anything else a person put there stays.
    """
    from .schemas import read_manifest

    outdir = jobset.dag.outdir
    current = {r.combo.name for r in jobset.runs}
    sources: dict[str, set[Path]] = {}
    for r in jobset.runs:
        stem = r.combo.name.split("__", 1)[0]
        sources.setdefault(stem, set()).add(r.combo.source.resolve())
    removed: list[Path] = []
    try:
        entries = list(os.scandir(outdir))
    except OSError:
        return removed
    for e in entries:
        stem = e.name.split("__", 1)[0]
        if e.name in current or stem not in sources or not e.is_dir(follow_symlinks=False):
            continue
        folder = Path(e.path)
        try:
            m = read_manifest(folder / "manifest.toml")
        except ConfigError:
            continue
        if not m.job_file or Path(m.job_file).resolve() not in sources[stem]:
            continue
        _remove_links(folder, keep=set())
        (folder / "manifest.toml").unlink(missing_ok=True)
        try:
            folder.rmdir()
        except OSError:
            pass
        removed.append(folder)
    return removed


def _remove_links(folder: Path, keep: set[Path]) -> None:
    """Delete symlinks under ``folder`` not in ``keep``, then the folders left empty."""
    for dirpath, dirnames, filenames in os.walk(folder, topdown=False):
        d = Path(dirpath)
        for name in filenames + dirnames:
            p = d / name
            if p.is_symlink() and p not in keep:
                p.unlink()
        if d != folder:
            try:
                d.rmdir()  # only succeeds when empty
            except OSError:
                pass


def write_links(dag: DAG, run: ComboRun) -> Path:
    """``outdir/{combo}/``: symlinks to the requested outputs only, and ``manifest.toml``.

    Links left from an earlier run that are no longer requested are removed.  Only
    symlinks and empty folders inside the combo folder are ever deleted.
    """
    from .schemas import Manifest, write_manifest

    outdir = dag.outdir
    folder = outdir / run.combo.name
    if folder.is_symlink():  # never prune links in, or write links into, a folder elsewhere
        raise ConfigError(f"{folder} is a symlink; necroflow writes combo links only into a real folder "
                          "inside the outdir (remove the symlink)", file=run.combo.source)
    folder.mkdir(parents=True, exist_ok=True)
    wanted: dict[Path, Path] = {}
    outputs: dict[str, str] = {}
    for label, node in run.requested.items():
        rel = node.relpath
        outputs[label] = rel
        wanted[folder / rel] = outdir / rel
    _remove_links(folder, keep=set(wanted))
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
