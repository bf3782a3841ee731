"""Files of tickets for ``ztc import``: JSONL, CSV and .xlsx, as the district's offices save them.

- **Encodings** (CSV, JSONL): UTF-8 with or without a BOM, UTF-16 with a BOM (Excel's "Unicode
  text"), else GB18030 — the superset of GBK, what Excel and WPS write for "CSV" on a Chinese
  Windows. The encoding is chosen from the bytes, never from the machine's locale.
- **.xlsx**: the first worksheet, read with openpyxl (imported only for such a file); row 1 is
  the header. An old binary ``.xls`` is refused with a hint to save it as .xlsx or CSV.
- **Columns**: the ``ztc submit`` flags (``title``, ``text``, ``enterprise``, ``credit-code``,
  ``contact``, ``street``, ``project``, ``channel``, ``message-id``), the event's own field
  names (``enterprise_name``, ``project_name``, ``channel_message_id``) as aliases, and the
  Chinese headers of the CLI's help (``诉求内容``, ``企业名称``, ...). Other columns are ignored and
  named once.
- **Row numbers** are those a spreadsheet shows: the header is row 1, so the first ticket of a
  CSV or .xlsx is row 2; in JSONL, the line number.
- **A row without a message id** gets one derived from its content (channel and normalised
  fields), so importing the same file again — even re-saved in another encoding — finds every
  ticket already recorded instead of creating it again.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from schemas.validation_text import FIELD_LABELS

__all__ = [
    "ImportFileError",
    "ImportRow",
    "ImportedFile",
    "content_message_id",
    "decode_text",
    "read_import_file",
    "submission_fields",
]

_HEADERS: dict[str, tuple[str, ...]] = {
    "title": ("title", "标题", "诉求标题"),
    "text": ("text", "诉求内容", "内容", "诉求", "问题描述"),
    "enterprise_name": ("enterprise", "enterprise_name", "企业名称", "企业"),
    "credit_code": ("credit_code", "统一社会信用代码", "信用代码"),
    "contact": ("contact", "联系人", "联系方式"),
    "street": ("street", "所在街道", "街道"),
    "project_name": ("project", "project_name", "项目名称", "项目"),
    "channel": ("channel", "渠道"),
    "channel_message_id": ("message_id", "channel_message_id", "渠道消息号", "消息号"),
    "submitted_at": ("submitted_at", "提交时间"),
}
FIELD_OF_HEADER: dict[str, str] = {alias: field for field, names in _HEADERS.items() for alias in names}
"""Every accepted column name (normalised: NFKC, lower case, ``-`` and spaces as ``_``) → field."""
CONTENT_FIELDS = ("title", "text", "enterprise_name", "credit_code", "contact", "street", "project_name")
XLSX_MAGIC = b"PK\x03\x04"
XLS_MAGIC = b"\xd0\xcf\x11\xe0"


class ImportFileError(ValueError):
    """The file as a whole cannot be read (encoding, format, no header): one line for a person."""


@dataclass(frozen=True)
class ImportRow:
    """One ticket's fields, or why the row could not be read, with the row number people see."""

    number: int
    fields: dict[str, Any]
    problem: str | None = None


@dataclass(frozen=True)
class ImportedFile:
    rows: list[ImportRow]
    kind: str
    """``CSV``, ``JSONL`` or ``XLSX``"""
    encoding: str | None
    ignored_columns: tuple[str, ...]


def header_key(name: str) -> str:
    """A column name as compared: NFKC, trimmed, lower case, ``-`` and spaces as ``_``, no leading ``--``."""
    key = unicodedata.normalize("NFKC", name).strip().lower().lstrip("-")
    return key.replace("-", "_").replace(" ", "_")


