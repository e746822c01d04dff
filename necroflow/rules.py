"""Rules: shell command templates with typed inputs, literal params and typed outputs."""

from __future__ import annotations

import ast
import datetime as _dt
import inspect
import re
import string
import sys
import typing
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .fingerprint import UnhashableParam, canonical, dumps, rule_digest
from .resources import ACCEPTED_FORMS, parse_resource
from .types import Binding, NodeType, check_component, is_node_type

# Constraint keys that carry backend text (SLURM) rather than an amount.
TEXT_CONSTRAINTS = frozenset({"time", "partition", "account", "qos", "sbatch"})
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class RuleError(ValueError):
    """A rule declaration that cannot work; the message names the rule and what to fix."""


class Inputs(dict[str, Any]):
    """``Inputs(bam=Bam, ref=str)``: a NodeType value is an input, any other type a literal param."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)


class Outputs(dict[str, Any]):
    """``Outputs(bam=Bam, log=Log)``: output labels and their NodeTypes."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)


class Constraints(dict[str, Any]):
    """Execution resources of a rule (``threads``, ``ram``, user keys).

    Validated and normalised when declared, so a bad value fails at import time, not
    mid-run: ``threads`` is a positive int, ``ram`` and user keys are amounts
    (``parse_resource``), ``time``/``partition``/``account``/``qos``/``sbatch`` are text
    for cluster backends.  Constraints never enter the fingerprint.
    """

    def __init__(self, _rule: str = "", **kw: Any) -> None:
        super().__init__()
        where = f"rule {_rule!r}: " if _rule else ""
        for key, value in kw.items():
            self[key] = normalise_constraint(key, value, where)


def normalise_constraint(key: str, value: Any, where: str = "") -> Any:
    if not _NAME_RE.match(key):
        raise RuleError(f"{where}constraint name {key!r} must be an identifier")
    if key == "threads":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise RuleError(f"{where}constraint threads={value!r} must be a positive integer, e.g. threads=4")
        return value
    if key in TEXT_CONSTRAINTS:
        if not isinstance(value, str):
            raise RuleError(f"{where}constraint {key}={value!r} must be a string")
        return value
    try:
        return parse_resource(value)
    except ValueError:
        raise RuleError(f"{where}constraint {key}={value!r} is not an amount: expected {ACCEPTED_FORMS}") from None


_formatter = string.Formatter()


def template_fields(command: str, rule: str) -> list[tuple[str, str]]:
    """(field name, format spec) of every placeholder in a command template."""
    try:
        parsed = list(_formatter.parse(command))
    except ValueError as e:
        raise RuleError(f"rule {rule!r}: command template is malformed ({e}); write literal braces as {{{{ and }}}}") from None
    fields = []
    for _lit, field, spec, conv in parsed:
        if field is None:
            continue
        if not _NAME_RE.match(field):
            raise RuleError(f"rule {rule!r}: placeholder {{{field}}} must be a plain name (no attributes, indexes or empty braces); "
                           "write literal shell braces doubled, e.g. awk '{{{{print $1}}}}'")
        if conv:
            raise RuleError(f"rule {rule!r}: placeholder {{{field}!{conv}}}: conversions are not supported")
        if spec not in ("", "raw"):
            raise RuleError(f"rule {rule!r}: placeholder {{{field}:{spec}}}: the only format spec is ':raw'")
        fields.append((field, spec or ""))
    return fields


_PARAM_TYPES: tuple[type, ...] = (str, int, float, bool, list, dict, tuple, _dt.date, _dt.datetime, _dt.time)


