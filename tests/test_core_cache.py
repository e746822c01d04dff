"""Issue 2, "Fingerprints and the cache" and the staleness traps: what reruns, what does not, and why."""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from pathlib import Path

import pytest

from necroflow import DAG, NodeType, Pipeline, Reporter, Rules, recorder, store
from necroflow.plan import State


class Text(NodeType):
    filename = "text.txt"


class Upper(NodeType):
    filename = "upper.txt"


class Words(NodeType):
    filename = "words.txt"


class Lines(NodeType):
    filename = "lines.txt"


class Index(NodeType):
    """A directory output."""

    filename = "index"


class Link(NodeType):
    filename = "input.txt"


R = Rules()


@R.command("cat {src} > {text}; echo made text")
def load(src: str) -> Text[text]:  # noqa: F821
    """Copy an external file in (so a test can change what a rerun produces)."""


@R.command("tr a-z A-Z < {text} > {upper}; echo to stderr >&2")
def shout(text: Text) -> Upper[upper]:  # noqa: F821
    ...


@R.command("wc -w < {upper} > {words}")
def count_words(upper: Upper) -> Words[words]:  # noqa: F821
    ...


@R.command("wc -w < {text} > {words}; wc -l < {text} > {lines}")
def stats(text: Text) -> (Words[words], Lines[lines]):  # noqa: F821
    ...


@R.command("mkdir {index} && cp {text} {index}/a && mkdir {index}/sub && echo b > {index}/sub/b")
def build_index(text: Text) -> Index[index]:  # noqa: F821
    ...


@R.command("cat {index}/a {index}/sub/b > {words}")
def use_index(index: Index) -> Words[words]:  # noqa: F821
    ...


@R.command("ln -s {path} {link}")
def link(path: str) -> Link[link]:  # noqa: F821
    ...


@R.command("cat {link} > {text}")
def from_link(link: Link) -> Text[text]:  # noqa: F821
    ...


def chain(src: Path) -> Pipeline:
    P = Pipeline()
    P.text = R.load(src=str(src))
    P.upper = R.shout(P.text)
    P.words = R.count_words(P.upper)
    return P


@pytest.fixture
def src(tmp_path: Path) -> Path:
    p = tmp_path / "input.txt"
    p.write_text("one two\nthree\n")
    return p


def run(outdir: Path, *pipelines: Pipeline, quiet: Reporter | None = None, **kw: object) -> list[str]:
    """Execute and return the rule names that ran, in completion order."""
    dag = DAG(outdir)
    for p in pipelines:
        dag.add(p)
    report = dag.execute(progress=quiet or Reporter(stream=open(os.devnull, "w")), **kw)  # noqa: SIM115
    return [k.split("/")[0] for k in report.ran]


def plan_states(outdir: Path, *pipelines: Pipeline) -> dict[str, tuple[State, str]]:
    dag = DAG(outdir)
    for p in pipelines:
        dag.add(p)
    plan = dag.plan()
    return {j.rule.name: (plan.entries[j.fingerprint].state, str(plan.entries[j.fingerprint].reason))
            for j in plan.required}


def bump_mtime(path: Path, seconds: float = -5) -> None:
    """Move a file's mtime (by default into the past, as ``touch -r``/``cp -p`` do: a stamp in
    the future is racy, so such a file would be re-hashed on every run until its time comes)."""
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + int(seconds * 1e9)))


# -- cache hits and records ------------------------------------------------------------------

def test_rerun_does_nothing_and_says_so(outdir: Path, src: Path, quiet: Reporter) -> None:
    assert run(outdir, chain(src), quiet=quiet) == ["load", "shout", "count_words"]
    first = quiet.stream.getvalue()
    assert "3 of 3 jobs to run" in first
    assert run(outdir, chain(src), quiet=quiet) == []
    second = quiet.stream.getvalue()[len(first):]
    assert second.startswith("Nothing to do: all 3 jobs are up to date")
    assert "done" not in second


