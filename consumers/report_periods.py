"""The periods of the supervision reports (督办通报): a calendar week (Monday to Sunday) or month.

``report_period(kind, spec, now)`` reads what ``ztc report --period`` and the dashboard's
``?period=`` take: ``current`` (the default: the period holding ``now``, to date),
``previous``, ``2026-11`` (a month), ``2026-W48`` (an ISO week) or any date inside the
period (``2026-11-23``). Each period carries the one before it, for the trend. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from consumers.supervision import Period, period_of_days
from schemas.events import DISTRICT_ZONE

_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_WEEK = re.compile(r"^(\d{4})-?W(\d{1,2})$", re.IGNORECASE)


class ReportKind(StrEnum):
    weekly = "weekly"
    monthly = "monthly"

    @property
    def label(self) -> str:
        return {"weekly": "周报", "monthly": "月报"}[self.value]


@dataclass(frozen=True)
class ReportPeriod:
    kind: ReportKind
    period: Period
    previous: Period
    name: str
    """``2026-11`` or ``2026-W48``: used in file names."""
    complete: bool
    """False while the period runs: the figures are to date."""

    @property
    def title(self) -> str:
        """``2026年11月`` or ``2026年第48周（11月23日—11月29日）``."""
        first, last = self.period.first_day, self.period.last_day
        if self.kind is ReportKind.monthly:
            return f"{first.year}年{first.month}月"
        year, week, _ = first.isocalendar()
        return f"{year}年第{week}周（{first.month}月{first.day}日—{last.month}月{last.day}日）"


def _bounds(kind: ReportKind, day: date) -> tuple[date, date]:
    if kind is ReportKind.weekly:
        first = day - timedelta(days=day.weekday())
        return first, first + timedelta(days=6)
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)


def _name(kind: ReportKind, first: date) -> str:
    if kind is ReportKind.monthly:
        return f"{first.year}-{first.month:02d}"
    year, week, _ = first.isocalendar()
    return f"{year}-W{week:02d}"


def _day_of(kind: ReportKind, spec: str, today: date) -> date:
    """A day inside the period ``spec`` names."""
    text = spec.strip()
    if text in ("", "current"):
        return today
    if text == "previous":
        return _bounds(kind, today)[0] - timedelta(days=1)
    month = _MONTH.match(text)
    if month and kind is ReportKind.monthly:
        return date(int(month[1]), int(month[2]), 1)
    week = _WEEK.match(text)
    if week and kind is ReportKind.weekly:
        return date.fromisocalendar(int(week[1]), int(week[2]), 1)
    return date.fromisoformat(text)


def report_period(kind: ReportKind, spec: str | None, now: datetime) -> ReportPeriod:
    """The period ``spec`` names (None: the current one); ValueError in Chinese and English."""
    today = now.astimezone(DISTRICT_ZONE).date()
    example = "2026-11" if kind is ReportKind.monthly else "2026-W48"
    try:
        day = _day_of(kind, spec or "", today)
    except ValueError:
        raise ValueError(
            f"无法识别的统计周期 unknown period {spec!r}: current, previous, {example} 或日期 or a date"
        ) from None
    first, last = _bounds(kind, day)
    if first > today:
        raise ValueError(f"统计周期尚未开始 the period {spec!r} has not started yet")
    before_first, before_last = _bounds(kind, first - timedelta(days=1))
    return ReportPeriod(
        kind=kind,
        period=period_of_days(first, last),
        previous=period_of_days(before_first, before_last),
        name=_name(kind, first),
        complete=last < today,
    )
