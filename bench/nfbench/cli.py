"""``python bench/run.py``: the flags, the order of the scenarios, and where results go."""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .bench import Bench, Row
from .config import (
    ALL_SCENARIOS,
    BENCH,
    DEFAULT_SCENARIOS,
    DEFAULT_VENV,
    GIB,
    MIB,
    REPO,
    SLURM_MODES,
    SNAKEMAKE_PIN,
)
from .machine import machine_info
from .measure import Machine, find_gnu_time, output, progress, rel
from .render import as_json, keep_sections, render
from .scenario_big import big
from .scenario_dask import dask
from .scenario_scale import scale
from .scenario_slurm import slurm
from .scenarios_core import noop, plan, run
from .targets import judge


def setup_snakemake(venv: Path, version: str) -> None:
    """Create the comparison venv; Snakemake never enters necroflow's own environment."""
    progress(f"creating {venv} with snakemake=={version}")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", f"snakemake=={version}"],
        check=True,
    )
    progress(output([str(venv / "bin" / "snakemake"), "--version"]))


def parse_sizes(text: str) -> list[int]:
    try:
        return [int(x.replace("_", "")) for x in text.split(",") if x.strip()]
    except ValueError:
        raise SystemExit(
            f"expected comma-separated integers like 1000,10000, got {text!r}"
        ) from None


def _core_flags(p: argparse.ArgumentParser) -> None:
    """The flags of the first benchmark (issue 7), unchanged."""
    add = p.add_argument
    add("--scenarios", default=",".join(DEFAULT_SCENARIOS),
        help=f"comma-separated subset of {', '.join(ALL_SCENARIOS)} (scale and slurm are opt-in)")
    add("--reps", type=int, default=3, help="repetitions per case (each a fresh process)")
    add("--budget", type=float, default=100.0,
        help="seconds per case after which no further repetition starts (at least one runs)")
    add("--timeout", type=float, default=900.0, help="kill any single process after this many seconds")
    add("--plan-sizes", default="1000,10000,30000,100000",
        help="N for the plan scenario (30,000 samples = 90,001 jobs, where issue 7 measured Snakemake)")
    add("--run-size", type=int, default=300)
    add("--noop-sizes", default="300,3000")
    add("--big-bytes", type=int, default=GIB)
    add("--snakemake-plan-max", type=int, default=30_000,
        help="largest N Snakemake plans (N=100,000 takes it several minutes)")
    add("--snakemake-bin", type=Path, default=DEFAULT_VENV / "bin" / "snakemake")
    add("--tools", default="necroflow,snakemake,floor",
        help="comma-separated subset of necroflow, snakemake, floor (plan, run, noop, big)")
    add("--no-snakemake", action="store_true", help="measure necroflow and the floors only")
    add("--snakemake-real-setup", action="store_true",
        help="noop: prepare Snakemake's outdir with a real Snakemake run instead of --touch")
    add("--setup-snakemake", action="store_true",
        help=f"create {DEFAULT_VENV.relative_to(REPO)} with snakemake=={SNAKEMAKE_PIN} and exit")
    add("--snakemake-version", default=SNAKEMAKE_PIN)
    add("--keep-big", action="store_true", help="keep the 1 GiB files after the big scenario")
    add("--workdir", type=Path, default=BENCH / "work")
    add("--results", type=Path, default=None,
        help="markdown output (default bench/results.md; bench/work/results-quick.md with --quick)")
    add("--quick", action="store_true",
        help="tiny sizes, one repetition, no Snakemake: a smoke test of the scenarios chosen")


def _scale_flags(p: argparse.ArgumentParser) -> None:
    """The flags of issue 15's new scenarios: dask, scale, slurm."""
    add = p.add_argument
    add("--dask-size", type=int, default=10_000, help="trivial jobs of the dask scenario")
    add("--scale-sizes", default="1000,3000,10000,33333,100000,333333",
        help="N (samples: 3N+1 jobs) whose plan the scale scenario measures")
    add("--scale-noop-size", type=int, default=None,
        help="N of the scale scenario's no-op rerun, after one untimed full run of 3N+1 jobs "
             "(default: the largest --scale-sizes; 0: none)")
    add("--keep-scale", action="store_true",
        help="keep the scale no-op's outdir and start from it next time (saves the full run)")
    add("--slurm-sizes", default="200,1000", help="trivial jobs per slurm row")
    add("--slurm-modes", default=",".join(SLURM_MODES),
        help=f"comma-separated subset of {', '.join(SLURM_MODES)}")
    add("--slurm-group-size", type=int, default=100, help="jobs per allocation in the group mode")
    add("--slurm-group-cpus", type=int, default=0,
        help="CPUs of a group's allocation (0: necroflow's default, one member's threads)")
    add("--slurm-reps", type=int, default=1, help="repetitions of each slurm case")
    add("--slurm-timeout", type=float, default=3600.0, help="kill a slurm case after this many seconds")
    add("--slurm-check-size", type=int, default=20,
        help="N of the chain run grouped and locally to compare outputs (0: no check)")
    add("--slurm-cpus", type=int, default=0,
        help="CPUs the test cluster advertises if bench/run.py starts it (0: scripts/slurm-up.sh's "
             "default); a cluster already up is used as it is")


