"""Command templates: which placeholders a rule's command holds, and the exact shell text of a job.

Placeholders are ``{name}`` (an input, param, output or constraint) with an optional format
spec: ``{param:raw}`` splices a param in unquoted (shell syntax the rule author wants), and a
list input takes ``{bams:sep=,}`` (items joined by ``,``) or ``{bams:prefix=-I }`` (every item
preceded by ``-I ``).  Every value is shell-quoted: a value is data, never code.
"""

from __future__ import annotations

import json
import re
import shlex
import string
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .nodes import Job, Node

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_formatter = string.Formatter()

#: (placeholder name, format spec) of one template field.
Field = tuple[str, str]


class TemplateError(ValueError):
    """A command template that cannot be rendered; the message says how to write it."""


def parse_template(command: str) -> list[tuple[str, str | None, str]]:
    """``(literal text, field name or None, spec)`` triples of a template."""
    try:
        parsed = list(_formatter.parse(command))
    except ValueError as e:
        raise TemplateError(f"command template is malformed ({e}); write literal braces as {{{{ and }}}}") from None
    out: list[tuple[str, str | None, str]] = []
    for lit, field, spec, conv in parsed:
        if field is not None:
            if not _NAME_RE.match(field):
                raise TemplateError(
                    f"placeholder {{{field}}} must be a plain name (no attributes, indexes or empty braces); "
                    "write literal shell braces doubled, e.g. awk '{{{{print $1}}}}'")
            if conv:
                raise TemplateError(f"placeholder {{{field}!{conv}}}: conversions are not supported")
            if spec and spec != "raw" and not spec.startswith(("sep=", "prefix=")):
                raise TemplateError(f"placeholder {{{field}:{spec}}}: the format specs are ':raw' (params) and, "
                                    "for list inputs, ':sep=TEXT' and ':prefix=TEXT'")
        out.append((lit, field, spec or ""))
    return out


def template_fields(command: str) -> list[Field]:
    """(field name, format spec) of every placeholder in a command template."""
    return [(f, spec) for _lit, f, spec in parse_template(command) if f is not None]


def plain_text(value: Any) -> str:
    """A param value as one unquoted word: numbers and bools as Python writes them, nested
    lists/dicts as JSON."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def value_text(value: Any) -> str:
    """Shell text of a param: one quoted word, or a list as separately quoted words."""
    if isinstance(value, list):
        return " ".join(shlex.quote(plain_text(v)) for v in value)
    return shlex.quote(plain_text(value))


def join_paths(paths: list[str], spec: str) -> str:
    """A list input's paths, each quoted: space-separated, ``sep=TEXT`` or ``prefix=TEXT``."""
    quoted = [shlex.quote(p) for p in paths]
    if spec.startswith("sep="):
        return spec[4:].join(quoted)
    if spec.startswith("prefix="):
        prefix = spec[7:]  # the rule author's literal shell text, like the rest of the template
        return " ".join(prefix + q for q in quoted)
    return " ".join(quoted)


FolderOf = Callable[["Job"], str]


def node_path(folder_of: FolderOf, node: Node) -> str:
    return f"{folder_of(node.job)}/{node.type.filename}"


def command_values(job: Job, folder_of: FolderOf, threads: int | None = None,
                   constraints: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Placeholder -> shell text for one job: paths and params shell-quoted.

    ``folder_of`` gives every job's folder (the DAG's mapping); ``threads`` is the thread
    count the job runs with (its constraint capped at the run's thread cap), ``constraints``
    the values of this attempt (a constraint may depend on the attempt number).
    """
    cons: Mapping[str, Any] = job.rule.constraints if constraints is None else constraints
    rule = job.rule
    values: dict[str, str] = {}
    for field, spec in rule.fields:
        key = f"{field}:{spec}" if spec else field
        if key in values:
            continue
        if field in rule.outputs:
            values[key] = shlex.quote(f"{folder_of(job)}/{rule.outputs[field].filename}")
        elif field in rule.inputs:
            value = job.inputs[field]
            if isinstance(value, tuple):
                values[key] = join_paths([node_path(folder_of, n) for n in value], spec)
            else:
                values[key] = shlex.quote(node_path(folder_of, value))
        elif field in rule.params:
            v = job.params[field]
            values[key] = (v if isinstance(v, str) else value_text(v)) if spec == "raw" else value_text(v)
        elif field == "threads":
            values[key] = str(threads if threads is not None else _declared_threads(job))
        else:  # another constraint
            v = cons.get(field, "")
            values[key] = shlex.quote(str(v)) if not isinstance(v, int) else str(v)
    return values


def _declared_threads(job: Job) -> int:
    declared = job.rule.constraints.get("threads", 1)
    return declared if isinstance(declared, int) else 1


def render(job: Job, folder_of: FolderOf, threads: int | None = None,
           constraints: Mapping[str, Any] | None = None) -> str:
    """The exact shell command of a job: absolute paths, quoted values, nothing prepended."""
    script = job.rule.script
    if script is not None:
        from .script_rules import job_data, script_command
        from .store import NodeFolder

        data = job_data(job, folder_of, threads or _declared_threads(job))
        return script_command(script, NodeFolder(folder_of(job)).script_job_path, data)
    values = command_values(job, folder_of, threads, constraints)
    out = []
    for lit, field, spec in job.rule.template:
        out.append(lit)
        if field is not None:
            out.append(values[f"{field}:{spec}" if spec else field])
    return "".join(out)


def resolve_command(node: Node | Job, outdir: str | None = None) -> str:
    """The exact shell command of a node's job, with every path under ``outdir``.

    Without ``outdir``: under the outdir the job was first resolved in (``dag.add(P)`` or
    ``P.resolve_paths(outdir)``).  Its threads are the rule's declared value; a run caps
    them at its thread cap.
    """
    from .nodes import Node

    job = node.job if isinstance(node, Node) else node
    root = outdir if outdir is not None else job.outdir
    if root is None:
        raise ValueError(f"{job.key}: paths are not resolved; add the pipeline to a DAG or call "
                         "P.resolve_paths(outdir) first")
    return render(job, lambda j: f"{root}/{j.key}")