def decode_text(data: bytes) -> tuple[str, str]:
    """The text of a file and the encoding it was read in (see the module docstring)."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8"), "UTF-8 (BOM)"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16"), "UTF-16"
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "GB18030/GBK"
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            f"文件编码无法识别（第 {exc.start} 字节）请另存为 UTF-8 或 GBK 的 CSV / "
            f"unreadable encoding at byte {exc.start}: save as CSV in UTF-8 or GBK"
        ) from None


def read_import_file(path: Path) -> ImportedFile:
    """Every row of ``path`` (CSV, JSONL or .xlsx, told by content and suffix)."""
    data = path.read_bytes()
    suffix = path.suffix.lower()
    if data.startswith(XLS_MAGIC) or suffix == ".xls":
        raise ImportFileError(
            "不支持旧版 .xls，请在 Excel/WPS 中另存为 .xlsx 或 CSV / "
            "an old .xls is not read: save it as .xlsx or CSV"
        )
    if data.startswith(XLSX_MAGIC) or suffix == ".xlsx":
        return _from_table(_xlsx_cells(data), "XLSX", None)
    text, encoding = decode_text(data)
    tabular = suffix in (".csv", ".tsv", ".txt")
    if suffix in (".jsonl", ".ndjson", ".json") or (not tabular and _looks_json(text)):
        return _from_jsonl(text, encoding)
    delimiter = "\t" if suffix == ".tsv" or _tab_separated(text) else ","
    return _from_table(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), "CSV", encoding)


def _looks_json(text: str) -> bool:
    return text.lstrip().startswith("{")


def _tab_separated(text: str) -> bool:
    first = text.split("\n", 1)[0]
    return "\t" in first and "," not in first


def _from_jsonl(text: str, encoding: str) -> ImportedFile:
    rows: list[ImportRow] = []
    ignored: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            rows.append(ImportRow(number, {}, f"不是合法的 JSON not JSON: {exc.msg} (column {exc.colno})"))
            continue
        if not isinstance(value, dict):
            rows.append(ImportRow(number, {}, "应为 JSON 对象 expected a JSON object {...}"))
            continue
        fields: dict[str, Any] = {}
        for key, cell in value.items():
            field = FIELD_OF_HEADER.get(header_key(str(key)))
            if field is None:
                ignored.add(str(key))
            elif cell is not None and cell != "":
                fields[field] = _cell_text(cell) if isinstance(cell, int | float) else cell
        rows.append(ImportRow(number, fields))
    return ImportedFile(rows, "JSONL", encoding, tuple(sorted(ignored)))


def _from_table(records: Iterable[Sequence[Any]], kind: str, encoding: str | None) -> ImportedFile:
    """Rows of a CSV or a worksheet: row 1 is the header, blank rows are skipped but still counted."""
    iterator = iter(records)
    header = next(iterator, None)
    names = [_cell_text(cell) for cell in header or ()]
    fields_at = [FIELD_OF_HEADER.get(header_key(name)) for name in names]
    if "text" not in fields_at:
        raise ImportFileError(
            "第 1 行应是表头，且要有“诉求内容”(text) 列 / row 1 must be the header, with a text column "
            f"(诉求内容 or text); found: {', '.join(n for n in names if n) or '(empty)'}"
        )
    ignored = tuple(name for name, field in zip(names, fields_at, strict=True) if field is None and name)
    rows: list[ImportRow] = []
    for number, record in enumerate(iterator, start=2):
        cells = [_cell_text(cell) for cell in record]
        if not any(cells):
            continue
        if any(cells[len(names) :]):
            extra = f"比表头多出了列 more cells ({len(cells)}) than the header has ({len(names)})"
            rows.append(ImportRow(number, {}, extra))
            continue
        fields = {field: cell for field, cell in zip(fields_at, cells, strict=False) if field and cell}
        rows.append(ImportRow(number, fields))
    return ImportedFile(rows, kind, encoding, ignored)


def _cell_text(cell: Any) -> str:
    """A cell as the text a person sees: whole numbers without ``.0``, times in ISO form."""
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "是" if cell else "否"
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if isinstance(cell, datetime | date):
        return cell.isoformat()
    return str(cell).strip()


def _xlsx_cells(data: bytes) -> Iterator[tuple[Any, ...]]:
    from openpyxl import load_workbook  # only an .xlsx import pays for it
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ImportFileError(f"不是可读的 .xlsx 文件 not a readable .xlsx file: {exc}") from None
    try:
        sheet = workbook.worksheets[0]
        expected = 1
        for row in sheet.iter_rows():
            number = next((c.row for c in row if getattr(c, "row", None)), expected)
            while expected < number:  # keep spreadsheet row numbers across rows openpyxl skips
                yield ()
                expected += 1
            yield tuple(getattr(c, "value", None) for c in row)
            expected += 1
    finally:
        workbook.close()


def content_message_id(channel: str, fields: dict[str, Any]) -> str:
    """A message id from what a row says: the same request imported twice is one ticket."""
    said = (unicodedata.normalize("NFKC", str(fields.get(name) or "")) for name in CONTENT_FIELDS)
    parts = [channel, *(" ".join(value.split()) for value in said)]
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return f"import-{digest[:32]}"


def submission_fields(row: ImportRow, default_channel: str) -> dict[str, Any]:
    """A row's fields ready for ``build_submission``: channel defaulted, message id derived if absent."""
    fields = dict(row.fields)
    fields.setdefault("channel", default_channel)
    if not fields.get("channel_message_id"):
        fields["channel_message_id"] = content_message_id(str(fields["channel"]), fields)
    return fields


def accepted_columns() -> str:
    """The column names ``ztc import`` reads, for its help and its errors."""
    return "、".join(f"{FIELD_LABELS.get(f, f)} {names[0]}" for f, names in _HEADERS.items())
