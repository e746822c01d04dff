"""Rules: shell command templates with typed inputs, literal params and typed outputs."""

from __future__ import annotations

import datetime as _dt
import inspect
import os
import re
import sys
import typing
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .command import TemplateError, parse_template
from .constraints import Constraints
from .containers import current_default
from .declare import RuleError, return_outputs, signature_inputs
from .fingerprint import UnhashableParam, canonical, dumps, rule_digest
from .missing import MissingSourceFile, note_missing
from .nodes import Job, Node
from .script_rules import Script, load_script
from .sources import SourceFile, SourceMissing, source_path
from .types import NodeType, check_component, is_node_type

__all__ = ["Constraints", "Inputs", "Outputs", "Rule", "RuleError", "Rules", "check_param_type"]

_NONE: dict[str, Any] = {}  # shared by calls without params or inputs: a Job never changes its own
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Inputs(dict[str, Any]):
    """``Inputs(bam=Bam, bams=list[Bam], ref=str)``: a NodeType (or a list of one) is an input,
    any other type a literal param."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)


class Outputs(dict[str, Any]):
    """``Outputs(bam=Bam, log=Log)``: output labels and their NodeTypes."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)


def list_element(t: Any) -> Any:
    """``T`` for an annotation ``list[T]`` with T a NodeType, else None."""
    if typing.get_origin(t) is list:
        args = typing.get_args(t)
        if len(args) == 1 and (is_node_type(args[0]) or args[0] is NodeType):
            return args[0]
    return None


