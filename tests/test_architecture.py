"""The house rules that code review alone lets slip: the import graph of ``ganforge`` has no cycles,
arrows point one way (docs/architecture.md), and no file grows past the size of one idea."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "src" / "ganforge"
MAX_LINES = 300

# room -> the ganforge rooms it must not import (a room is a subpackage or a top-level module)
FORBIDDEN = {
    "nets": {"models", "data", "callbacks", "metrics", "train", "evaluate", "sample", "upscale", "cli", "loggers"},
    "losses": {"nets", "models", "data", "callbacks", "metrics", "train"},
    "penalties": {"nets", "models", "data", "callbacks", "metrics", "train"},
    "errors": {"*"},
    "schema": {"models", "data", "callbacks", "metrics", "nets", "train", "config", "loggers", "cli"},
    "console": {"models", "data", "callbacks", "metrics", "nets", "train"},
    "schedules": {"models", "data", "callbacks", "metrics", "nets", "train"},
    "surfaces": {"models", "data", "callbacks", "metrics", "nets", "train"},
    "metrics": {"models", "callbacks", "data", "train", "evaluate", "sample", "upscale"},
    "models": {"data", "callbacks", "train", "evaluate", "sample", "upscale", "cli", "loggers"},
    "data": {"models", "callbacks", "metrics", "train", "evaluate", "sample", "upscale"},
    "callbacks": {"models", "train", "evaluate", "sample", "upscale", "cli"},
}
ENTRY_POINTS = {"train", "evaluate", "sample", "upscale", "export"}  # run(cfg): only ganforge.scripts imports them


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def runtime_imports(path: Path) -> set[str]:
    """ganforge modules imported when the file runs (``if TYPE_CHECKING:`` blocks left out)."""
    tree = ast.parse(path.read_text())
    skipped = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
               and getattr(block.test, "id", getattr(block.test, "attr", "")) == "TYPE_CHECKING"
               for node in ast.walk(block)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("ganforge")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ganforge"):
            found.add(node.module)
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in runtime_imports(path) if m in modules and m != name} for name, path in modules.items()}


def test_the_import_graph_is_read():
    edges = graph()
    assert "ganforge.models.loop" in edges["ganforge.models.gan"]
    assert "ganforge.models.gan" not in edges["ganforge.models.tasks"]  # only under TYPE_CHECKING
    assert sum(map(len, edges.values())) > 100


def test_the_import_graph_has_no_cycles():
    edges = graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            assert state.get(nxt) != 1, "import cycle: " + " -> ".join(stack[stack.index(nxt):] + [nxt])
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)


def test_arrows_point_one_way():
    wrong = []
    for module, imports in graph().items():
        rules = FORBIDDEN.get(room(module), set())
        for imported in imports:
            target = room(imported)
            if target == room(module):
                continue
            if "*" in rules or target in rules or (target in ENTRY_POINTS and room(module) != "scripts"):
                wrong.append(f"{module} imports {imported}")
    assert not wrong, "; ".join(sorted(wrong))


def test_no_file_is_over_the_size_of_one_idea():
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    long = {name: n for name, n in sizes.items() if n > MAX_LINES}
    assert not long, long
