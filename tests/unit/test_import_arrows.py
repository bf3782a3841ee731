"""Package arrows point one way: ``schemas`` ← ``streams`` / ``consumers`` / ``producers`` ← ``ztc``.

``deploy`` may import ``schemas`` only; ``ztc``, the composition root, may import
everything; nothing imports ``ztc``. Every import of every module of the six
top-level packages is read with ``ast`` — module level, inside functions
(lazy imports), under ``TYPE_CHECKING`` — so a cycle between packages cannot
come back unnoticed. An arrow the layering forbids fails with its file, line
and module, unless it is in ``KNOWN_VIOLATIONS`` with its reason; that list
only shrinks: an entry that no longer occurs fails too, so whoever removes a
violation removes its entry.
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
ALLOWED: dict[str, frozenset[str]] = {
    "schemas": frozenset(),
    "streams": frozenset({"schemas"}),
    "consumers": frozenset({"schemas"}),
    "producers": frozenset({"schemas"}),
    "deploy": frozenset({"schemas"}),
    "ztc": frozenset({"schemas", "streams", "consumers", "producers", "deploy"}),
}

KNOWN_VIOLATIONS: dict[tuple[str, str], str] = {
    ("deploy/policy/make_training.py", "ztc.classify_cmd"): "--train reuses ztc's classify parser",
}
"""Arrows that existed before this test, each with why; remove an entry when its import goes."""


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


@cache
def arrows(root: Path = ROOT) -> tuple[Arrow, ...]:
    """Every import from one of the packages into another of them."""
    found = []
    for package in PACKAGES:
        for file in sorted((root / package).rglob("*.py")):
            path = file.relative_to(root).as_posix()
            tree = ast.parse(file.read_text(encoding="utf-8"), filename=path)
            for line, module in imported_modules(tree):
                arrow = Arrow(path, line, module)
                if arrow.target in PACKAGES and arrow.target != package:
                    found.append(arrow)
    return tuple(found)


def forbidden(found: tuple[Arrow, ...]) -> list[Arrow]:
    return [a for a in found if a.target not in ALLOWED[a.source]]


def test_no_new_arrow_against_the_layering() -> None:
    new = [a for a in forbidden(arrows()) if (a.path, a.module) not in KNOWN_VIOLATIONS]
    assert not new, "imports against schemas ← streams/consumers/producers ← ztc:\n" + "\n".join(
        map(str, new)
    )


def test_every_known_violation_still_exists() -> None:
    present = {(a.path, a.module) for a in forbidden(arrows())}
    gone = [f"{path} → {module}" for path, module in KNOWN_VIOLATIONS if (path, module) not in present]
    assert not gone, "fixed, so remove from KNOWN_VIOLATIONS:\n" + "\n".join(gone)


def test_the_department_side_has_no_cycle_left() -> None:
    """The arrows this layering was written to remove stay removed."""
    found = forbidden(arrows())
    assert not [a for a in found if a.source == "consumers" and a.target == "producers"]
    assert not [a for a in found if a.source == "producers" and a.path != "producers/gateway.py"]


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
    ],
)
def test_the_check_reads_lazy_and_type_checking_imports(
    tmp_path: Path, source: str, code: str, expected: list[str]
) -> None:
    file = tmp_path / source
    file.parent.mkdir(parents=True)
    file.write_text(code, encoding="utf-8")
    assert [f"{a.source} → {a.target}" for a in forbidden(arrows(tmp_path))] == expected