class Rule:
    """One rule: call it with parent nodes and params to get output node(s)."""

    def __init__(self, name: str, inputs: Mapping[str, Any], outputs: Mapping[str, Any], command: str,
                 constraints: Mapping[str, Any] | None = None, description: str = "",
                 order: list[str] | None = None, multi: bool | None = None,
                 defaults: Mapping[str, Any] | None = None, script: Script | None = None,
                 container: str | None = None) -> None:
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise RuleError(f"rule name {name!r} must be an identifier (letters, digits, _)")
        check_component(name, "rule name")
        self.name = name
        self.script = script
        if container is not None and (not isinstance(container, str) or not container.strip()):
            raise RuleError(f"rule {name!r}: container={container!r} must name an image, e.g. 'ubuntu:24.04'")
        self.container = container  # its image, by name; the fingerprint takes its content id
        if script is not None:
            command = script.digest_text  # the fingerprint sees the script's content, not its path
        if not isinstance(command, str):
            raise RuleError(f"rule {name!r}: command must be a string template")
        self.command = command
        self.description = description or ""
        self.inputs: dict[str, type[NodeType]] = {}  # input name -> its (element) type
        self.lists: frozenset[str] = frozenset()  # inputs that take a list of nodes
        self.params: dict[str, Any] = {}
        self._split_inputs(inputs)
        # Params naming files outside the outdir, hashed by content (see sources.py).
        self.sources = frozenset(k for k, t in self.params.items() if t is SourceFile)
        self.deferred = bool(self.sources)  # its calls' fingerprints wait for content hashes
        self.outputs: dict[str, type[NodeType]] = self._check_outputs(outputs, inputs)
        self.multi = len(self.outputs) > 1 if multi is None else multi
        # Every file the job writes, companions included, in order.
        self.filenames: list[str] = [fn for t in self.outputs.values() for fn in t.files()]
        cons = constraints if isinstance(constraints, Constraints) else Constraints(name, **dict(constraints or {}))
        self.constraints: Constraints = cons
        self.order = list(order) if order is not None else list(inputs)
        self.defaults = self._check_defaults(defaults or {})
        try:
            self.template = parse_template(command)
        except TemplateError as e:
            raise RuleError(f"rule {name!r}: {e}") from None
        self.fields = [(f, spec) for _lit, f, spec in self.template if f is not None]
        self._check_fields()
        self.digest = rule_digest(
            name, command,
            {k: f"list[{t.type_id()}]" if k in self.lists else t.type_id() for k, t in self.inputs.items()},
            sorted(self.params),
            {k: t.type_id() for k, t in self.outputs.items()},
        )

    def _split_inputs(self, inputs: Mapping[str, Any]) -> None:
        lists = set()
        for key, t in inputs.items():
            if not _NAME_RE.match(key):
                raise RuleError(f"rule {self.name!r}: input name {key!r} must be an identifier")
            element = list_element(t)
            if is_node_type(t) or t is NodeType:  # NodeType itself: "any file"
                self.inputs[key] = t
            elif element is not None:
                self.inputs[key] = element
                lists.add(key)
            else:
                self.params[key] = t
        self.lists = frozenset(lists)

    def _check_outputs(self, outputs: Mapping[str, Any], inputs: Mapping[str, Any]) -> dict[str, type[NodeType]]:
        name = self.name
        if not outputs:
            raise RuleError(f"rule {name!r}: declares no outputs; every rule produces at least one file")
        checked: dict[str, type[NodeType]] = {}
        owner: dict[str, str] = {}
        for label, t in outputs.items():
            if not is_node_type(t):
                raise RuleError(f"rule {name!r}: output {label!r} must be a NodeType subclass, got {t!r}")
            if not _NAME_RE.match(label):
                raise RuleError(f"rule {name!r}: output label {label!r} must be an identifier")
            if label in inputs:
                raise RuleError(f"rule {name!r}: output label {label!r} collides with an input or param of the same name")
            if getattr(t, "filename", None) is None:
                raise RuleError(f"rule {name!r}: output type {t.__name__} has no 'filename' class attribute")
            for fn in t.files():
                if fn in owner:
                    raise RuleError(f"rule {name!r}: outputs {owner[fn]!r} and {label!r} share the filename {fn!r}; "
                                    "give each NodeType its own filename")
                owner[fn] = label
            checked[label] = t
        return checked

    def _check_defaults(self, defaults: Mapping[str, Any]) -> dict[str, Any]:
        # Defaults of literal params (decorator style): applied at call time and hashed exactly
        # as if passed, so adding a default never moves an existing output.
        out: dict[str, Any] = {}
        for key, value in defaults.items():
            if key not in self.params:
                raise RuleError(f"rule {self.name!r}: input {key!r} cannot have a default; only literal params can")
            try:
                canonical(value, f"rule {self.name!r}: default of param {key!r}")
            except UnhashableParam as e:
                raise RuleError(str(e)) from None
            out[key] = value
        return out

    def _check_fields(self) -> None:
        name = self.name
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
            if spec.startswith(("sep=", "prefix=")) and field not in self.lists:
                raise RuleError(f"rule {name!r}: {{{field}:{spec}}}: sep= and prefix= apply to list inputs only")

    def __repr__(self) -> str:
        return f"<Rule {self.name}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        bound = self._bind(args, kwargs)
        parents: dict[str, Node | tuple[Node, ...]] = {}
        lists = self.lists
        for key, expected in self.inputs.items():
            value = bound[key]
            if type(value) is Node and key not in lists and issubclass(value.type, expected):
                parents[key] = value  # the common case, checked inline
            elif key in lists:
                parents[key] = self._list_input(key, expected, value)
            else:
                parents[key] = self._input(key, expected, value)
        params: dict[str, Any] = {}
        for key, expected in self.params.items():
            value = bound[key]
            if isinstance(value, Node):
                raise TypeError(f"rule {self.name!r}: {key!r} is a literal param, not an input; got a node")
            if expected is SourceFile:
                params[key] = self._source(key, value)
                continue
            if type(value) is not str or expected is not str:  # the common case needs no check
                value = check_param_type(self.name, key, expected, value)
            try:
                params[key] = (value if type(value) is str and value.isascii()
                               else canonical(value, f"rule {self.name!r}: param {key!r}"))
            except UnhashableParam as e:
                raise TypeError(str(e)) from None
        job = Job(self, params or _NONE, dumps(params), parents or _NONE, self.container or current_default())
        if self.multi:
            return job.nodes
        return job.nodes[0]

    def _source(self, key: str, value: Any) -> str:
        """A source file's absolute path; a missing one raises, except while validating."""
        try:
            return source_path(self.name, key, value)
        except SourceMissing as e:
            path = os.path.abspath(os.fspath(value))
            if not note_missing(path, "source file", f"param {key!r} of rule {self.name!r}"):
                raise MissingSourceFile(str(e), path) from None
            return path

    def _bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        if len(args) > len(self.order):
            raise TypeError(f"{self.name}() takes {len(self.order)} arguments but {len(args)} were given")
        bound = dict(zip(self.order, args, strict=False))
        for key, value in kwargs.items():
            if key not in self.inputs and key not in self.params:
                raise TypeError(f"{self.name}() got an unexpected keyword argument {key!r}")
            if key in bound:
                raise TypeError(f"{self.name}() got multiple values for argument {key!r}")
            bound[key] = value
        for key, value in self.defaults.items():
            bound.setdefault(key, value)
        if len(bound) != len(self.order):
            missing = [k for k in self.order if k not in bound]
            raise TypeError(f"{self.name}() missing {len(missing)} required argument(s): {', '.join(map(repr, missing))}")
        return bound

    def _input(self, key: str, expected: type[NodeType], value: Any) -> Node:
        if not isinstance(value, Node):
            hint = " (it takes one node; declare it list[...] to take several)" if isinstance(value, (list, tuple)) else ""
            raise TypeError(f"rule {self.name!r}: input {key!r} expects a {expected.__name__} node, "
                            f"got {type(value).__name__} {value!r:.60}{hint}")
        if not issubclass(value.type, expected):
            raise TypeError(f"rule {self.name!r}: input {key!r} expects {expected.__name__}, "
                            f"got {value.type.__name__} (from rule {value.rule.name!r})")
        return value

    def _list_input(self, key: str, expected: type[NodeType], value: Any) -> tuple[Node, ...]:
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"rule {self.name!r}: input {key!r} expects a list of {expected.__name__} nodes, "
                            f"got {type(value).__name__} {value!r:.60}")
        if not value:
            raise TypeError(f"rule {self.name!r}: input {key!r} got an empty list; it needs at least one "
                            f"{expected.__name__} node")
        for i, n in enumerate(value):
            if not isinstance(n, Node):
                raise TypeError(f"rule {self.name!r}: input {key!r}, element at index {i}: expects a "
                                f"{expected.__name__} node, got {type(n).__name__} {n!r:.60}")
            if not issubclass(n.type, expected):
                raise TypeError(f"rule {self.name!r}: input {key!r}, element at index {i}: expects "
                                f"{expected.__name__}, got {n.type.__name__} (from rule {n.rule.name!r})")
        return tuple(value)


