"""Unit tests for the supervision reports: SLA alerts, the three rates, volume per day, chart geometry."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from consumers.dashboard import bar_chart, duration, percent
from consumers.sla_engine import SlaBook, open_windows
from consumers.supervision import (
    department_figures,
    open_by_department,
    parse_period,
    period_of_days,
    rank,
    sla_alerts,
    tickets_per_day,
)
from consumers.ticket_state import apply
from schemas.events import DISTRICT_ZONE, Priority, TicketRouted
from schemas.feedback import (
    CoDepartmentDone,
    RatedBy,
    Rating,
    SatisfactionRated,
    TicketAccepted,
    TicketResolved,
)
from schemas.sla import SlaClock, SlaStage, SlaTier
from schemas.ticket import TicketRecord
from tests.unit.factories import submission
from ztc.bootstrap import DEFAULT_POLICY, load_checked_policy

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=DISTRICT_ZONE)
HOUR = timedelta(hours=1)
_POLICY = load_checked_policy(DEFAULT_POLICY)
WALL_CLOCK_TIER = SlaTier(name="ordinary", accept="4 hours", resolve="48 hours")
BOOK = SlaBook(
    _POLICY.model_copy(update={"sla": _POLICY.sla.model_copy(update={"tiers": (WALL_CLOCK_TIER,)})})
)
"""Wall-clock targets, so a window's warning share is plain arithmetic in these tests."""


def open_stages(record: TicketRecord) -> list[SlaStage]:
    return [w.stage for w in open_windows(record, BOOK)]


def routed(
    n: int, lead: str = "approval", co: tuple[str, ...] = (), at: datetime = T0, category: str = "licence"
) -> TicketRecord:
    ticket_id = f"ZTC-20261102-{n:08d}"
    event = TicketRouted(
        ticket_id=ticket_id,
        occurred_at=at,
        submission=submission(ticket_id=ticket_id, channel_message_id=f"m-{n}", enterprise_name=f"企业{n}"),
        category=category,
        confidence=0.9,
        lead_department=lead,
        co_departments=co,
        priority=Priority.normal,
        policy_version="test",
    )
    return apply(None, event)


def with_sla(record: TicketRecord, accept_h: float = 4, resolve_h: float = 48, **fields: Any) -> TicketRecord:
    start = record.routed_at
    clock = SlaClock(
        tier="ordinary",
        accept_started_at=start,
        accept_due_at=start + accept_h * HOUR,
        resolve_started_at=start,
        resolve_due_at=start + resolve_h * HOUR,
        **fields,
    )
    return record.model_copy(update={"sla": clock})


def act(
    record: TicketRecord, event_type: type[Any], at: datetime, department: str, **fields: Any
) -> TicketRecord:
    event = event_type(ticket_id=record.ticket_id, occurred_at=at, department=department, actor="t", **fields)
    return apply(record, event)


def accepted(record: TicketRecord, at: datetime) -> TicketRecord:
    return act(record, TicketAccepted, at, record.lead_department)


def resolved(record: TicketRecord, at: datetime) -> TicketRecord:
    return act(record, TicketResolved, at, record.lead_department, resolution="已办结")


def rated(record: TicketRecord, rating: Rating, at: datetime) -> TicketRecord:
    return act(record, SatisfactionRated, at, "enterprise", rating=rating, rated_by=RatedBy.enterprise)


# ---------------------------------------------------------------- SLA stages and alerts


def test_records_without_sla_have_no_open_stage() -> None:
    assert open_stages(routed(1)) == []


def test_accept_stage_open_until_accepted_resolve_until_resolved() -> None:
    record = with_sla(routed(1))
    assert open_stages(record) == [SlaStage.accept, SlaStage.resolve]
    record = with_sla(accepted(routed(1), T0 + HOUR), accepted_at=T0 + HOUR)
    assert open_stages(record) == [SlaStage.resolve]
    assert open_stages(with_sla(resolved(accepted(routed(1), T0 + HOUR), T0 + 2 * HOUR))) == []


def test_a_paused_resolve_clock_is_neither_overdue_nor_at_risk() -> None:
    record = with_sla(accepted(routed(1), T0), paused_since=T0 + HOUR, accepted_at=T0)
    assert open_stages(record) == []
    overdue, at_risk = sla_alerts([record], BOOK, T0 + 100 * HOUR)
    assert overdue == [] and at_risk == []


