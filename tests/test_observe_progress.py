"""Progress display: a real run drives a real pseudo-terminal; the screen is checked after the fact.

The terminal model below understands exactly the control sequences a VT100-style terminal
would act on for this display (CR, LF, cursor-previous-line, erase line, erase below, SGR,
cursor show/hide).  An unknown sequence fails the test rather than being ignored, so the
display cannot drift into codes the model (and old terminals) do not know.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import re
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_observe_example import build_dag, ensure_apt, load_example, write_script  # noqa: E402

from necroflow.progress import (  # noqa: E402
    LineReporter,
    LiveReporter,
    QuietReporter,
    SilentReporter,
    format_duration,
    make_reporter,
)
from necroflow.progress_layout import fit, head_line, running_line  # noqa: E402

RUN_BODY = r'''
import json, sys, time
from necroflow.progress import make_reporter
out, info, mode = sys.argv[1], sys.argv[2], sys.argv[3]
rep = make_reporter(sys.stderr)
t0 = time.monotonic()
try:
    if mode == "fail":
        dag = build_dag(out, sleep=0.3, align_cmd="grep -q s2_1 {reads} && echo 'no index for s2' >&2 && exit 3; cat {reads} {index} > {aligned}")
        dag.execute(progress=rep, keep_going=True, resource_caps={"threads": 2})
    else:
        build_dag(out, sleep=0.3).execute(progress=rep, resource_caps={"threads": 2})
except ExceptionGroup:
    pass
json.dump({"cls": type(rep).__name__, "draws": getattr(rep, "draws", None),
           "elapsed": time.monotonic() - t0}, open(info, "w"))
'''


class Screen:
    """A minimal terminal: enough to replay the display and read the final screen.

    With ``rows`` it has a screen of that height over its history, as a real terminal does:
    the cursor cannot move above the screen's top line, and "erase below" from the top-left
    corner first copies the screen into the history (tmux's default ``scroll-on-clear``,
    and VTE), so a display that clears that way leaves a stale copy of itself behind.
    ``text()`` is the history followed by the screen.
    """

    CSI = re.compile(r"\x1b\[([?0-9;]*)([A-Za-z])")

    def __init__(self, cols: int, rows: int | None = None) -> None:
        self.cols = cols
        self.rows = rows
        self.lines: list[str] = [""]
        self.top = 0  # index in ``lines`` of the screen's first line (the ones above are history)
        self.row = 0
        self.col = 0
        self.wrapped = 0  # the live block must never wrap: that would break cursor-up counts

    def feed(self, data: str) -> None:
        i = 0
        while i < len(data):
            ch = data[i]
            if ch == "\x1b":
                m = self.CSI.match(data, i)
                assert m, f"unknown escape sequence at {data[i:i + 12]!r}"
                self.csi(m.group(1), m.group(2))
                i = m.end()
                continue
            if ch == "\r":
                self.col = 0
            elif ch == "\n":
                self.row += 1
                self.col = 0
                while len(self.lines) <= self.row:
                    self.lines.append("")
                if self.rows is not None and self.row >= self.top + self.rows:
                    self.top = self.row - self.rows + 1  # the screen scrolls
            else:
                if self.col >= self.cols:  # auto-wrap, as a terminal does
                    self.wrapped += 1
                    self.feed("\r\n")
                line = self.lines[self.row].ljust(self.col)
                self.lines[self.row] = line[: self.col] + ch + line[self.col + 1:]
                self.col += 1
            i += 1

    def csi(self, arg: str, cmd: str) -> None:
        if cmd == "m" or arg in ("?25", "?25l", "?25h") or (arg == "?25" and cmd in "lh"):
            return
        if cmd == "F":
            self.row = max(self.top, self.row - int(arg or 1))
            self.col = 0
        elif cmd == "K" and arg == "2":
            self.lines[self.row] = ""
        elif cmd == "J" and arg in ("", "0"):
            if self.rows is not None and (self.row, self.col) == (self.top, 0):
                used = [i for i in range(self.top, len(self.lines)) if self.lines[i]]
                self.top = self.row = (used[-1] + 1) if used else self.top  # screen into history
                while len(self.lines) <= self.row:
                    self.lines.append("")
            self.lines[self.row] = self.lines[self.row][: self.col]
            del self.lines[self.row + 1:]
        else:
            raise AssertionError(f"unexpected control sequence ESC[{arg}{cmd}")

    def text(self) -> list[str]:
        return [line.rstrip() for line in self.lines]


def _run_in_pty(tmp_path: Path, mode: str, cols: int = 120, rows: int = 30) -> tuple[str, dict[str, Any]]:
    script = write_script(tmp_path / "run.py", RUN_BODY)
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    info = tmp_path / "info.json"
    env = {**os.environ, "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "out"), str(info), mode],
                            stdin=slave, stdout=slave, stderr=slave, close_fds=True, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=60) == 0
    return b"".join(chunks).decode("utf-8").replace("\r\n", "\n"), json.loads(info.read_text())


def _frames(raw: str) -> list[str]:
    plain = re.sub(r"\x1b\[[0-9;]*m", "", raw)
    return [f for f in plain.split("\x1b[2Ktotal")[1:]]


def test_live_display_redraws_in_place_on_a_real_terminal(tmp_path: Path) -> None:
    raw, info = _run_in_pty(tmp_path, "ok")
    assert info["cls"] == "LiveReporter"
    assert "\x1b[?25l" in raw and raw.rstrip().find("\x1b[?25h") > raw.find("\x1b[?25l"), "cursor restored"
    screen = Screen(120)
    # the pty turns \n into \r\n; replay what the terminal saw
    screen.feed(raw.replace("\n", "\r\n"))
    final = [line for line in screen.text() if line]
    totals = [line for line in final if line.startswith("total")]
    assert screen.wrapped == 0
    assert len(totals) == 1, "\n".join(final)  # drawn in place: one block on screen, not a scroll of copies
    assert re.search(r"11/11 +11 done +0 running +0 failed +0 to do +\d+\.\ds total", totals[0]), totals[0]
    for rule, n in (("fetch", 3), ("index", 1), ("align", 3), ("count", 3), ("table", 1)):
        assert any(re.match(rf"{rule} .* {n}/{n} .* {n} done", line) for line in final), (rule, final)
    assert final[-1].startswith("Finished in ") and final[-1].endswith("11 ran, 0 up to date.")
    frames = _frames(raw)
    assert any(re.search(r" [12] running", f) for f in frames), "never showed a job running"
    # which jobs run: their keys and how long they have run, on the line below the total
    running = [m for f in frames for m in re.findall(r"\n\x1b\[2Krunning: ([^\n\x1b]*)", f)]
    assert running and all(re.fullmatch(r"\w+/[0-9a-f]{16} \d+\.\ds(, \w+/[0-9a-f]{16} \d+\.\ds)*", r)
                           for r in running), running
    assert any(r.startswith("align/") for r in running), running
    assert any(re.search(r"ETA \d", f) for f in frames) and any("elapsed" in f for f in frames)
    # rate limit: at most 10 redraws a second, plus the first and the final one
    assert info["draws"] == len(frames)
    assert len(frames) <= info["elapsed"] * 10 + 2, (len(frames), info["elapsed"])


def test_failure_stays_on_screen_above_the_block(tmp_path: Path) -> None:
    raw, info = _run_in_pty(tmp_path, "fail", rows=30)
    screen = Screen(120, rows=30)  # the block starts in the top-left corner, as in a fresh pane
    screen.feed(raw.replace("\n", "\r\n"))
    final = [line for line in screen.text() if line]
    fail_at = next(i for i, line in enumerate(final) if line.startswith("FAILED align/"))
    assert "exit code 3" in final[fail_at]
    assert any("no index for s2" in line for line in final[fail_at + 1: fail_at + 5])  # the log tail follows
    totals = [i for i, line in enumerate(final) if line.startswith("total")]
    assert len(totals) == 1, "\n".join(final)  # no stale copy of the block above the failure
    total_at = totals[0]
    assert total_at > fail_at
    assert re.search(r"9/11 +8 done +0 running +1 failed +2 to do", final[total_at]), final[total_at]
    assert final[-1].endswith("1 failed, 2 not started (upstream failed).")


TAIL = re.compile(r"(\d+\.\ds elapsed  ETA (--|\d+\.\ds)|\d+\.\ds total)$")


@pytest.mark.parametrize("cols", [44, 64, 80])
def test_narrow_terminals_keep_the_eta(tmp_path: Path, cols: int) -> None:
    """Whatever the width, the total line ends with the elapsed time and the ETA, uncut."""
    raw, _ = _run_in_pty(tmp_path, "ok", cols=cols)
    screen = Screen(cols)
    screen.feed(raw.replace("\n", "\r\n"))
    assert screen.wrapped <= 1  # the final "Finished in ..." line may wrap; the block never
    plain = re.sub(r"\x1b\[[0-9;]*m", "", raw)  # each frame ends with erase-below; its first line is the total
    heads = [f.split("\x1b[2K")[1].split("\n")[0] for f in plain.split("\x1b[J")[:-1] if "\x1b[2K" in f]
    assert heads and all(TAIL.search(h) and len(h) < cols for h in heads), heads
    assert any("ETA" in h for h in heads)


def test_the_total_line_gives_way_in_order() -> None:
    """Bar first, then its counts shrink; the time and the ETA go last."""
    tail = "12.3s elapsed  ETA 1h02m"
    seen = []
    for width in range(len(tail), 160):
        segments, barw = head_line((7, 3, 1, 89), 100, tail, 14, width, ("#", "-"))
        line = fit(segments, width, lambda text, style: text)
        assert len(line) <= width and line.endswith(tail), (width, line)
        seen.append((barw, "to do" in line, "running" in line))
    assert seen == sorted(seen)  # wider never shows less
    assert seen[0] == (0, False, False) and seen[-1] == (20, True, True)
    narrow = fit(head_line((7, 3, 1, 89), 100, tail, 14, 10, ("#", "-"))[0], 10, lambda t, s: t)
    assert narrow == tail[:10]


def test_the_running_line_lists_the_longest_running_first_and_fits() -> None:
    started = {f"align/{i:016x}": float(i) for i in range(10)}
    line = "".join(t for t, _ in running_line(started, 20.0, 79))
    assert line.startswith("running: align/0000000000000000 20.0s, align/0000000000000001 19.0s")
    assert len(line) <= 79 and line.endswith(" more)"), line
    shown = line.count("align/")
    assert f"(+{10 - shown} more)" in line
    assert running_line({}, 1.0, 79) == []
    assert "".join(t for t, _ in running_line({"a/1": 0.0}, 1.0, 79)) == "running: a/1 1.0s"


def test_a_real_terminal_keeps_no_stale_block(tmp_path: Path) -> None:
    """tmux as the terminal: after a failure with -k, its history holds no old copy of the block."""
    tmux = ensure_apt("tmux", "tmux")
    script = write_script(tmp_path / "run.py", RUN_BODY)
    sock = f"necroflow-test-{os.getpid()}"
    cmd = f"{sys.executable} {script} {tmp_path / 'out'} {tmp_path / 'info.json'} fail; touch {tmp_path / 'done'}; sleep 60"
    base = [tmux, "-L", sock, "-f", "/dev/null"]
    env = {**os.environ, "TERM": "xterm-256color"}
    env.pop("TMUX", None)
    subprocess.run([*base, "new-session", "-d", "-x", "100", "-y", "24", cmd], check=True, env=env, timeout=30)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "done").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        shown = subprocess.run([*base, "capture-pane", "-p", "-S", "-200"], capture_output=True, text=True,
                               check=True, timeout=30).stdout
    finally:
        subprocess.run([*base, "kill-server"], capture_output=True, timeout=30)
    lines = [line for line in shown.splitlines() if line.strip()]
    assert any(line.startswith("FAILED align/") for line in lines), shown
    assert sum(line.startswith("total") for line in lines) == 1, shown
    assert lines[-1].startswith("Finished in "), shown


def test_a_notice_is_printed_above_the_block(tmp_path: Path) -> None:
    """A notice during a live run (jobs a killed run left behind were stopped) stays above the block."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    tty = os.fdopen(slave, "w", encoding="utf-8", closefd=False)
    try:
        rep = LiveReporter(tty, colour=False)
        rep.on_plan(build_dag(tmp_path / "out").plan(), False)
        rep.on_notice("necroflow: stopped 1 job(s) a killed necroflow left running")
        rep.close()
        tty.flush()
        os.set_blocking(master, False)
        raw = os.read(master, 1 << 20).decode()
    finally:
        tty.close()
        os.close(slave)
        os.close(master)
    screen = Screen(120, rows=30)
    screen.feed(raw)
    final = [line for line in screen.text() if line]
    assert final[0] == "necroflow: stopped 1 job(s) a killed necroflow left running", final
    assert [line.split()[0] for line in final[1:]] == ["total", "fetch", "index", "align", "count", "table"], final


