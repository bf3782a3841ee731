"""``ztc import`` files as offices save them: GBK and BOM CSV, .xlsx, JSONL; row numbers; bad rows."""

from __future__ import annotations

import codecs
import json
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import Workbook

from producers.file_intake import (
    ImportFileError,
    content_message_id,
    decode_text,
    read_import_file,
    submission_fields,
)
from schemas.events import DISTRICT_ZONE
from ztc.import_cmd import plan_rows, summary_line

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=DISTRICT_ZONE)
HEADER = "标题,诉求内容,企业名称,所在街道,渠道消息号\r\n"
ROWS = (
    "营业执照变更,经营范围变更登记一直没有办下来（已跑三次）,青岛海德精密机械有限公司,兴城路街道,x-1\r\n"
    "招工,公司招工需要参加区里的招聘会，怎么报名,惠昱电子,,x-2\r\n"
)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_a_gbk_csv_saved_by_excel_is_read_with_its_chinese_header(tmp_path: Path) -> None:
    path = write(tmp_path, "诉求.csv", (HEADER + ROWS).encode("gbk"))
    imported = read_import_file(path)
    assert (imported.kind, imported.encoding) == ("CSV", "GB18030/GBK")
    assert [r.number for r in imported.rows] == [2, 3]
    first = imported.rows[0].fields
    assert first["text"] == "经营范围变更登记一直没有办下来（已跑三次）"
    assert first["enterprise_name"] == "青岛海德精密机械有限公司"
    assert first["channel_message_id"] == "x-1"
    assert "street" not in imported.rows[1].fields  # an empty cell is no value


def test_a_utf8_csv_with_bom_and_the_cli_flag_names(tmp_path: Path) -> None:
    text = "title,text,enterprise,credit-code,project,message-id\n招工,公司招工怎么报名,惠昱电子,,,m-1\n"
    path = write(tmp_path, "t.csv", codecs.BOM_UTF8 + text.encode("utf-8"))
    imported = read_import_file(path)
    assert imported.encoding == "UTF-8 (BOM)"
    assert imported.rows[0].fields == {
        "title": "招工",
        "text": "公司招工怎么报名",
        "enterprise_name": "惠昱电子",
        "channel_message_id": "m-1",
    }


def test_the_old_field_names_stay_aliases_and_unknown_columns_are_named(tmp_path: Path) -> None:
    text = "序号,text,enterprise_name,project_name,channel_message_id\n1,诉求,海德,新厂房,old-1\n"
    imported = read_import_file(write(tmp_path, "t.csv", text.encode("utf-8")))
    assert imported.ignored_columns == ("序号",)
    assert imported.rows[0].fields == {
        "text": "诉求",
        "enterprise_name": "海德",
        "project_name": "新厂房",
        "channel_message_id": "old-1",
    }


def test_an_xlsx_first_sheet_with_numbers_and_blank_rows_keeps_spreadsheet_row_numbers(
    tmp_path: Path,
) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["诉求内容", "企业名称", "渠道消息号", "备注"])
    sheet.append(["土石方施工许可证办理求助", "青岛海德精密机械有限公司", 20261128001, "加急"])
    sheet.append([None, None, None, None])
    sheet.append(["", "惠昱电子", 2.0, None])
    path = tmp_path / "诉求.xlsx"
    workbook.save(path)
    imported = read_import_file(path)
    assert (imported.kind, imported.ignored_columns) == ("XLSX", ("备注",))
    assert [r.number for r in imported.rows] == [2, 4]
    assert imported.rows[0].fields["channel_message_id"] == "20261128001"  # not 2.0261128001e10
    assert imported.rows[1].fields == {"enterprise_name": "惠昱电子", "channel_message_id": "2"}
    plan = plan_rows(imported.rows, "cli", NOW)
    assert len(plan.submissions) == 1
    assert plan.bad == ["第 4 行 row 4: 诉求内容 text: 必填 is required"]


