"""Configuration enters in one place: ``Settings.from_env``, called by ``ztc.bootstrap.settings_from_env``.

Every module of the six packages is read with ``ast``; a read of the process
environment anywhere else fails with its file and line: ``os.environ``,
``os.environb``, ``os.getenv``/``getenvb``, ``os.putenv``/``unsetenv``, and the
same names imported ``from os``. Code that needs a value asks ``Settings``
(add a field there: it is validated and its variable named in errors).

The one exception: ``os.environ`` as part of the ``env=`` argument of a call,
which hands this process's environment on to a child process it starts (the
supervisor of ``ztc run`` does, adding ``ZTC_INTERNAL_TOPICS_READY``, which the
child reads back through ``Settings``). That passes variables on; it reads none.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PACKAGES = ("schemas", "streams", "consumers", "producers", "deploy", "ztc")
MAY_READ = frozenset({"schemas/settings.py", "ztc/bootstrap.py"})
"""``Settings`` itself, and the composition root whose ``settings_from_env`` hands it ``os.environ``."""
ENVIRONMENT = frozenset({"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"})


def _passed_to_child(tree: ast.AST) -> set[int]:
    """Ids of the nodes inside an ``env=`` argument of a call."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == "env":
                    inside.update(id(sub) for sub in ast.walk(keyword.value))
    return inside


def environment_reads(source: str, path: str) -> list[str]:
    """``path:line: what`` for every read of the environment in ``source`` outside an ``env=``."""
    tree = ast.parse(source, filename=path)
    allowed = _passed_to_child(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            found += [
                f"{path}:{node.lineno}: from os import {a.name}" for a in node.names if a.name in ENVIRONMENT
            ]
        elif (
            isinstance(node, ast.Attribute)
            and node.attr in ENVIRONMENT
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
            and id(node) not in allowed
        ):
            found.append(f"{path}:{node.lineno}: os.{node.attr}")
    return found


def modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def test_only_settings_and_the_entrypoint_read_the_environment() -> None:
    reads = []
    for path in modules():
        relative = path.relative_to(ROOT).as_posix()
        if relative not in MAY_READ:
            reads += environment_reads(path.read_text(encoding="utf-8"), relative)
    assert reads == [], "read the value through Settings instead:\n" + "\n".join(reads)


def test_the_entrypoint_is_where_the_environment_enters() -> None:
    assert environment_reads((ROOT / "ztc/bootstrap.py").read_text(encoding="utf-8"), "ztc/bootstrap.py")
    assert len(modules()) > 50


@pytest.mark.parametrize(
    ("source", "caught"),
    [
        ("import os\nos.environ['ZTC_X']", True),
        ("import os\nos.environ.get('ZTC_X')", True),
        ("import os\nos.getenv('ZTC_X')", True),
        ("from os import environ", True),
        ("from os import getenv as ge", True),
        ("import os\nrun(['x'], env=os.environ)", False),
        ("import os\nrun(['x'], env={**os.environ, 'ZTC_Y': '1'})", False),
        ("import os\nrun(['x'], env={**os.environ}, cwd=os.environ['HOME'])", True),
        ("import os\nos.path.join('a', 'b')", False),
    ],
)
def test_reads_are_recognised(source: str, caught: bool) -> None:
    assert bool(environment_reads(source, "m.py")) is caught
