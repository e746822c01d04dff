"""The job-file schemas in the real editor tools: completion, and one message per mistake.

Taplo (``@taplo/lsp`` as Even Better TOML runs it, and ``taplo lint``) and tombi
(``tombi lsp``, ``tombi lint``) read the schema named by the ``#:schema`` directive of each
document.  Every tool is started once for the whole module; all documents go through it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest
from editor_tools import (
    Diagnostic,
    Taplo,
    Tombi,
    taplo_lint_results,
    taplo_lsp_done,
)
from pydantic import BaseModel, Field

from necroflow import schemas  # (ruff counts `necroflow.schemas`, a package-dir, as third-party)

REPO = Path(__file__).resolve().parents[2]
METADATA = {".pipeline", ".pipeline__grid", ".requests"}


class Align(BaseModel):
    """Aligner options."""

    threads: int = Field(1, ge=1, description="Threads for the aligner.")
    mode: Literal["fast", "sensitive"] = "fast"


class RnaConfig(BaseModel):
    """Options of the RNA pipeline."""

    ref: str = Field(description="Reference genome name.")
    sample: str = Field(description="Sample name.")
    ram: schemas.Resource = Field(8 * 1024**3, description="Memory for the aligner.")
    align: Align = Align()


RNA_KEYS = {"ref", "sample", "ram", "align"}
RNA_COMPLETION = METADATA | RNA_KEYS | {f"{k}__grid" for k in RNA_KEYS}

GOOD = """\
#:schema ./rna.schema.json

".pipeline" = "pipelines/rna.py:rna"
".requests" = ["counts"]
ref = "hg38"
sample = "NA12878"
ram = "64Gi"

[align]
threads = 4
"""

JOB_GOOD = """\
#:schema ./job.schema.json

".pipeline" = "pipelines/rna.py:rna"
ref = "hg38"
sample__grid = ["NA12878", "NA24385"]

