"""Supervision reports (督办): pure functions over recorded tickets, ``now`` passed in.

- ``sla_alerts``: open SLA stages that are overdue (超期) or at risk (临期), by
  department and escalation level;
- ``department_figures`` / ``rank``: the three rates (签收及时率, 办结及时率,
  满意率) and average response / handling times per department for a period;
- ``tickets_per_day``: how many tickets arrived each day, by category.

Nothing here reads the clock, Redis or the network; the dashboard and the
metrics collector feed it records read from the ticket store.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from statistics import fmean
from zoneinfo import ZoneInfo

from consumers.sla_engine import SlaBook, StageStatus, StageWindow, deadline_status, sla_status
from schemas.events import DISTRICT_ZONE
from schemas.ticket import AssignmentRole, TicketRecord, TicketStatus

FINISHED = frozenset({TicketStatus.resolved, TicketStatus.closed})


# ---------------------------------------------------------------- SLA alerts


@dataclass(frozen=True)
class SlaAlert:
    """One open stage that is overdue or at risk, by the one rule (``sla_engine.sla_status``)."""

    record: TicketRecord
    status: StageStatus
    late_by: timedelta = field(repr=False)
    """now − deadline: positive when late, negative (time left) when at risk"""

    @property
    def window(self) -> StageWindow:
        return self.status.window

    @property
    def overdue(self) -> bool:
        return self.status.overdue

    @property
    def department(self) -> str:
        return self.status.department

    @property
    def escalation_level(self) -> int:
        return self.status.escalation_level


def alerts_for(record: TicketRecord, book: SlaBook, now: datetime) -> list[SlaAlert]:
    return [SlaAlert(record, s, now - s.due_at) for s in deadline_status(record, book, now)]


def is_overdue(record: TicketRecord, book: SlaBook, now: datetime) -> bool:
    return any(s.overdue for s in sla_status(record, book, now))


@dataclass(frozen=True)
class AlertGroup:
    department: str
    escalation_level: int
    alerts: tuple[SlaAlert, ...]


def sla_alerts(
    records: Iterable[TicketRecord], book: SlaBook, now: datetime
) -> tuple[list[AlertGroup], list[AlertGroup]]:
    """(overdue, at risk), each grouped by department and escalation level, most escalated first."""
    overdue: dict[tuple[str, int], list[SlaAlert]] = defaultdict(list)
    at_risk: dict[tuple[str, int], list[SlaAlert]] = defaultdict(list)
    for record in records:
        for alert in alerts_for(record, book, now):
            target = overdue if alert.overdue else at_risk
            target[(alert.department, alert.escalation_level)].append(alert)
    return _groups(overdue), _groups(at_risk)


def _groups(grouped: dict[tuple[str, int], list[SlaAlert]]) -> list[AlertGroup]:
    keys = sorted(grouped, key=lambda k: (-k[1], k[0]))
    return [
        AlertGroup(dept, level, tuple(sorted(grouped[(dept, level)], key=lambda a: a.window.due_at)))
        for dept, level in keys
    ]


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


def _mean(values: list[timedelta]) -> timedelta | None:
    return timedelta(seconds=fmean(v.total_seconds() for v in values)) if values else None


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
    response_times: list[timedelta] = field(default_factory=list, repr=False)
    handling_times: list[timedelta] = field(default_factory=list, repr=False)

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
        return _mean(self.response_times)

    @property
    def avg_handling(self) -> timedelta | None:
        return _mean(self.handling_times)

    @property
    def score(self) -> float | None:
        """The mean of the rates that could be judged: the ranking's first key."""
        rates = [
            r for r in (self.response_rate, self.resolution_rate, self.satisfaction_rate) if r is not None
        ]
        return fmean(rates) if rates else None


def _lead_outcomes(figures: DepartmentFigures, record: TicketRecord, now: datetime) -> None:
    """Deadline outcomes of the current lead: counted once decided (done, or past due)."""
    sla = record.sla
    figures.led += 1
    figures.rated += len(record.ratings)
    figures.satisfied += sum(1 for r in record.ratings if r.rating.closes)
    if sla is None:
        return
    row = record.current_assignment(record.lead_department)
    accepted = sla.accepted_at or (row.accepted_at if row else None)
    if accepted is not None or now > sla.accept_due_at:
        figures.response_due += 1
        figures.responded_on_time += accepted is not None and accepted <= sla.accept_due_at
    resolved = sla.resolved_at or record.resolved_at
    if resolved is not None or (now > sla.resolve_due_at and sla.paused_since is None):
        figures.resolution_due += 1
        figures.resolved_on_time += resolved is not None and resolved <= sla.resolve_due_at


def department_figures(
    records: Iterable[TicketRecord], period: Period, book: SlaBook, now: datetime
) -> dict[str, DepartmentFigures]:
    """Figures per department over the tickets routed in ``period``.

    Response and handling times use every lead / co assignment row of those
    tickets (accepted − assigned; done − assigned). The three rates belong to
    the ticket's current lead: response = accepted by the accept deadline,
    resolution = resolved by the resolve deadline (each counted once decided),
    satisfaction = satisfied or basically satisfied among ratings.
    """
    out: dict[str, DepartmentFigures] = {}

    def of(code: str) -> DepartmentFigures:
        return out.setdefault(code, DepartmentFigures(code))

    for record in records:
        if record.routed_at not in period:
            continue
        seen: set[str] = set()
        for row in record.assignments:
            if row.role is AssignmentRole.triage:
                continue
            figures = of(row.department)
            if row.department not in seen:
                figures.tickets += 1
                seen.add(row.department)
            if row.accepted_at is not None:
                figures.response_times.append(row.accepted_at - row.assigned_at)
            if row.done_at is not None:
                figures.handling_times.append(row.done_at - row.assigned_at)
        if record.status is not TicketStatus.triage:
            _lead_outcomes(of(record.lead_department), record, now)
            of(record.lead_department).overdue_now += is_overdue(record, book, now)
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


def tickets_per_day(records: Iterable[TicketRecord], period: Period) -> DailyCounts:
    """Tickets routed on each local day of the period, by category (most frequent category first)."""
    counts: Counter[tuple[date, str]] = Counter()
    by_category: Counter[str] = Counter()
    for record in records:
        if record.routed_at in period:
            day = record.routed_at.astimezone(DISTRICT_ZONE).date()
            counts[(day, record.category)] += 1
            by_category[record.category] += 1
    span = (period.last_day - period.first_day).days + 1
    days = tuple(period.first_day + timedelta(days=i) for i in range(span))
    categories = tuple(sorted(by_category, key=lambda c: (-by_category[c], c)))
    return DailyCounts(days, categories, dict(counts))


def open_by_department(
    records: Iterable[TicketRecord], book: SlaBook, now: datetime
) -> dict[str, tuple[int, int]]:
    """Per lead department: (open tickets, overdue tickets) — for the metrics gauges."""
    out: dict[str, tuple[int, int]] = {}
    for record in records:
        if record.status in FINISHED:
            continue
        opened, overdue = out.get(record.lead_department, (0, 0))
        out[record.lead_department] = (opened + 1, overdue + is_overdue(record, book, now))
    return out
