"""Import files as the district saves them: GBK and BOM CSVs, .xlsx, the CLI's field names, row numbers."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest

from producers.publisher import build_submission
from schemas.events import DISTRICT_ZONE
from ztc.import_rows import bad_row_line, content_message_id, decode_text, normalise_fields, read_rows

NOW = datetime(2026, 11, 20, 10, tzinfo=DISTRICT_ZONE)
HEADER = "text,enterprise,project,message_id,street\n"
BODY = "营业执照需要办理注销登记,青岛海德精密机械有限公司,厂房扩建,m-1,兴城路街道\n"


def submissions(path: Path) -> list[tuple[int, str]]:
    """(row number, enterprise) of each row that builds a submission."""
    built = []
    for row in read_rows(path):
        submission = build_submission(normalise_fields(row.fields, "cli"), NOW)
        built.append((row.number, submission.enterprise_name or ""))
    return built


def test_gbk_csv_as_excel_and_wps_save_it(tmp_path: Path) -> None:
    source = tmp_path / "tickets.csv"
    source.write_bytes((HEADER + BODY).encode("gbk"))
    assert submissions(source) == [(2, "青岛海德精密机械有限公司")]


def test_utf8_csv_with_bom_keeps_the_first_header(tmp_path: Path) -> None:
    source = tmp_path / "tickets.csv"
    source.write_bytes((HEADER + BODY).encode("utf-8-sig"))
    [row] = read_rows(source)
    assert "text" in row.fields and row.fields["enterprise"] == "青岛海德精密机械有限公司"


def test_decode_prefers_utf8_then_gb18030() -> None:
    assert decode_text("诉求".encode()) == "诉求"
    assert decode_text("诉求".encode("gb18030")) == "诉求"


def test_xlsx_first_sheet_with_spreadsheet_row_numbers(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["text", "enterprise_name", "project_name", "credit_code"])
    sheet.append(["公司招工需要参加区里的招聘会", "青岛某某科技有限公司", "招聘", None])
    sheet.append([None, None, None, None])  # a blank line between blocks is skipped
    sheet.append(["想了解高新技术企业认定条件", "青岛另一家公司", None, None])
    source = tmp_path / "tickets.xlsx"
    book.save(source)
    assert submissions(source) == [(2, "青岛某某科技有限公司"), (4, "青岛另一家公司")]


def test_cli_names_and_old_names_are_the_same_fields() -> None:
    new = normalise_fields({"text": "诉求", "message_id": "a", "enterprise": "甲", "project": "乙"}, "cli")
    old = normalise_fields(
        {"text": "诉求", "channel_message_id": "a", "enterprise_name": "甲", "project_name": "乙"}, "cli"
    )
    assert (
        new
        == old
        == {
            "text": "诉求",
            "channel": "cli",
            "channel_message_id": "a",
            "enterprise_name": "甲",
            "project_name": "乙",
        }
    )


def test_rows_without_a_message_id_get_one_from_their_content() -> None:
    first = normalise_fields({"text": "营业执照  注销", "enterprise": "甲公司"}, "web_form")
    again = normalise_fields({"text": "营业执照 注销", "enterprise": "甲公司"}, "web_form")
    other = normalise_fields({"text": "营业执照 注销", "enterprise": "乙公司"}, "web_form")
    assert first["channel_message_id"] == again["channel_message_id"] != other["channel_message_id"]
    assert first["channel_message_id"] == content_message_id("web_form", "营业执照 注销", "甲公司")
    assert build_submission(first, NOW).ticket_id == build_submission(again, NOW).ticket_id


def test_bad_rows_are_one_chinese_line_with_the_spreadsheet_row(tmp_path: Path) -> None:
    source = tmp_path / "tickets.csv"
    source.write_text("text,channel\n好的诉求,web_form\n,web_form\n另一条,pigeon\n", encoding="utf-8")
    lines = []
    for row in read_rows(source):
        try:
            build_submission(normalise_fields(row.fields, "cli"), NOW)
        except ValueError as exc:
            lines.append(bad_row_line(row, exc))
    assert lines[0].startswith("第 3 行 row 3: ") and "诉求内容 text 缺少 missing" in lines[0]
    assert lines[1].startswith("第 4 行 row 4: ") and "渠道 channel 不是可用的值" in lines[1]
    assert all("\n" not in line and "pydantic" not in line for line in lines)


def test_jsonl_lines_that_are_not_objects(tmp_path: Path) -> None:
    source = tmp_path / "tickets.jsonl"
    source.write_text(json.dumps({"text": "诉求"}) + "\n\n{broken\n[1]\n", encoding="utf-8")
    rows = read_rows(source)
    assert [r.number for r in rows] == [1, 3, 4]
    assert bad_row_line(rows[1]) == "第 3 行 row 3: 不是 JSON 对象 not a JSON object"


@pytest.mark.parametrize("encoding", ["gb18030", "utf-8"])
def test_jsonl_in_either_encoding(tmp_path: Path, encoding: str) -> None:
    source = tmp_path / "tickets.jsonl"
    source.write_bytes(json.dumps({"text": "诉求"}, ensure_ascii=False).encode(encoding))
    assert read_rows(source)[0].fields == {"text": "诉求"}
