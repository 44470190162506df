"""The layout's rules, read off the source with ast: no import cycle between modules, dependencies point down.

``bot → worker.contract → (Redis)``; ``worker → models``; nothing imports ``bot`` but ``bot``; ``models``
imports neither ``worker`` nor ``bot``; the torch-free packages never import torch. Every import counts,
function-level ones included (a lazy import still ties two modules together); imports under
``if TYPE_CHECKING:`` do not (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "worker", "models")
TORCH_FREE = ("bot", "worker.contract", "models.music")
# Compatibility shims that only re-export the old RQ job names (see their docstrings).
SHIMS = {"worker.track_jobs", "worker.finetune_job"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The project modules ``path`` imports (``from a.b import c`` counts ``a.b.c`` when that is a module)."""
    found: set[str] = set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in modules else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    out = set()
    for name in found:
        while name and name not in modules:  # import a.b.c where c is a function: the module is a.b
            name = name.rpartition(".")[0]
        if name and name.split(".")[0] in PACKAGES:
            out.add(name)
    return out


def graph() -> dict[str, set[str]]:
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    modules = {module_name(p) for p in files}
    return {module_name(p): imports_of(p, modules) - {module_name(p)} for p in files}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            strong(v)
    return out


def parents(name: str) -> set[str]:
    """A module imports its packages' ``__init__`` too; that edge is Python's, not a dependency."""
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def test_no_import_cycles() -> None:
    edges = {m: {d for d in deps if d not in parents(m)} for m, deps in graph().items()}
    assert cycles(edges) == []


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("models", ("worker", "bot")),
        ("worker", ("bot",)),
        ("bot", ("models", "worker.jobs", "worker.output", "worker.cli", "worker.bench")),
        ("worker.contract", ("models", "worker.jobs", "worker.output", "worker.cli", "worker.bench")),
    ],
)
def test_dependencies_point_down(package: str, forbidden: tuple[str, ...]) -> None:
    bad = sorted(
        f"{m} → {d}"
        for m, deps in graph().items()
        if (m == package or m.startswith(package + ".")) and m not in SHIMS
        for d in deps
        if any(d == f or d.startswith(f + ".") for f in forbidden)
    )
    assert bad == []


def test_torch_free_packages_never_import_torch() -> None:
    bad = []
    for path in (p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")):
        name = module_name(path)
        if any(name == t or name.startswith(t + ".") for t in TORCH_FREE):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                mods = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else []
                )
                bad += [f"{name} → {m}" for m in mods if m.split(".")[0] == "torch"]
    assert bad == []


def test_the_checker_sees_a_cycle_and_an_upward_arrow() -> None:
    """The rules above could fail: a made-up graph with a cycle is caught."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