[align]
threads__grid = [1, 4]
".bam" = "user data may start with a dot below the top"
"""


@dataclass(frozen=True)
class Mistake:
    """One edit of a good document that makes it wrong in exactly one place."""

    old: str
    new: str
    at: str  # text on the line that must carry the one diagnostic
    says: str  # part of Taplo's message
    # The wrong value is a table or array: `taplo lint` underlines each of its parts, tombi
    # each repeated item; always with the one message.
    composite: bool = False

    def apply(self, text: str) -> str:
        assert text.count(self.old) == 1, self.old
        return text.replace(self.old, self.new)


MISTAKES = {
    "misspelt metadata key": Mistake(
        '".pipeline" =', '".pipline" =', '".pipline"', "unknown metadata key"
    ),
    "misspelt parameter": Mistake("sample =", "sampel =", "sampel", "unknown key"),
    "misspelt nested key": Mistake("threads = 4", "treads = 4", "treads", "unknown key"),
    "misspelt table": Mistake("[align]", "[alignn]", "[alignn]", "unknown key", composite=True),
    "wrong type": Mistake('ref = "hg38"', "ref = 38", "ref = 38", 'not of type "string"'),
    "bad resource size": Mistake('"64Gi"', '"64GG"', "ram =", "does not match"),
    "bad choice": Mistake("threads = 4", 'mode = "quick"', "mode =", "is not one of"),
    "empty grid": Mistake('ref = "hg38"', "ref__grid = []", "ref__grid", "less than 1 item"),
    "repeated grid value": Mistake(
        'ref = "hg38"', 'ref__grid = ["hg38", "hg38"]', "ref__grid", "non-unique", composite=True
    ),
    "value and its grid": Mistake(
        'ref = "hg38"', 'ref = "hg38"\nref__grid = ["hg19", "mm10"]', 'ref = "hg38"', "both set"
    ),
    "both pipeline keys": Mistake(
        '".requests"',
        '".pipeline__grid" = ["a.py:f", "b.py:g"]\n".requests"',
        '".pipeline" =',
        "both set",
    ),
    "factory without function": Mistake(
        'rna.py:rna"', 'rna.py"', '".pipeline" =', "does not match"
    ),
    "requests not a list": Mistake('["counts"]', '"counts"', '".requests"', 'not of type "array"'),
}

JOB_MISTAKES = {
    "misspelt metadata key": Mistake(
        '".pipeline" =', '".pipline" =', '".pipline"', "unknown metadata key"
    ),
    "unknown metadata table": Mistake(
        "[align]", '[".align"]', '[".align"]', "unknown metadata key", composite=True
    ),
    "empty nested grid": Mistake("[1, 4]", "[]", "threads__grid", "less than 1 item"),
    "both pipeline keys": Mistake(
        "ref =", '".pipeline__grid" = ["a.py:f", "b.py:g"]\nref =', '".pipeline" =', "both set"
    ),
}

# A good document with this mistake must get one diagnostic: its schema is in effect.
CANARY = Mistake('".pipeline" =', '".pipline" =', '".pipline"', "unknown metadata key")

MISSING = {  # name: (schema's good document, line removed, key Taplo and tombi name)
    "required parameter": (GOOD, 'sample = "NA12878"\n', "sample"),
    "pipeline": (JOB_GOOD, '".pipeline" = "pipelines/rna.py:rna"\n', ".pipeline"),
}

COMPLETIONS = {  # name: (document, 0-based line to complete on)
    "rna top level": ("#:schema ./rna.schema.json\n\n\n", 2),
    "rna top level, partly written": (GOOD.replace("ram =", "\nram ="), 6),
    "rna nested table": ("#:schema ./rna.schema.json\n\n[align]\n\n", 3),
    "job top level": ("#:schema ./job.schema.json\n\n\n", 2),
    "rnaseq example": ("#:schema ./rnaseq.schema.json\n\n\n", 2),
}

# The repository's example jobs, as shipped: their '#:schema ../json-schema/job.schema.json'.
EXAMPLES = ["examples/necroalchemy_grid.toml", "examples/rnaseq/rnaseq.toml"]

Tool = Literal["taplo lsp", "taplo lint", "tombi lint"]


@dataclass
class Results:
    folder: Path
    docs: dict[str, Path] = field(default_factory=dict)
    diagnostics: dict[Tool, dict[Path, list[Diagnostic]]] = field(default_factory=dict)
    completions: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    taplo_skipped: str | None = None  # why, when node/npm or the registry are missing

    def of(self, tool: Tool, name: str) -> list[Diagnostic]:
        if tool.startswith("taplo") and self.taplo_skipped:
            pytest.skip(self.taplo_skipped)
        return self.diagnostics[tool].get(self.docs[name].resolve(), [])

    def offered(self, editor: str, name: str) -> set[str]:
        if editor == "taplo" and self.taplo_skipped:
            pytest.skip(self.taplo_skipped)
        return set(self.completions[editor][name])


def _rnaseq_schema(target: Path) -> None:
    """The schema of the RNA-seq example, the way a user makes it: `necroflow schema --pipeline`."""
    script = Path(sys.executable).with_name("necroflow")
    exe = [str(script)] if script.exists() else [sys.executable, "-m", "necroflow.cli"]
    proc = subprocess.run(
        [*exe, "schema", "--pipeline", "examples/rnaseq/factory.py:rnaseq", "-o", str(target)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _write_documents(folder: Path) -> Results:
    """The schemas and every document the tools are asked about, in ``folder``."""
    (folder / "rna.schema.json").write_text(
        json.dumps(schemas.pipeline_job_schema(RnaConfig), indent=2)
    )
    shutil.copy(REPO / "json-schema" / "job.schema.json", folder / "job.schema.json")
    _rnaseq_schema(folder / "rnaseq.schema.json")
    results = Results(folder)

    def write(name: str, text: str) -> None:
        path = folder / (name.replace(" ", "_").replace(",", "") + ".toml")
        path.write_text(text)
        results.docs[name] = path

    write("good", GOOD)
    write("job good", JOB_GOOD)
    rnaseq = (REPO / "examples" / "rnaseq" / "rnaseq.toml").read_text().splitlines(keepends=True)
    write("rnaseq good", "#:schema ./rnaseq.schema.json\n" + "".join(rnaseq[1:]))
    for name, mistake in MISTAKES.items():
        write(name, mistake.apply(GOOD))
    for name, mistake in JOB_MISTAKES.items():
        write(f"job {name}", mistake.apply(JOB_GOOD))
    for name, (text, line, _) in MISSING.items():
        write(f"missing {name}", text.replace(line, ""))
    for name, (text, _) in COMPLETIONS.items():
        write(f"complete {name}", text)
    for example in EXAMPLES:  # copied into the workspace (Taplo skips files outside it)
        for relative in (example, "json-schema/job.schema.json"):
            (folder / "repo" / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO / relative, folder / "repo" / relative)
        results.docs[example] = folder / "repo" / example
    for name in ["good", "job good", "rnaseq good", *EXAMPLES]:  # proof the schema is read
        canary = results.docs[name].with_name(f"canary_{results.docs[name].name}")
        canary.write_text(CANARY.apply(results.docs[name].read_text()))
        results.docs[f"canary {name}"] = canary
    return results


@pytest.fixture(scope="module")
def editors(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, tombi: Tombi
) -> Results:
    """Every document through every tool: each tool is started once."""
    taplo: Taplo | None = None
    skipped = None
    try:
        taplo = request.getfixturevalue("taplo")
    except pytest.skip.Exception as e:  # the tombi tests still run
        skipped = str(e)
    folder = tmp_path_factory.mktemp("editor")
    taplo_server = taplo.lsp(folder) if taplo else None  # starts meanwhile (26 MB of wasm)
    tombi_server = tombi.lsp(folder)
    lint = None
    try:
        results = _write_documents(folder)
        results.taplo_skipped = skipped
        checked = [p for n, p in results.docs.items() if not n.startswith("complete ")]
        if taplo is not None:
            lint = taplo.start_lint(checked, cwd=folder)  # runs while the servers work
        results.diagnostics["tombi lint"] = tombi.lint(checked, cwd=folder)

        if taplo_server is not None:
            taplo_server.initialize(folder)
            opened = {name: taplo_server.open(path) for name, path in results.docs.items()}
            results.diagnostics["taplo lsp"] = {
                results.docs[name].resolve(): taplo_server.diagnostics(uri, taplo_lsp_done)
                for name, uri in opened.items()
            }
            results.completions["taplo"] = {
                name: taplo_server.completion(opened[f"complete {name}"], line, 0)
                for name, (_, line) in COMPLETIONS.items()
            }

        tombi_server.initialize(folder)
        results.completions["tombi"] = {}
        for name, (_, line) in COMPLETIONS.items():
            uri = tombi_server.open(results.docs[f"complete {name}"])
            tombi_server.diagnostics(uri, lambda rounds: True)  # the document has been read
            results.completions["tombi"][name] = tombi_server.completion(uri, line, 0)

        if lint is not None:
            results.diagnostics["taplo lint"] = taplo_lint_results(lint)
    finally:
        for server in (taplo_server, tombi_server):
            if server is not None:
                server.close()
        if lint is not None and lint.poll() is None:
            lint.kill()
            lint.wait()
    return results


def _line_of(path: Path, text: str) -> int:
    lines = path.read_text().splitlines()
    return next(i for i, line in enumerate(lines) if text in line)


def _show(diags: list[Diagnostic]) -> str:
    return "\n".join(f"  line {d.line + 1}: {d.message}" for d in diags) or "  (none)"


# -- completion ------------------------------------------------------------------------
@pytest.mark.parametrize("editor", ["taplo", "tombi"])
def test_pipeline_schema_completes_the_pipelines_keys(editors: Results, editor: str) -> None:
    top = editors.offered(editor, "rna top level")
    assert RNA_COMPLETION <= top, top
    rest = editors.offered(editor, "rna top level, partly written")
    assert {".pipeline__grid", "ref__grid", "sample__grid", "ram__grid", "align__grid"} <= rest, (
        rest
    )
    assert not rest & {".pipeline", ".requests", "ref", "sample", "ram"}  # already written
    nested = editors.offered(editor, "rna nested table")
    assert {"threads", "threads__grid", "mode", "mode__grid"} <= nested, nested
    example = editors.offered(editor, "rnaseq example")
    assert {"reference", "reference__grid", "samples", "min_seed__grid", ".pipeline"} <= example


@pytest.mark.parametrize("editor", ["taplo", "tombi"])
def test_committed_job_schema_completes_the_metadata_keys(editors: Results, editor: str) -> None:
    assert METADATA <= editors.offered(editor, "job top level")


# -- diagnostics -----------------------------------------------------------------------
TOOLS: list[Tool] = ["taplo lsp", "taplo lint", "tombi lint"]


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("name", ["good", "job good", "rnaseq good", *EXAMPLES])
def test_good_documents_get_no_diagnostics(editors: Results, tool: Tool, name: str) -> None:
    assert editors.of(tool, name) == [], _show(editors.of(tool, name))
    _check_one(editors, tool, f"canary {name}", CANARY)


def _check_one(editors: Results, tool: Tool, name: str, mistake: Mistake) -> None:
    diags = editors.of(tool, name)
    path = editors.docs[name]
    if tool != "taplo lsp" and mistake.composite:
        assert len({d.message for d in diags}) == 1, _show(diags)
        diags = diags[:1]
    assert len(diags) == 1, f"{name}: expected one diagnostic from {tool}, got:\n{_show(diags)}"
    assert diags[0].line == _line_of(path, mistake.at), _show(diags)
    if tool != "tombi lint":
        assert mistake.says in diags[0].message, diags[0].message


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("name", MISTAKES)
def test_each_mistake_gets_one_diagnostic_at_its_key(
    editors: Results, tool: Tool, name: str
) -> None:
    _check_one(editors, tool, name, MISTAKES[name])


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("name", JOB_MISTAKES)
def test_each_mistake_in_a_plain_job_gets_one_diagnostic(
    editors: Results, tool: Tool, name: str
) -> None:
    _check_one(editors, tool, f"job {name}", JOB_MISTAKES[name])


def test_a_misspelt_pipeline_key_is_not_also_reported_missing(editors: Results) -> None:
    """The issue's case: `.pipline` gave ten copies of a bare anyOf message in Taplo."""
    for tool in TOOLS:
        for name in ("misspelt metadata key", "job misspelt metadata key"):
            (diag,) = editors.of(tool, name)
            assert "anyOf" not in diag.message and "required" not in diag.message


@pytest.mark.parametrize("name", MISSING)
def test_a_missing_key_is_one_message_naming_it(editors: Results, name: str) -> None:
    key = MISSING[name][2]
    (diag,) = editors.of("tombi lint", f"missing {name}")
    assert diag.message == f'"{key}" is required'
    # Taplo 0.9 shows an error about a table on every key and value of that table (no schema
    # can avoid it for a key that is absent), but it is the one message, naming the key.
    messages = {d.message for d in editors.of("taplo lsp", f"missing {name}")}
    assert messages == {f'"{key}" is a required property'}
