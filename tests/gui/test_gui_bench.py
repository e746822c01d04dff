"""bench/gui.py stays runnable: its quick mode opens a small DAG, bursts events, watches a run
and measures the overhead, and writes its table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_gui_bench_quick_mode(tmp_path: Path, browser: object) -> None:  # browser: Chromium is there
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "gui.py"), "--quick", "--workdir", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    table = (tmp_path / "results-quick.md").read_text()
    for row in ("| open a 331-job DAG", "| burst: 662 events", "| a terminal `necroflow run -c2` of all 331 jobs",
                "| run of 61 jobs", "| CPU the watchers spent"):
        assert row in table, f"no {row!r} row in\n{table}"
    assert " nan" not in table and table.strip() in proc.stdout