def test_bad_rows_get_one_chinese_line_each_with_the_row_a_spreadsheet_shows(tmp_path: Path) -> None:
    long_title = "长" * 201
    text = (
        "标题,诉求内容,统一社会信用代码,渠道\n"
        "好,正常的诉求,,\n"
        f"{long_title},内容,,\n"
        "好,内容,12345,\n"
        "好,内容,,pigeon\n"
        '"多行,\n标题",内容,,,多余\n'
    )
    imported = read_import_file(write(tmp_path, "t.csv", text.encode("gbk")))
    plan = plan_rows(imported.rows, "cli", NOW)
    assert len(plan.submissions) == 1
    assert plan.bad[0] == "第 3 行 row 3: 标题 title: 太长，最多 200 字 too long (at most 200 characters)"
    assert plan.bad[1] == "第 4 行 row 4: 统一社会信用代码 credit_code: 格式不对 wrong format"
    assert plan.bad[2].startswith("第 5 行 row 5: 渠道 channel: 取值无效，可选 not one of: wechat_group")
    assert plan.bad[3].startswith("第 6 行 row 6: 比表头多出了列")  # a quoted cell over two lines is one row
    assert all("\n" not in line for line in plan.bad)


def test_jsonl_lines_are_numbered_and_broken_lines_are_bad_rows(tmp_path: Path) -> None:
    lines = [json.dumps({"text": "诉求一", "message_id": 7}, ensure_ascii=False), "", "{broken", "[1]"]
    imported = read_import_file(write(tmp_path, "t.jsonl", "\n".join(lines).encode("gb18030")))
    assert imported.kind == "JSONL"
    assert imported.rows[0].fields == {"text": "诉求一", "channel_message_id": "7"}
    plan = plan_rows(imported.rows, "cli", NOW)
    assert plan.bad[0].startswith("第 3 行 row 3: 不是合法的 JSON not JSON")
    assert plan.bad[1] == "第 4 行 row 4: 应为 JSON 对象 expected a JSON object {...}"


def test_a_row_without_message_id_gets_one_from_its_content_in_any_encoding(tmp_path: Path) -> None:
    text = "诉求内容,企业名称\n经营范围变更登记一直没有办下来,惠昱电子\n"
    in_gbk = read_import_file(write(tmp_path, "a.csv", text.encode("gbk")))
    in_utf8 = read_import_file(write(tmp_path, "b.csv", codecs.BOM_UTF8 + text.encode("utf-8")))
    first = submission_fields(in_gbk.rows[0], "cli")
    assert first["channel_message_id"] == submission_fields(in_utf8.rows[0], "cli")["channel_message_id"]
    assert first["channel_message_id"].startswith("import-")
    other = content_message_id("cli", {"text": "另一件诉求", "enterprise_name": "惠昱电子"})
    assert other != first["channel_message_id"]
    assert (
        content_message_id(
            "hotline", {"text": "经营范围变更登记一直没有办下来", "enterprise_name": "惠昱电子"}
        )
        != (first["channel_message_id"])
    )


def test_unreadable_files_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match=r"旧版 \.xls"):
        read_import_file(write(tmp_path, "old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100)))
    with pytest.raises(ImportFileError, match="表头"):
        read_import_file(write(tmp_path, "t.csv", "名字,电话\n张三,1\n".encode()))
    with pytest.raises(ImportFileError, match="编码无法识别"):
        decode_text(b"\x81\x30\xff\xff\x80")
    with pytest.raises(ImportFileError, match=r"不是可读的 \.xlsx"):
        read_import_file(write(tmp_path, "t.xlsx", b"PK\x03\x04 not a zip"))


def test_utf16_from_excel_unicode_text_is_tab_separated(tmp_path: Path) -> None:
    text = "诉求内容\t企业名称\r\n诉求\t海德\r\n"
    imported = read_import_file(write(tmp_path, "t.txt", text.encode("utf-16")))
    assert imported.encoding == "UTF-16"
    assert imported.rows[0].fields == {"text": "诉求", "enterprise_name": "海德"}


def test_the_summary_names_duplicates_as_already_recorded() -> None:
    assert summary_line(0, 2, 1) == (
        "已发布 published 0，重复 duplicates 2（已有记录，未再发布 already recorded, not published again），"
        "错误行 bad rows 1"
    )
