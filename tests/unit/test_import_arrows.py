"""Package arrows point one way: ``schemas`` ← ``streams`` / ``consumers`` / ``producers`` ← ``ztc``.

``deploy`` may import ``schemas`` only; ``ztc``, the composition root, may import
everything; nothing imports ``ztc``, and no installed package imports what lies
beside them unpackaged (``tools``, ``bench``, ``tests``). Every import of every
module of the six top-level packages is read with ``ast`` — module level, inside
functions (lazy imports), under ``TYPE_CHECKING`` — so a cycle between packages
cannot come back unnoticed. An arrow the layering forbids fails with its file,
line and module; there is no list of exceptions.

Inside a package, modules must not form a cycle either: the same imports
(lazy ones too, relative ones resolved, ``from package import module`` read as
an import of that module) make a graph of modules that may have no strongly
connected component of two or more. A lazy import that keeps Python's import
machinery from tripping over a cycle still counts as one here.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PACKAGES = ("schemas", "streams", "consumers", "producers", "deploy", "ztc")
UNPACKAGED = ("tools", "bench", "tests")
"""Beside the packages and never installed: no package may import them."""
ALLOWED: dict[str, frozenset[str]] = {
    "schemas": frozenset(),
    "streams": frozenset({"schemas"}),
    "consumers": frozenset({"schemas"}),
    "producers": frozenset({"schemas"}),
    "deploy": frozenset({"schemas"}),
    "ztc": frozenset({"schemas", "streams", "consumers", "producers", "deploy"}),
}


@dataclass(frozen=True)
class Arrow:
    path: str
    line: int
    module: str

    @property
    def source(self) -> str:
        return self.path.split("/", 1)[0]

    @property
    def target(self) -> str:
        return self.module.split(".", 1)[0]

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.source} → {self.target} (imports {self.module})"


def statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement, nested ones too (function bodies, ``if TYPE_CHECKING:``, ``try``, ``match``)."""
    for node in body:
        yield node
        for name in ("body", "orelse", "finalbody"):
            yield from statements(getattr(node, name, []))
        for block in (*getattr(node, "handlers", []), *getattr(node, "cases", [])):
            yield from statements(block.body)


def imported_modules(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """Every absolute import anywhere in the module (relative ones stay inside their package)."""
    for node in statements(tree.body):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def python_files(root: Path) -> Iterator[tuple[str, Path]]:
    """(package, file) for every module of the packages under ``root``."""
    for package in PACKAGES:
        for file in sorted((root / package).rglob("*.py")):
            yield package, file


@cache
def arrows(root: Path = ROOT) -> tuple[Arrow, ...]:
    """Every import from one of the packages into another of them, or into the unpackaged folders."""
    found = []
    for package, file in python_files(root):
        path = file.relative_to(root).as_posix()
        tree = ast.parse(file.read_text(encoding="utf-8"), filename=path)
        for line, module in imported_modules(tree):
            arrow = Arrow(path, line, module)
            if arrow.target in (*PACKAGES, *UNPACKAGED) and arrow.target != package:
                found.append(arrow)
    return tuple(found)


def forbidden(found: tuple[Arrow, ...]) -> list[Arrow]:
    return [a for a in found if a.target not in ALLOWED[a.source]]


def test_no_arrow_against_the_layering() -> None:
    found = forbidden(arrows())
    assert not found, "imports against schemas ← streams/consumers/producers ← ztc:\n" + "\n".join(
        map(str, found)
    )


@pytest.mark.parametrize(
    ("source", "code", "expected"),
    [
        ("schemas/x.py", "from consumers.ticket_store import TicketStore\n", ["schemas → consumers"]),
        ("streams/x.py", "def f():\n    import ztc.cli\n", ["streams → ztc"]),
        (
            "deploy/x.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import streams\n",
            ["deploy → streams"],
        ),
        ("producers/x.py", "from schemas.events import Event\nfrom . import y\nimport kafka\n", []),
        ("ztc/x.py", "import consumers.recorder, producers.outbox, deploy.probe\n", []),
        (
            "consumers/x.py",
            "try:\n    pass\nexcept ImportError:\n    import producers.publisher\n",
            ["consumers → producers"],
        ),
        (
            "streams/x.py",
            "match 1:\n    case 1:\n        from consumers import metrics\n",
            ["streams → consumers"],
        ),
        ("ztc/x.py", "def train():\n    from tools.make_training import build\n", ["ztc → tools"]),
        ("deploy/x.py", "import bench.bench_classifier\n", ["deploy → bench"]),
    ],
)
def test_the_check_reads_lazy_and_type_checking_imports(
    tmp_path: Path, source: str, code: str, expected: list[str]
) -> None:
    file = tmp_path / source
    file.parent.mkdir(parents=True)
    file.write_text(code, encoding="utf-8")
    assert [f"{a.source} → {a.target}" for a in forbidden(arrows(tmp_path))] == expected


# ---------------------------------------------------------------- cycles between modules


@dataclass(frozen=True)
class Edge:
    path: str
    line: int
    source: str
    target: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.source} → {self.target}"


