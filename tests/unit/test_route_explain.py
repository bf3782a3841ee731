"""`ztc route --explain`: one explanation in text and JSON, scores never called probabilities."""

from __future__ import annotations

import json

import pytest

from ztc.cli import main

COORDINATION = "厂房规划许可和施工许可、环评都卡住了，涉及多个部门，请兴城路街道召开联席会议协调"
FIRE_CHECK = "厂房消防验收没通过，需要怎么整改"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_json_explain_carries_model_and_combined_probabilities_rules_and_ngrams(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = run(capsys, "route", "--explain", "--as-json", "--text", FIRE_CHECK)
    assert code == 0
    explained = json.loads(out)["explain"]
    assert explained["basis"] == "probabilities"
    assert next(iter(explained["model_probabilities"])) == "building_project"
    assert next(iter(explained["combined_probabilities"])) == "building_project"
    assert all(0.0 <= p <= 1.0 for p in explained["combined_probabilities"].values())
    assert [hit["rule_id"] for hit in explained["rules_fired"]] == ["building-site"]
    assert any(g["ngram"] in FIRE_CHECK for g in explained["top_ngrams"]["building_project"])


def test_json_without_explain_is_the_decision_alone(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "route", "--as-json", "--text", FIRE_CHECK)
    assert code == 0 and "explain" not in json.loads(out)


def test_coordination_explains_rule_scores_not_probabilities(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "route", "--explain", "--as-json", "--text", COORDINATION)
    explained = json.loads(out)["explain"]
    assert code == 0 and explained["basis"] == "rule_scores"
    assert "model_probabilities" not in explained and "combined_probabilities" not in explained
    assert max(explained["rule_scores"].values()) > 1.0  # sums of weights: not a probability
    code, text = run(capsys, "route", "--explain", "--text", COORDINATION)
    assert "rule scores (not probabilities)" in text
    assert "概率" not in text.split("命中规则")[1]
