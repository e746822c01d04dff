"""Rules run in containers, for real, with rootful podman and the busybox test image (README
"Containers").

Whether a command ran inside the image or on the host is told by a marker file made in the
test's tmp_path, outside the outdir: only the host can see it.  The busybox image has no
Python, so the script rule test builds one more image once (``localhost/necroflow-test-python:1``:
the base image plus the host's ``/usr/bin/python3`` with its libraries and standard library,
about 2 s), which also serves as a second, different image for the default-image tests.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from podman_fixture import IMAGE
from podman_helpers import PodmanImage

from necroflow import DAG, JobFailed, NodeType, Pipeline, Reporter, Rules, SourceFile
from necroflow.containers import ContainerError, default_container, use_runtime

REPO = Path(__file__).resolve().parents[2]
PYTHON_IMAGE = "localhost/necroflow-test-python:1"
MISSING_IMAGE = "localhost/necroflow-no-such-image:1"
PYTHON_LABEL = "necroflow.test.python"


class Text(NodeType):
    """A text."""

    filename = "text.txt"


class Upper(NodeType):
    """A text, upper-cased."""

    filename = "upper.txt"


class Sums(NodeType):
    """sha256sum's report."""

    filename = "sums.txt"


class Report(NodeType):
    """What a command found out about where it ran."""

    filename = "report.txt"


r = Rules()

WHERE = "if [ -e {marker} ]; then echo on-host; else echo in-container; fi"


@r.command("printf 'from the host\\n' > {text}")
def host_text(tag: str) -> Text[text]:  # noqa: F821
    """Made on the host, read inside a container."""


@r.command("tr a-z A-Z < {src} > {out}; " + WHERE, container=IMAGE)
def upper(src: SourceFile, marker: str) -> Upper[out]:  # noqa: F821
    """The image's tr."""


@r.command("sha256sum {src} {text} > {sums}; " + WHERE, container=IMAGE)
def sums(src: SourceFile, text: Text, marker: str) -> Sums[sums]:  # noqa: F821
    """The image's sha256sum, on a source file and on a parent's output, by their paths."""


PROBE = (
    "cat {text} {src} > {out}; "
    "if echo x > {text}.new 2>/dev/null; then echo parent-folder-writable; else echo parent-folder-read-only; fi >> {out}; "
    "if echo x >> {src} 2>/dev/null; then echo source-writable; else echo source-read-only; fi >> {out}; "
    "if echo x > own.tmp && rm own.tmp; then echo node-folder-writable; else echo node-folder-read-only; fi >> {out}; "
    "echo \"$(id -u):$(id -g) $(pwd)\" >> {out}; " + WHERE
)


@r.command(PROBE, container=IMAGE)
def probe(text: Text, src: SourceFile, marker: str) -> Report[out]:  # noqa: F821
    """Tries each mount."""


@r.command("echo x > {text}.new && echo never > {out}", container=IMAGE)
def writes_parent(text: Text) -> Report[out]:  # noqa: F821
    """Writes into its parent's folder: refused."""


@r.command("true > {out}", container=MISSING_IMAGE)
def ghost(tag: str) -> Report[out]:  # noqa: F821
    """An image nobody built."""


@r.command("echo started; sleep 60; echo done > {out}", container=IMAGE, time="2s")
def hang_in_image(tag: str) -> Report[out]:  # noqa: F821
    """Hangs inside the image."""


WHICH = ("if [ -e {marker} ]; then w=host; elif [ -e /etc/necroflow-image ]; then w=$(cat /etc/necroflow-image); "
         "else w=base; fi; echo {tag} $w > {out}")


@r.command(WHICH)
def which(tag: str, marker: str) -> Report[out]:  # noqa: F821
    """Names no container: runs in the run's default image, if any."""


def quiet() -> Reporter:
    return Reporter(stream=io.StringIO())


