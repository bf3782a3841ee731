"""CLI mistakes print one line and exit non-zero; offline commands work without services."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ztc.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_unknown_command_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "frobnicate")
    assert code == 2 and err.count("\n") == 1 and err.startswith("错误 / error:")


def test_policy_check_reports_each_problem(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "p.toml"
    bad.write_text('version = "x"\n[[departments]]\ncode = "a"\nname = "A"\n', encoding="utf-8")
    code, _, err = run(capsys, "policy", "check", str(bad))
    assert code == 1
    assert "categories: Field required" in err


def test_policy_check_accepts_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "policy", "check", "deploy/policy/default.toml")
    assert code == 0 and "OK" in out


def test_route_explain_shows_rules_and_publishes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "route", "--explain", "--text", "办理土石方施工许可证", "--street", "李村街道")
    assert code == 0
    assert "区行政审批服务局(approval)" in out and "construction-permit" in out and "施工许可" in out


def test_route_without_text_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "route", "--explain")
    assert (
        code == 2
        and err.strip() == "错误 / error: 需要 --text（或 --json FILE）/ --text is required (or --json FILE)"
    )


def test_bad_setting_is_one_line(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZTC_PARTITIONS", "many")
    code, _, err = run(capsys, "policy", "check", "deploy/policy/default.toml")
    assert code == 2 and err.startswith("错误 / error: ZTC_PARTITIONS:") and err.count("\n") == 1


def test_schema_export_writes_one_schema_per_event(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, _ = run(capsys, "schema", "export", str(tmp_path))
    assert code == 0
    submitted = json.loads((tmp_path / "TicketSubmitted.schema.json").read_text(encoding="utf-8"))
    assert {"channel", "text", "ticket_id"} <= set(submitted["required"])
    assert (tmp_path / "TicketRouted.schema.json").is_file()


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ("{not json", "not valid JSON"),
        ('{"format": "something-else"}', "not a ztc-text-classifier model"),
        ('{"format": "ztc-text-classifier", "format_version": 99}', "version"),
        ("[1, 2, 3]", ""),
    ],
)
def test_router_refuses_to_start_with_a_bad_model(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    content: str,
    complaint: str,
) -> None:
    policy_text = Path("deploy/policy/default.toml").read_text(encoding="utf-8")
    (tmp_path / "policy.toml").write_text(policy_text, encoding="utf-8")
    (tmp_path / "default-model.json").write_text(content, encoding="utf-8")
    monkeypatch.setenv("ZTC_POLICY_PATH", str(tmp_path / "policy.toml"))
    monkeypatch.setenv("ZTC_BOOTSTRAP_SERVERS", "127.0.0.1:1")  # never reached: the model is checked first
    code, _, err = run(capsys, "router")
    assert code == 2 and err.count("\n") == 1
    assert "default-model.json" in err and complaint in err
