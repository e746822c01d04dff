"""The benchmark harness stays runnable: its quick mode builds every workload, runs each
scenario once through necroflow and the shell floors, and checks the results it measured."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_quick_mode_runs_every_scenario(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--workdir", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    table = (tmp_path / "results-quick.md").read_text()
    for scenario in ("plan N=", "run N=", "noop N=", "big "):
        assert scenario in table, f"no {scenario!r} row in the quick results"
    assert table.count("nothing reran") >= 2, table
