"""Supervision reports (督办): pure maths over the read model's day counters.

- ``department_figures`` / ``rank``: the three rates (签收及时率, 办结及时率,
  满意率) and average response / handling times per department for a period;
- ``daily_counts``: how many tickets arrived each day, by category;
- ``Period`` and ``parse_period``: the dashboard's ``?from=&to=``.

Nothing here reads the clock, Redis or the network: ``consumers.views`` reads the
counters (``consumers.read_model``) and hands them over.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from statistics import fmean
from zoneinfo import ZoneInfo

from consumers import read_model as rm
from schemas.events import DISTRICT_ZONE
from schemas.feedback import Rating

# ---------------------------------------------------------------- periods


@dataclass(frozen=True)
class Period:
    """Half-open ``[start, end)``; built from inclusive local dates."""

    start: datetime
    end: datetime

    def __contains__(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    @property
    def first_day(self) -> date:
        return self.start.astimezone(DISTRICT_ZONE).date()

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(microseconds=1)).astimezone(DISTRICT_ZONE).date()

    @property
    def days(self) -> tuple[date, ...]:
        """Every local day of the period, in order."""
        span = (self.last_day - self.first_day).days + 1
        return tuple(self.first_day + timedelta(days=i) for i in range(span))


def period_of_days(first: date, last: date, zone: ZoneInfo = DISTRICT_ZONE) -> Period:
    if last < first:
        raise ValueError(f"period ends ({last}) before it starts ({first}) / 结束日期早于开始日期")
    start = datetime.combine(first, time(), zone)
    return Period(start, datetime.combine(last + timedelta(days=1), time(), zone))


def parse_period(first: str | None, last: str | None, today: date, default_days: int = 30) -> Period:
    """The period of ``?from=YYYY-MM-DD&to=YYYY-MM-DD`` (both inclusive); default: the last 30 days."""
    try:
        end = date.fromisoformat(last) if last else today
        start = date.fromisoformat(first) if first else end - timedelta(days=default_days - 1)
    except ValueError:
        raise ValueError("dates must look like 2026-11-28 / 日期格式应为 2026-11-28") from None
    if (end - start).days > 366:
        raise ValueError("a period is at most one year / 统计区间最长一年")
    return period_of_days(start, end)


# ---------------------------------------------------------------- department figures


def _rate(hits: int, total: int) -> float | None:
    return hits / total if total else None


def _mean(seconds: int, count: int) -> timedelta | None:
    return timedelta(seconds=seconds / count) if count else None


@dataclass
class DepartmentFigures:
    """One department's figures for a period; rates are None when nothing could be judged."""

    department: str
    tickets: int = 0
    led: int = 0
    response_due: int = 0
    responded_on_time: int = 0
    resolution_due: int = 0
    resolved_on_time: int = 0
    rated: int = 0
    satisfied: int = 0
    overdue_now: int = 0
    response_count: int = 0
    response_seconds: int = 0
    handling_count: int = 0
    handling_seconds: int = 0

    @property
    def response_rate(self) -> float | None:
        return _rate(self.responded_on_time, self.response_due)

    @property
    def resolution_rate(self) -> float | None:
        return _rate(self.resolved_on_time, self.resolution_due)

    @property
    def satisfaction_rate(self) -> float | None:
        return _rate(self.satisfied, self.rated)

    @property
    def avg_response(self) -> timedelta | None:
        return _mean(self.response_seconds, self.response_count)

    @property
    def avg_handling(self) -> timedelta | None:
        return _mean(self.handling_seconds, self.handling_count)

    @property
    def score(self) -> float | None:
        """The mean of the rates that could be judged: the ranking's first key."""
        rates = [
            r for r in (self.response_rate, self.resolution_rate, self.satisfaction_rate) if r is not None
        ]
        return fmean(rates) if rates else None


FIGURE_OF_COUNTER = {
    rm.TICKETS: "tickets",
    rm.LED: "led",
    rm.RESPONSE_DUE: "response_due",
    rm.RESPONSE_MET: "responded_on_time",
    rm.RESOLUTION_DUE: "resolution_due",
    rm.RESOLUTION_MET: "resolved_on_time",
    rm.RATED: "rated",
    Rating.satisfied.value: "satisfied",
    Rating.basically_satisfied.value: "satisfied",
    rm.RESPONSE_N: "response_count",
    rm.RESPONSE_S: "response_seconds",
    rm.HANDLING_N: "handling_count",
    rm.HANDLING_S: "handling_seconds",
}


def department_figures(
    days: Iterable[Mapping[str, int]], overdue_now: Mapping[str, int] | None = None
) -> dict[str, DepartmentFigures]:
    """Figures per department from the day counters of a period (``read_model.counters_of``).

    Everything counts on the day it happened: a department's tickets and led
    tickets on the day it was assigned; response and handling times (every lead
    and co-department assignment: accepted − assigned, done − assigned) on the
    day accepted or done; a deadline on the day it was decided — met when
    accepted / resolved by it, missed at the breach or by a late accept /
    resolve; a rating on the day given, to the lead whose resolution it rates
    (satisfied = satisfied + basically satisfied). ``overdue_now`` (tickets
    overdue at the moment of asking) is added to the departments that have figures.
    """
    out: dict[str, DepartmentFigures] = {}
    for counters in days:
        for name, n in counters.items():
            kind, _, rest = name.partition("|")
            if kind != "d":
                continue
            department, _, counter = rest.rpartition("|")
            attribute = FIGURE_OF_COUNTER.get(counter)
            if attribute is not None:
                figures = out.setdefault(department, DepartmentFigures(department))
                setattr(figures, attribute, getattr(figures, attribute) + n)
    for department, figures in out.items():
        figures.overdue_now = (overdue_now or {}).get(department, 0)
    return out


def rank(figures: Iterable[DepartmentFigures]) -> list[DepartmentFigures]:
    """Best first: score (mean of judged rates), then faster handling, then more tickets."""

    def key(f: DepartmentFigures) -> tuple[int, float, float, int, str]:
        handling = f.avg_handling.total_seconds() if f.avg_handling is not None else float("inf")
        return (f.score is None, -(f.score or 0.0), handling, -f.tickets, f.department)

    return sorted(figures, key=key)


# ---------------------------------------------------------------- volume


@dataclass(frozen=True)
class DailyCounts:
    days: tuple[date, ...]
    categories: tuple[str, ...]
    counts: dict[tuple[date, str], int]

    def total(self, day: date) -> int:
        return sum(self.counts.get((day, c), 0) for c in self.categories)


def daily_counts(days: Mapping[date, Mapping[str, int]], period: Period) -> DailyCounts:
    """Tickets first routed on each local day of the period, by category (most frequent category first)."""
    counts: Counter[tuple[date, str]] = Counter()
    by_category: Counter[str] = Counter()
    for day, counters in days.items():
        for name, n in counters.items():
            kind, _, category = name.partition("|")
            if kind == "c" and n:
                counts[(day, category)] += n
                by_category[category] += n
    categories = tuple(sorted(by_category, key=lambda c: (-by_category[c], c)))
    return DailyCounts(period.days, categories, dict(counts))
