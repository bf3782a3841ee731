"""Reading an import file into submission fields: formats, encodings, field names, row errors.

Pure apart from reading the one file it is given. Formats: ``.csv`` (UTF-8 with or
without BOM, else GB18030, a superset of GBK, which Excel and WPS write by default
in China), ``.xlsx`` (first sheet, header in row 1) and JSON Lines (anything else).
Row numbers are the ones a spreadsheet shows (header = row 1) or, for JSON Lines,
the line number.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

__all__ = [
    "FIELD_ALIASES",
    "ImportRow",
    "bad_row_line",
    "content_message_id",
    "normalise_fields",
    "read_rows",
]

# The CLI flag's name (``--message-id`` -> ``message_id``) and the stored field's name both work.
FIELD_ALIASES: dict[str, str] = {
    "message_id": "channel_message_id",
    "enterprise": "enterprise_name",
    "project": "project_name",
}
_FIELD_LABELS: dict[str, str] = {
    "text": "诉求内容 text",
    "title": "标题 title",
    "channel": "渠道 channel",
    "channel_message_id": "渠道消息号 message_id",
    "enterprise_name": "企业名称 enterprise",
    "credit_code": "统一社会信用代码 credit_code",
    "contact": "联系人 contact",
    "street": "所在街道 street",
    "project_name": "项目名称 project",
    "submitted_at": "提交时间 submitted_at",
}
_ERROR_WORDS: dict[str, str] = {
    "missing": "缺少 missing",
    "string_too_short": "为空 empty",
    "string_too_long": "太长 too long",
    "enum": "不是可用的值 not an allowed value",
    "datetime_from_date_parsing": "不是时间 not a time",
    "datetime_parsing": "不是时间 not a time",
}


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One data row: the number a person would look for, its fields, or why it could not be read."""

    number: int
    fields: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None


def read_rows(path: Path) -> list[ImportRow]:
    """Every data row of ``path`` (see the module docstring for formats)."""
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        return list(_xlsx_rows(path))
    if suffix == ".csv":
        reader = csv.DictReader(io.StringIO(decode_text(path.read_bytes()), newline=""))
        return [ImportRow(number, _clean(row)) for number, row in enumerate(reader, start=2)]
    return list(_jsonl_rows(decode_text(path.read_bytes())))


def decode_text(raw: bytes) -> str:
    """UTF-8 (a BOM is dropped) if it decodes, else GB18030 (covers GBK and GB2312)."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("gb18030")


def _jsonl_rows(text: str) -> Iterator[ImportRow]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            yield ImportRow(number, problem="不是 JSON 对象 not a JSON object")
            continue
        if not isinstance(value, dict):
            yield ImportRow(number, problem="不是 JSON 对象 not a JSON object")
            continue
        yield ImportRow(number, dict(value))


def _xlsx_rows(path: Path) -> Iterator[ImportRow]:
    import openpyxl  # only an .xlsx import pays for it

    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = book.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header = [str(cell).strip() if cell is not None else "" for cell in next(rows, ())]
        for number, cells in enumerate(rows, start=2):
            if all(cell is None or str(cell).strip() == "" for cell in cells):
                continue
            values = {name: cell for name, cell in zip(header, cells, strict=False) if name}
            yield ImportRow(number, _clean(values))
    finally:
        book.close()


def _clean(row: dict[str | Any, Any]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for key, value in row.items():
        if key is None:
            continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(int(value)) if float(value).is_integer() else str(value)
        cleaned[str(key).strip()] = value.strip() if isinstance(value, str) else value
    return cleaned


def normalise_fields(fields: dict[str, Any], default_channel: str) -> dict[str, Any]:
    """Field names as stored (CLI names accepted), a channel, and a message id derived from content."""
    named = {FIELD_ALIASES.get(key, key): value for key, value in fields.items() if value not in (None, "")}
    named.setdefault("channel", default_channel)
    if not named.get("channel_message_id") and isinstance(named.get("text"), str):
        named["channel_message_id"] = content_message_id(
            str(named["channel"]), named["text"], str(named.get("enterprise_name") or "")
        )
    return named


def content_message_id(channel: str, text: str, enterprise: str) -> str:
    """The same request from the same enterprise on the same channel always gets the same id."""
    normalised = " ".join(unicodedata.normalize("NFKC", text).split())
    company = " ".join(unicodedata.normalize("NFKC", enterprise).split())
    digest = hashlib.sha256(f"{channel}\x1f{normalised}\x1f{company}".encode()).hexdigest()[:24]
    return f"import-{digest}"


def bad_row_line(row: ImportRow, error: ValueError | None = None) -> str:
    """One line a clerk can act on: 第 N 行 and what is wrong, in Chinese with English alongside."""
    if row.problem is not None:
        return f"第 {row.number} 行 row {row.number}: {row.problem}"
    if isinstance(error, ValidationError):
        parts = []
        names = {str(item["loc"][0]) for item in error.errors() if item["loc"]}
        for item in error.errors():
            name = str(item["loc"][0]) if item["loc"] else "?"
            if name == "title" and "text" in names:
                continue  # the title is taken from the text: one problem, said once
            label = _FIELD_LABELS.get(name, name)
            parts.append(f"{label} {_ERROR_WORDS.get(item['type'], '格式不对 invalid')}")
        return f"第 {row.number} 行 row {row.number}: {'; '.join(parts)}"
    reason = " ".join(str(error).split())[:120] if error is not None else "无法读取 unreadable"
    return f"第 {row.number} 行 row {row.number}: 格式不对 invalid ({reason})"
