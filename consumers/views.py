"""Views: every question a report asks, answered from the read model (never by reading every ticket).

One module for the dashboard's overview, the ``/metrics`` gauges, ``ztc overdue``
and ``ztc ticket show``'s time limits:

- ``sla_alerts(store, now)``: overdue and at-risk stages by department and
  escalation level, with exact counts and the most urgent ``limit`` of each group;
- ``overview(store, period, now)``: those, plus the department ranking and the
  tickets per day of a period;
- ``gauges(store, now)``: open and overdue tickets per lead department;
- ``overdue_items(store, now, department)``: every overdue and at-risk stage;
- ``ticket_sla(record, book, now)``: one ticket's stages and working time;
- ``supervision_report(store, period, now, policy)``: the weekly / monthly 督办通报.

Overdue and at risk always mean what ``sla_engine.sla_status`` says: the read
model indexes ``sla_engine.open_windows`` and compares the same way. A page
costs a few pipelined Redis commands per department, escalation level and day
of the period, whatever the number of tickets; only the tickets a page lists
are loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from consumers.assessment import Assessment, assess
from consumers.read_model import Group
from consumers.report import HotSpot, OverdueStage, SupervisionReport, build_report
from consumers.report_periods import ReportPeriod
from consumers.sla_engine import SlaBook, StageStatus, sla_status, working_time
from consumers.supervision import (
    DailyCounts,
    DepartmentFigures,
    Period,
    daily_counts,
    department_figures,
    rank,
)
from consumers.ticket_store import TicketStore
from schemas.policy import RoutingPolicy
from schemas.ticket import Assignment, TicketRecord

LIST_LIMIT = 20
"""Stages listed per (department, level) group on the dashboard; the counts are always complete."""


@dataclass(frozen=True)
class SlaAlert:
    """One overdue or at-risk stage and its ticket, as the dashboard lists it."""

    record: TicketRecord
    status: StageStatus
    late_by: timedelta
    """now − deadline: positive when late, negative (time left) when at risk"""


@dataclass(frozen=True)
class AlertGroup:
    department: str
    escalation_level: int
    alerts: tuple[SlaAlert, ...]
    total: int
    """every stage of the group, also those beyond ``alerts``"""

    @property
    def more(self) -> int:
        return self.total - len(self.alerts)


def _grouped(
    listed: dict[Group, list[StageStatus]],
    totals: dict[Group, int],
    records: dict[str, TicketRecord],
    now: datetime,
) -> list[AlertGroup]:
    out = []
    for group in sorted((g for g, n in totals.items() if n), key=lambda g: (-g[1], g[0])):
        alerts = tuple(
            SlaAlert(records[s.ticket_id], s, now - s.due_at) for s in listed[group] if s.ticket_id in records
        )
        out.append(AlertGroup(group[0], group[1], alerts, totals[group]))
    return out


def sla_alerts(
    store: TicketStore, now: datetime, limit: int = LIST_LIMIT
) -> tuple[list[AlertGroup], list[AlertGroup]]:
    """(overdue, at risk) by department and level, most escalated first, soonest deadline first in each."""
    reports = store.reports
    groups = reports.groups()
    counts = reports.stage_counts(groups, now)
    overdue, at_risk = reports.stages(groups, now, limit=limit)
    ids = sorted({s.ticket_id for lists in (overdue, at_risk) for items in lists.values() for s in items})
    records = {r.ticket_id: r for r in store.get_many(ids)}
    return (
        _grouped(overdue, {g: c.overdue for g, c in counts.items()}, records, now),
        _grouped(at_risk, {g: c.at_risk for g, c in counts.items()}, records, now),
    )


@dataclass(frozen=True)
class Overview:
    overdue: list[AlertGroup]
    at_risk: list[AlertGroup]
    ranking: list[DepartmentFigures]
    daily: DailyCounts
    overdue_by_department: dict[str, int] = field(default_factory=dict)
    """Tickets with at least one overdue stage, per lead department (the groups count stages)."""
    open_by_department: dict[str, int] = field(default_factory=dict)
    assessment: Assessment | None = None
    """The period's 12345 rates and fair ranking, when a policy was given."""

    def overdue_tickets(self, department: str | None = None) -> int:
        """Overdue tickets of one lead department, or of all."""
        counts = self.overdue_by_department
        return sum(counts.values()) if department is None else counts.get(department, 0)

    def open_tickets(self, department: str | None = None) -> int:
        counts = self.open_by_department
        return sum(counts.values()) if department is None else counts.get(department, 0)


