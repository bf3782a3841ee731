"""A list view as an Excel workbook (.xlsx), written with openpyxl (imported when a file is asked for).

Cells are text, numbers or moments as the page shows them; a text that a
spreadsheet would take for a formula (``=``, ``+``, ``-``, ``@`` first) is kept as
text by a leading apostrophe, so an enterprise's words can never run in the
reader's Excel (CSV/formula injection, OWASP).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from urllib.parse import quote

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Cell = str | int | float | None


def as_text(value: Cell) -> Cell:
    """``value`` as a cell: a text that would start a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def workbook_bytes(title: str, headers: Sequence[str], rows: Iterable[Sequence[Cell]]) -> bytes:
    """One worksheet named ``title`` (cut to Excel's 31 characters): a bold header row, then ``rows``."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title[:31]
    sheet.append(list(headers))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([as_text(v) for v in row])
    sheet.freeze_panes = "A2"
    for column, header in zip(sheet.columns, headers, strict=False):
        width = max([len(str(header))] + [len(str(c.value or "")) for c in column[1:200]])
        sheet.column_dimensions[column[0].column_letter].width = min(60, 4 + width * 1.6)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def download_headers(filename: str) -> dict[str, str]:
    """A download with a Chinese file name (RFC 6266 ``filename*``) and an ASCII fallback."""
    fallback = filename.encode("ascii", "replace").decode().replace("?", "_")
    return {
        "Content-Disposition": f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}",
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