def test_rip_records(outdir: Path, src: Path) -> None:
    P = chain(src)
    run(outdir, P)
    d = P.upper.path.parent
    assert d == outdir.absolute() / "shout" / P.upper.hash16
    rip = d / ".rip"
    assert (rip / "state").read_text() == "up_to_date"
    content = P.upper.path.read_bytes()
    assert content == b"ONE TWO\nTHREE\n"
    assert (rip / "upper.txt.hash").read_text() == hashlib.sha256(content).hexdigest()
    assert (rip / "job.log").read_text() == "to stderr\n"  # stdout and stderr both land here
    assert (P.text.path.parent / ".rip" / "job.log").read_text() == "made text\n"
    metrics = json.loads((rip / "metrics.json").read_text())
    assert metrics["exit_code"] == 0 and metrics["wall"] >= 0 and {"start", "end", "cpu", "max_rss"} <= set(metrics)
    deps = tomllib.loads((rip / "dependencies.toml").read_text())
    assert deps["rule"] == "shout" and deps["fingerprint"] == P.upper.fingerprint
    assert deps["inputs"]["text"]["sha256"] == hashlib.sha256(P.text.path.read_bytes()).hexdigest()
    # provenance accumulates: the grandchild's record shows the config of every ancestor
    deps3 = tomllib.loads((P.words.path.parent / ".rip" / "dependencies.toml").read_text())
    assert deps3["upstream"][f"load/{P.text.hash16}"]["params"] == {"src": str(src)}
    assert f"shout/{P.upper.hash16}" in deps3["upstream"]


def test_node_folder_holds_only_outputs_and_rip(outdir: Path, src: Path) -> None:
    P = Pipeline()
    P.text = R.load(src=str(src))
    P.words, P.lines = R.stats(P.text)
    P.index = R.build_index(P.text)
    run(outdir, P)
    for node, names in [(P.text, {"text.txt"}), (P.words, {"words.txt", "lines.txt"}), (P.index, {"index"})]:
        assert {p.name for p in node.path.parent.iterdir()} == names | {".rip"}
        leftovers = [p.name for p in (node.path.parent / ".rip").iterdir() if ".tmp" in p.name]
        assert leftovers == []
    assert sorted(p.name for p in outdir.iterdir()) == [".rip", "build_index", "load", "stats"]


def test_param_change_makes_a_new_folder_and_leaves_the_old_one(outdir: Path, src: Path, tmp_path: Path) -> None:
    old = chain(src)
    run(outdir, old)
    other = tmp_path / "other.txt"
    other.write_text("a b c\n")
    new = chain(other)
    assert run(outdir, new) == ["load", "shout", "count_words"]
    assert old.words.path.read_text().strip() == "3" and new.words.path.read_text().strip() == "3"
    assert old.text.path.read_text() == "one two\nthree\n"
    assert old.words.path != new.words.path


# -- touched, edited and rebuilt parents ------------------------------------------------------

