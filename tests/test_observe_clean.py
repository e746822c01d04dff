"""Garbage collection of hash folders: what it selects, what it frees, and what it never touches."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_observe_example import build_dag  # noqa: E402

from necroflow.clean import (  # noqa: E402
    Garbage,
    UnsafePath,
    find_garbage,
    parse_age,
    remove,
    render_garbage,
)
from necroflow.progress import SilentReporter  # noqa: E402
from necroflow.store import OutdirLock, OutdirLocked  # noqa: E402


def _two_generations(out: Path) -> tuple[set[str], set[str]]:
    """Run the example with ref=hg38, then ref=mm10: returns (old keys, current keys)."""
    old = build_dag(out)
    old.execute(progress=SilentReporter())
    new = build_dag(out, ref="mm10")
    new.execute(progress=SilentReporter())
    return {j.key for j in old.jobs.values()}, {j.key for j in new.plan().required}


def test_orphans_are_the_folders_no_current_job_needs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    old, current = _two_generations(out)
    combo = out / "experiment__ref+mm10"  # a combo's link folder is never a node folder
    (combo / "table" / "0123456789abcdef").mkdir(parents=True)
    (combo / "manifest.toml").write_text('[outputs]\ntable = "table/0123456789abcdef/table.tsv"\n')
    garbage = find_garbage(out, keep=current)
    assert {g.key for g in garbage} == old - current  # index, 3 align, 3 count, table of hg38
    assert len(garbage) == 8
    for g in garbage:
        assert g.reason == "orphan" and g.state == "up_to_date" and g.bytes > 0
    # the listing says what would be freed, in total
    text = render_garbage(garbage)
    assert text.splitlines()[-1].startswith("8 folder(s), would free ")
    freed = remove(garbage)
    assert freed == sum(g.bytes for g in garbage)
    assert not any(g.path.exists() for g in garbage)
    # nothing current was touched: a rerun has nothing to do
    plan = build_dag(out, ref="mm10").plan()
    assert plan.to_run == []
    assert find_garbage(out, keep=current) == []


def test_older_than_uses_the_state_record_time(tmp_path: Path) -> None:
    out = tmp_path / "out"
    old, current = _two_generations(out)
    now = time.time()
    # pretend the hg38 run happened 40 days ago
    for key in old - current:
        os.utime(out / key / ".rip" / "state", (now - 40 * 86400, now - 40 * 86400))
    both = find_garbage(out, keep=current, older_than=parse_age("30d"), now=now)
    assert {g.key for g in both} == old - current
    assert all(g.reason.startswith("orphan, last run 40.0d ago") for g in both)
    assert find_garbage(out, keep=current, older_than=parse_age("50d"), now=now) == []
    # without a job file: age alone decides, current or not
    fresh_current = next(iter(current - old))
    os.utime(out / fresh_current / ".rip" / "state", (now - 40 * 86400, now - 40 * 86400))
    by_age = find_garbage(out, older_than=30 * 86400, now=now)
    assert {g.key for g in by_age} == (old - current) | {fresh_current}
    with pytest.raises(ValueError, match="keep .* and/or .*older_than"):
        find_garbage(out)


def test_parse_age() -> None:
    assert parse_age("90") == 90 and parse_age("15m") == 900 and parse_age("12h") == 43200
    assert parse_age("2w") == 14 * 86400 and parse_age("1.5d") == 1.5 * 86400
    with pytest.raises(ValueError, match="e.g. 30d"):
        parse_age("soon")


def test_remove_never_follows_symlinks_out_of_the_outdir(tmp_path: Path) -> None:
    out = tmp_path / "out"
    old, current = _two_generations(out)
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "data.txt").write_text("keep me\n")
    garbage = find_garbage(out, keep=current)
    victim = garbage[0].path
    # a link inside a garbage folder, to a directory and to a file outside the outdir
    os.symlink(precious, victim / "link_to_dir")
    os.symlink(precious / "data.txt", victim / "link_to_file")
    # a "node folder" that is itself a symlink to the outside, and a rule folder that is one
    fake = out / "align" / "0123456789abcdef"
    os.symlink(precious, fake)
    (tmp_path / "elsewhere" / "feedfacefeedface" / ".rip").mkdir(parents=True)
    os.symlink(tmp_path / "elsewhere", out / "linkedrule")
    found = {g.key for g in find_garbage(out, keep=current)}
    assert "align/0123456789abcdef" not in found and not any(k.startswith("linkedrule/") for k in found)
    remove(garbage)
    assert not victim.exists()
    assert (precious / "data.txt").read_text() == "keep me\n"
    assert fake.is_symlink() and (tmp_path / "elsewhere" / "feedfacefeedface").is_dir()
    # a hand-made entry pointing through a symlink or outside is refused, nothing deleted
    for path in (fake, tmp_path / "elsewhere" / "feedfacefeedface", out / "linkedrule" / "feedfacefeedface"):
        bad = Garbage(outdir=out, path=path, key="x/y", reason="orphan", bytes=0, mtime=0.0, state=None)
        with pytest.raises(UnsafePath):
            remove([bad])
    assert (precious / "data.txt").exists() and (tmp_path / "elsewhere" / "feedfacefeedface").is_dir()


def test_a_folder_rewritten_after_listing_is_kept(tmp_path: Path) -> None:
    out = tmp_path / "out"
    old, current = _two_generations(out)
    garbage = find_garbage(out, keep=current)
    rerun = garbage[0]
    later = rerun.mtime + 5
    os.utime(rerun.path / ".rip" / "state", (later, later))  # as if a run rewrote it meanwhile
    freed = remove(garbage)
    assert rerun.path.is_dir()
    assert freed == sum(g.bytes for g in garbage[1:])
    assert not any(g.path.exists() for g in garbage[1:])


def test_remove_waits_for_no_one_while_a_run_holds_the_lock(tmp_path: Path) -> None:
    out = tmp_path / "out"
    old, current = _two_generations(out)
    garbage = find_garbage(out, keep=current)
    with OutdirLock(out.absolute()):
        with pytest.raises(OutdirLocked):
            remove(garbage)
    assert all(g.path.exists() for g in garbage)
