"""Same-size edits the old (size, mtime) signature missed: on a file system with one-second
stamps within the job's second, and anywhere with ``touch -r`` / ``cp -p`` / ``rsync -t``.

Each edit must make the edited output's consumer stale (its content hash moved), and a
signature that is safe to trust must still save the re-hash (the no-op path stays cheap).
"""

from __future__ import annotations

import io
import os
import shutil
import time
from pathlib import Path

from ext4 import coarse_fs

from necroflow import DAG, NodeType, Pipeline, Reporter, Rules, store
from necroflow.plan import State


class Word(NodeType):
    filename = "word.txt"


class Copy(NodeType):
    filename = "copy.txt"


R = Rules()
R.register("make", {"word": str}, {"out": Word}, "printf '%s' {word} > {out}")
R.register("copy", {"src": Word}, {"out": Copy}, "cat {src} > {out}")


def pipeline(word: str = "aaaa") -> Pipeline:
    P = Pipeline()
    P.word = R.make(word=word)
    P.copy = R.copy(P.word)
    return P


def run(outdir: Path) -> Pipeline:
    P = pipeline()
    dag = DAG(outdir)
    dag.add(P)
    dag.execute(progress=Reporter(stream=io.StringIO()))
    return P


def copy_state(outdir: Path) -> State:
    P = pipeline()
    dag = DAG(outdir)
    dag.add(P)
    return dag.plan().entries[P.copy.fingerprint].state


def rewrite_in_place(path: Path, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.write(data)


def test_same_second_edit_on_one_second_stamps_is_caught(tmp_path: Path) -> None:
    caught, tried = 0, 0
    with coarse_fs(tmp_path) as root:
        for attempt in range(6):
            out = root / f"out{attempt}"
            while time.time() % 1 > 0.3:  # start early in a second: the run and the edit share it
                time.sleep(0.02)
            P = run(out)
            word = out / P.word.relpath
            rewrite_in_place(word, b"bbbb")  # same size, same second: size, mtime, ctime unchanged
            rec = store.NodeFolder(word.parent).record_dict()
            assert rec is not None
            hashed = rec["outputs"]["word.txt"]["hashed_ns"]
            st = os.stat(word)
            assert st.st_mtime_ns % 10**9 == 0, "the fixture's file system has whole-second stamps"
            if st.st_mtime_ns // 10**9 != hashed // 10**9:
                continue  # the second turned between the job and the edit: not the case under test
            tried += 1
            assert (st.st_size, st.st_mtime_ns) == (rec["outputs"]["word.txt"]["size"], rec["outputs"]["word.txt"]["mtime_ns"])
            assert copy_state(out) is State.STALE, "a same-second same-size edit was trusted"
            caught += 1
    assert tried >= 3, f"only {tried} of 6 attempts edited within the job's second"
    assert caught == tried


def test_touch_r_after_a_same_size_edit_is_caught(tmp_path: Path) -> None:
    out = tmp_path / "out"
    P = run(out)
    word = out / P.word.relpath
    before = os.stat(word)
    rewrite_in_place(word, b"bbbb")
    os.utime(word, ns=(before.st_atime_ns, before.st_mtime_ns))  # what touch -r / cp -p / rsync -t do
    after = os.stat(word)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert copy_state(out) is State.STALE


def test_cp_p_over_the_output_is_caught(tmp_path: Path) -> None:
    out = tmp_path / "out"
    P = run(out)
    word = out / P.word.relpath
    other = tmp_path / "other.txt"
    other.write_bytes(b"cccc")
    os.utime(other, ns=(os.stat(word).st_atime_ns, os.stat(word).st_mtime_ns))
    shutil.copy2(other, word)  # same size and mtime, new content
    assert copy_state(out) is State.STALE


def test_an_untouched_output_is_trusted_without_hashing(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    run(out)
    copy_state(out)  # a first plan may re-hash what was racy when recorded (then records it)
    run(out)  # persist
    calls: list[str] = []
    real = store.folder.hash_path
    monkeypatch.setattr(store.folder, "hash_path", lambda p: calls.append(str(p)) or real(p))
    assert copy_state(out) is State.UP_TO_DATE
    assert calls == []