def test_touched_parent_with_same_bytes_reruns_nothing_and_is_not_hashed_again(
        outdir: Path, src: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    P = chain(src)
    run(outdir, P)
    bump_mtime(P.text.path)
    calls: list[Path] = []
    real = store.hash_path

    def counting(path: Path) -> str:
        calls.append(Path(path))
        return real(path)

    monkeypatch.setattr(store.folder, "hash_path", counting)  # the plan's re-hash
    monkeypatch.setattr(recorder, "hash_path", counting)  # a job's recording
    assert run(outdir, chain(src)) == []
    assert calls == [P.text.path]  # re-hashed once, because its mtime moved
    rec = json.loads((P.text.path.parent / ".rip" / "record.json").read_text())
    assert rec["outputs"]["text.txt"]["mtime_ns"] == os.stat(P.text.path).st_mtime_ns  # record updated
    calls.clear()
    assert run(outdir, chain(src)) == []
    assert calls == []  # size and mtime match the record: never hashed again


def test_hand_edited_output_is_accepted_and_its_consumers_rerun(outdir: Path, src: Path) -> None:
    P = chain(src)
    run(outdir, P)
    P.upper.path.write_text("EDITED BY HAND WITH FIVE WORDS\n")
    states = plan_states(outdir, chain(src))
    assert states["shout"][0] is State.UP_TO_DATE
    assert states["count_words"][0] is State.STALE
    assert "input upper" in states["count_words"][1] and "content changed" in states["count_words"][1]
    assert run(outdir, chain(src)) == ["count_words"]
    assert P.words.path.read_text().strip() == "6"
    assert (P.upper.path.parent / ".rip" / "upper.txt.hash").read_text().strip() == \
        hashlib.sha256(b"EDITED BY HAND WITH FIVE WORDS\n").hexdigest()
    assert run(outdir, chain(src)) == []


def test_parent_rebuilt_with_different_bytes_makes_children_stale(outdir: Path, src: Path) -> None:
    """Staleness is judged against what the child consumed, not against the parent's own records."""
    P = chain(src)
    run(outdir, P)
    src.write_text("completely different input\n")
    store.write_state(P.text.path.parent, store.INTERRUPTED)
    only_text = chain(src)
    dag = DAG(outdir)
    dag.add(only_text, requests=["text"])
    dag.execute(progress=Reporter(stream=open(os.devnull, "w")))  # noqa: SIM115
    # text now has fresh records and new bytes; shout consumed the old bytes
    states = plan_states(outdir, chain(src))
    assert states["load"][0] is State.UP_TO_DATE
    assert states["shout"][0] is State.STALE
    assert run(outdir, chain(src)) == ["shout", "count_words"]
    assert P.upper.path.read_text() == "COMPLETELY DIFFERENT INPUT\n"


def test_rebuilt_parent_with_identical_bytes_does_not_rerun_children(outdir: Path, src: Path) -> None:
    P = chain(src)
    run(outdir, P)
    dag = DAG(outdir)
    dag.add(chain(src), requests=["text"])
    store.write_state(P.text.path.parent, store.INTERRUPTED)
    dag.execute(progress=Reporter(stream=open(os.devnull, "w")))  # noqa: SIM115
    assert run(outdir, chain(src)) == []


@pytest.mark.parametrize("state", ["running", "interrupted", "failed", "garbage"])
def test_unfinished_states_rerun_and_propagate_to_children(outdir: Path, src: Path, state: str) -> None:
    P = chain(src)
    run(outdir, P)
    store.write_state(P.upper.path.parent, state)
    states = plan_states(outdir, chain(src))
    assert states["shout"][0] in (State.INTERRUPTED, State.FAILED)
    assert states["count_words"] == (State.STALE, f"parent shout/{P.upper.hash16} will run")
    assert run(outdir, chain(src)) == ["shout", "count_words"]


def test_output_without_any_state_record_reruns(outdir: Path, src: Path) -> None:
    P = chain(src)
    run(outdir, P)
    (P.text.path.parent / ".rip" / "state").unlink()
    assert plan_states(outdir, chain(src))["load"][0] is State.INTERRUPTED
    # a parent that reruns propagates to its children (issue 2), whatever bytes it produces
    assert run(outdir, chain(src)) == ["load", "shout", "count_words"]


def test_deleted_output_reruns_the_producer(outdir: Path, src: Path) -> None:
    P = chain(src)
    run(outdir, P)
    P.upper.path.unlink()
    assert plan_states(outdir, chain(src))["shout"] == (State.MISSING, "output upper.txt absent")
    assert run(outdir, chain(src)) == ["shout", "count_words"]


def test_missing_co_output_of_a_multi_output_rule_reruns_the_rule(outdir: Path, src: Path) -> None:
    P = Pipeline()
    P.text = R.load(src=str(src))
    P.words, P.lines = R.stats(P.text)
    run(outdir, P)
    P.lines.path.unlink()
    assert run(outdir, P) == ["stats"]
    assert P.lines.path.read_text().strip() == "2" and P.words.path.read_text().strip() == "3"
    assert run(outdir, P) == []


def test_declared_outputs_are_removed_before_a_rerun(outdir: Path, src: Path) -> None:
    """``ln -s {path} {link}`` would fail with 'File exists' if the old link stayed."""
    P = Pipeline()
    P.link = R.link(path=str(src))
    P.text = R.from_link(P.link)
    run(outdir, P)
    assert P.link.path.is_symlink()
    store.write_state(P.link.path.parent, store.RUNNING)
    assert run(outdir, P) == ["link", "from_link"]
    assert P.link.path.is_symlink() and os.readlink(P.link.path) == str(src)


def test_editing_the_symlinked_source_makes_consumers_stale(outdir: Path, src: Path) -> None:
    P = Pipeline()
    P.link = R.link(path=str(src))
    P.text = R.from_link(P.link)
    run(outdir, P)
    src.write_text("new content\n")
    bump_mtime(src)
    assert run(outdir, P) == ["from_link"]
    assert P.text.path.read_text() == "new content\n"


def test_directory_outputs_are_hashed_as_trees_and_removed_before_rerun(outdir: Path, src: Path) -> None:
    P = Pipeline()
    P.text = R.load(src=str(src))
    P.index = R.build_index(P.text)
    P.words = R.use_index(P.index)
    run(outdir, P)
    rip = P.index.path.parent / ".rip"
    h1 = (rip / "index.hash").read_text().strip()
    assert len(h1) == 64
    # mtime moved, bytes the same: nothing reruns
    bump_mtime(P.index.path / "sub" / "b")
    assert run(outdir, P) == []
    assert (rip / "index.hash").read_text().strip() == h1
    # a file inside the tree changes: the index is accepted as edited, its consumer reruns
    (P.index.path / "sub" / "b").write_text("changed\n")
    assert run(outdir, P) == ["use_index"]
    assert (rip / "index.hash").read_text().strip() != h1
    # a rerun of the producer must start from no directory at all (mkdir fails otherwise)
    store.write_state(P.index.path.parent, store.INTERRUPTED)
    assert run(outdir, P) == ["build_index", "use_index"]
    assert (P.index.path / "sub" / "b").read_text() == "b\n"
    assert (rip / "index.hash").read_text().strip() == h1
    # a file added to the tree is a change too
    (P.index.path / "extra").write_text("")
    assert run(outdir, P) == ["use_index"]


def test_a_deleted_tree_member_or_tree_reruns(outdir: Path, src: Path) -> None:
    P = Pipeline()
    P.text = R.load(src=str(src))
    P.index = R.build_index(P.text)
    run(outdir, P)
    import shutil

    shutil.rmtree(P.index.path)
    assert run(outdir, P) == ["build_index"]


@R.command("ln -s {target} {index}")
def link_index(target: str) -> Index[index]:  # noqa: F821
    """Link an existing directory (a prebuilt index) into the tree."""


def test_a_symlinked_directory_is_watched_as_a_tree(outdir: Path, tmp_path: Path) -> None:
    target = tmp_path / "prebuilt"
    (target / "sub").mkdir(parents=True)
    (target / "a").write_text("one\n")
    (target / "sub" / "b").write_text("two\n")
    P = Pipeline()
    P.index = R.link_index(target=str(target))
    P.words = R.use_index(P.index)
    assert run(outdir, P) == ["link_index", "use_index"]
    assert P.words.path.read_text() == "one\ntwo\n"
    (target / "sub" / "b").write_text("TWO\n")  # the directory's own mtime does not move
    assert run(outdir, P) == ["use_index"]
    assert P.words.path.read_text() == "one\nTWO\n"


def test_autoclean_unlinks_symlinked_intermediates_never_their_targets(outdir: Path, src: Path) -> None:
    P = Pipeline()
    P.text = R.from_link(R.link(path=str(src)))
    run(outdir, P, autoclean=True)
    link_dir = P.text.parents[0].path.parent
    assert store.read_state(link_dir) == "cleaned" and not os.path.lexists(link_dir / "input.txt")
    assert src.read_text() == "one two\nthree\n"


@R.command("head -c 3000001 /dev/urandom > {text}")
def big_random(seed: int) -> Text[text]:  # noqa: F821
    ...


def test_outputs_are_hashed_in_chunks_off_the_main_thread(outdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    threads: list[str] = []
    real = store.hash_file

    def spy(path: Path) -> str:
        threads.append(threading.current_thread().name)
        return real(path)

    monkeypatch.setattr(store.hashing, "hash_file", spy)
    P = Pipeline()
    P.text = R.big_random(seed=1)
    run(outdir, P)
    assert threads and all(t != "MainThread" for t in threads)
    data = P.text.path.read_bytes()
    assert len(data) > 2 * (1 << 20)
    assert (P.text.path.parent / ".rip" / "text.txt.hash").read_text().strip() == hashlib.sha256(data).hexdigest()
