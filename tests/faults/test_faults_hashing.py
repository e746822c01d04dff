"""Canonical hashing: the same pipeline has the same hashes in any interpreter and any layout.

* Three fresh interpreters with different ``PYTHONHASHSEED`` (the factory rebuilds a
  table in set order, which follows the seed), different working directories, different
  copies of the factory file, relative vs absolute job paths and different outdirs: every
  full fingerprint is equal.
* An outdir built in one layout, copied elsewhere (with and without its mtimes), is up
  to date for a run from another layout: nothing reruns.
* A pinned fingerprint: an accidental change of the encoding would silently invalidate
  every user's cache, so it must be a deliberate change (bump ``VERSION``, update here).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from faultlib import WORKLOAD, child_env, run

FILES = ("hashing.py", "hashing.toml")

CHILD = """
import json, sys
from necroflow.jobs import load_jobs
js = load_jobs([sys.argv[1]], sys.argv[2])
fps = {j.key: j.fingerprint for j in js.dag.jobs.values()}
witness = list({k: 1 for k in set(["alpha", "beta", "gamma", "zeta", "kappa", "mu", "nu", "xi"])})
print(json.dumps({"fps": fps, "set_order": witness}))
"""


def layout(root: Path) -> Path:
    """A private copy of the workload files under ``root`` (another 'machine')."""
    root.mkdir(parents=True)
    for name in FILES:
        shutil.copy(WORKLOAD / name, root / name)
    return root


def absolute_job(root: Path, dest: Path) -> Path:
    """The same job, naming its factory by absolute path (so it can run from any directory)."""
    text = (root / "hashing.toml").read_text().replace('"hashing.py:', f'"{root}/hashing.py:')
    dest.write_text(text)
    return dest


def fingerprints(cwd: Path, job: str | Path, outdir: Path, seed: str) -> dict:
    res = subprocess.run([sys.executable, "-c", CHILD, str(job), str(outdir)], cwd=cwd, capture_output=True,
                         text=True, timeout=60, env=child_env(PYTHONHASHSEED=seed))
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_same_hashes_across_seeds_and_layouts(tmp_path: Path) -> None:
    a = layout(tmp_path / "machine-a" / "work")
    b = layout(tmp_path / "machine b" / "deeper" / "élan")
    runs = [
        fingerprints(a, "hashing.toml", tmp_path / "machine-a" / "results", "0"),
        fingerprints(b, b / "hashing.toml", tmp_path / "elsewhere" / "out dir", "12345"),
        fingerprints(tmp_path, absolute_job(b, tmp_path / "abs.toml"), Path("relative-out"), "987654321"),
    ]
    orders = {tuple(r["set_order"]) for r in runs}
    assert len(orders) > 1, "the seeds chosen should reorder a set, or the test proves nothing"
    first = runs[0]["fps"]
    assert len(first) == 3
    for r in runs[1:]:
        assert r["fps"] == first


def test_cli_dry_run_keys_match_across_layouts(tmp_path: Path) -> None:
    a = layout(tmp_path / "a")
    b = layout(tmp_path / "b" / "c")
    keys = []
    for cwd, seed, out in ((a, "1", tmp_path / "o1"), (b, "2", tmp_path / "x" / "o2")):
        res = run(["run", "--dry-run", "--json", "--outdir", out, "hashing.toml"], cwd=cwd, PYTHONHASHSEED=seed)
        assert res.returncode == 0, res.stderr
        keys.append(sorted(j["job"] for j in json.loads(res.stdout)["jobs"]))
    assert keys[0] == keys[1] and len(keys[0]) == 3


def test_outdir_copied_to_another_layout_is_up_to_date(tmp_path: Path) -> None:
    a = layout(tmp_path / "a")
    b = layout(tmp_path / "b" / "other")
    built = tmp_path / "built"
    res = run(["run", "-q", "--outdir", built, "hashing.toml"], cwd=a, log=tmp_path / "a.log", PYTHONHASHSEED="3")
    assert res.returncode == 0, res.stderr
    assert len((tmp_path / "a.log").read_text().splitlines()) == 3
    for name, copy_function in (("with-mtimes", shutil.copy2), ("without-mtimes", shutil.copy)):
        moved = tmp_path / "moved" / name
        shutil.copytree(built, moved, symlinks=True, copy_function=copy_function)
        log = tmp_path / f"{name}.log"
        job = absolute_job(b, tmp_path / f"{name}.toml")
        res = run(["run", "--outdir", moved, job], cwd=tmp_path, log=log, PYTHONHASHSEED="4")
        assert res.returncode == 0, res.stderr
        assert not log.exists(), f"{name}: jobs reran after the outdir moved: {log.read_text()}"
        assert "Nothing to do" in res.stderr, res.stderr


GOLDEN = {
    "golden_src": "a302cbb951e00097a810c01bd6d7e199b78a204a51001878c09cefbac3fa8dfe",
    "golden_use": "3dbfc3cd5cababae8bd133933cc70dfca3a9efd66e07b567ddeb0874015a3831",
}


def test_pinned_fingerprints() -> None:
    from necroflow import NodeType, Rules

    class Golden(NodeType):
        filename = "golden.txt"

    R = Rules()
    src = R.register("golden_src", inputs={"x": str, "n": int, "t": dict}, outputs={"out": Golden},
                     command="echo {x} {n} {t} > {out}")
    use = R.register("golden_use", inputs={"g": Golden}, outputs={"out2": Golden}, command="cat {g} > {out2}")
    n1 = src(x="value é", n=3, t={"b": [1, 2.5], "a": "z"})
    n2 = use(n1)
    got = {"golden_src": n1.fingerprint, "golden_use": n2.fingerprint}
    assert got == GOLDEN, (
        "the fingerprint encoding changed: every existing outdir would rerun from scratch. "
        "If that is intended, bump fingerprint.VERSION and update GOLDEN in this test."
    )
