"""Policy validation reports every problem with its path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from schemas.policy import PolicyError, load_policy, policy_problems
from ztc.bootstrap import DEFAULT_POLICY


def minimal(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "version": "t",
        "departments": [{"code": "office", "name": "办公室", "kind": "office"}, {"code": "a", "name": "A"}],
        "categories": [{"code": "ca", "name": "A", "lead": "a"}],
        "rules": [{"id": "r", "category": "ca", "keywords": ["甲"]}],
    }
    doc.update(overrides)
    return doc


def test_default_policy_is_valid_and_complete() -> None:
    policy = load_policy(DEFAULT_POLICY)
    codes = set(policy.department_codes)
    assert {
        "office",
        "approval",
        "construction",
        "planning",
        "development",
        "commerce",
        "investment",
    } <= codes
    assert {
        "market",
        "hrss",
        "health",
        "civil",
        "disabled",
        "finance",
        "environment",
        "urban",
        "transport",
    } <= codes
    assert len([c for c in codes if c.startswith("street-")]) == 11
    assert "street-xingchenglu" in codes


def test_minimal_policy_has_no_problems() -> None:
    assert policy_problems(minimal()) == []


def test_every_reference_problem_is_reported_with_its_path() -> None:
    doc = minimal(
        categories=[{"code": "ca", "name": "A", "lead": "nobody", "co": ["a", "ghost"]}],
        rules=[
            {"id": "r", "category": "missing", "keywords": ["甲"]},
            {"id": "r", "category": "ca", "pattern": "("},
            {"id": "empty", "category": "ca"},
        ],
        triage_department="nowhere",
    )
    found = {str(p) for p in policy_problems(doc)}
    assert "categories[0].lead: unknown department 'nobody'" in found
    assert "categories[0].co[1]: unknown department 'ghost'" in found
    assert "rules[0].category: unknown category 'missing'" in found
    assert any(p.startswith("rules[1].pattern: invalid regex") for p in found)
    assert "rules[2]: needs keywords or a pattern" in found
    assert "rules: rule id 'r' appears twice" in found
    assert "triage_department: unknown department 'nowhere'" in found


def test_structural_errors_carry_their_paths() -> None:
    doc = minimal(threshold=1.5, departments=[{"code": "Bad Code", "name": "x"}])
    paths = {p.path for p in policy_problems(doc)}
    assert {"threshold", "departments[0].code"} <= paths


def test_load_policy_reports_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="file not found"):
        load_policy(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("version = ", encoding="utf-8")
    with pytest.raises(PolicyError, match="not valid TOML"):
        load_policy(bad)