def _quick(args: argparse.Namespace) -> None:
    args.reps = 1
    args.plan_sizes, args.run_size, args.noop_sizes, args.big_bytes = "20", 5, "5", MIB
    args.no_snakemake = True
    args.dask_size, args.scale_sizes, args.scale_noop_size = 20, "20,60", 60
    args.slurm_sizes, args.slurm_check_size = "5", 3


def _choices(p: argparse.ArgumentParser, text: str, allowed: tuple[str, ...], what: str) -> list[str]:
    chosen = [s.strip() for s in text.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(allowed))
    if unknown:
        p.error(f"unknown {what}(s) {', '.join(unknown)}; choose from {', '.join(allowed)}")
    return chosen


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Benchmark necroflow against Snakemake and shell floors (issue 15).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _core_flags(p)
    _scale_flags(p)
    args = p.parse_args(argv)
    if args.quick:
        _quick(args)
    args.workdir = args.workdir.resolve()
    if args.results is None:
        args.results = args.workdir / "results-quick.md" if args.quick else BENCH / "results.md"
    args.scenario_list = _choices(p, args.scenarios, ALL_SCENARIOS, "scenario")
    args.tool_list = _choices(p, args.tools, ("necroflow", "snakemake", "floor"), "tool")
    args.slurm_mode_list = _choices(p, args.slurm_modes, SLURM_MODES, "slurm mode")
    args.slurm_size_list = parse_sizes(args.slurm_sizes)
    args.scale_size_list = parse_sizes(args.scale_sizes)
    if args.scale_noop_size is None:
        args.scale_noop_size = max(args.scale_size_list, default=0)
    if args.reps < 1 or args.slurm_reps < 1:
        p.error("--reps and --slurm-reps must be at least 1")
    return args


def run_scenarios(bench: Bench, args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    for scenario in args.scenario_list:
        if scenario == "plan":
            rows += [plan(bench, n) for n in parse_sizes(args.plan_sizes)]
        elif scenario == "run":
            rows.append(run(bench, args.run_size))
        elif scenario == "noop":
            rows += [noop(bench, n) for n in parse_sizes(args.noop_sizes)]
        elif scenario == "big":
            rows.append(big(bench, args.big_bytes))
        elif scenario == "dask":
            rows.append(dask(bench, args.dask_size))
        elif scenario == "scale":
            rows += scale(bench, args.scale_size_list, args.scale_noop_size)
        elif scenario == "slurm":
            rows += slurm(bench)
    return rows


def find_snakemake(args: argparse.Namespace) -> Path | None:
    if args.no_snakemake:
        return None
    if args.snakemake_bin.exists():
        return Path(args.snakemake_bin)
    progress(
        f"no Snakemake at {args.snakemake_bin}: measuring necroflow and floors only "
        "(run `python bench/run.py --setup-snakemake` to compare)"
    )
    return None


def versions(info: dict[str, str], args: argparse.Namespace) -> dict[str, str]:
    """The machine line, plus the versions the new scenarios depend on."""
    if "dask" in args.scenario_list:
        info["distributed"] = output([sys.executable, "-c", "import distributed as d; print(d.__version__)"]) or "absent"
    if "slurm" in args.scenario_list:
        info["SLURM"] = output(["sbatch", "--version"]) or "absent"
    return info


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.setup_snakemake:
        setup_snakemake(DEFAULT_VENV, args.snakemake_version)
        return 0
    snakemake = find_snakemake(args)
    Machine.load_at_start = os.getloadavg()[0]
    Machine.gnu_time = find_gnu_time()
    if Machine.gnu_time is None:
        progress("GNU time not found: peak memory figures include this harness's own ~15 MiB")
    args.workdir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    bench = Bench(args, snakemake)
    rows = run_scenarios(bench, args)
    for path in bench.cleanup:
        shutil.rmtree(path, ignore_errors=True)
    for row in rows:
        judge(row, args.quick)
    command = "python bench/run.py" + (
        ""
        if argv is None and len(sys.argv) < 2
        else " " + shlex.join(sys.argv[1:] if argv is None else argv)
    )
    report = render(rows, versions(machine_info(snakemake), args), command, started, args.quick)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(keep_sections(args.results, report))
    json_name = "results-quick.json" if args.quick else "results.json"
    (args.workdir / json_name).write_text(as_json(rows))
    print(report)
    progress(f"wrote {rel(args.results)}")
    failed = [f"{r.scenario} {r.size} {c.tool}" for r in rows for c in r.cases.values() if c.error]
    if failed:
        progress("FAILED: " + ", ".join(failed))
        return 1
    return 0
