"""Reading a decorated rule function: its parameters become inputs and params, its return
annotation ``Type[label]`` (or a tuple of them) the outputs.

Annotations are the rule author's own code, evaluated in the namespace where the rule is
declared (module globals plus the caller's locals, so types defined inside a function work).
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable
from typing import Any

from .types import Binding


class RuleError(ValueError):
    """A rule declaration that cannot work; the message names the rule and what to fix."""


def signature_inputs(fn: Callable[..., Any], ns: dict[str, Any], where: str
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(name -> annotation, name -> default) of a rule function's parameters."""
    ann = inspect.get_annotations(fn)
    inputs: dict[str, Any] = {}
    defaults: dict[str, Any] = {}
    for pname, p in inspect.signature(fn).parameters.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise RuleError(f"{where}: *args/**kwargs are not supported; list each input")
        inputs[pname] = eval_annotation(ann.get(pname, Any), ns, where, pname)
        if p.default is not p.empty:
            defaults[pname] = p.default
    return inputs, defaults


def eval_annotation(a: Any, ns: dict[str, Any], where: str, pname: str) -> Any:
    if not isinstance(a, str):
        return a
    try:
        return eval(a, ns)  # noqa: S307 - annotations are the rule author's own code
    except Exception as e:
        # Guessing here would turn a misspelt NodeType into an untyped literal param and
        # fail much later with a confusing message; say so where the rule is declared.
        raise RuleError(
            f"{where}: cannot resolve the annotation of {pname!r} ({a!r}: {type(e).__name__}: {e}); "
            "define or import the type before the rule is declared"
        ) from None


def return_outputs(fn: Callable[..., Any], ns: dict[str, Any], where: str) -> tuple[dict[str, Any], bool]:
    """(label -> NodeType, whether the rule returns a tuple) from ``-> Bam[bam]``."""
    ann = inspect.get_annotations(fn)
    if "return" not in ann:
        raise RuleError(f"{where}: needs a return annotation such as '-> Bam[bam]'")
    return parse_outputs(ann["return"], ns, where)


def parse_outputs(a: Any, ns: dict[str, Any], where: str) -> tuple[dict[str, Any], bool]:
    if isinstance(a, Binding):
        return {a.label: a.type}, False
    if isinstance(a, tuple) and all(isinstance(b, Binding) for b in a):
        return {b.label: b.type for b in a}, True
    if not isinstance(a, str):
        raise RuleError(f"{where}: return annotation must be Type[label] or a tuple of them, got {a!r}")
    try:
        tree = ast.parse(a, mode="eval").body
    except SyntaxError:
        raise RuleError(f"{where}: cannot parse return annotation {a!r}") from None
    multi = False
    if isinstance(tree, ast.Subscript) and isinstance(tree.value, ast.Name) and tree.value.id in ("tuple", "Tuple"):
        tree = tree.slice
        multi = True
    elts = tree.elts if isinstance(tree, ast.Tuple) else [tree]
    multi = multi or isinstance(tree, ast.Tuple)
    outputs: dict[str, Any] = {}
    for e in elts:
        label, t = _output(e, ns, where)
        if label in outputs:
            raise RuleError(f"{where}: output label {label!r} appears twice")
        outputs[label] = t
    return outputs, multi


def _output(e: ast.expr, ns: dict[str, Any], where: str) -> tuple[str, Any]:
    if not isinstance(e, ast.Subscript):
        raise RuleError(f"{where}: each output must be written Type[label], got {ast.unparse(e)!r}")
    label_node = e.slice
    if isinstance(label_node, ast.Name):
        label = label_node.id
    elif isinstance(label_node, ast.Constant) and isinstance(label_node.value, str):
        label = label_node.value
    else:
        raise RuleError(f"{where}: output label in {ast.unparse(e)!r} must be a plain name")
    type_src = ast.unparse(e.value)
    try:
        t = eval(type_src, ns)  # noqa: S307
    except Exception:
        raise RuleError(f"{where}: output type {type_src!r} is not defined where the rule is declared") from None
    return label, t
