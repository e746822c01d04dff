"""Job TOMLs to a DAG and back to combo folders: the Python face of ``necroflow run``.

``load_jobs`` validates job files, expands grids, imports each factory once and builds
one pipeline per combo into a shared DAG (so work common to several job files runs once).
``write_links`` gives every combo a folder of symlinks to its requested outputs and a
``manifest.toml``.  The CLI is a thin layer over these two calls.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import inspect
import os
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .containers import ContainerError, default_container, use_runtime
from .graph import DAG, GLOB_CHARS, Pipeline
from .links import combo_rows, link_combos
from .missing import MissingFile, missing_files_as_warnings, missing_source_error, missing_warnings
from .nodes import Node
from .reporting import JobFailed
from .rules import Rules
from .schemas import Combo, ConfigError, config_for, load_combos
from .sources import SourceMissing
from .store import Outdir

if TYPE_CHECKING:
    from .plan import Plan
    from .reporting import CancelToken, Reporter, RunReport
    from .schemas import RunSettings


@dataclass
class ComboRun:
    combo: Combo
    pipeline: Pipeline
    requested: dict[str, Node] = field(default_factory=dict)  # label -> canonical node


@dataclass
class JobSet:
    dag: DAG
    runs: list[ComboRun]
    # With load_jobs(missing_files_ok=True): the input files that do not exist, one per file and key.
    warnings: list[ConfigError] = field(default_factory=list)


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


def _missing_key_hint(e: BaseException, config: Any) -> str:
    """For ``config["sample"]`` / ``config.sample`` on a key the job file lacks: say so, with the
    job file's close key (a misspelt ``smaple`` in the TOML)."""
    import difflib

    name = e.args[0] if isinstance(e, KeyError) and e.args else getattr(e, "name", None)
    if not isinstance(name, str) or not isinstance(config, Mapping) or name in config:
        return ""
    close = difflib.get_close_matches(name, [str(k) for k in config], n=1)
    return f"; the job file sets no key {name!r}" + (f" (did you mean {close[0]!r}?)" if close else "")


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
    except SourceMissing as e:  # the key that names the file, when the path is a value of the job file
        raise missing_source_error(combo, e) from None
    except (Exception, SystemExit) as e:
        raise ConfigError(f"factory {combo.pipeline} raised {_user_error(e, path)}{_missing_key_hint(e, config)}",
                          file=combo.source, key=".pipeline", combo=combo.name) from None
    if not isinstance(P, Pipeline):
        raise ConfigError(f"factory {combo.pipeline} returned {type(P).__name__}, not a Pipeline; "
                          "end the factory with 'return P'", file=combo.source, key=".pipeline", combo=combo.name)
    return P


def load_jobs(paths: Sequence[str | os.PathLike[str]], outdir: str | os.PathLike[str],
              base: Path | None = None, *, missing_files_ok: bool = False, container: str | None = None,
              container_runtime: str | None = None) -> JobSet:
    """Validate job files and build one shared DAG.  Raises ConfigError on any bad input.

    Every combo's pipeline goes into the same DAG, so a job that several combos (or
    several job files) share is one job and runs once.  ``missing_files_ok`` (``necroflow
    validate``): input files that do not exist yet are ``jobset.warnings``, not errors.
    ``container`` is the image for rules that name none (a job file's ``.container`` wins);
    ``container_runtime`` the runtime that runs (and identifies) images.
    """
    combos = load_combos([str(p) for p in paths])
    use_runtime(container_runtime)
    dag = DAG(outdir)
    runs: list[ComboRun] = []
    missing: list[tuple[Combo, MissingFile]] = []
    for combo in combos:  # a big DAG raises the collector's threshold itself (heap.fit_to)
        _add_combo(dag, combo, base, missing_files_ok, container, runs, missing)
    jobset = JobSet(dag, runs, missing_warnings(missing))
    check_folders(jobset)
    return jobset


def _add_combo(dag: DAG, combo: Combo, base: Path | None, missing_files_ok: bool, container: str | None,
               runs: list[ComboRun], missing: list[tuple[Combo, MissingFile]]) -> None:
    with missing_files_as_warnings(missing_files_ok) as found, default_container(combo.container or container):
        P = build_pipeline(combo, base)
        _check_requests(P, combo)
        try:
            dag.add(P, combo.requests)  # fingerprints: source files hashed, images identified
        except ContainerError as e:
            raise ConfigError(str(e), file=combo.source, combo=combo.name) from None
    missing += [(combo, m) for m in found]
    runs.append(ComboRun(combo, P, dag.pipeline_requests[-1]))