def overview(
    store: TicketStore,
    period: Period,
    now: datetime,
    limit: int = LIST_LIMIT,
    policy: RoutingPolicy | None = None,
) -> Overview:
    """Everything the dashboard's first page shows."""
    overdue, at_risk = sla_alerts(store, now, limit)
    reports = store.reports
    days = reports.day_counts(period.days)
    departments = sorted({*_departments(days), *(g.department for g in overdue)})
    late = reports.overdue_tickets(departments, now)  # one query for the ranking and the headline
    figures = department_figures(days.values(), late)
    opened = reports.open_counts()
    return Overview(
        overdue,
        at_risk,
        rank(figures.values()),
        daily_counts(days, period),
        overdue_by_department={d: n for d, n in late.items() if n},
        open_by_department=opened,
        assessment=assess(days.values(), policy, late) if policy is not None else None,
    )


def _departments(days: dict[date, dict[str, int]]) -> list[str]:
    """Departments named in a period's day counters (``d|dept|name``)."""
    fields = {name for counters in days.values() for name in counters if name.startswith("d|")}
    return sorted({name[2:].rpartition("|")[0] for name in fields})


def gauges(store: TicketStore, now: datetime) -> dict[str, tuple[int, int]]:
    """Per lead department with open tickets: (open tickets, tickets with an overdue stage)."""
    reports = store.reports
    opened = reports.open_counts()
    overdue = reports.overdue_tickets(sorted(opened), now)
    return {department: (n, overdue.get(department, 0)) for department, n in opened.items()}


def overdue_items(store: TicketStore, now: datetime, department: str | None = None) -> list[StageStatus]:
    """Every overdue and at-risk stage (of one lead department, if given): overdue first, then by deadline."""
    reports = store.reports
    groups = [g for g in reports.groups() if department is None or g[0] == department]
    overdue, at_risk = reports.stages(groups, now)
    items = [s for lists in (overdue, at_risk) for group in groups for s in lists[group]]
    return sorted(items, key=lambda s: (not s.overdue, s.due_at, s.ticket_id, s.stage.value))


@dataclass(frozen=True)
class TicketSla:
    """One ticket's open stages judged at ``now`` and each assignment's working seconds."""

    stages: list[StageStatus]
    working: list[tuple[Assignment, int]]


def ticket_sla(record: TicketRecord, book: SlaBook, now: datetime) -> TicketSla:
    return TicketSla(sla_status(record, book, now), working_time(record, book, now))


REPORT_LIST_LIMIT = 500
"""Overdue stages a report lists per (department, level) group."""


def supervision_report(
    store: TicketStore,
    period: ReportPeriod,
    now: datetime,
    policy: RoutingPolicy,
    hot_spots: list[HotSpot] | None = None,
) -> SupervisionReport:
    """The 督办通报 of ``period``: its day counters and the previous period's, overdue tickets at ``now``."""
    reports = store.reports
    days = reports.day_counts(period.period.days)
    previous = reports.day_counts(period.previous.days)
    overdue, _ = sla_alerts(store, now, REPORT_LIST_LIMIT)
    stages = [
        OverdueStage(
            a.record,
            a.status.stage.label,
            a.status.department,
            a.status.due_at,
            a.late_by,
            g.escalation_level,
        )
        for g in overdue
        for a in g.alerts
    ]
    late = reports.overdue_tickets(_departments(days), now)
    return build_report(period, now, days.values(), previous.values(), policy, stages, late, hot_spots)