_PARAM_TYPES: tuple[type, ...] = (str, int, float, bool, list, dict, tuple, _dt.date, _dt.datetime, _dt.time)


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
                 description: str = "", container: str | None = None) -> Rule:
        """Declare a rule: ``R.register("align", Inputs(fastq=Fastq, ref=str), Outputs(bam=Bam), cmd)``."""
        return self._add(Rule(name, dict(inputs or {}), dict(outputs or {}), command, constraints, description,
                              container=container))

    def _add(self, rule: Rule) -> Rule:
        if rule.name in self._rules:
            raise RuleError(f"rule {rule.name!r} is already registered; rule names must be unique")
        if rule.name.startswith("_") or hasattr(type(self), rule.name):
            raise RuleError(f"rule name {rule.name!r} is reserved (a Rules method); choose another")
        self._rules[rule.name] = rule
        return rule

    def command(self, command: str, *, container: str | None = None, **constraints: Any
                ) -> Callable[[Callable[..., Any]], Rule]:
        """Decorator form: the function's parameters are inputs/params, its return annotation
        ``Type[label]`` (or a tuple of them) the outputs, its docstring the description."""
        frame = sys._getframe(1)
        ns = {**frame.f_globals, **frame.f_locals}
        del frame

        def decorate(fn: Callable[..., Any]) -> Rule:
            return self._decorated(fn, ns, command, constraints, container=container)

        return decorate

    def script(self, path: str, *, python: str | None = None, container: str | None = None, **constraints: Any
               ) -> Callable[[Callable[..., Any]], Rule]:
        """Decorator: a rule that runs a script (path relative to the declaring file) instead
        of a command; see :mod:`necroflow.script_rules`.  ``python`` names the interpreter
        (default: the one necroflow runs under, or the script's non-Python shebang)."""
        frame = sys._getframe(1)
        ns = {**frame.f_globals, **frame.f_locals}
        declared_in = frame.f_globals.get("__file__")
        del frame
        base = Path(declared_in).resolve().parent if declared_in else Path.cwd()

        def decorate(fn: Callable[..., Any]) -> Rule:
            name = fn.__name__
            script = load_script(path, base, name, python)
            return self._decorated(fn, ns, "", constraints, script, container)

        return decorate

    def _decorated(self, fn: Callable[..., Any], ns: dict[str, Any], command: str,
                   constraints: dict[str, Any], script: Script | None = None, container: str | None = None) -> Rule:
        name = fn.__name__
        where = f"rule {name!r}"
        local_ns = {**fn.__globals__, **ns}
        inputs, defaults = signature_inputs(fn, local_ns, where)
        outputs, multi = return_outputs(fn, local_ns, where)
        return self._add(Rule(name, inputs, outputs, command, Constraints(name, **constraints),
                              inspect.getdoc(fn) or "", multi=multi, defaults=defaults, script=script,
                              container=container))

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