def _check_requests(P: Pipeline, combo: Combo) -> None:
    """Every ``.requests`` label must be a Pipeline attribute: name the bad one, suggest the close one."""
    import difflib

    labels = list(P.labels)
    for label in combo.requests or ():
        if not GLOB_CHARS.isdisjoint(label):
            if not fnmatch.filter(labels, label):
                raise ConfigError(f"requested outputs {label!r} match no attribute of the pipeline built by "
                                  f"{combo.pipeline}; its outputs are: {', '.join(labels) or 'none'}",
                                  file=combo.source, key=".requests", combo=combo.name)
        elif label not in P:
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
        if Outdir(outdir).holds_rule_outputs(name):
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


@dataclass
class RunOutcome:
    """What ``necroflow run`` did: the plan (dry run) or the run's report, failures, combo links."""

    jobset: JobSet
    plan: Plan
    report: RunReport | None = None  # None for a dry run
    errors: list[JobFailed] = field(default_factory=list)
    combos: dict[str, str] = field(default_factory=dict)  # combo -> "linked" | "incomplete" | why not
    combo_rows: list[dict[str, Any]] = field(default_factory=list)  # dry run: completeness per combo
    autoclean: list[str] = field(default_factory=list)  # dry run with autoclean: what it would delete

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def failed(self) -> list[str]:
        return sorted({e.job.key for e in self.errors})


def run_caps(settings: RunSettings) -> dict[str, Any]:
    """The run's resource caps: ``--cores`` (when given; else the backend's capacity) and
    ``--constraint`` caps."""
    caps: dict[str, Any] = dict(settings.constraints)
    if settings.cores != "all" or settings.backend == "local":
        caps["threads"] = settings.thread_cap()
    if settings.backend != "local" and "cores" not in settings.model_fields_set:
        caps.pop("threads", None)  # a cluster places jobs: no local thread cap unless asked for
    return caps


def run_jobs(paths: Sequence[str | os.PathLike[str]], settings: RunSettings,
             reporter: Reporter | None = None, base: Path | None = None) -> RunOutcome:
    """``necroflow run``: load the job files, run what is not up to date, link each complete combo.

    Raises ConfigError for bad input (nothing has run), OutdirLocked when another process
    holds the outdir, KeyboardInterrupt/Interrupted on a signal (running jobs stopped).
    Job failures do not raise: they are in ``outcome.errors``.
    """
    if settings.outdir is None:
        raise ConfigError("no output directory: pass --outdir DIR (or set NECROFLOW_OUTDIR)")
    jobset = load_jobs(paths, settings.outdir, base, container=settings.container,
                       container_runtime=settings.container_runtime)
    return run_loaded(jobset, settings, reporter)


def run_loaded(jobset: JobSet, settings: RunSettings, reporter: Reporter | None = None,
               cancel: CancelToken | None = None, targets: Sequence[str] | None = None) -> RunOutcome:
    """:func:`run_jobs` for job files already loaded (the CLI tells load errors from run errors)."""
    assert settings.outdir is not None
    dag = jobset.dag if not targets else jobset.dag.only(targets)
    if settings.dry_run:
        plan = dag.plan(scan_orphans=settings.autoclean)
        outcome = RunOutcome(jobset, plan, combo_rows=combo_rows(jobset, plan))
        if settings.autoclean:
            from .autoclean import plan_clean

            lines = plan_clean(dag, plan).lines(verbose=settings.verbose)
            outcome.autoclean = [line.replace("autoclean: deleting", "autoclean would delete", 1) for line in lines]
        return outcome
    make_outdir(settings.outdir)
    errors: list[JobFailed] = []
    report = None
    try:
        report = dag.execute(resource_caps=run_caps(settings), keep_going=settings.keep_going,
                             autoclean=settings.autoclean, backend=settings.backend, progress=reporter,
                             backend_options=settings.model_dump(), retries=settings.retries,
                             time_limit=settings.time_limit, cancel=cancel)
    except JobFailed as e:
        errors = [e]
    except ExceptionGroup as eg:
        errors = [x for x in eg.exceptions if isinstance(x, JobFailed)]
        if len(errors) != len(eg.exceptions):
            raise
    failed = {err.job.key for err in errors}
    # Every combo whose requested outputs are all up to date gets its links, failures
    # elsewhere or not (with --keep-going that is every combo the failures did not reach).
    status = link_combos(jobset, failed)
    plan = report.plan if report is not None else dag.plan()
    return RunOutcome(jobset, plan, report, errors, status)


def make_outdir(path: Path) -> None:
    """Create the outdir up front, so a bad --outdir is one clear error, not a failed run."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--outdir {path} exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create the output directory {path}: {e.strerror or e}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"the output directory {path} is not writable")