def module_name(root: Path, file: Path) -> str:
    parts = file.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _known(name: str, modules: set[str]) -> str | None:
    """The module ``name`` denotes: itself, else its longest known parent (``a.mod.Name`` → ``a.mod``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _targets(node: ast.stmt, module: str, is_package: bool, modules: set[str]) -> Iterator[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            if (found := _known(alias.name, modules)) is not None:
                yield found
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            package = module.split(".") if is_package else module.split(".")[:-1]
            kept = package[: len(package) - (node.level - 1)]
            base = ".".join([*kept, *([node.module] if node.module else [])])
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            found = submodule if submodule in modules else _known(base, modules)
            if found is not None:
                yield found


@cache
def module_edges(root: Path = ROOT) -> tuple[Edge, ...]:
    """Every import of one module of the packages by another (lazy and ``TYPE_CHECKING`` ones too)."""
    files = {module_name(root, file): file for _, file in python_files(root)}
    modules = set(files)
    edges = set()
    for module, file in files.items():
        path = file.relative_to(root).as_posix()
        tree = ast.parse(file.read_text(encoding="utf-8"), filename=path)
        for node in statements(tree.body):
            for target in _targets(node, module, file.name == "__init__.py", modules):
                if target != module:
                    edges.add(Edge(path, node.lineno, module, target))
    return tuple(sorted(edges, key=lambda e: (e.source, e.target, e.line)))


def cycles(edges: tuple[Edge, ...]) -> list[list[str]]:
    """Strongly connected components of two or more modules (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.source, set()).add(edge.target)
        graph.setdefault(edge.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_no_module_imports_itself_back() -> None:
    edges = module_edges()
    found = cycles(edges)
    lines = []
    for component in found:
        inside = set(component)
        lines.append(" ⇄ ".join(component))
        lines += [f"    {e}" for e in edges if e.source in inside and e.target in inside]
    assert not found, "import cycles between modules:\n" + "\n".join(lines)


def test_the_module_graph_sees_the_imports_that_matter() -> None:
    """A sanity check on the real tree: lazy, relative-free and ``from package import module`` edges."""
    pairs = {(e.source, e.target) for e in module_edges()}
    assert ("streams.classifier_train", "streams.classifier") in pairs
    assert ("ztc.services", "streams.router") in pairs  # imported inside run_router
    assert ("ztc.web_app", "consumers.views") in pairs  # from consumers import views


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {
                "streams/a.py": "from streams.b import x\n",
                "streams/b.py": "def f():\n    from streams.a import y\n",
            },
            [["streams.a", "streams.b"]],
        ),
        (
            {
                "consumers/__init__.py": "",
                "consumers/a.py": "from . import b\n",
                "consumers/b.py": "from .a import thing\n",
            },
            [["consumers.a", "consumers.b"]],
        ),
        (
            {
                "schemas/a.py": "from schemas import b\n",
                "schemas/b.py": "import schemas.c\n",
                "schemas/c.py": "if TYPE_CHECKING:\n    from schemas.a import A\n",
            },
            [["schemas.a", "schemas.b", "schemas.c"]],
        ),
        (
            {
                "streams/a.py": "from streams.b import x\n",
                "streams/b.py": "import streams.c\n",
                "streams/c.py": "import json\n",
            },
            [],
        ),
        (
            {"ztc/pkg/__init__.py": "from .mod import f\n", "ztc/pkg/mod.py": "from ..other import g\n"},
            [],
        ),
    ],
)
def test_the_cycle_check_reads_lazy_relative_and_package_imports(
    tmp_path: Path, files: dict[str, str], expected: list[list[str]]
) -> None:
    for name, code in files.items():
        file = tmp_path / name
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(code, encoding="utf-8")
    assert cycles(module_edges(tmp_path)) == expected
