"""The supervision report (督办通报, weekly or monthly): what it says, decided purely.

``build_report`` takes a period's and the previous period's day counters, the overdue
stages at ``now`` and, if hot-spot detection is connected, its hot spots; it returns the
headline figures with their trend, the department assessment (``consumers.assessment``),
the overdue and escalated tickets with their 督办 level, and the hot spots. The same
report is rendered as the dashboard's printable page (``report.html``), as an ``.xlsx``
(``consumers.report_xlsx``) and as a short robot summary (``summary_text``).

Hot spots: ``HotSpotSource`` is the hook, ``DetectedHotSpots`` reads the hot-spot worker's
reports through it. Without a source ``build_report`` gets ``None`` and the report says the
detection is not connected (an empty list would claim there were none).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from consumers import read_model as rm
from consumers.assessment import Assessment, assess
from consumers.report_periods import ReportPeriod
from consumers.supervision import Period
from schemas.events import Priority
from schemas.hotspot_events import HotSpotDetected
from schemas.policy import RoutingPolicy
from schemas.ticket import TicketRecord


@dataclass(frozen=True)
class Headline:
    """One headline figure, with the previous period's for the trend."""

    key: str
    label: str
    value: float | None
    previous: float | None
    rate: bool = True
    higher_is_better: bool = True

    @property
    def change(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous

    @property
    def trend(self) -> str:
        """``up`` / ``down`` / ``flat`` / ``none``: the direction of the change."""
        change = self.change
        if change is None:
            return "none"
        if abs(change) < 1e-9:
            return "flat"
        return "up" if change > 0 else "down"

    @property
    def better(self) -> bool | None:
        """Whether the change is good news (None: no change, or nothing to compare)."""
        if self.trend in ("none", "flat"):
            return None
        return (self.trend == "up") == self.higher_is_better


@dataclass(frozen=True)
class OverdueTicket:
    """One overdue ticket (its most pressing stage) with its 督办 level."""

    record: TicketRecord
    stage: str
    department: str
    due_at: datetime
    late_by: timedelta
    level: int

    @property
    def urgent(self) -> bool:
        return self.record.priority is Priority.urgent


@dataclass(frozen=True)
class HotSpot:
    """One hot spot as a report lists it (filled by the hot-spot stream's read side)."""

    street: str
    category: str
    heat: float
    enterprises: int
    ticket_ids: tuple[str, ...]
    suggestion: str = ""


class HotSpotSource(Protocol):
    """The hook a hot-spot store implements: the hot spots active during a period."""

    def hot_spots(self, period: Period) -> list[HotSpot]: ...


class DetectedHotSpots:
    """``HotSpotSource`` over the hot-spot worker's reports (``HotSpotDetected``, as
    ``consumers.hotspot_views.recent_hotspots`` reads them): those whose requests fall in the period."""

    def __init__(self, read: Callable[[], Sequence[HotSpotDetected]]) -> None:
        self.read = read

    def hot_spots(self, period: Period) -> list[HotSpot]:
        return [
            HotSpot(
                street=d.street,
                category=d.category,
                heat=d.heat,
                enterprises=d.enterprise_count,
                ticket_ids=tuple(t.ticket_id for t in d.tickets),
                suggestion=d.suggestion_text,
            )
            for d in self.read()
            if d.first_at < period.end and d.last_at >= period.start
        ]


@dataclass(frozen=True)
class SupervisionReport:
    period: ReportPeriod
    generated_at: datetime
    policy_version: str
    headlines: tuple[Headline, ...]
    assessment: Assessment
    overdue: tuple[OverdueTicket, ...]
    hot_spots: tuple[HotSpot, ...] | None
    """None: hot-spot detection is not connected to the reports."""

    @property
    def title(self) -> str:
        return f"营商效能督办通报（{self.period.kind.label}）{self.period.title}"

    @property
    def escalated(self) -> int:
        return sum(1 for t in self.overdue if t.level > 0)

    def headline(self, key: str) -> Headline:
        return next(h for h in self.headlines if h.key == key)


# ---------------------------------------------------------------- figures of a whole period


@dataclass(frozen=True)
class PeriodTotals:
    received: int
    rounds_done: int
    bounced: int
    redone: int
    response_due: int
    responded_on_time: int
    resolution_due: int
    resolved_on_time: int


def period_totals(days: Iterable[Mapping[str, int]]) -> PeriodTotals:
    """District-wide sums of a period's counters (every department's)."""
    sums: dict[str, int] = {}
    received = 0
    for counters in days:
        for name, n in counters.items():
            kind, _, rest = name.partition("|")
            if kind == "c":
                received += n
            elif kind == "d":
                counter = rest.rpartition("|")[2]
                sums[counter] = sums.get(counter, 0) + n
    return PeriodTotals(
        received=received,
        rounds_done=sums.get(rm.ROUNDS_DONE, 0),
        bounced=sums.get(rm.BOUNCED, 0),
        redone=sums.get(rm.REDONE, 0),
        response_due=sums.get(rm.RESPONSE_DUE, 0),
        responded_on_time=sums.get(rm.RESPONSE_MET, 0),
        resolution_due=sums.get(rm.RESOLUTION_DUE, 0),
        resolved_on_time=sums.get(rm.RESOLUTION_MET, 0),
    )


def _share(hits: int, total: int) -> float | None:
    return hits / total if total else None


def _figures(totals: PeriodTotals, assessment: Assessment) -> dict[str, float | None]:
    rates = assessment.district
    return {
        "received": float(totals.received),
        "resolved": float(totals.rounds_done),
        "callbacks": float(rates.valid),
        "response": rates.response,
        "resolution": rates.resolution,
        "satisfaction": rates.satisfaction,
        "composite": rates.composite,
        "accept_on_time": _share(totals.responded_on_time, totals.response_due),
        "resolve_on_time": _share(totals.resolved_on_time, totals.resolution_due),
        "bounce": _share(totals.bounced, totals.received),
        "redo": _share(totals.redone, totals.rounds_done),
    }


HEADLINES: tuple[tuple[str, str, bool, bool], ...] = (
    # key, label, is a rate, higher is better
    ("received", "受理工单 Tickets received", False, True),
    ("resolved", "办结（轮次） Rounds resolved", False, True),
    ("callbacks", "有效回访 Valid callbacks", False, True),
    ("composite", "综合得分 Composite score", True, True),
    ("response", "响应率 Response rate", True, True),
    ("resolution", "解决率 Resolution rate", True, True),
    ("satisfaction", "满意率 Satisfaction rate", True, True),
    ("accept_on_time", "签收及时率 On-time accept", True, True),
    ("resolve_on_time", "办结及时率 On-time resolve", True, True),
    ("bounce", "退单率 Bounce rate", True, False),
    ("redo", "重办率 Redo rate", True, False),
)


def headlines(
    now_figures: Mapping[str, float | None], before: Mapping[str, float | None]
) -> tuple[Headline, ...]:
    return tuple(
        Headline(key, label, now_figures.get(key), before.get(key), rate, higher)
        for key, label, rate, higher in HEADLINES
    )


# ---------------------------------------------------------------- overdue tickets


@dataclass(frozen=True)
class OverdueStage:
    """An overdue stage as ``consumers.views.sla_alerts`` lists it (its record loaded)."""

    record: TicketRecord
    stage: str
    department: str
    due_at: datetime
    late_by: timedelta
    level: int


def overdue_tickets(stages: Sequence[OverdueStage]) -> tuple[OverdueTicket, ...]:
    """One row per ticket: its most escalated, then longest overdue stage; most pressing first."""
    chosen: dict[str, OverdueStage] = {}
    for stage in stages:
        held = chosen.get(stage.record.ticket_id)
        if held is None or (stage.level, stage.late_by) > (held.level, held.late_by):
            chosen[stage.record.ticket_id] = stage
    rows = [
        OverdueTicket(s.record, s.stage, s.department, s.due_at, s.late_by, s.level) for s in chosen.values()
    ]
    return tuple(sorted(rows, key=lambda t: (-t.level, not t.urgent, -t.late_by, t.record.ticket_id)))


def build_report(
    period: ReportPeriod,
    now: datetime,
    days: Iterable[Mapping[str, int]],
    previous_days: Iterable[Mapping[str, int]],
    policy: RoutingPolicy,
    overdue: Sequence[OverdueStage] = (),
    overdue_now: Mapping[str, int] | None = None,
    hot_spots: Sequence[HotSpot] | None = None,
) -> SupervisionReport:
    days, previous_days = list(days), list(previous_days)
    assessment = assess(days, policy, overdue_now)
    before = assess(previous_days, policy)
    figures = _figures(period_totals(days), assessment)
    previous_figures = _figures(period_totals(previous_days), before)
    return SupervisionReport(
        period=period,
        generated_at=now,
        policy_version=policy.version,
        headlines=headlines(figures, previous_figures),
        assessment=assessment,
        overdue=overdue_tickets(overdue),
        hot_spots=None if hot_spots is None else tuple(hot_spots),
    )


def rate_text(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def figure_text(headline: Headline) -> str:
    if headline.rate:
        return rate_text(headline.value)
    return "—" if headline.value is None else f"{headline.value:.0f}"


def change_text(headline: Headline) -> str:
    """``+2.5 个百分点`` / ``-3`` / ``—``."""
    change = headline.change
    if change is None:
        return "—"
    if headline.rate:
        return f"{change * 100:+.1f} 个百分点 pp"
    return f"{change:+.0f}"


def summary_text(report: SupervisionReport, names: Mapping[str, str], link: str | None = None) -> str:
    """A few lines for a group robot: headline figures, red and black lists, overdue count."""
    lines = [f"【{report.title}】"]
    for key in ("received", "composite", "response", "resolution", "satisfaction", "resolve_on_time"):
        h = report.headline(key)
        lines.append(f"{h.label.split(' ')[0]} {figure_text(h)}（较上期 {change_text(h)}）")
    for grade in report.assessment.grades:
        red = "、".join(names.get(m.department, m.department) for m in grade.red) or "—"
        black = "、".join(names.get(m.department, m.department) for m in grade.black) or "—"
        lines.append(f"{grade.label.split(' ')[0]} 红榜：{red}；黑榜：{black}")
    lines.append(f"当前超期工单 {len(report.overdue)} 件，其中已升级督办 {report.escalated} 件")
    if link:
        lines.append(link)
    return "\n".join(lines)