def run(outdir: Path, *nodes: Any, **options: Any) -> Any:
    dag = DAG(str(outdir))
    P = Pipeline()
    for i, node in enumerate(nodes):
        setattr(P, f"n{i}", node)
    dag.add(P)
    return dag.execute(progress=quiet(), **options)


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    path = tmp_path / "only-the-host-sees-this"
    path.touch()
    return path


def names(podman: PodmanImage, prefix: str) -> list[str]:
    out = subprocess.run([podman.podman, "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True,
                         check=True, timeout=60).stdout.split()
    return [n for n in out if n.startswith(prefix)]


def processes_in(folder: Path) -> list[int]:
    """Live processes whose working directory is ``folder`` (a container's processes included:
    rootful podman shares the host's pid view)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/cwd") == str(folder):
                    found.append(int(entry))
            except OSError:
                continue
    return found


# --- what a container job does --------------------------------------------------------------


def test_output_is_byte_identical_to_the_host_command(podman_image: PodmanImage, tmp_path: Path,
                                                      marker: Path) -> None:
    src = tmp_path / "data" / "reads.bin"
    src.parent.mkdir()
    src.write_bytes(bytes(range(256)) * 16 + b"Hello, World\nnecroflow in a box\n")
    outdir = tmp_path / "out"
    text = r.host_text(tag="t")
    up, sm = r.upper(src=str(src), marker=str(marker)), r.sums(src=str(src), text=text, marker=str(marker))
    report = run(outdir, up, sm)
    assert len(report.ran) == 3, report
    for node in (up, sm):
        assert node.path.parent.joinpath(".rip", "job.log").read_text().strip() == "in-container"
    # The same commands on the host, with the same absolute paths (the mounts keep them).
    host = subprocess.run(f"tr a-z A-Z < {src}", shell=True, capture_output=True, check=True).stdout
    assert up.path.read_bytes() == host
    host = subprocess.run(["sha256sum", str(src), str(text.path)], capture_output=True, check=True).stdout
    assert sm.path.read_bytes() == host and str(src).encode() in host
    for node in (up, sm):
        st = node.path.stat()
        assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())  # the invoking user's files


def test_outdir_read_only_node_folder_read_write_sources_readable(podman_image: PodmanImage, tmp_path: Path,
                                                                 marker: Path) -> None:
    src = tmp_path / "elsewhere" / "sample.txt"
    src.parent.mkdir()
    src.write_text("a source file\n")
    outdir = tmp_path / "out"
    text = r.host_text(tag="mounts")
    node = r.probe(text, src=str(src), marker=str(marker))
    run(outdir, node)
    lines = node.path.read_text().splitlines()
    assert lines == ["from the host", "a source file", "parent-folder-read-only", "source-read-only",
                     "node-folder-writable", f"{os.getuid()}:{os.getgid()} {node.path.parent}"], lines
    log = node.path.parent.joinpath(".rip", "job.log").read_text().splitlines()
    assert log[-1] == "in-container" and sum("Read-only file system" in line for line in log) == 2, log
    assert not Path(f"{text.path}.new").exists() and src.read_text() == "a source file\n"
    assert sorted(p.name for p in node.path.parent.iterdir()) == [".rip", "report.txt"]

    bad = r.writes_parent(text)
    with pytest.raises(JobFailed) as info:
        run(outdir, bad)
    log = (info.value.job.dir / ".rip" / "job.log").read_text()  # type: ignore[operator]
    assert "Read-only file system" in log, log
    assert not Path(f"{text.path}.new").exists() and not bad.path.exists()


def test_the_record_keeps_the_image_and_its_id(podman_image: PodmanImage, tmp_path: Path, marker: Path) -> None:
    src = tmp_path / "s.txt"
    src.write_text("abc\n")
    node = r.upper(src=str(src), marker=str(marker))
    run(tmp_path / "out", node)
    record = tomllib.loads(node.path.parent.joinpath(".rip", "dependencies.toml").read_text())
    assert record["container"] == {"image": IMAGE, "id": f"sha256:{podman_image.base_id}"}, record


# --- the image by content: re-tagging -------------------------------------------------------

FACTORY = '''
from __future__ import annotations

from necroflow import NodeType, Pipeline, Rules


class Report(NodeType):
    """What a command found out about where it ran."""

    filename = "report.txt"


R = Rules()


@R.command("cat /etc/necroflow-variant > {{out}} 2>/dev/null || echo base > {{out}}", container={image!r})
def variant(tag: str) -> Report[out]:
    """Says which variant of the image it ran in."""


@R.command("true > {{out}}", container={missing!r})
def ghost(tag: str) -> Report[out]:
    """An image nobody built."""


@R.command({which!r})
def which(tag: str, marker: str) -> Report[out]:
    """Names no container of its own."""


@R.command({which!r}, container={image!r})
def pinned(tag: str, marker: str) -> Report[out]:
    """Names its own container."""


def variant_pipeline(config, R):
    P = Pipeline()
    P.out = R.variant(tag="v")
    return P


def ghost_pipeline(config, R):
    P = Pipeline()
    P.first = R.which(tag="before the ghost", marker="/nonexistent")
    P.out = R.ghost(tag="g")
    return P


def which_pipeline(config, R):
    P = Pipeline()
    P.which = R.which(tag=config["tag"], marker=config["marker"])
    P.pinned = R.pinned(tag=config["tag"] + "-pinned", marker=config["marker"])
    return P
'''


def cli(*args: str | Path, cwd: Path) -> subprocess.Popen[str]:
    exe = Path(sys.executable).with_name("necroflow")
    argv = [str(exe)] if exe.exists() else [sys.executable, "-m", "necroflow.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("NECROFLOW_")}  # CONTAINERS_CONF stays
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.Popen([*argv, *map(str, args)], cwd=cwd, env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)


def finish(p: subprocess.Popen[str]) -> tuple[int, str]:
    out, err = p.communicate(timeout=120)
    return p.returncode, out + err


def write_jobs(tmp_path: Path, jobs: dict[str, str]) -> None:
    (tmp_path / "factory.py").write_text(FACTORY.format(image=IMAGE, missing=MISSING_IMAGE, which=WHICH))
    for name, body in jobs.items():
        (tmp_path / f"{name}.toml").write_text(body)


def test_a_retagged_image_reruns_and_moving_the_tag_back_is_up_to_date(podman_retag: PodmanImage,
                                                                      tmp_path: Path) -> None:
    """Through ``necroflow run``, one process per run."""
    write_jobs(tmp_path, {"variant_job": '".pipeline" = "factory.py:variant_pipeline"\n'})
    outdir = tmp_path / "out"

    def run_cli() -> tuple[str, dict[str, str]]:
        code, text = finish(cli("run", "-q", "--outdir", outdir, "variant_job.toml", cwd=tmp_path))
        assert code == 0, text
        outputs = {p.parent.name: p.read_text() for p in outdir.glob("variant/*/report.txt")}
        return text, outputs

    _, first = run_cli()
    assert list(first.values()) == ["base\n"]
    (base_folder,) = first
    alt = podman_retag.build_alternative("x")
    _, second = run_cli()
    assert len(second) == 2 and second[base_folder] == "base\n", second
    (alt_folder,) = set(second) - {base_folder}
    assert second[alt_folder] == "x\n"
    record = tomllib.loads((outdir / "variant" / alt_folder / ".rip" / "dependencies.toml").read_text())
    assert record["container"] == {"image": IMAGE, "id": f"sha256:{alt}"}
    assert podman_retag.rebuild_base() == podman_retag.base_id
    code, text = finish(cli("run", "--outdir", outdir, "variant_job.toml", cwd=tmp_path))
    assert code == 0 and "Nothing to do: all 1 jobs are up to date" in text, text
    manifest = tomllib.loads((outdir / "variant_job" / "manifest.toml").read_text())
    assert manifest["outputs"]["out"] == f"variant/{base_folder}/report.txt", manifest


def test_a_retagged_image_reruns_in_the_same_process(podman_retag: PodmanImage, tmp_path: Path,
                                                     marker: Path) -> None:
    """The same through the Python API in one interpreter (a notebook re-tagging an image
    between two runs): the fingerprint must follow the image the tag names now."""
    src = tmp_path / "s.txt"
    src.write_text("abc\n")
    outdir = tmp_path / "out"
    first = run(outdir, r.upper(src=str(src), marker=str(marker)))
    assert len(first.ran) == 1
    alt = podman_retag.build_alternative("y")
    node = r.upper(src=str(src), marker=str(marker))
    second = run(outdir, node)
    record = tomllib.loads(node.path.parent.joinpath(".rip", "dependencies.toml").read_text())
    assert second.ran == [node.job.key] and node.job.key != first.ran[0], (
        f"after re-tagging {IMAGE} to {alt}, the job kept its fingerprint and was up to date; "
        f"its record names image id {record['container']['id']}")


# --- errors before any job starts -----------------------------------------------------------


def test_a_missing_image_or_runtime_is_an_error_at_add(podman_image: PodmanImage, tmp_path: Path) -> None:
    outdir = tmp_path / "out"
    dag = DAG(str(outdir))
    P = Pipeline()
    P.text = r.host_text(tag="first")
    P.ghost = r.ghost(tag="g")
    with pytest.raises(ContainerError, match=rf"rule 'ghost'.*{MISSING_IMAGE}"):
        dag.add(P)
    assert not outdir.exists()
    use_runtime("nosuch")
    try:
        dag = DAG(str(outdir))
        P = Pipeline()
        P.out = r.upper(src=str(REPO / "README.md"), marker="/x")
        with pytest.raises(ContainerError, match=rf"rule 'upper'.*{IMAGE}.*nosuch"):
            dag.add(P)
    finally:
        use_runtime(None)
    assert not outdir.exists()


def test_cli_missing_image_or_runtime_exits_2_naming_rule_and_image(podman_image: PodmanImage,
                                                                     tmp_path: Path) -> None:
    write_jobs(tmp_path, {"ghost_job": '".pipeline" = "factory.py:ghost_pipeline"\n',
                          "variant_job": '".pipeline" = "factory.py:variant_pipeline"\n'})
    ghost = cli("run", "--outdir", tmp_path / "o1", "ghost_job.toml", cwd=tmp_path)
    runtime = cli("run", "--outdir", tmp_path / "o2", "--container-runtime", "nosuch", "variant_job.toml",
                  cwd=tmp_path)
    code, text = finish(ghost)
    assert code == 2 and "'ghost'" in text and MISSING_IMAGE in text and "Traceback" not in text, text
    code, text = finish(runtime)
    assert code == 2 and "'variant'" in text and IMAGE in text and "nosuch" in text, text
    assert "Traceback" not in text, text
    for o in ("o1", "o2"):
        assert not list((tmp_path / o).glob("*/*/.rip")), f"a job of {o} started"


# --- default images -------------------------------------------------------------------------


def test_job_file_container_and_cli_container_are_defaults(python_image: str, tmp_path: Path,
                                                           marker: Path) -> None:
    """A rule's own container beats the job file's ``.container``, which beats ``--container``;
    without either, a rule naming none runs on the host."""
    write_jobs(tmp_path, {
        "a_job": f'".pipeline" = "factory.py:which_pipeline"\n".container" = "{python_image}"\n'
                 f'tag = "a"\nmarker = "{marker}"\n',
        "b_job": f'".pipeline" = "factory.py:which_pipeline"\ntag = "b"\nmarker = "{marker}"\n',
    })
    with_default = cli("run", "-q", "--outdir", tmp_path / "o1", "--container", IMAGE, "a_job.toml", "b_job.toml",
                       cwd=tmp_path)
    without = cli("run", "-q", "--outdir", tmp_path / "o2", "b_job.toml", cwd=tmp_path)
    results = {}
    for name, proc in (("o1", with_default), ("o2", without)):
        code, text = finish(proc)
        assert code == 0, text
        results[name] = sorted(p.read_text().strip() for p in (tmp_path / name).glob("*/*/report.txt"))
    assert results["o1"] == ["a python", "a-pinned base", "b base", "b-pinned base"], results
    assert results["o2"] == ["b host", "b-pinned base"], results


def test_default_container_in_python(python_image: str, tmp_path: Path, marker: Path) -> None:
    with default_container(python_image):
        inside = r.which(tag="py", marker=str(marker))
    outside = r.which(tag="host", marker=str(marker))
    run(tmp_path / "out", inside, outside)
    assert inside.path.read_text() == "py python\n" and outside.path.read_text() == "host host\n"


# --- stopping a container job ---------------------------------------------------------------


def test_a_time_limited_container_job_leaves_no_container(podman_image: PodmanImage, tmp_path: Path) -> None:
    node = r.hang_in_image(tag="t")
    t0 = time.monotonic()
    with pytest.raises(JobFailed, match="ran out of time after 2s"):
        run(tmp_path / "out", node)
    took = time.monotonic() - t0
    assert took < 10, f"stopped after {took:.1f}s"
    folder = node.path.parent
    assert "started" in (folder / ".rip" / "job.log").read_text()
    assert json.loads((folder / ".rip" / "metrics.json").read_text())["timed_out"] is True
    prefix = f"necroflow-hang_in_image-{node.job.hash16}-"
    assert names(podman_image, prefix) == [], "the container outlived its job"
    assert processes_in(folder) == [], "processes of the container are still running"


DRIVER = """
from __future__ import annotations

import sys

from necroflow import DAG, NodeType, Pipeline, Rules


class Report(NodeType):
    filename = "report.txt"


r = Rules()


@r.command("echo started; sleep 60; echo done > {out}", container=sys.argv[2])
def wait_in_image(tag: str) -> Report[out]:
    "Hangs inside the image until stopped."


dag = DAG(sys.argv[1])
P = Pipeline()
P.out = r.wait_in_image(tag="c")
dag.add(P)
print(P.out.job.hash16, flush=True)
dag.execute()
"""


def test_ctrl_c_takes_the_container_with_it(podman_image: PodmanImage, tmp_path: Path,
                                            script: Callable[..., Path],
                                            spawn_python: Callable[..., subprocess.Popen[str]]) -> None:
    outdir = tmp_path / "out"
    proc = spawn_python(script(DRIVER), outdir, IMAGE)
    assert proc.stdout is not None
    hash16 = proc.stdout.readline().strip()
    log = outdir / "wait_in_image" / hash16 / ".rip" / "job.log"
    deadline = time.monotonic() + 30
    while not (log.exists() and "started" in log.read_text()):
        assert time.monotonic() < deadline and proc.poll() is None, "the container job did not start"
        time.sleep(0.05)
    prefix = f"necroflow-wait_in_image-{hash16}-"
    assert len(names(podman_image, prefix)) == 1  # it is running, under the name necroflow gave it
    assert processes_in(log.parent.parent), "the container's processes are not seen from the host"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode != 0 and "KeyboardInterrupt" in err, err
    assert names(podman_image, prefix) == [], "the container outlived Ctrl-C"
    assert processes_in(log.parent.parent) == []
    assert (log.parent / "state").read_text() == "interrupted"


# --- script rules ---------------------------------------------------------------------------

INSIDE = """\
import os
import sys

import necroflow
from necroflow.script import job

text = open(job.inputs.text).read()
with open(job.outputs.out, "w") as f:
    f.write(f"{job.params.word} {text.strip()}\\n")
    f.write(f"{necroflow.__file__}\\n{sys.executable}\\n{os.path.exists(job.params.checkout)}\\n")
"""


def _script_rule(tmp_path: Path, image: str) -> Any:
    path = tmp_path / "inside.py"
    path.write_text(INSIDE)
    rules = Rules()

    @rules.script(str(path), container=image)
    def inside(text: Text, word: str, checkout: str) -> Report[out]:  # noqa: F821
        """A Python script in a container."""

    return rules.inside


def test_a_script_rule_in_a_container_imports_necroflow_script(python_image: str, tmp_path: Path) -> None:
    text = r.host_text(tag="script")
    node = _script_rule(tmp_path, python_image)(text, word="hello", checkout=str(REPO))
    run(tmp_path / "out", node)
    pylib = node.path.parent / ".rip" / "pylib"
    assert node.path.read_text().splitlines() == [
        "hello from the host", f"{pylib}/necroflow/__init__.py", "/usr/bin/python3",
        "False",  # the checkout (and the host's necroflow) is not visible inside
    ]
    assert (pylib / "necroflow" / "script.py").read_text() == (REPO / "necroflow" / "script.py").read_text()


def test_a_script_rule_runs_the_images_python(podman_image: PodmanImage, tmp_path: Path) -> None:
    """The busybox image has no python3: the job fails for that, so it did not use the host's."""
    text = r.host_text(tag="script")
    node = _script_rule(tmp_path, IMAGE)(text, word="hello", checkout=str(REPO))
    with pytest.raises(JobFailed, match="exit code 127"):
        run(tmp_path / "out", node)
    folder = node.path.parent
    assert "python3: not found" in (folder / ".rip" / "job.log").read_text()
    assert (folder / ".rip" / "pylib" / "necroflow" / "script.py").exists()


# --- the image with a Python --------------------------------------------------------------


def _python_files() -> list[str]:
    """The host's /usr/bin/python3.11, the libraries it loads, and its standard library."""
    exe = "/usr/bin/python3.11"
    if not os.path.exists(exe):
        pytest.skip(f"{exe} is not on this host: no Python to put into the test image")
    ldd = subprocess.run(["ldd", exe], capture_output=True, text=True, check=True).stdout
    libs = [w for line in ldd.splitlines() for w in line.split() if w.startswith("/")]
    return [exe, *libs]


SKIP_STDLIB = {"test", "idlelib", "tkinter", "ensurepip", "lib2to3", "pydoc_data", "__pycache__", "turtledemo"}


def _build_python_image(podman: PodmanImage, work: Path) -> None:
    rootfs = work / "rootfs.tar"
    cid = subprocess.run([podman.podman, "create", IMAGE, "true"], capture_output=True, text=True, check=True,
                         timeout=60).stdout.strip()
    try:
        with rootfs.open("wb") as f:
            subprocess.run([podman.podman, "export", cid], stdout=f, check=True, timeout=120)
    finally:
        subprocess.run([podman.podman, "rm", cid], capture_output=True, timeout=60)

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        return None if set(Path(info.name).parts) & SKIP_STDLIB else info

    with tarfile.open(rootfs, "a") as tar:
        for path in _python_files():
            tar.add(os.path.realpath(path), arcname=path.lstrip("/"))
        link = tarfile.TarInfo("usr/bin/python3")
        link.type, link.linkname = tarfile.SYMTYPE, "python3.11"
        tar.addfile(link)
        tar.add("/usr/lib/python3.11", arcname="usr/lib/python3.11", filter=keep)
        data = b"python\n"
        info = tarfile.TarInfo("etc/necroflow-image")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    subprocess.run([podman.podman, "import", "--change", f"LABEL {PYTHON_LABEL}=1", str(rootfs), PYTHON_IMAGE],
                   capture_output=True, text=True, check=True, timeout=300)


@pytest.fixture(scope="module")
def python_image(podman_image: PodmanImage, tmp_path_factory: pytest.TempPathFactory) -> str:
    """``localhost/necroflow-test-python:1``, built once (kept between sessions)."""
    label = subprocess.run([podman_image.podman, "image", "inspect", "--format",
                            f'{{{{index .Labels "{PYTHON_LABEL}"}}}}', PYTHON_IMAGE],
                           capture_output=True, text=True, timeout=60)
    if label.returncode != 0 or label.stdout.strip() != "1":
        _build_python_image(podman_image, tmp_path_factory.mktemp("python-image"))
    return PYTHON_IMAGE
