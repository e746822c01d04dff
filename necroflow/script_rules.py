"""Script rules: a Python (or R, or shell) script instead of a command template.

``@r.script("scripts/plot.py")`` declares a rule whose job runs that script, with its path
relative to the file the rule is declared in.  The script's content is part of the
fingerprint (editing it reruns the rule and its dependants; touching it does not).

The job's data (input and output paths, params, threads) is written as JSON into the node's
record folder when the job starts; its path is in ``$NECROFLOW_JOB``.  A Python script reads
it with ``from necroflow.script import job``; any other script (a shebang that is not
Python: Rscript, bash) gets the JSON path as its first argument too, and every value as an
environment variable: ``NECROFLOW_INPUT_<NAME>``, ``NECROFLOW_OUTPUT_<LABEL>``,
``NECROFLOW_PARAM_<NAME>`` (lists one item per line, other values as JSON text unless
they are strings) and ``NECROFLOW_THREADS``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .declare import RuleError

if TYPE_CHECKING:
    from .nodes import Job

JOB_ENV = "NECROFLOW_JOB"


@dataclass(frozen=True)
class Script:
    """A rule's script: where it is, what it holds, and how it is started."""

    path: str  # absolute
    sha256: str  # of its content, when the rule was declared
    interpreter: tuple[str, ...]  # e.g. ("/usr/bin/python3",) or ("/usr/bin/env", "Rscript")
    python: bool  # reads its data through necroflow.script (and $NECROFLOW_JOB)
    chosen: bool = False  # the rule named its interpreter (python=...)

    @property
    def digest_text(self) -> str:
        """What the fingerprint records of the script: its content, never its path."""
        return f"script:{self.sha256}"


def load_script(path: str, base: Path, rule: str, python: str | None) -> Script:
    """Read a script at declaration time; a missing one is a RuleError naming the rule."""
    full = (base / path).resolve()
    try:
        data = full.read_bytes()
    except OSError as e:
        raise RuleError(f"rule {rule!r}: script {path!r} cannot be read ({e.strerror or e}; looked at {full}, "
                        "paths are relative to the file that declares the rule)") from None
    first = data.split(b"\n", 1)[0].decode(errors="replace")
    shebang = shlex.split(first[2:]) if first.startswith("#!") else []
    is_python = python is not None or not shebang or any("python" in os.path.basename(w) for w in shebang)
    interpreter = (python or sys.executable,) if is_python else tuple(shebang)
    return Script(str(full), hashlib.sha256(data).hexdigest(), interpreter, is_python, python is not None)


def job_data(job: Job, folder_of: Any, threads: int) -> dict[str, Any]:
    """What the script sees: absolute paths of inputs (lists as lists) and outputs, params, threads."""
    inputs: dict[str, Any] = {}
    for name, value in job.inputs.items():
        if isinstance(value, tuple):
            inputs[name] = [f"{folder_of(n.job)}/{n.type.filename}" for n in value]
        else:
            inputs[name] = f"{folder_of(value.job)}/{value.type.filename}"
    outputs = {label: f"{folder_of(job)}/{t.filename}" for label, t in job.rule.outputs.items()}
    return {"rule": job.rule.name, "job": job.key, "inputs": inputs, "outputs": outputs,
            "params": dict(job.params), "threads": threads}


def _env_text(value: Any) -> str:
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return value if isinstance(value, str) else json.dumps(value)


def script_command(script: Script, json_path: str, data: dict[str, Any], pylib: str | None = None) -> str:
    """The shell command that runs a script job (every value quoted).

    ``pylib`` (inside a container) is a folder holding ``necroflow/script.py``, put on the
    script's ``PYTHONPATH``; its interpreter is then the image's ``python3`` unless the rule
    named one.
    """
    q = shlex.quote
    env = [f"{JOB_ENV}={q(json_path)}"]
    interpreter = script.interpreter
    if pylib is not None and script.python:
        env.append(f"PYTHONPATH={q(pylib)}")
        if not script.chosen:
            interpreter = ("python3",)
    if not script.python:
        for kind, values in (("INPUT", data["inputs"]), ("OUTPUT", data["outputs"]), ("PARAM", data["params"])):
            env += [f"NECROFLOW_{kind}_{k.upper()}={q(_env_text(v))}" for k, v in values.items()]
        env.append(f"NECROFLOW_THREADS={data['threads']}")
    argv = [*interpreter, script.path] + ([] if script.python else [json_path])
    return " ".join(env) + " exec " + " ".join(q(a) for a in argv)


def script_library() -> dict[str, str]:
    """The files that let ``from necroflow.script import job`` work where necroflow is not
    installed (inside a container): a package holding only that module."""
    from . import script

    return {"necroflow/__init__.py": "", "necroflow/script.py": Path(script.__file__).read_text()}
