"""The house rules, as tests: no import circles, layers import downwards only, small modules and
functions, and only ``necroflow.store`` names the files of a ``.rip`` record.

Everything is read with :mod:`ast` from the source files, nothing is imported.  The
top-level ``schemas/`` folder is the package ``necroflow.schemas`` (pyproject's
``package-dir``), so its modules are named that way here.

What counts as an import: an ``import`` or ``from ... import`` that runs when the module
is loaded, i.e. at module level, in a class body, or under a module-level ``if``/``try``/
``with``.  Imports inside a function and under ``if TYPE_CHECKING:`` do not count: they are
the sanctioned lazy way to reach upwards.  ``from pkg import name`` is an edge to
``pkg.name`` when that is a module, else to ``pkg`` (its ``__init__``).  Importing a
submodule also runs its parent packages' ``__init__``; those implicit edges are left out
(they are not written in the importing module, and Python copes with a package that is
still initialising when one of its own submodules is loaded).
"""

from __future__ import annotations

import ast
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# (folder in the checkout, dotted name it is installed as)
ROOTS = ((REPO / "necroflow", "necroflow"), (REPO / "schemas", "necroflow.schemas"))

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60

# The files of a node folder's record, by name: only necroflow/store/ may spell them.
RIP_NAMES = frozenset({".rip", "job.log", "record.json", "metrics.json", "dependencies.toml"})
# Names that are ordinary words too: flagged only where they are used as a path part.
RIP_WORDS = frozenset({"state"})


@dataclass(frozen=True)
class Module:
    name: str  # dotted, as installed
    path: Path
    is_package: bool  # an __init__.py
    tree: ast.Module

    @property
    def rel(self) -> str:
        return self.path.relative_to(REPO).as_posix()

    @property
    def package(self) -> str:
        """The package that relative imports are resolved against."""
        return self.name if self.is_package else self.name.rpartition(".")[0]


