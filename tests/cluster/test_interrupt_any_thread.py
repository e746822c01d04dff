"""Ctrl-C (or SIGTERM) stops a run whichever thread of the process the kernel hands it to.

A process-directed signal goes to *any* thread that does not block it; Linux prefers the
main thread but not always (the ``test_ctrl_c_cancels_cluster_jobs...[dask]`` test in
test_cluster_dag.py hung this way about once in 30 runs under load).  Every backend runs
threads in necroflow's process (local waiters, Dask's event loop and workers, SLURM's
submit/poll threads), and CPython runs the Python-level handler only in the main thread, whose blocked
lock acquire is woken by EINTR only when the signal hit that thread itself.  A run loop that
waited in ``self.events.get()`` without a timeout left a signal taken by another thread
unhandled until the next event arrived (with long jobs, for as long as they ran); it now
wakes every ``signals.WAKE_INTERVAL`` seconds.

The driver script below makes that delivery deterministic: a thread of its own sends the
signal to itself with ``pthread_kill`` once the job has started, which is exactly what the
kernel does when it picks that thread.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cluster_helpers import log_has, wait_until

from necroflow.store import read_state

DRIVER = """
from __future__ import annotations
import signal, sys, threading, time
from pathlib import Path
from necroflow import DAG, NodeType, Pipeline, Rules

class Out(NodeType):
    filename = "out.txt"

r = Rules()

@r.command("echo started; exec sleep 300; touch {{out}}")
def slow(n: int) -> Out[out]:
    "Runs until stopped."

def deliver(outdir, target, signum):
    while not any("started" in p.read_text() for p in Path(outdir).glob("slow/*/.rip/job.log")):
        time.sleep(0.05)
    time.sleep(0.3)  # the run loop is back in its wait for the next event
    if target == "main":
        signal.pthread_kill(threading.main_thread().ident, signum)
    else:  # as when the kernel hands the signal to this thread
        signal.pthread_kill(threading.get_ident(), signum)

if __name__ == "__main__":
    outdir, target, signum = sys.argv[1], sys.argv[2], int(sys.argv[3])
    threading.Thread(target=deliver, args=(outdir, target, signum), daemon=True).start()
    dag = DAG(outdir)
    P = Pipeline()
    P.out = r.slow(n=1)
    dag.add(P)
    dag.execute(backend="{backend}")
"""

def _procs_under(root: Path) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        if cwd.startswith(str(root) + "/"):
            found.append(int(entry))
    return found


STOP_WITHIN = 4.0  # seconds after the signal (a normal stop takes about 1 s); the job would run for 300


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("target", ["main", "other"], ids=["to-main-thread", "to-another-thread"])
@pytest.mark.parametrize("backend", ["local", "dask"])
def test_a_signal_stops_the_run_whichever_thread_takes_it(backend: str, target: str, sig: int, tmp_path: Path) -> None:
    script = tmp_path / "run.py"
    script.write_text(DRIVER.format(backend=backend))
    outdir = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, str(script), str(outdir), target, str(int(sig))],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def started() -> bool:
            if proc.poll() is not None:
                pytest.fail(f"the driver ended before its job started: {proc.communicate()[1][-2000:]}")
            return any(log_has(p, "started") for p in outdir.glob("slow/*/.rip/job.log"))

        wait_until(started, 30, "the job to start")
        try:
            _, err = proc.communicate(timeout=STOP_WITHIN + 0.3)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{signal.Signals(sig).name} delivered to the {target} thread: the run did not "
                        f"stop within {STOP_WITHIN} s")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # a second try, as a person would; then force
            try:
                proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
        for pid in _procs_under(tmp_path):  # a job the driver left behind, by pid
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    assert proc.returncode != 0
    expected = "KeyboardInterrupt" if sig == signal.SIGINT else "Interrupted"
    assert expected in err, err[-2000:]
    (node,) = (outdir / "slow").iterdir()
    assert read_state(node) == "interrupted"