def test_overdue_and_at_risk_are_grouped_by_department_and_level_most_escalated_first() -> None:
    late_accept = with_sla(routed(1, lead="approval"), escalation_level=1)
    late_supervised = with_sla(routed(2, lead="planning"), escalation_level=2)
    risky = with_sla(routed(3, lead="approval", at=T0 + 4 * HOUR), accept_h=10)
    fresh = with_sla(routed(4, lead="approval", at=T0 + 7 * HOUR), accept_h=10)
    now = T0 + 5 * HOUR  # the first two were due at T0+4h; the others have most of their window left
    overdue, at_risk = sla_alerts([late_accept, late_supervised, risky, fresh], BOOK, now)
    assert [(g.department, g.escalation_level) for g in overdue] == [("planning", 2), ("approval", 1)]
    assert [a.window.stage for a in overdue[1].alerts] == [SlaStage.accept]
    assert overdue[1].alerts[0].late_by == HOUR
    assert at_risk == []

    now = T0 + 12.5 * HOUR  # risky: 8.5h of 10h passed (85%), fresh: 5.5h (55%)
    overdue, at_risk = sla_alerts([risky, fresh], BOOK, now)
    assert overdue == []
    assert [a.record.ticket_id for g in at_risk for a in g.alerts] == [risky.ticket_id]
    assert at_risk[0].alerts[0].window.warn_at == risky.routed_at + 8 * HOUR  # 80% of 10 h


def test_an_overdue_accept_and_resolve_are_two_alerts() -> None:
    record = with_sla(routed(1), accept_h=1, resolve_h=2)
    overdue, _ = sla_alerts([record], BOOK, T0 + 3 * HOUR)
    assert [a.window.stage for a in overdue[0].alerts] == [SlaStage.accept, SlaStage.resolve]


# ---------------------------------------------------------------- the three rates


def test_response_rate_counts_only_decided_tickets() -> None:
    on_time = with_sla(accepted(routed(1), T0 + 2 * HOUR), accept_h=4)
    late = with_sla(accepted(routed(2), T0 + 5 * HOUR), accept_h=4)
    never = with_sla(routed(3), accept_h=4)  # past due at now: counts as missed
    not_due = with_sla(routed(4, at=T0 + 9 * HOUR), accept_h=4)  # still has time: not judged
    now = T0 + 10 * HOUR
    figures = department_figures(
        [on_time, late, never, not_due], period_of_days(T0.date(), T0.date()), BOOK, now
    )
    approval = figures["approval"]
    assert (approval.responded_on_time, approval.response_due) == (1, 3)
    assert approval.response_rate == pytest.approx(1 / 3)
    assert approval.tickets == 4 and approval.led == 4
    assert approval.avg_response == 3.5 * HOUR


def test_resolution_and_satisfaction_rates() -> None:
    first = resolved(accepted(routed(1), T0 + HOUR), T0 + 10 * HOUR)
    second = resolved(accepted(routed(2), T0 + HOUR), T0 + 30 * HOUR)
    records = [
        with_sla(rated(first, Rating.satisfied, T0 + 11 * HOUR), resolve_h=24),
        with_sla(rated(second, Rating.basically_satisfied, T0 + 31 * HOUR), resolve_h=24),
        with_sla(rated(resolved(accepted(routed(3), T0), T0 + HOUR), Rating.unsatisfied, T0 + 2 * HOUR)),
        with_sla(accepted(routed(4), T0), resolve_h=24),  # open and overdue at now
    ]
    now = T0 + 40 * HOUR
    approval = department_figures(records, period_of_days(T0.date(), T0.date()), BOOK, now)["approval"]
    assert (approval.resolved_on_time, approval.resolution_due) == (1, 3)
    assert (approval.satisfied, approval.rated) == (2, 3)
    assert approval.satisfaction_rate == pytest.approx(2 / 3)
    assert approval.overdue_now == 1  # the fourth; the unsatisfied one is reopened but still within 48 h


