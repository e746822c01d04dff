"""``--autoclean`` in an outdir another job file ran in: it says what it deletes (count, bytes,
the other job files' combos by name; every path with -v), ``--dry-run --autoclean`` says the
same first, and a combo whose requested outputs go is removed with them (no dangling links)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"


def necroflow(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "necroflow.cli", *map(str, args)], cwd=DATA,
                          capture_output=True, text=True, timeout=120)


def tree(out: Path) -> set[str]:
    return {str(p.relative_to(out)) for p in out.rglob("*") if ".rip" not in p.parts}


def test_autoclean_names_the_other_job_files_combos_it_removes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert necroflow("run", "-q", "--outdir", out, "good/other.toml").returncode == 0
    assert necroflow("run", "-q", "--outdir", out, "good/words.toml").returncode == 0
    other = out / "other"
    assert (other / "manifest.toml").is_file()
    before = tree(out)

    dry = necroflow("run", "--dry-run", "--autoclean", "-v", "--outdir", out, "good/words.toml")
    assert dry.returncode == 0, dry.stderr
    said = dry.stdout + dry.stderr
    assert "autoclean would delete 2 orphan folder(s)" in said, said
    assert "other (good/other.toml)" in said, said
    assert "  orphan        make_text/" in said and "  orphan        summarise/" in said, said
    assert tree(out) == before, "a dry run deletes nothing"

    run = necroflow("run", "--autoclean", "--outdir", out, "good/words.toml")
    assert run.returncode == 0, run.stderr
    said = run.stdout + run.stderr
    assert re.search(r"autoclean: deleting 2 orphan folder\(s\) .*, [0-9.]+ (B|KiB|MiB)", said), said
    assert "other (good/other.toml)" in said, said
    assert "  orphan " not in said, "the full list only with -v"
    assert not other.exists(), "the other job file's combo folder goes with its outputs"
    dangling = [p for p in out.rglob("*") if p.is_symlink() and not p.exists()]
    assert dangling == []
    for manifest in out.glob("*/manifest.toml"):
        for line in manifest.read_text().splitlines():
            if line.startswith(("text =", "summary =", "shared =")):
                assert (out / line.split('"')[1]).exists(), f"{manifest} names an absent file"
