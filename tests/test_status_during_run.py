"""``status`` and ``--dry-run`` while another process runs on the outdir: say so, show RUNNING."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def python_env() -> dict[str, str]:
    import os

    return {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}


FLOW = textwrap.dedent('''
    from __future__ import annotations
    from necroflow import NodeType, Pipeline, Rules

    class Out(NodeType):
        filename = "out.txt"

    R = Rules()

    @R.command("touch {started}.started; sleep 30; echo done > {out}")
    def slow(started: str) -> Out[out]:
        """Slow enough to be looked at."""

    def flow(config, R):
        P = Pipeline()
        P.out = R.slow(started=config["started"])
        return P
''')


def test_status_during_a_run_names_the_lock_holder_and_shows_running(tmp_path: Path) -> None:
    (tmp_path / "flow.py").write_text(FLOW)
    started = tmp_path / "mark"
    (tmp_path / "job.toml").write_text(f'".pipeline" = "flow.py:flow"\nstarted = "{started}"\n')
    cli = [sys.executable, "-m", "necroflow.cli"]
    run = subprocess.Popen([*cli, "run", "-q", "--outdir", "out", "job.toml"], cwd=tmp_path, env=python_env(),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not Path(f"{started}.started").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        for args in (["status"], ["run", "--dry-run"]):
            res = subprocess.run([*cli, *args, "--outdir", "out", "job.toml"], cwd=tmp_path, env=python_env(),
                                 capture_output=True, text=True, timeout=60)
            assert res.returncode == 0, res.stderr
            assert f"locked by necroflow process {run.pid}" in res.stdout, res.stdout
            assert "INTERRUPTED" not in res.stdout and "interrupted" not in res.stdout, res.stdout
            if args == ["status"]:
                assert "running: 1 (slow 1)" in res.stdout, res.stdout
            else:
                assert "RUNNING     slow/" in res.stdout, res.stdout
                assert f"(running now, in necroflow process {run.pid})" in res.stdout, res.stdout
    finally:
        import os
        import signal

        os.killpg(run.pid, signal.SIGTERM)
        run.wait(timeout=30)
    res = subprocess.run([*cli, "status", "--outdir", "out", "job.toml"], cwd=tmp_path, env=python_env(),
                         capture_output=True, text=True, timeout=60)
    assert "locked by" not in res.stdout and "INTERRUPTED" in res.stdout, res.stdout