class Rule:
    """One rule: call it with parent nodes and params to get output node(s)."""

    def __init__(self, name: str, inputs: Mapping[str, Any], outputs: Mapping[str, Any], command: str,
                 constraints: Mapping[str, Any] | None = None, description: str = "",
                 order: list[str] | None = None, multi: bool | None = None,
                 defaults: Mapping[str, Any] | None = None) -> None:
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise RuleError(f"rule name {name!r} must be an identifier (letters, digits, _)")
        check_component(name, "rule name")
        self.name = name
        if not isinstance(command, str):
            raise RuleError(f"rule {name!r}: command must be a string template")
        self.command = command
        self.description = description or ""
        self.inputs: dict[str, type[NodeType]] = {}
        self.params: dict[str, Any] = {}
        for key, t in inputs.items():
            if not _NAME_RE.match(key):
                raise RuleError(f"rule {name!r}: input name {key!r} must be an identifier")
            if is_node_type(t) or t is NodeType:  # NodeType itself: "any file"
                self.inputs[key] = t
            else:
                self.params[key] = t
        self.outputs: dict[str, type[NodeType]] = {}
        filenames: dict[str, str] = {}
        if not outputs:
            raise RuleError(f"rule {name!r}: declares no outputs; every rule produces at least one file")
        for label, t in outputs.items():
            if not is_node_type(t):
                raise RuleError(f"rule {name!r}: output {label!r} must be a NodeType subclass, got {t!r}")
            if not _NAME_RE.match(label):
                raise RuleError(f"rule {name!r}: output label {label!r} must be an identifier")
            if label in inputs:
                raise RuleError(f"rule {name!r}: output label {label!r} collides with an input or param of the same name")
            fn = getattr(t, "filename", None)
            if fn is None:
                raise RuleError(f"rule {name!r}: output type {t.__name__} has no 'filename' class attribute")
            if fn in filenames:
                raise RuleError(f"rule {name!r}: outputs {filenames[fn]!r} and {label!r} share the filename {fn!r}; give each NodeType its own filename")
            filenames[fn] = label
            self.outputs[label] = t
        self.multi = len(self.outputs) > 1 if multi is None else multi
        self.filenames: list[str] = [t.filename for t in self.outputs.values()]  # output files, in order
        cons = constraints if isinstance(constraints, Constraints) else Constraints(name, **dict(constraints or {}))
        self.constraints: Constraints = cons
        self.order = list(order) if order is not None else list(inputs)
        # Defaults of literal params (decorator style): applied at call time and hashed exactly
        # as if passed, so adding a default never moves an existing output.
        self.defaults: dict[str, Any] = {}
        for key, value in (defaults or {}).items():
            if key not in self.params:
                raise RuleError(f"rule {name!r}: input {key!r} cannot have a default; only literal params can")
            try:
                canonical(value, f"rule {name!r}: default of param {key!r}")
            except UnhashableParam as e:
                raise RuleError(str(e)) from None
            self.defaults[key] = value
        self.fields = template_fields(command, name)
        known = set(self.inputs) | set(self.params) | set(self.outputs) | set(self.constraints) | {"threads"}
        for field, spec in self.fields:
            if field not in known:
                raise RuleError(
                    f"rule {name!r}: placeholder {{{field}}} in the command is neither an input "
                    f"({', '.join(self.inputs) or 'none'}), a param ({', '.join(self.params) or 'none'}), "
                    f"an output ({', '.join(self.outputs)}) nor a constraint"
                )
            if spec == "raw" and field not in self.params:
                raise RuleError(f"rule {name!r}: {{{field}:raw}} is only allowed on literal params")
        self.digest = rule_digest(
            name, command,
            {k: t.type_id() for k, t in self.inputs.items()},
            sorted(self.params),
            {k: t.type_id() for k, t in self.outputs.items()},
        )

    def __repr__(self) -> str:
        return f"<Rule {self.name}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        Job, Node = _graph()
        if len(args) > len(self.order):
            raise TypeError(f"{self.name}() takes {len(self.order)} arguments but {len(args)} were given")
        bound: dict[str, Any] = {}
        for key, value in zip(self.order, args, strict=False):
            bound[key] = value
        for key, value in kwargs.items():
            if key not in self.inputs and key not in self.params:
                raise TypeError(f"{self.name}() got an unexpected keyword argument {key!r}")
            if key in bound:
                raise TypeError(f"{self.name}() got multiple values for argument {key!r}")
            bound[key] = value
        if self.defaults:
            for key, value in self.defaults.items():
                bound.setdefault(key, value)
        if len(bound) != len(self.order):
            missing = [k for k in self.order if k not in bound]
            raise TypeError(f"{self.name}() missing {len(missing)} required argument(s): {', '.join(map(repr, missing))}")
        parents: dict[str, Any] = {}
        params: dict[str, Any] = {}
        for key, expected in self.inputs.items():
            value = bound[key]
            if not isinstance(value, Node):
                raise TypeError(
                    f"rule {self.name!r}: input {key!r} expects a {expected.__name__} node, "
                    f"got {type(value).__name__} {value!r:.60}"
                )
            if not issubclass(value.type, expected):
                raise TypeError(
                    f"rule {self.name!r}: input {key!r} expects {expected.__name__}, "
                    f"got {value.type.__name__} (from rule {value.rule.name!r})"
                )
            parents[key] = value
        for key, expected in self.params.items():
            value = bound[key]
            if isinstance(value, Node):
                raise TypeError(f"rule {self.name!r}: {key!r} is a literal param, not an input; got a node")
            if type(value) is not str or expected is not str:  # the common case needs no check
                value = check_param_type(self.name, key, expected, value)
            try:
                params[key] = (value if type(value) is str and value.isascii()
                               else canonical(value, f"rule {self.name!r}: param {key!r}"))
            except UnhashableParam as e:
                raise TypeError(str(e)) from None
        job = Job(self, params, dumps(params), parents)
        if self.multi:
            return tuple(job.outputs.values())
        return next(iter(job.outputs.values()))


_GRAPH: tuple[Any, Any] | None = None


def _graph() -> tuple[Any, Any]:
    """``(Job, Node)`` from :mod:`necroflow.graph`, which builds on this module (imported once)."""
    global _GRAPH
    if _GRAPH is None:
        from .graph import Job, Node

        _GRAPH = (Job, Node)
    return _GRAPH