def test_plain_lines_when_not_a_terminal(tmp_path: Path) -> None:
    script = write_script(tmp_path / "run.py", RUN_BODY)
    info = tmp_path / "info.json"
    r = subprocess.run([sys.executable, str(script), str(tmp_path / "out"), str(info), "ok"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(info.read_text())["cls"] == "LineReporter"
    assert "\x1b" not in r.stderr
    lines = r.stderr.splitlines()
    assert lines[0] == "11 of 11 jobs to run (missing 11)."
    assert sum(1 for line in lines if re.match(r"\[\d+/11\] done   \w+/[0-9a-f]{16} \(\d+\.\d\ds\)$", line)) == 11
    assert lines[-1].startswith("Finished in ")


def test_make_reporter_follows_the_flags(tmp_path: Path, monkeypatch: Any) -> None:
    master, slave = os.openpty()
    try:
        tty = os.fdopen(slave, "w", closefd=False)
        monkeypatch.setenv("TERM", "xterm")
        assert type(make_reporter(tty)) is LiveReporter
        quiet = make_reporter(tty, quiet=True)
        assert type(quiet) is QuietReporter and quiet.verbose == 0
        v1, v2 = make_reporter(tty, verbose=1), make_reporter(tty, verbose=3)
        assert type(v1) is LineReporter and v1.verbose == 1 and v2.verbose == 2
        assert type(make_reporter(io.StringIO())) is LineReporter
        monkeypatch.setenv("TERM", "dumb")
        assert type(make_reporter(tty)) is LineReporter
    finally:
        os.close(master)
        os.close(slave)


def test_format_duration() -> None:
    assert format_duration(3.21) == "3.2s"
    assert format_duration(65) == "1m05s"
    assert format_duration(7380) == "2h03m"


class TimedLive(LiveReporter):
    """LiveReporter that adds up the CPU time spent in its hooks (what the run loop pays).

    ``thread_time`` rather than a wall clock: on a shared machine a wall clock would also
    count the time other processes held the CPU.
    """

    hook_cpu = 0.0

    def _timed(self, fn: Any, *a: Any) -> None:
        t = time.thread_time()
        fn(*a)
        self.hook_cpu += time.thread_time() - t

    def on_start(self, job: Any) -> None:
        self._timed(super().on_start, job)

    def on_done(self, job: Any, result: Any) -> None:
        self._timed(super().on_done, job, result)


def _drain(fd: int, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            if not os.read(fd, 65536):
                return
        except OSError:
            return


def measure(tmp: Path, n: int, repeats: int = 1, kinds: tuple[str, ...] = ("silent", "live")) -> dict[str, Any]:
    """Run n trivial jobs with a silent reporter and with the live display on a real pty.

    Per run: wall seconds, CPU seconds of this process (all its threads, not the jobs),
    and for the live display the CPU spent inside its hooks and the number of redraws.
    Repeats alternate the order of the kinds so drift on a busy machine hits both.
    """
    ex = load_example()
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    stop = threading.Event()
    drainer = threading.Thread(target=_drain, args=(master, stop), daemon=True)
    drainer.start()
    tty = os.fdopen(slave, "w", encoding="utf-8", closefd=False)
    res: dict[str, Any] = {"n": n}
    for kind in kinds:
        res[kind] = {"wall": [], "cpu": []}
    res["live_hooks_cpu_us_per_job"] = []
    res["live_draws"] = []
    try:
        for i in range(repeats):
            for kind in (kinds if i % 2 == 0 else tuple(reversed(kinds))):
                dag = ex.build_flat(tmp / f"{kind}{i}", n)
                rep = TimedLive(tty) if kind == "live" else SilentReporter()
                c, t = time.process_time(), time.perf_counter()
                dag.execute(progress=rep, resource_caps={"threads": 2})
                res[kind]["wall"].append(time.perf_counter() - t)
                res[kind]["cpu"].append(time.process_time() - c)
                if isinstance(rep, TimedLive):
                    res["live_hooks_cpu_us_per_job"].append(rep.hook_cpu / n * 1e6)
                    res["live_draws"].append(rep.draws)
    finally:
        stop.set()
        os.close(slave)
        os.close(master)
    return res


def test_display_cost_per_job_is_small(tmp_path: Path) -> None:
    res = measure(tmp_path, 150, kinds=("live",))
    assert res["live_draws"][0] <= res["live"]["wall"][0] * 10 + 2
    # hooks run on the loop thread: a redraw is ~0.1 ms of CPU, throttled, so the mean is tens of µs
    assert res["live_hooks_cpu_us_per_job"][0] < 500, res


if __name__ == "__main__":  # pragma: no cover - the benchmark behind the numbers in docs/observe.md
    import statistics
    import tempfile

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    with tempfile.TemporaryDirectory() as d:
        r = measure(Path(d), n, repeats=reps)
    print(json.dumps(r, indent=1))
    med = statistics.median
    sw, lw = med(r["silent"]["wall"]), med(r["live"]["wall"])
    sc, lc = med(r["silent"]["cpu"]), med(r["live"]["cpu"])
    print(f"{n} trivial jobs, threads=2, median of {reps}:")
    print(f"  wall: silent {sw:.2f}s, live {lw:.2f}s ({(lw - sw) / n * 1e3:+.3f} ms/job)")
    print(f"  necroflow process CPU: silent {sc:.2f}s, live {lc:.2f}s ({(lc - sc) / n * 1e6:+.0f} µs/job)")
    print(f"  CPU inside the display hooks: {med(r['live_hooks_cpu_us_per_job']):.1f} µs/job; "
          f"{med(r['live_draws']):.0f} redraws")
