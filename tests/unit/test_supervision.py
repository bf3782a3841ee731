"""Supervision reports from the read model: SLA alerts, the three rates, volume per day, chart geometry.

Tickets live in an in-memory store with the real SLA engine (so the read model is
kept exactly as the recorder keeps it); the policy's tiers are wall-clock hours,
so windows and warning moments are plain arithmetic here. Before the read model,
these tests fed hand-made records to the reports and judged stages by a
wall-clock share; business-time judging is covered in test_sla_engine and
test_views.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from consumers import views
from consumers.dashboard import bar_chart, duration, percent
from consumers.sla_engine import SlaBook, alert_event
from consumers.supervision import daily_counts, parse_period, period_of_days
from consumers.ticket_store import InMemoryTicketStore, RecordStatus
from schemas.events import DISTRICT_ZONE, Event, Priority, TicketRouted
from schemas.feedback import (
    CoDepartmentDone,
    InformationRequested,
    RatedBy,
    Rating,
    SatisfactionRated,
    TicketAccepted,
    TicketResolved,
)
from schemas.sla import EscalationLevel, SlaRule, SlaStage, SlaTier
from schemas.ticket import TicketRecord
from tests.unit.factories import submission
from ztc.bootstrap import DEFAULT_POLICY, load_checked_policy

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=DISTRICT_ZONE)  # a Monday
HOUR = timedelta(hours=1)
_POLICY = load_checked_policy(DEFAULT_POLICY)
TEST_SLA = _POLICY.sla.model_copy(
    update={
        "hold_outside_working_hours": False,
        "tiers": (
            SlaTier(name="ordinary", accept="4 hours", resolve="48 hours"),
            SlaTier(name="long", accept="10 hours", resolve="48 hours"),
            SlaTier(name="day", accept="4 hours", resolve="24 hours"),
            SlaTier(name="short", accept="1 hours", resolve="2 hours"),
        ),
        "rules": tuple(SlaRule(tier=t, categories=(t,)) for t in ("long", "day", "short")),
        "escalation": (
            EscalationLevel(level=1, name="reminder", label="催办", after="0 seconds"),
            EscalationLevel(level=2, name="supervision", label="督办", after="2 hours", notify="office"),
            EscalationLevel(level=3, name="notice", label="通报", after="100 hours", notify="office"),
        ),
    }
)
BOOK = SlaBook(_POLICY.model_copy(update={"sla": TEST_SLA}))
"""Wall-clock tiers by category (ordinary 4 h / 48 h, long 10 h, day 24 h, short 1 h / 2 h)."""


@pytest.fixture()
def store() -> InMemoryTicketStore:
    return InMemoryTicketStore(book=BOOK)


def record(store: InMemoryTicketStore, event: Event) -> TicketRecord:
    outcome = store.record(event)
    assert outcome.status is RecordStatus.applied, outcome.reason
    assert outcome.record is not None
    return outcome.record


def routed(
    store: InMemoryTicketStore,
    n: int,
    lead: str = "approval",
    co: tuple[str, ...] = (),
    at: datetime = T0,
    category: str = "licence",
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
    return record(store, event)


def act(
    store: InMemoryTicketStore, ticket: TicketRecord, kind: type[Any], at: datetime, department: str, **f: Any
) -> TicketRecord:
    return record(
        store, kind(ticket_id=ticket.ticket_id, occurred_at=at, department=department, actor="t", **f)
    )


def accepted(store: InMemoryTicketStore, ticket: TicketRecord, at: datetime) -> TicketRecord:
    return act(store, ticket, TicketAccepted, at, ticket.lead_department)


def resolved(store: InMemoryTicketStore, ticket: TicketRecord, at: datetime) -> TicketRecord:
    return act(store, ticket, TicketResolved, at, ticket.lead_department, resolution="已办结")


def rated(store: InMemoryTicketStore, ticket: TicketRecord, rating: Rating, at: datetime) -> TicketRecord:
    return act(store, ticket, SatisfactionRated, at, "enterprise", rating=rating, rated_by=RatedBy.enterprise)


def monitor(store: InMemoryTicketStore, now: datetime) -> None:
    """Record every SLA alert due by ``now``, each at its firing moment, as the monitor would."""
    while True:
        due = [a for r in store.tickets.values() for a in BOOK.schedule(r) if a.fire_at <= now]
        if not due:
            return
        first = min(due, key=lambda a: (a.fire_at, a.kind != "breach", a.level))
        store.record(alert_event(first, BOOK, first.fire_at))


def figures(store: InMemoryTicketStore, first: date, last: date, now: datetime) -> dict[str, Any]:
    shown = views.overview(store, period_of_days(first, last), now)
    return {f.department: f for f in shown.ranking}


# ---------------------------------------------------------------- SLA alerts


def test_a_paused_resolve_clock_is_neither_overdue_nor_at_risk(store: InMemoryTicketStore) -> None:
    ticket = accepted(store, routed(store, 1), T0)
    act(store, ticket, InformationRequested, T0 + HOUR, "approval", question="请补充材料")
    assert views.sla_alerts(store, T0 + 100 * HOUR) == ([], [])


def test_overdue_and_at_risk_are_grouped_by_department_and_level_most_escalated_first(
    store: InMemoryTicketStore,
) -> None:
    late_accept = routed(store, 1, lead="approval")  # due T0+4h: 催办 at the breach
    routed(store, 2, lead="planning", at=T0 - 3 * HOUR)  # due T0+1h: 督办 two hours later
    risky = routed(store, 3, lead="approval", at=T0 + 4 * HOUR, category="long")  # warns T0+12h
    routed(store, 4, lead="approval", at=T0 + 7 * HOUR, category="long")  # warns T0+15h
    now = T0 + 5 * HOUR
    monitor(store, now)
    overdue, at_risk = views.sla_alerts(store, now)
    assert [(g.department, g.escalation_level) for g in overdue] == [("planning", 2), ("approval", 1)]
    assert [a.status.stage for a in overdue[1].alerts] == [SlaStage.accept]
    assert overdue[1].alerts[0].record.ticket_id == late_accept.ticket_id
    assert overdue[1].alerts[0].late_by == HOUR
    assert at_risk == []

    now = T0 + 12.5 * HOUR  # risky: 8.5 h of 10 h used (past 80 %); the other: 5.5 h
    monitor(store, now)
    _, at_risk = views.sla_alerts(store, now)
    assert [a.record.ticket_id for g in at_risk for a in g.alerts] == [risky.ticket_id]
    assert at_risk[0].alerts[0].status.due_at == T0 + 14 * HOUR
    assert at_risk[0].alerts[0].late_by == -1.5 * HOUR


def test_an_overdue_accept_and_resolve_are_two_alerts(store: InMemoryTicketStore) -> None:
    routed(store, 1, category="short")
    overdue, _ = views.sla_alerts(store, T0 + 3 * HOUR)
    assert [a.status.stage for a in overdue[0].alerts] == [SlaStage.accept, SlaStage.resolve]


def test_a_group_lists_the_most_urgent_and_counts_them_all(store: InMemoryTicketStore) -> None:
    for n in range(5):
        routed(store, n, at=T0 + n * timedelta(minutes=10))
    overdue, _ = views.sla_alerts(store, T0 + 10 * HOUR, limit=2)
    [group] = overdue
    assert group.total == 5 and group.more == 3
    assert [a.record.ticket_id[-1] for a in group.alerts] == ["0", "1"]  # most late first


# ---------------------------------------------------------------- the three rates


def test_response_rate_counts_decided_deadlines(store: InMemoryTicketStore) -> None:
    accepted(store, routed(store, 1), T0 + 2 * HOUR)  # in time
    accepted(store, routed(store, 2), T0 + 5 * HOUR)  # late (no breach recorded first)
    routed(store, 3)  # never accepted: missed at the breach the monitor records
    routed(store, 4, at=T0 + 9 * HOUR)  # still has time: not judged
    now = T0 + 10 * HOUR
    monitor(store, now)
    approval = figures(store, T0.date(), T0.date(), now)["approval"]
    assert (approval.responded_on_time, approval.response_due) == (1, 3)
    assert approval.response_rate == pytest.approx(1 / 3)
    assert approval.tickets == 4 and approval.led == 4
    assert approval.avg_response == 3.5 * HOUR
    assert approval.overdue_now == 1  # the third; the others' resolve clocks have days left


def test_resolution_and_satisfaction_rates_count_each_round_on_its_day(store: InMemoryTicketStore) -> None:
    first = resolved(store, accepted(store, routed(store, 1, category="day"), T0 + HOUR), T0 + 10 * HOUR)
    rated(store, first, Rating.satisfied, T0 + 11 * HOUR)
    second = accepted(store, routed(store, 2, category="day"), T0 + HOUR)
    third = resolved(store, accepted(store, routed(store, 3, category="day"), T0), T0 + HOUR)
    rated(store, third, Rating.unsatisfied, T0 + 2 * HOUR)  # reopened: a new resolve round, due T0+26h
    accepted(store, routed(store, 4, category="day"), T0)
    monitor(store, T0 + 14 * HOUR)
    resolved(store, second, T0 + 14 * HOUR)  # 23:00 on day one, before its deadline (T0+24h)
    rated(store, second, Rating.basically_satisfied, T0 + 14.5 * HOUR)

    now = T0 + 40 * HOUR  # the fourth and the reopened third are past their deadlines: breaches recorded
    monitor(store, now)
    day_one = figures(store, T0.date(), T0.date(), now)["approval"]
    assert (day_one.resolved_on_time, day_one.resolution_due) == (3, 3)  # first, third's round 0, second
    assert (day_one.satisfied, day_one.rated) == (2, 3)
    both = figures(store, T0.date(), T0.date() + timedelta(days=1), now)["approval"]
    assert (both.resolved_on_time, both.resolution_due) == (3, 5)  # + the misses decided on day two
    assert both.satisfaction_rate == pytest.approx(2 / 3)
    assert both.overdue_now == 2


def test_handling_time_uses_each_departments_assignment_rows(store: InMemoryTicketStore) -> None:
    ticket = routed(store, 1, lead="approval", co=("planning",))
    ticket = act(store, ticket, TicketAccepted, T0 + HOUR, "planning")
    act(store, ticket, CoDepartmentDone, T0 + 3 * HOUR, "planning", note="已出具意见")
    shown = figures(store, T0.date(), T0.date(), T0 + 3.5 * HOUR)
    assert shown["planning"].avg_response == HOUR
    assert shown["planning"].avg_handling == 3 * HOUR
    assert shown["planning"].led == 0 and shown["planning"].response_rate is None
    assert shown["approval"].avg_handling is None


def test_what_happened_outside_the_period_does_not_count(store: InMemoryTicketStore) -> None:
    routed(store, 1)
    routed(store, 2, at=T0 - timedelta(days=3))
    assert figures(store, T0.date(), T0.date(), T0 + HOUR)["approval"].tickets == 1


def test_ranking_puts_better_rates_first_and_unjudged_last(store: InMemoryTicketStore) -> None:
    accepted(store, routed(store, 1, lead="approval"), T0 + HOUR)
    accepted(store, routed(store, 2, lead="planning"), T0 + 9 * HOUR)
    routed(store, 3, lead="construction", at=T0 + 9 * HOUR)
    shown = views.overview(store, period_of_days(T0.date(), T0.date()), T0 + 10 * HOUR)
    assert [f.department for f in shown.ranking] == ["approval", "planning", "construction"]


# ---------------------------------------------------------------- volume, periods, chart


def test_tickets_per_day_by_local_day_and_category(store: InMemoryTicketStore) -> None:
    just_after_midnight = datetime(2026, 11, 3, 0, 30, tzinfo=DISTRICT_ZONE).astimezone(UTC)  # 11-02 in UTC
    routed(store, 1, category="licence")
    routed(store, 2, category="licence")
    routed(store, 3, category="land")
    routed(store, 4, category="land", at=just_after_midnight)
    daily = views.overview(store, period_of_days(date(2026, 11, 1), date(2026, 11, 3)), T0).daily
    assert daily.days == (date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3))
    assert daily.categories == ("land", "licence")
    assert daily.counts[(date(2026, 11, 2), "licence")] == 2
    assert daily.counts[(date(2026, 11, 3), "land")] == 1
    assert daily.total(date(2026, 11, 1)) == 0 and daily.total(date(2026, 11, 2)) == 3


def test_parse_period_defaults_and_errors() -> None:
    period = parse_period(None, None, date(2026, 11, 30))
    assert (period.first_day, period.last_day) == (date(2026, 11, 1), date(2026, 11, 30))
    assert len(period.days) == 30 and period.days[0] == date(2026, 11, 1)
    period = parse_period("2026-11-02", "2026-11-02", date(2026, 11, 30))
    assert T0 in period and T0 + timedelta(days=1) not in period
    with pytest.raises(ValueError, match="2026-11-28"):
        parse_period("yesterday", None, date(2026, 11, 30))
    with pytest.raises(ValueError, match="before"):
        parse_period("2026-11-05", "2026-11-01", date(2026, 11, 30))


def test_bar_chart_stacks_categories_and_scales_to_the_busiest_day() -> None:
    period = period_of_days(date(2026, 11, 1), date(2026, 11, 2))
    daily = daily_counts({date(2026, 11, 2): {"c|licence": 2, "c|land": 1, "d|approval|tickets": 3}}, period)
    chart = bar_chart(daily, {"land": "用地"}, width=200, height=100)
    assert len(chart.bars) == 2
    heights = sorted(b.height for b in chart.bars)
    assert heights[1] == pytest.approx(2 * heights[0])
    assert sum(heights) == pytest.approx(chart.plot_bottom - 10)  # the busiest day fills the plot
    assert [name for name, _ in chart.legend] == ["licence", "用地"]
    assert bar_chart(daily_counts({}, period), {}).bars == ()


def test_gauges_count_open_and_overdue_tickets_and_formatting(store: InMemoryTicketStore) -> None:
    routed(store, 1)
    routed(store, 2, at=T0 + 4 * HOUR)
    resolved(store, accepted(store, routed(store, 3), T0), T0 + HOUR)
    assert views.gauges(store, T0 + 5 * HOUR) == {"approval": (2, 1)}
    assert duration(timedelta(days=2, hours=3)) == "2天3小时"
    assert duration(timedelta(hours=4, minutes=5)) == "4小时5分"
    assert duration(timedelta(seconds=38)) == "38秒"
    assert duration(None) == "—"
    assert percent(2 / 3) == "66.7%" and percent(None) == "—"
