"""The folder tree is the architecture: imports run one way, and there is no import circle.

Every module of the project's apps is read with ``ast``: imports at module level and inside
functions alike, since a circle hidden in a function-local import is still a circle. The
checks:

- no import cycle between project modules (a package's ``__init__`` counts as a module, so an
  ``__init__`` that re-exports its submodules is part of any circle through the package);
- a function-local import of a project module says why on its line or the line above, or
  follows one that does (the few there are keep torch out of the web process, or are Django's
  own ``ready()`` hook);
- imports run down ``LAYERS`` (STYLE.md, "Dependencies point one way"): a module imports its
  own layer or the ones below, never one above; every module belongs to a layer.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APPS = ("config", "api", "sandbox", "dashboard", "inference")

# Top to bottom; a module belongs to the layer of its longest matching prefix.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("config",),
    # The apps, and what Django and Celery name in the inference app: admin, app config and its
    # start-up hooks, the Celery tasks, management commands, migrations.
    ("api", "sandbox", "dashboard", "inference.admin", "inference.apps", "inference.signals", "inference.tasks",
     "inference.management", "inference.migrations"),
    ("inference.jobs",),
    ("inference.catalog", "inference.runtime", "inference.uploads", "inference.metrics"),
    ("inference.registry", "inference.backends", "inference.training"),
    ("inference.kinds",),
    ("inference.inputs",),
    # The data, and the Celery app (``runworker`` starts a worker of it; it imports no project module).
    ("inference", "inference.models", "config.celery"),
)


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported project module
    line: int
    local: bool  # inside a function
    explained: bool  # a comment on its line or the line above, or right after an explained import


def module_names(root: Path) -> dict[str, Path]:
    """Every project module under ``root``: dotted name -> file (packages by their ``__init__``)."""
    modules = {}
    for app in APPS:
        for path in sorted((root / app).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, modules: dict[str, Path]) -> set[str]:
    """The project modules an import statement runs: ``from a import b`` is module ``a.b`` when
    that is a module, else ``a`` (the package, through its ``__init__``)."""
    found = set()
    if isinstance(node, ast.Import):
        for alias in node.names:
            name = alias.name
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
        return found
    base = _resolve(module, is_package, node)
    for alias in node.names:
        if f"{base}.{alias.name}" in modules:
            found.add(f"{base}.{alias.name}")
        elif base in modules:
            found.add(base)
    return found


def imports(root: Path = ROOT) -> list[Import]:
    """Every import of a project module by a project module, module-level and function-level."""
    modules = module_names(root)
    found = []
    for module, path in modules.items():
        source = path.read_text()
        lines = source.splitlines()
        is_package = path.name == "__init__.py"

        explained_ends: set[int] = set()  # last lines of explained imports

        def visit(node: ast.AST, in_function: bool, module: str = module, lines: list[str] = lines,
                  is_package: bool = is_package, explained_ends: set[int] = explained_ends) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    above = lines[child.lineno - 2].strip() if child.lineno > 1 else ""
                    explained = ("#" in lines[child.lineno - 1] or above.startswith("#")
                                 or child.lineno - 1 in explained_ends)
                    if explained:
                        explained_ends.add(child.end_lineno or child.lineno)
                    for target in _targets(child, module, is_package, modules):
                        if target != module:
                            found.append(Import(module, target, child.lineno, in_function, explained))
                visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

        visit(ast.parse(source, filename=str(path)), False)
    return found


def cycles(edges: list[Import]) -> list[list[str]]:
    """The import circles: strongly connected components of more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.source, set()).add(edge.target)
        graph.setdefault(edge.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return components


def layer_of(module: str) -> int | None:
    best: tuple[int, int] | None = None  # (prefix length, layer)
    for number, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), number)
    return best[1] if best is not None else None


def upward_imports(edges: list[Import]) -> list[str]:
    return [f"{e.source}:{e.line} imports {e.target}, a layer above it" for e in edges
            if (layer_of(e.source) or 0) > (layer_of(e.target) or 0)]


def unexplained_local_imports(edges: list[Import]) -> list[str]:
    return sorted({f"{e.source}:{e.line} imports {e.target} inside a function, with no comment saying why"
                   for e in edges if e.local and not e.explained})


def test_no_import_cycle():
    found = cycles(imports())
    assert not found, "import circles between project modules:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_function_local_project_imports_say_why():
    found = unexplained_local_imports(imports())
    assert not found, "\n".join(found)


def test_imports_run_down_the_layers():
    found = upward_imports(imports())
    assert not found, "\n".join(found)


def test_every_module_has_a_layer():
    unplaced = [name for name in module_names(ROOT) if layer_of(name) is None]
    assert not unplaced, f"modules in no layer of LAYERS: {unplaced}"


def test_the_walk_sees_function_local_imports():
    # The checks above are only as good as the walk: it must find an import inside a function, resolve
    # a relative import and see a circle through a package __init__.
    edges = imports()
    assert any(e.local for e in edges)
    assert any(e.source == "inference.tasks" and e.target.startswith("inference.jobs") for e in edges)
    looped = [Import("a", "a.b", 1, False, True), Import("a.b", "a", 2, True, True)]
    assert cycles(looped) == [["a", "a.b"]]
