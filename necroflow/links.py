"""Combo folders: ``outdir/{combo}/`` holds symlinks to a combo's requested outputs and a manifest.

Only complete combos (every requested output up to date) get links; a combo whose outputs
failed keeps what an earlier run left, so a failed rerun never removes links to good
results.  Only symlinks, manifests and then-empty folders inside combo folders are ever
deleted here.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .nodes import walk_jobs
from .schemas import ConfigError
from .store import UP_TO_DATE, Outdir

if TYPE_CHECKING:
    from .graph import DAG
    from .jobs import ComboRun, JobSet
    from .plan import Plan


def combo_complete(run: ComboRun, outdir_of: Path, failed: Iterable[str] = ()) -> bool:
    """True when every requested output of the combo is recorded up to date on disk."""
    bad = set(failed)
    outdir = Outdir(outdir_of)
    for node in run.requested.values():
        if node.job.key in bad or outdir.node(node.job.key).state() != UP_TO_DATE:
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
        if not combo_complete(run, jobset.dag.outdir, bad):
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


def combo_folders(outdir: Path) -> list[tuple[Path, Any]]:
    """(folder, manifest) of every combo folder in the outdir (a real folder holding a manifest)."""
    from .schemas import read_manifest

    out: list[tuple[Path, Any]] = []
    try:
        entries = sorted(os.scandir(outdir), key=lambda e: e.name)
    except OSError:
        return out
    for e in entries:
        if e.name.startswith(".") or not e.is_dir(follow_symlinks=False):
            continue
        if not os.path.isfile(os.path.join(e.path, "manifest.toml")):
            continue
        try:
            out.append((Path(e.path), read_manifest(Path(e.path) / "manifest.toml")))
        except ConfigError:
            continue
    return out


def combos_using(outdir: Path, keys: set[str]) -> list[tuple[Path, Any]]:
    """Combo folders whose manifest names a requested output of one of the jobs ``keys``."""
    hit = []
    for folder, m in combo_folders(outdir):
        if any("/".join(rel.split("/")[:2]) in keys for rel in m.outputs.values()):
            hit.append((folder, m))
    return hit


def remove_combo(folder: Path) -> None:
    """Delete a combo folder's links and manifest, then the folder if nothing else is in it."""
    if folder.is_symlink():
        return
    _remove_links(folder, keep=set())
    (folder / "manifest.toml").unlink(missing_ok=True)
    try:
        folder.rmdir()
    except OSError:
        pass


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
        outputs[label] = node.relpath
        for fn in node.files:  # companions (an index) beside their main file, as tools expect
            rel = f"{node.job.key}/{fn}"
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


def combo_rows(jobset: JobSet, plan: Plan) -> list[dict[str, Any]]:
    """One row per combo: its job file, whether all its requested outputs are up to date
    (recorded so, and nothing upstream of them would run), and where they are."""
    will_run = {j.fingerprint for j in plan.to_run}
    outdir = jobset.dag.outdir

    def complete(r: ComboRun) -> bool:
        if not combo_complete(r, outdir):
            return False
        return not any(j.fingerprint in will_run for j in walk_jobs(n.job for n in r.requested.values()))

    return [{"combo": r.combo.name, "job_file": str(r.combo.source), "complete": complete(r),
             "requests": {lab: n.relpath for lab, n in r.requested.items()}} for r in jobset.runs]