def _modules() -> dict[str, Module]:
    mods: dict[str, Module] = {}
    for root, dotted in ROOTS:
        for path in sorted(root.rglob("*.py")):
            rel = path.relative_to(root).with_suffix("")
            parts = list(rel.parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            name = ".".join([dotted, *parts])
            if dotted == "necroflow" and name.startswith("necroflow.schemas"):
                continue  # not expected, but the top-level schemas/ folder is the real one
            mods[name] = Module(name, path, is_package, ast.parse(path.read_text(), str(path)))
    return mods


MODULES = _modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _load_time_imports(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements of ``body`` that run when the module is loaded."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue  # lazy: runs when called
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _load_time_imports(node.body)
            yield from _load_time_imports(node.orelse)
        elif isinstance(node, ast.ClassDef):
            yield from _load_time_imports(node.body)
        else:  # try/except/else/finally, with, for, while, match: their blocks run at load
            for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                for child in getattr(node, field, []) or []:
                    if isinstance(child, ast.ExceptHandler | ast.match_case):
                        yield from _load_time_imports(child.body)
                    elif isinstance(child, ast.stmt):
                        yield from _load_time_imports([child])


def _all_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, lazy ones included."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node


def _resolve(mod: Module, node: ast.ImportFrom) -> str:
    """The absolute module name a ``from ... import`` reads from."""
    if node.level == 0:
        return node.module or ""
    base = mod.package.split(".")
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imported_names(mod: Module, nodes: Iterator[ast.Import | ast.ImportFrom]) -> Iterator[tuple[str, int]]:
    """(absolute module name, line) for each module the import statements load."""
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
            continue
        source = _resolve(mod, node)
        for alias in node.names:
            sub = f"{source}.{alias.name}"
            if sub in MODULES:
                yield sub, node.lineno  # `from . import jobs`: the submodule itself
            elif source != mod.name:  # `from . import x` in an __init__ names itself otherwise
                yield source, node.lineno


def _internal(name: str) -> str | None:
    """The module of ours that ``name`` is (or is inside), None for a third-party/stdlib one."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {module of ours it imports at load time -> line of the import}."""
    graph: dict[str, dict[str, int]] = {}
    for name, mod in MODULES.items():
        edges: dict[str, int] = {}
        for target, line in imported_names(mod, _load_time_imports(mod.tree.body)):
            ours = _internal(target)
            if ours is not None and ours != name:
                edges.setdefault(ours, line)
        graph[name] = edges
    return graph


GRAPH = import_graph()


def strongly_connected(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The groups of modules that import each other in a circle (Tarjan's strongly connected
    components with more than one module), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    sccs: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(sccs)


def shortest_cycle(graph: dict[str, dict[str, int]], comp: list[str]) -> list[str]:
    """A shortest cycle from the first module of ``comp`` back to itself, inside ``comp``."""
    start, members = comp[0], set(comp)
    prev: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v]):
                if w not in members:
                    continue
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(prev[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"{comp} is not strongly connected")


def spell_circle(comp: list[str]) -> str:
    """The modules of a circle, one cycle through it, and every import edge inside it."""
    cycle = shortest_cycle(GRAPH, comp)
    edges = [f"{a} -> {b}  ({MODULES[a].rel}:{line})"
             for a in comp for b, line in sorted(GRAPH[a].items()) if b in comp]
    return (f"circle among {', '.join(comp)}\n    e.g. {' -> '.join(cycle)}\n    "
            + "\n    ".join(edges))


def reachable(start: str) -> dict[str, list[str]]:
    """Modules of ours that loading ``start`` loads (by explicit imports), each with a path."""
    paths: dict[str, list[str]] = {start: [start]}
    todo = [start]
    while todo:
        v = todo.pop()
        for w in sorted(GRAPH[v]):
            if w not in paths:
                paths[w] = [*paths[v], w]
                todo.append(w)
    del paths[start]
    return paths


def _in(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


# --- the rules ------------------------------------------------------------------------------


def test_the_analysis_sees_the_whole_package() -> None:
    """Guards the other tests against a silently empty graph (a moved folder, a renamed root)."""
    for name in ("necroflow", "necroflow.graph", "necroflow.execute", "necroflow.schemas",
                 "necroflow.schemas.job", "necroflow.backends.shell", "necroflow.store"):
        assert name in MODULES, f"{name} not found under {[str(r) for r, _ in ROOTS]}"
    assert sum(len(e) for e in GRAPH.values()) > len(MODULES), "suspiciously few import edges"
    # relative imports resolve to real modules of ours (a typo would drop an edge silently)
    for mod in MODULES.values():
        for node in _load_time_imports(mod.tree.body):
            if isinstance(node, ast.ImportFrom) and node.level:
                source = _resolve(mod, node)
                assert source in MODULES, f"{mod.rel}:{node.lineno}: from {'.' * node.level}{node.module or ''} -> {source}?"


def test_the_analysis_counts_only_load_time_imports() -> None:
    tree = ast.parse(textwrap.dedent("""
        import a
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            import lazy1
        else:
            import c
        if typing.TYPE_CHECKING:
            import lazy2
        try:
            import d
        except ImportError:
            import e
        class K:
            import f
            def method(self):
                import lazy3
        def function():
            import lazy4
        async def coroutine():
            import lazy5
    """))
    names = [alias.name for node in _load_time_imports(tree.body) for alias in node.names]
    assert names == ["a", "TYPE_CHECKING", "c", "d", "e", "f"]


def test_the_analysis_resolves_relative_imports() -> None:
    def resolve(module: str, is_package: bool, line: str) -> str:
        node = ast.parse(line).body[0]
        assert isinstance(node, ast.ImportFrom)
        return _resolve(Module(module, Path(), is_package, ast.Module([], [])), node)

    assert resolve("necroflow.store.files", False, "from .records import X") == "necroflow.store.records"
    assert resolve("necroflow.store.files", False, "from .. import types") == "necroflow"
    assert resolve("necroflow.store", True, "from . import files") == "necroflow.store"
    assert resolve("necroflow.store", True, "from ..types import X") == "necroflow.types"
    assert resolve("necroflow.cli.run", False, "from ..schemas import X") == "necroflow.schemas"


def test_the_cycle_finder_finds_a_planted_cycle() -> None:
    g = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1, "d": 1}, "d": {"e": 1}, "e": {}}
    assert strongly_connected(g) == [["a", "b", "c"]]
    assert shortest_cycle(g, ["a", "b", "c"]) == ["a", "b", "c", "a"]
    assert strongly_connected({"a": {"b": 1}, "b": {}}) == []


def test_no_import_cycles() -> None:
    circles = strongly_connected(GRAPH)
    assert not circles, "import cycles among necroflow's modules (load-time imports):\n  " + "\n  ".join(
        map(spell_circle, circles)
    )


def test_graph_does_not_load_the_run_loop() -> None:
    """The DAG layer is below execution: loading necroflow.graph must not load necroflow.execute."""
    paths = reachable("necroflow.graph")
    assert "necroflow.execute" not in paths, "necroflow.graph loads necroflow.execute: " + " -> ".join(
        paths["necroflow.execute"]
    )


def test_schemas_knows_no_engine() -> None:
    """The config layer uses nothing of necroflow but ``necroflow.resources`` (size parsing), at
    load time or lazily, directly or through resources."""
    allowed = {"necroflow.resources"}
    bad = []
    for name, mod in MODULES.items():
        if not _in(name, "necroflow.schemas"):
            continue
        for target, line in imported_names(mod, _all_imports(mod.tree)):
            ours = _internal(target)
            if ours and not _in(ours, "necroflow.schemas") and ours not in allowed:
                bad.append(f"{mod.rel}:{line} imports {ours}")
    for name in allowed:  # what schemas may use must itself stay below the engine
        for target, path in reachable(name).items():
            if target not in allowed:
                bad.append(f"{name} (allowed for schemas) loads {' -> '.join(path)}")
    assert not bad, "necroflow.schemas reaches into the engine:\n  " + "\n  ".join(bad)


def test_store_imports_nothing_of_necroflow_outside_itself() -> None:
    bad = []
    for name, mod in MODULES.items():
        if not _in(name, "necroflow.store"):
            continue
        for target, line in imported_names(mod, _all_imports(mod.tree)):
            ours = _internal(target)
            if ours and not _in(ours, "necroflow.store"):
                bad.append(f"{mod.rel}:{line} imports {ours}")
    assert not bad, "necroflow.store must stand alone:\n  " + "\n  ".join(bad)


def test_shell_wrapper_uses_only_the_standard_library() -> None:
    """necroflow/backends/shell.py is embedded into SLURM job scripts and run by a bare python3
    on the compute node: any non-stdlib import (even a lazy one) breaks there."""
    mod = MODULES["necroflow.backends.shell"]
    bad = []
    for node in _all_imports(mod.tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            bad.append(f"{mod.rel}:{node.lineno}: relative import from {_resolve(mod, node)}")
            continue
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        for name in names:
            if name.partition(".")[0] not in sys.stdlib_module_names:
                bad.append(f"{mod.rel}:{node.lineno}: import {name}")
    assert not bad, "the shell wrapper must import only the standard library:\n  " + "\n  ".join(bad)


def _functions(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield prefix + node.name, node
            yield from _functions(node, f"{prefix}{node.name}.<locals>.")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, f"{prefix}{node.name}.")
        else:
            yield from _functions(node, prefix)


def size_offenders() -> tuple[list[str], list[str]]:
    modules, functions = [], []
    for mod in MODULES.values():
        n = len(mod.path.read_text().splitlines())
        if n > MAX_MODULE_LINES:
            modules.append(f"{mod.rel}: {n} lines")
        for qualname, fn in _functions(mod.tree):
            length = (fn.end_lineno or fn.lineno) - fn.lineno + 1
            if length > MAX_FUNCTION_LINES:
                functions.append(f"{mod.rel}:{fn.lineno} {qualname}: {length} lines")
    return modules, functions


def test_modules_are_at_most_400_lines() -> None:
    modules, _ = size_offenders()
    assert not modules, f"modules over {MAX_MODULE_LINES} lines:\n  " + "\n  ".join(modules)


def test_functions_are_at_most_60_lines() -> None:
    """From ``def`` to the end of the body (decorators not counted), nested defs included."""
    _, functions = size_offenders()
    assert not functions, f"functions over {MAX_FUNCTION_LINES} lines:\n  " + "\n  ".join(functions)


def _docstrings(tree: ast.Module) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


_PATH_CALLS = frozenset({"join", "Path", "PurePath", "PosixPath", "joinpath", "open", "NodeFolder"})


def _path_part_constants(tree: ast.Module) -> Iterator[ast.Constant]:
    """String constants used where a path is built: ``x / "c"``, ``"c" / x``,
    ``os.path.join(.., "c")``, ``Path(.., "c")``, ``p.joinpath("c")``, ``open("c")``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            operands = [node.left, node.right]
        elif isinstance(node, ast.Call):
            f = node.func
            fname = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            if fname not in _PATH_CALLS:
                continue
            operands = list(node.args)
        else:
            continue
        for o in operands:
            if isinstance(o, ast.Constant) and isinstance(o.value, str):
                yield o


def rip_offenders() -> list[str]:
    bad = []
    for mod in MODULES.values():
        if _in(mod.name, "necroflow.store"):
            continue
        docs = _docstrings(mod.tree)
        for node in ast.walk(mod.tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)) or id(node) in docs:
                continue
            s = node.value
            if s in RIP_NAMES or "/.rip" in s or s.startswith(".rip/"):
                bad.append(f"{mod.rel}:{node.lineno}: {s!r}")
        for node in _path_part_constants(mod.tree):
            if node.value in RIP_WORDS:
                bad.append(f"{mod.rel}:{node.lineno}: {node.value!r} as a path part")
    return sorted(set(bad), key=lambda b: (b.split(":")[0], int(b.split(":")[1])))


def test_only_the_store_names_rip_files() -> None:
    """``.rip``, ``job.log``, ``record.json``, ``metrics.json``, ``dependencies.toml`` and a
    ``state`` path part are spelled in necroflow/store/ only (docstrings do not count)."""
    bad = rip_offenders()
    assert not bad, "record file names outside necroflow/store/:\n  " + "\n  ".join(bad)


if __name__ == "__main__":  # print every offender at once: python tests/test_structure.py
    mods, fns = size_offenders()
    for title, lines in (
        ("import cycles", [spell_circle(c) for c in strongly_connected(GRAPH)]),
        (f"modules over {MAX_MODULE_LINES} lines", mods),
        (f"functions over {MAX_FUNCTION_LINES} lines", fns),
        ("record file names outside necroflow/store/", rip_offenders()),
    ):
        print(f"{title}: {len(lines) or 'none'}", *lines, sep="\n  ")
