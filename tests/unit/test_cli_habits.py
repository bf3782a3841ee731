"""Issue 15's traps on the command line: each is one clear line or the right behaviour."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.unit.test_cli import run
from ztc.bootstrap import DEFAULT_POLICY


def test_sla_due_past_the_published_data_skips_new_years_day_and_says_so_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(
        capsys, "sla", "due", "--start", "2026-12-31T10:00+08:00", "--target", "3 working days"
    )
    assert code == 0 and "2027-01-06T17:30:00+08:00" in out
    assert err.count("\n") == 1 and err.startswith("注意 note: 2027 年没有公布的节假日安排")
    assert ".py" not in err and "Warning" not in err


def test_sla_due_inside_the_published_data_says_nothing_more(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "sla", "due", "--start", "2026-09-30T16:00+08:00", "--target", "7 working days"
    )
    assert code == 0 and "2026-10-15T17:30:00+08:00" in out and err == ""


def test_policy_check_notes_the_end_of_the_published_schedule_in_one_line_at_most(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(capsys, "policy", "check", str(DEFAULT_POLICY))
    assert code == 0 and "OK" in out
    assert err == "" or (err.count("\n") == 1 and err.startswith("注意 note: 节假日安排数据截至 2026-12-31"))
    assert ".py:" not in err
    declared = tmp_path / "p.toml"
    shutil.copy(DEFAULT_POLICY, declared)
    text = declared.read_text(encoding="utf-8") + '\n[sla]\nholidays = ["2099-01-01"]\n'
    declared.write_text(text, encoding="utf-8")
    code, out, err = run(capsys, "policy", "check", str(declared))
    assert code == 0 and err == ""  # the policy gives the schedule up to 2099


def test_a_copied_policy_still_finds_the_default_model(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "my-policy.toml"
    shutil.copy(DEFAULT_POLICY, copy)  # as the README suggests: `model = "default-model.json"` stays
    monkeypatch.setenv("ZTC_POLICY_PATH", str(copy))
    code, out, err = run(capsys, "route", "--text", "厂房消防验收没通过，需要怎么整改")
    assert code == 0, err
    assert "区住房和城乡建设局(construction)" in out


def test_policy_check_catches_a_missing_model_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    policy = tmp_path / "p.toml"
    text = DEFAULT_POLICY.read_text(encoding="utf-8").replace("default-model.json", "gone.json")
    policy.write_text(text, encoding="utf-8")
    code, _, err = run(capsys, "policy", "check", str(policy))
    assert code == 1
    assert "model: 模型文件不存在 model file not found: 'gone.json'" in err


def test_api_keys_without_a_file_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "api", "keys")
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("错误 / error: ztc api keys 需要文件名 needs a FILE")


def test_cli_errors_are_chinese_first_with_the_english_beside(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "sla", "due", "--start", "yesterday", "--target", "1 working day")
    assert code == 2 and err.startswith("错误 / error: 时间格式无效 not an ISO time: 'yesterday'")
    code, _, err = run(capsys, "route", "--text", "营业执照", "--credit-code", "123")
    assert code == 2 and err == "错误 / error: 统一社会信用代码 credit_code: 格式不对 wrong format\n"
    code, _, err = run(capsys, "classify", "predict", "--model", "/nonexistent.json", "--text", "x")
    assert code == 2 and err == "错误 / error: 模型命令无法执行 / /nonexistent.json: model file not found\n"