def check_param_type(rule: str, key: str, expected: Any, value: Any) -> Any:
    """Check a literal param against a plain annotation (str, int, float, bool, list, dict, date).

    Returns the value to use.  A date/datetime/time param also accepts its ISO text (what a
    command line or a quoted TOML value carries), normalised so that it hashes exactly like
    the date object itself.  ``dict[str, int]`` and ``list[str]`` are checked for their
    container only (the encoder checks what is inside).
    """
    origin = typing.get_origin(expected)
    if origin in (list, dict, tuple):
        expected = list if origin is tuple else origin
    if not isinstance(expected, type) or expected is Any or expected not in _PARAM_TYPES:
        return value  # generic or unknown annotations: accepted, the canonical encoder still checks
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return value
    if expected in (_dt.date, _dt.datetime, _dt.time) and isinstance(value, str):
        try:
            return expected.fromisoformat(value).isoformat()
        except ValueError:
            raise TypeError(f"rule {rule!r}: param {key!r} expects {expected.__name__} (an object or "
                            f"ISO text such as 2024-01-31), got {value!r:.60}") from None
    if expected is int and isinstance(value, bool):
        ok = False
    elif expected is list:
        ok = isinstance(value, (list, tuple))
    else:
        ok = isinstance(value, expected)
    if not ok:
        raise TypeError(f"rule {rule!r}: param {key!r} expects {expected.__name__}, got {type(value).__name__} {value!r:.60}")
    return value


class Rules:
    """A registry of rules; rules are reached as attributes (``R.align``)."""

    def __init__(self) -> None:
        self._rules: dict[str, Rule] = {}

    def register(self, name: str, inputs: Mapping[str, Any] | None = None, outputs: Mapping[str, Any] | None = None,
                 command: str = "", constraints: Mapping[str, Any] | None = None,
                 description: str = "") -> Rule:
        """Declare a rule: ``R.register("align", Inputs(fastq=Fastq, ref=str), Outputs(bam=Bam), cmd)``."""
        return self._add(Rule(name, dict(inputs or {}), dict(outputs or {}), command, constraints, description))

    def _add(self, rule: Rule) -> Rule:
        if rule.name in self._rules:
            raise RuleError(f"rule {rule.name!r} is already registered; rule names must be unique")
        if rule.name.startswith("_") or hasattr(type(self), rule.name):
            raise RuleError(f"rule name {rule.name!r} is reserved (a Rules method); choose another")
        self._rules[rule.name] = rule
        return rule

    def command(self, command: str, **constraints: Any) -> Callable[[Callable[..., Any]], Rule]:
        """Decorator form: the function's parameters are inputs/params, its return annotation
        ``Type[label]`` (or a tuple of them) the outputs, its docstring the description."""
        frame = sys._getframe(1)
        ns = {**frame.f_globals, **frame.f_locals}
        del frame

        def decorate(fn: Callable[..., Any]) -> Rule:
            name = fn.__name__
            where = f"rule {name!r}"
            local_ns = {**fn.__globals__, **ns}
            ann = inspect.get_annotations(fn)
            sig = inspect.signature(fn)
            inputs: dict[str, Any] = {}
            defaults: dict[str, Any] = {}
            for pname, p in sig.parameters.items():
                if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                    raise RuleError(f"{where}: *args/**kwargs are not supported; list each input")
                a = ann.get(pname, Any)
                inputs[pname] = _eval_annotation(a, local_ns, where, pname)
                if p.default is not p.empty:
                    defaults[pname] = p.default
            if "return" not in ann:
                raise RuleError(f"{where}: needs a return annotation such as '-> Bam[bam]'")
            outputs, multi = _parse_outputs(ann["return"], local_ns, where)
            return self._add(Rule(name, inputs, outputs, command, Constraints(name, **constraints),
                                  inspect.getdoc(fn) or "", multi=multi, defaults=defaults))

        return decorate

    def __getattr__(self, name: str) -> Rule:
        rules = self.__dict__.get("_rules", {})
        if name in rules:
            return rules[name]
        raise AttributeError(f"no rule named {name!r}; registered: {', '.join(sorted(rules)) or 'none'}")

    def __getitem__(self, name: str) -> Rule:
        return self.__getattr__(name)

    def __contains__(self, name: object) -> bool:
        return name in self._rules

    def __iter__(self) -> Iterator[Rule]:
        return iter(self._rules.values())

    def __len__(self) -> int:
        return len(self._rules)

    def __repr__(self) -> str:
        return f"Rules({', '.join(self._rules)})"


def _eval_annotation(a: Any, ns: dict[str, Any], where: str, pname: str) -> Any:
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


def _parse_outputs(a: Any, ns: dict[str, Any], where: str) -> tuple[dict[str, Any], bool]:
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
        if label in outputs:
            raise RuleError(f"{where}: output label {label!r} appears twice")
        outputs[label] = t
    return outputs, multi
