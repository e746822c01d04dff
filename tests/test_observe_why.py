"""Why a job runs: plan reasons enriched from the previous runs recorded in the outdir."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from test_observe_example import build_dag  # noqa: E402

from necroflow.progress import LineReporter, SilentReporter  # noqa: E402
from necroflow.why import explain, render_status, status_report  # noqa: E402


def _first_run(out: Path) -> None:
    build_dag(out).execute(progress=SilentReporter())


def _by_rule(report: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for j in report["jobs"]:
        out.setdefault(j["rule"], []).append(j)
    return out


def test_param_change_is_named_and_downstream_points_to_it(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _first_run(out)
    old_index = next(j.key for j in build_dag(out).jobs.values() if j.rule.name == "index")
    dag = build_dag(out, ref="mm10")
    new_index = next(j.key for j in dag.jobs.values() if j.rule.name == "index")
    report = status_report(dag, dag.plan())
    rules = _by_rule(report)
    assert report["to_run"] == 8 and report["total"] == 11
    assert [j["why"] for j in rules["index"]] == ["param ref changed ('hg38' -> 'mm10')"]
    assert rules["index"][0]["previous"] == old_index
    for j in rules["align"]:
        assert j["why"] == (f"input index is a different upstream job ({old_index} -> {new_index}, "
                            "which will run)")
        assert j["cause"] == new_index
    # each count is matched with *its own* sample's earlier count, not any count
    prev_aligns = {j["previous"] for j in rules["align"]}
    assert len(prev_aligns) == 3
    assert {c["changes"][0]["old"] for c in rules["count"]} == prev_aligns
    assert rules["table"][0]["why"] == "inputs a, b, c are different upstream jobs, 3 of which will run"
    assert report["root_causes"] == [{"why": "param ref changed ('hg38' -> 'mm10')", "jobs": [new_index],
                                      "downstream": 7}]
    assert report["rest"] == {"UP_TO_DATE": {"fetch": 3}}
    # only rules with jobs to explain were read, each folder once
    assert report["scanned_folders"] == {"index": 1, "align": 3, "count": 3, "table": 1}
    text = render_status(report)
    assert "Root causes (1):" in text and "[+7 downstream jobs]" in text
    assert "up to date: 3 (fetch 3)" in text
    assert text.endswith("8 of 11 jobs to run (missing 8, up_to_date 3).")


def test_command_template_change(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _first_run(out)
    dag = build_dag(out, align_cmd="cat {index} {reads} > {aligned}")
    report = status_report(dag, dag.plan())
    rules = _by_rule(report)
    assert [j["why"] for j in rules["align"]] == ["command template changed, so the hash is new"] * 3
    change = rules["align"][0]["changes"][0]
    assert change["kind"] == "command" and change["new"] == "cat {index} {reads} > {aligned}"
    assert len(report["root_causes"]) == 1 and report["root_causes"][0]["downstream"] == 4


def test_new_sample_is_a_new_call_not_a_change(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _first_run(out)
    dag = build_dag(out, samples=("s1", "s2", "s3", "s4"))
    report = status_report(dag, dag.plan())
    assert report["to_run"] == 3
    fetch = _by_rule(report)["fetch"][0]
    assert fetch["why"].startswith("output absent: a new call")
    assert "param sample" in fetch["why"] and "previous" not in fetch


def test_first_run_says_so(tmp_path: Path) -> None:
    dag = build_dag(tmp_path / "out")
    report = status_report(dag, dag.plan())
    assert all("first run of this call" in j["why"] for j in report["jobs"])
    assert report["scanned_folders"] == {"fetch": 0, "index": 0, "align": 0, "count": 0, "table": 0}


def test_interrupted_and_stale_keep_the_plan_reasons(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _first_run(out)
    dag = build_dag(out)
    jobs = {j.key: j for j in dag.jobs.values()}
    fetch1 = next(j for j in jobs.values() if j.rule.name == "fetch" and j.params["sample"] == "s1")
    count2 = next(j for j in jobs.values() if j.rule.name == "count"
                  and "s2" in str(j.inputs["aligned"].job.inputs["reads"].job.params))
    (count2.dir / ".rip" / "state").write_text("running\n")
    (fetch1.dir / "reads.txt").write_text("edited by hand\n")
    report = status_report(dag, dag.plan())
    why = {j["job"]: j for j in report["jobs"]}
    assert why[count2.key]["why"] == "previous run left state=running"
    align1 = next(k for k, j in why.items() if j["rule"] == "align")
    assert why[align1]["state"] == "STALE" and "content changed" in why[align1]["why"]
    count1 = next(k for k, j in why.items() if j["rule"] == "count" and k != count2.key)
    assert why[count1]["why"] == f"parent {align1} will run" and why[count1]["cause"] == align1
    json.dumps(report)  # the --json form is plain data


def test_dry_run_prints_the_explanation(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _first_run(out)
    stream = io.StringIO()
    dag = build_dag(out, lines=4)
    dag.execute(dry_run=True, progress=LineReporter(stream))
    text = stream.getvalue()
    assert "param lines changed (3 -> 4)" in text
    assert explain(dag, dag.plan()) == text.rstrip("\n")
    assert not any(j.dir.exists() for j in dag.plan().to_run), "a dry run must not create folders"
