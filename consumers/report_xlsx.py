"""The supervision report as an ``.xlsx`` workbook (openpyxl), for offices that pass reports on
as spreadsheets: 概览 (headline figures and trend), 排名 (every grade's ranking with the rates),
红黑榜, 超期督办 (overdue tickets and their 督办 level) and 热点 (hot spots).

Rates are stored as numbers formatted as percentages, so the figures can be summed and charted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from io import BytesIO
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.worksheet import Worksheet

from consumers.assessment import DepartmentAssessment
from consumers.report import SupervisionReport, change_text
from schemas.events import DISTRICT_ZONE

SHEETS = ("概览 Summary", "排名 Ranking", "红黑榜 Red-Black", "超期督办 Overdue", "热点 Hot spots")
PERCENT = "0.0%"
HEADER_FILL = PatternFill("solid", fgColor="DDE6F0")
NOT_CONNECTED = "热点检测尚未接入报表 / hot-spot detection is not connected to the reports yet"


def _header(sheet: Worksheet, row: Sequence[str]) -> None:
    sheet.append(list(row))
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")


def _widths(sheet: Worksheet, widths: Sequence[int]) -> None:
    for index, width in enumerate(widths):
        sheet.column_dimensions[chr(ord("A") + index)].width = width


def _percent_columns(sheet: Worksheet, columns: Sequence[int], first_row: int) -> None:
    for row in sheet.iter_rows(min_row=first_row):
        for index in columns:
            row[index].number_format = PERCENT


def _summary(sheet: Worksheet, report: SupervisionReport) -> None:
    sheet.append([report.title])
    sheet["A1"].font = Font(bold=True, size=14)
    generated = report.generated_at.astimezone(DISTRICT_ZONE).strftime("%Y-%m-%d %H:%M")
    state = "" if report.period.complete else "（统计至生成时 to date）"
    sheet.append(
        [f"统计区间 Period: {report.period.period.first_day} — {report.period.period.last_day}{state}"]
    )
    sheet.append([f"生成时间 Generated: {generated}；规则版本 policy {report.policy_version}"])
    sheet.append([])
    _header(sheet, ("指标 Figure", "本期 This period", "上期 Previous", "变化 Change"))
    for h in report.headlines:
        sheet.append([h.label, h.value, h.previous, change_text(h)])
        if h.rate:
            for cell in sheet[sheet.max_row][1:3]:
                cell.number_format = PERCENT
    sheet.append(["当前超期工单 Overdue tickets now", len(report.overdue), None, None])
    sheet.append(["其中已升级督办 of them escalated", report.escalated, None, None])
    _widths(sheet, (34, 16, 16, 22))


RANKING_HEADER = (
    "分组 Grade",
    "名次 Rank",
    "部门代码 Code",
    "部门 Department",
    "有效回访 Valid callbacks",
    "响应率 Response",
    "解决率 Resolution",
    "满意率 Satisfaction",
    "综合得分 Composite",
    "签收及时率 On-time accept",
    "办结及时率 On-time resolve",
    "工单 Tickets",
    "退单率 Bounce rate",
    "重办率 Redo rate",
    "当前超期 Overdue now",
    "说明 Note",
)


def _ranking_row(grade: str, one: DepartmentAssessment, names: Mapping[str, str]) -> list[Any]:
    rates, figures = one.callbacks, one.figures
    return [
        grade,
        one.rank,
        one.department,
        names.get(one.department, one.department),
        rates.valid,
        rates.response,
        rates.resolution,
        rates.satisfaction,
        rates.composite,
        figures.response_rate,
        figures.resolution_rate,
        figures.tickets,
        one.bounce_rate,
        one.redo_rate,
        figures.overdue_now,
        one.unranked_reason or "",
    ]


def _ranking(sheet: Worksheet, report: SupervisionReport, names: Mapping[str, str]) -> None:
    _header(sheet, RANKING_HEADER)
    for grade in report.assessment.grades:
        for one in (*grade.ranked, *grade.unranked):
            sheet.append(_ranking_row(grade.label, one, names))
    _percent_columns(sheet, (5, 6, 7, 8, 9, 10, 12, 13), 2)
    _widths(sheet, (22, 8, 20, 24, 12, 11, 11, 11, 11, 13, 13, 9, 11, 11, 11, 30))


def _lists(sheet: Worksheet, report: SupervisionReport, names: Mapping[str, str]) -> None:
    _header(sheet, ("分组 Grade", "榜单 List", "名次 Rank", "部门 Department", "综合得分 Composite"))
    for grade in report.assessment.grades:
        for label, members in (("红榜 Red list", grade.red), ("黑榜 Black list", grade.black)):
            for one in members:
                name = names.get(one.department, one.department)
                sheet.append([grade.label, label, one.rank, name, one.composite])
    _percent_columns(sheet, (4,), 2)
    _widths(sheet, (22, 14, 8, 26, 14))


def _overdue(
    sheet: Worksheet, report: SupervisionReport, names: Mapping[str, str], level_label: Callable[[int], str]
) -> None:
    _header(
        sheet,
        ("工单号 Ticket", "标题 Title", "紧急 Urgent", "责任部门 Department", "环节 Stage",
         "期限 Due", "超期（小时） Hours late", "督办级别 Level", "级别 Level name"),
    )  # fmt: skip
    for t in report.overdue:
        due = t.due_at.astimezone(DISTRICT_ZONE).strftime("%Y-%m-%d %H:%M")
        sheet.append([
            t.record.ticket_id, t.record.submission.title, "紧急" if t.urgent else "",
            names.get(t.department, t.department), t.stage, due,
            round(t.late_by.total_seconds() / 3600, 1), t.level, level_label(t.level),
        ])  # fmt: skip
    _widths(sheet, (24, 36, 8, 24, 10, 18, 14, 10, 12))


def _hot_spots(sheet: Worksheet, report: SupervisionReport, names: Mapping[str, str]) -> None:
    _header(
        sheet,
        (
            "街道 Street",
            "类别 Category",
            "热度 Heat",
            "企业数 Enterprises",
            "工单 Tickets",
            "建议 Suggestion",
        ),
    )
    if report.hot_spots is None:
        sheet.append([NOT_CONNECTED])
    for spot in report.hot_spots or ():
        street = names.get(spot.street, spot.street)
        sheet.append(
            [
                street,
                spot.category,
                round(spot.heat, 2),
                spot.enterprises,
                "、".join(spot.ticket_ids),
                spot.suggestion,
            ]
        )
    _widths(sheet, (20, 20, 10, 12, 50, 30))


def report_workbook(
    report: SupervisionReport, names: Mapping[str, str], level_label: Callable[[int], str]
) -> Workbook:
    """``names``: department code → name; ``level_label``: escalation level → its label (督办)."""
    book = Workbook()
    sheets = [book.active] + [book.create_sheet() for _ in SHEETS[1:]]
    for sheet, title in zip(sheets, SHEETS, strict=True):
        assert sheet is not None
        sheet.title = title
    summary, ranking, lists, overdue, hot = sheets
    assert summary is not None and ranking is not None and lists is not None
    assert overdue is not None and hot is not None
    _summary(summary, report)
    _ranking(ranking, report, names)
    _lists(lists, report, names)
    _overdue(overdue, report, names, level_label)
    _hot_spots(hot, report, names)
    return book


def report_xlsx_bytes(
    report: SupervisionReport, names: Mapping[str, str], level_label: Callable[[int], str]
) -> bytes:
    out = BytesIO()
    report_workbook(report, names, level_label).save(out)
    return out.getvalue()


def write_report_xlsx(
    report: SupervisionReport, names: Mapping[str, str], level_label: Callable[[int], str], path: Path
) -> Path:
    path.write_bytes(report_xlsx_bytes(report, names, level_label))
    return path
