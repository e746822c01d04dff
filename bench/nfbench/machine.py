"""What a reader needs to weigh the figures: CPU, cores, RAM, load, versions."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from .config import REPO
from .measure import Machine, output


def machine_info(snakemake: Path | None) -> dict[str, str]:
    info: dict[str, str] = {}
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info["CPU"] = cpu
    info["cores"] = str(os.cpu_count())
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["RAM"] = f"{int(line.split()[1]) / (1 << 20):.1f} GiB"
    except OSError:
        pass
    info["OS"] = platform.platform()
    info["load average at start/end"] = f"{Machine.load_at_start:.2f}/{os.getloadavg()[0]:.2f}"
    info["Python"] = platform.python_version()
    info["necroflow"] = necroflow_version()
    if snakemake is not None:
        info["Snakemake"] = output([str(snakemake), "--version"]) or "unknown"
    info["peak memory via"] = (
        "GNU time %M" if Machine.gnu_time else "os.wait4 ru_maxrss (includes the harness)"
    )
    info["openssl"] = output(["openssl", "version"]) or "absent"
    return info


def necroflow_version() -> str:
    commit = output(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    dirty = output(["git", "-C", str(REPO), "status", "--porcelain", "--", "necroflow"])
    return (
        f"git {commit}{' + uncommitted engine changes' if dirty else ''}" if commit else "unknown"
    )