def test_handling_time_uses_each_departments_assignment_rows() -> None:
    record = routed(1, lead="approval", co=("planning",))
    record = act(record, TicketAccepted, T0 + HOUR, "planning")
    record = act(record, CoDepartmentDone, T0 + 3 * HOUR, "planning", note="已出具意见")
    figures = department_figures([record], period_of_days(T0.date(), T0.date()), BOOK, T0 + 5 * HOUR)
    assert figures["planning"].avg_response == HOUR
    assert figures["planning"].avg_handling == 3 * HOUR
    assert figures["planning"].led == 0 and figures["planning"].response_rate is None
    assert figures["approval"].avg_handling is None


def test_tickets_outside_the_period_do_not_count() -> None:
    inside, outside = routed(1), routed(2, at=T0 - timedelta(days=3))
    figures = department_figures([inside, outside], period_of_days(T0.date(), T0.date()), BOOK, T0 + HOUR)
    assert figures["approval"].tickets == 1


def test_ranking_puts_better_rates_first_and_unjudged_last() -> None:
    good = with_sla(accepted(routed(1, lead="approval"), T0 + HOUR))
    poor = with_sla(accepted(routed(2, lead="planning"), T0 + 9 * HOUR))
    unjudged = routed(3, lead="construction")
    figures = department_figures(
        [good, poor, unjudged], period_of_days(T0.date(), T0.date()), BOOK, T0 + 10 * HOUR
    )
    assert [f.department for f in rank(figures.values())] == ["approval", "planning", "construction"]


# ---------------------------------------------------------------- volume, periods, chart


def test_tickets_per_day_by_local_day_and_category() -> None:
    just_after_midnight = datetime(2026, 11, 3, 0, 30, tzinfo=DISTRICT_ZONE).astimezone(UTC)  # 11-02 in UTC
    records = [
        routed(1, category="licence"),
        routed(2, category="licence"),
        routed(3, category="land"),
        routed(4, category="land", at=just_after_midnight),
    ]
    daily = tickets_per_day(records, period_of_days(date(2026, 11, 1), date(2026, 11, 3)))
    assert daily.days == (date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3))
    assert daily.categories == ("land", "licence")
    assert daily.counts[(date(2026, 11, 2), "licence")] == 2
    assert daily.counts[(date(2026, 11, 3), "land")] == 1
    assert daily.total(date(2026, 11, 1)) == 0 and daily.total(date(2026, 11, 2)) == 3


def test_parse_period_defaults_and_errors() -> None:
    period = parse_period(None, None, date(2026, 11, 30))
    assert (period.first_day, period.last_day) == (date(2026, 11, 1), date(2026, 11, 30))
    period = parse_period("2026-11-02", "2026-11-02", date(2026, 11, 30))
    assert T0 in period and T0 + timedelta(days=1) not in period
    with pytest.raises(ValueError, match="2026-11-28"):
        parse_period("yesterday", None, date(2026, 11, 30))
    with pytest.raises(ValueError, match="before"):
        parse_period("2026-11-05", "2026-11-01", date(2026, 11, 30))


def test_bar_chart_stacks_categories_and_scales_to_the_busiest_day() -> None:
    records = [routed(1), routed(2), routed(3, category="land")]
    daily = tickets_per_day(records, period_of_days(date(2026, 11, 1), date(2026, 11, 2)))
    chart = bar_chart(daily, {"land": "用地"}, width=200, height=100)
    assert len(chart.bars) == 2
    heights = sorted(b.height for b in chart.bars)
    assert heights[1] == pytest.approx(2 * heights[0])
    assert sum(heights) == pytest.approx(chart.plot_bottom - 10)  # the busiest day fills the plot
    assert [name for name, _ in chart.legend] == ["licence", "用地"]
    assert bar_chart(tickets_per_day([], period_of_days(date(2026, 11, 1), date(2026, 11, 2))), {}).bars == ()


def test_open_by_department_and_formatting() -> None:
    records = [with_sla(routed(1)), routed(2), resolved(accepted(routed(3), T0), T0 + HOUR)]
    assert open_by_department(records, BOOK, T0 + 5 * HOUR) == {"approval": (2, 1)}
    assert duration(timedelta(days=2, hours=3)) == "2天3小时"
    assert duration(timedelta(hours=4, minutes=5)) == "4小时5分"
    assert duration(timedelta(seconds=38)) == "38秒"
    assert duration(None) == "—"
    assert percent(2 / 3) == "66.7%" and percent(None) == "—"
