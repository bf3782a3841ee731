"""The pure SLA engine: tiers, stamped deadlines, pauses, re-routing, extensions and the alert schedule."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from consumers.sla_engine import (
    SlaBook,
    SlaState,
    alert_event,
    deadline_status,
    open_windows,
    outcomes_of,
    sla_status,
)
from consumers.ticket_store import InMemoryTicketStore
from schemas.events import DISTRICT_ZONE, Event, Priority, TicketRouted
from schemas.feedback import (
    BounceReason,
    ExtensionApproved,
    ExtensionRequested,
    InformationRequested,
    InformationSupplied,
    RatedBy,
    Rating,
    SatisfactionRated,
    TicketAccepted,
    TicketBounced,
    TicketDispatched,
    TicketResolved,
)
from schemas.policy import RoutingPolicy
from schemas.sla import SlaBreached, SlaEscalated, SlaStage, SlaWarning
from schemas.sla_rules import tier_for
from schemas.ticket import TicketRecord
from streams.routing import route_ticket
from tests.unit.factories import submission
from ztc.bootstrap import DEFAULT_POLICY, load_checked_policy

FRIDAY_4PM = datetime(2026, 11, 27, 16, 0, tzinfo=DISTRICT_ZONE)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=DISTRICT_ZONE)


@pytest.fixture(scope="module")
def policy() -> RoutingPolicy:
    return load_checked_policy(DEFAULT_POLICY)


@pytest.fixture()
def store(policy: RoutingPolicy) -> InMemoryTicketStore:
    return InMemoryTicketStore(book=SlaBook(policy))


def record_all(store: InMemoryTicketStore, *events: Event) -> TicketRecord:
    for event in events:
        outcome = store.record(event)
        assert outcome.status.value == "applied", outcome.reason
    record = store.get(events[0].ticket_id)
    assert record is not None
    return record


def ordinary(policy: RoutingPolicy, when: datetime = FRIDAY_4PM) -> TicketRouted:
    return route_ticket(submission("我们想办理食品经营许可证"), policy, when)


def action(cls: type, department: str, when: datetime, **fields: object) -> Event:
    event: Event = cls(
        ticket_id="ZTC-20261127-00000001", occurred_at=when, department=department, actor="张", **fields
    )
    return event


def test_tiers_follow_priority_and_default(policy: RoutingPolicy) -> None:
    assert tier_for(policy.sla, "admin_licence", Priority.urgent, False).name == "urgent"
    assert tier_for(policy.sla, "admin_licence", Priority.normal, False).name == "ordinary"


def test_router_stamps_deadlines_by_the_legal_count(policy: RoutingPolicy) -> None:
    routed = ordinary(policy)
    assert routed.sla_tier == "ordinary"
    assert routed.accept_due_at == at(30, 17, 30)  # Friday + 1 working day → Monday 17:30
    assert routed.resolve_due_at == datetime(2026, 12, 8, 17, 30, tzinfo=DISTRICT_ZONE)
    urgent = route_ticket(submission("燃气接入问题导致停工，情况紧急"), policy, FRIDAY_4PM)
    assert urgent.accept_due_at == FRIDAY_4PM + timedelta(hours=2)


def test_untouched_ticket_schedule(store: InMemoryTicketStore, policy: RoutingPolicy) -> None:
    record = record_all(store, ordinary(policy))
    alerts = {(a.stage, a.kind, a.level): a for a in SlaBook(policy).schedule(record)}
    assert len(alerts) == 10  # warning, breach, three rungs, for both stages
    assert alerts[(SlaStage.accept, "breach", 0)].fire_at == at(30, 17, 30)
    assert alerts[(SlaStage.accept, "escalation", 1)].fire_at == at(30, 17, 30)
    assert alerts[(SlaStage.accept, "escalation", 2)].fire_at == datetime(
        2026, 12, 1, 17, 30, tzinfo=DISTRICT_ZONE
    )
    warn = alerts[(SlaStage.accept, "warning", 0)].fire_at
    assert at(30, 8, 30) <= warn < at(30, 17, 30)  # 80% of a business window, inside working hours


def test_alerts_outside_working_hours_are_held_unless_urgent(policy: RoutingPolicy) -> None:
    night = datetime(2026, 11, 27, 21, 0, tzinfo=DISTRICT_ZONE)
    store = InMemoryTicketStore(book=SlaBook(policy))
    urgent = record_all(store, route_ticket(submission("工地停工，情况紧急，燃气接入"), policy, night))
    book = SlaBook(policy)
    warning = next(a for a in book.schedule(urgent) if a.kind == "warning" and a.stage is SlaStage.accept)
    assert warning.fire_at == night + timedelta(minutes=96)  # 80% of 2 wall-clock hours, at night
    relaxed = policy.model_copy(update={"sla": policy.sla.model_copy(update={"rules": ()})})
    store2 = InMemoryTicketStore(book=SlaBook(relaxed))
    ordinary_night = record_all(store2, route_ticket(submission("办理食品经营许可证"), relaxed, night))
    for alert in SlaBook(relaxed).schedule(ordinary_night):
        if alert.kind != "breach":
            assert SlaBook(relaxed).calendar.is_working_time(alert.fire_at), alert


def test_accepting_stops_the_accept_clock(store: InMemoryTicketStore, policy: RoutingPolicy) -> None:
    record = record_all(store, ordinary(policy), action(TicketAccepted, "approval", at(27, 16, 30)))
    assert record.sla is not None and record.sla.accepted_at == at(27, 16, 30)
    stages = {a.stage for a in SlaBook(policy).schedule(record)}
    assert stages == {SlaStage.resolve}


def test_awaiting_the_enterprise_pauses_and_moves_deadlines(
    store: InMemoryTicketStore, policy: RoutingPolicy
) -> None:
    routed = ordinary(policy)
    record = record_all(
        store,
        routed,
        action(TicketAccepted, "approval", at(27, 16, 30)),
        action(InformationRequested, "approval", at(30, 9, 0), question="请补充材料"),
    )
    assert SlaBook(policy).schedule(record) == []  # nothing fires while paused
    record = record_all(store, action(InformationSupplied, "enterprise", at(30, 11, 0), content="已补充"))
    assert record.sla is not None
    assert record.sla.paused_seconds == 2 * 3600
    assert record.sla.resolve_due_at == datetime(2026, 12, 9, 10, 30, tzinfo=DISTRICT_ZONE)
    assert routed.resolve_due_at == datetime(
        2026, 12, 8, 17, 30, tzinfo=DISTRICT_ZONE
    )  # moved by 2 working hours


def test_an_approved_extension_moves_the_resolve_deadline(
    store: InMemoryTicketStore, policy: RoutingPolicy
) -> None:
    record = record_all(
        store,
        ordinary(policy),
        action(TicketAccepted, "approval", at(27, 16, 30)),
        action(ExtensionRequested, "approval", at(30, 9, 0), extension="5 working days", reason="需检测"),
        action(ExtensionApproved, "office", at(30, 10, 0)),
    )
    assert record.sla is not None and record.sla.extensions == 1
    assert record.sla.resolve_due_at == datetime(2026, 12, 15, 17, 30, tzinfo=DISTRICT_ZONE)


def test_bounce_and_reroute_give_the_new_department_its_own_clocks(
    store: InMemoryTicketStore, policy: RoutingPolicy
) -> None:
    first = ordinary(policy)
    bounced = record_all(
        store,
        first,
        action(TicketBounced, "approval", at(30, 10, 0), reason=BounceReason.not_our_remit, note="x"),
    )
    assert isinstance(first, TicketRouted)
    again = route_ticket(first.submission, policy, at(30, 10, 5), frozenset({"approval"}), event_id="re-1")
    record = record_all(store, again.model_copy(update={"reroute_request_id": bounced.reroute_request_id}))
    assert record.sla is not None and record.sla.round == 1
    assert record.sla.accept_started_at == at(30, 10, 5)
    assert record.sla.accept_due_at == datetime(2026, 12, 1, 17, 30, tzinfo=DISTRICT_ZONE)
    assert all(a.key.endswith(":1") for a in SlaBook(policy).schedule(record))


def test_unsatisfied_callback_starts_a_new_resolve_round(
    store: InMemoryTicketStore, policy: RoutingPolicy
) -> None:
    record = record_all(
        store,
        ordinary(policy),
        action(TicketAccepted, "approval", at(27, 16, 30)),
        action(TicketResolved, "approval", at(30, 9, 0), resolution="已办"),
    )
    assert SlaBook(policy).schedule(record) == []
    record = record_all(
        store,
        action(
            SatisfactionRated,
            "enterprise",
            at(30, 15, 0),
            rating=Rating.unsatisfied,
            rated_by=RatedBy.enterprise,
        ),
    )
    assert record.sla is not None and record.sla.round == 1 and record.sla.resolved_at is None
    assert record.sla.resolve_started_at == at(30, 15, 0)
    assert {a.stage for a in SlaBook(policy).schedule(record)} == {SlaStage.resolve}


def test_recorded_sla_events_are_not_scheduled_again(
    store: InMemoryTicketStore, policy: RoutingPolicy
) -> None:
    book = SlaBook(policy)
    record = record_all(store, ordinary(policy))
    alerts = sorted(book.schedule(record), key=lambda a: (a.fire_at, a.kind != "breach", a.level))
    now = at(30, 17, 31)
    events = [alert_event(a, book, now) for a in alerts if a.fire_at <= now]
    assert [type(e) for e in events] == [SlaWarning, SlaBreached, SlaEscalated]
    record = record_all(store, *events)
    assert record.sla is not None
    assert record.sla.breached == (SlaStage.accept,) and record.sla.escalation_level == 1
    assert {a.key for a in book.schedule(record)}.isdisjoint(e.key for e in events)
    assert store.record(events[0]).status.value == "duplicate"
    [status] = [s for s in deadline_status(record, book, now) if s.stage is SlaStage.accept]
    assert status.overdue and status.late_seconds == 60


# ---------------------------------------------------------------- the one status rule


def test_friday_4pm_is_not_at_risk_on_monday_8am_in_business_time(
    store: InMemoryTicketStore, policy: RoutingPolicy
) -> None:
    """1 working day from Friday 16:00 is due Monday 17:30; 80 % of its 9 working hours is Monday 15:42.

    (The dashboard's old wall-clock share called it at risk from Monday 02:48.)
    """
    book = SlaBook(policy)
    record = record_all(store, ordinary(policy))
    [accept] = [w for w in open_windows(record, book) if w.stage is SlaStage.accept]
    assert accept.warn_at == at(30, 15, 42) and accept.due_at == at(30, 17, 30)
    assert accept.state(at(30, 8, 0)) is SlaState.on_track
    assert deadline_status(record, book, at(30, 8, 0)) == []
    assert accept.state(at(30, 15, 42)) is SlaState.at_risk
    assert accept.state(at(30, 17, 30)) is SlaState.at_risk  # due, not yet late
    late = [s for s in sla_status(record, book, at(30, 17, 31)) if s.stage is SlaStage.accept]
    assert late[0].overdue and late[0].late_seconds == 60


def test_a_wall_clock_target_warns_at_its_wall_clock_share(policy: RoutingPolicy) -> None:
    night = datetime(2026, 11, 27, 21, 0, tzinfo=DISTRICT_ZONE)
    store = InMemoryTicketStore(book=SlaBook(policy))
    urgent = record_all(store, route_ticket(submission("工地停工，情况紧急，燃气接入"), policy, night))
    [accept] = [w for w in open_windows(urgent, SlaBook(policy)) if w.stage is SlaStage.accept]
    assert accept.warn_at == night + timedelta(minutes=96)


def test_an_urgent_ticket_in_triage_warns_the_office_at_once(policy: RoutingPolicy) -> None:
    night = datetime(2026, 11, 27, 21, 0, tzinfo=DISTRICT_ZONE)
    book = SlaBook(policy)
    vague_urgent = route_ticket(submission("情况紧急，有问题想反映"), policy, night)
    assert vague_urgent.manual_triage and vague_urgent.priority is Priority.urgent
    record = record_all(InMemoryTicketStore(book=book), vague_urgent)
    warning = next(a for a in book.schedule(record) if a.kind == "warning" and a.stage is SlaStage.accept)
    assert (warning.fire_at, warning.department) == (night, "office")
    assert [s.state for s in sla_status(record, book, night) if s.stage is SlaStage.accept] == [
        SlaState.at_risk
    ]
    vague = record_all(
        InMemoryTicketStore(book=book), route_ticket(submission("有问题想反映"), policy, night)
    )
    later = next(a for a in book.schedule(vague) if a.kind == "warning" and a.stage is SlaStage.accept)
    assert later.fire_at > night  # an ordinary triage ticket warns at its usual share


def test_rerouting_shows_nothing_triage_counts_against_the_office_paused_shows_nothing(
    store: InMemoryTicketStore, policy: RoutingPolicy
) -> None:
    book = SlaBook(policy)
    late = datetime(2026, 12, 31, 9, 0, tzinfo=DISTRICT_ZONE)  # every deadline long past
    bounced = record_all(
        store,
        ordinary(policy),
        action(TicketBounced, "approval", at(27, 16, 30), reason=BounceReason.not_our_remit, note="x"),
    )
    assert bounced.status.value == "rerouting"
    assert sla_status(bounced, book, late) == [] and open_windows(bounced, book) == []
    assert SlaBook(policy).schedule(bounced) == []  # the monitor agrees

    triage = route_ticket(submission("有问题想反映"), policy, FRIDAY_4PM)
    assert triage.manual_triage
    routed = record_all(InMemoryTicketStore(book=book), triage)
    statuses = sla_status(routed, book, late)
    assert {(s.stage, s.department, s.state) for s in statuses} == {
        (SlaStage.accept, "office", SlaState.overdue),
        (SlaStage.resolve, "office", SlaState.overdue),
    }

    paused = record_all(
        InMemoryTicketStore(book=book),
        ordinary(policy),
        action(TicketAccepted, "approval", at(27, 16, 30)),
        action(InformationRequested, "approval", at(30, 9, 0), question="请补充材料"),
    )
    assert sla_status(paused, book, late) == []


# ---------------------------------------------------------------- outcomes: met or missed, once


def outcome_view(record: TicketRecord) -> list[tuple[str, str, int, bool]]:
    return [(o.stage.value, o.department, o.round, o.met) for o in outcomes_of(record)]


def test_accepting_and_resolving_decide_their_stages_once(
    store: InMemoryTicketStore, policy: RoutingPolicy
) -> None:
    record = record_all(store, ordinary(policy))
    assert record.sla is not None and record.sla.outcomes == ()
    record = record_all(
        store,
        action(TicketAccepted, "approval", at(30, 18, 0)),  # after Monday 17:30: late, no breach recorded
        action(TicketResolved, "approval", at(30, 18, 30), resolution="已办"),
    )
    assert outcome_view(record) == [("accept", "approval", 0, False), ("resolve", "approval", 0, True)]
    assert record.sla is not None and record.sla.outcomes is not None
    assert record.sla.outcomes[0].decided_at == at(30, 18, 0)


def test_a_recorded_breach_decides_missed_and_a_late_accept_adds_nothing(
    store: InMemoryTicketStore, policy: RoutingPolicy
) -> None:
    book = SlaBook(policy)
    record = record_all(store, ordinary(policy))
    breach = next(a for a in book.schedule(record) if a.kind == "breach" and a.stage is SlaStage.accept)
    record = record_all(store, alert_event(breach, book, at(30, 17, 30)))
    assert outcome_view(record) == [("accept", "approval", 0, False)]
    record = record_all(store, action(TicketAccepted, "approval", at(1, 9, 0) + timedelta(days=30)))
    assert outcome_view(record) == [("accept", "approval", 0, False)]


def test_a_breach_recorded_after_the_accept_decides_nothing(
    store: InMemoryTicketStore, policy: RoutingPolicy
) -> None:
    book = SlaBook(policy)
    record = record_all(store, ordinary(policy))
    breach = next(a for a in book.schedule(record) if a.kind == "breach" and a.stage is SlaStage.accept)
    record = record_all(store, action(TicketAccepted, "approval", at(30, 9, 0)))
    record = record_all(store, alert_event(breach, book, at(30, 17, 30)))  # published before the accept
    assert outcome_view(record) == [("accept", "approval", 0, True)]


def test_outcomes_survive_a_new_lead_and_reopening_and_triage_decides_nothing(
    store: InMemoryTicketStore, policy: RoutingPolicy
) -> None:
    unsatisfied = {"rating": Rating.unsatisfied, "rated_by": RatedBy.enterprise}
    record = record_all(
        store,
        ordinary(policy),
        action(TicketAccepted, "approval", at(27, 16, 30)),
        action(TicketBounced, "approval", at(30, 10, 0), reason=BounceReason.not_our_remit, note="x"),
        action(TicketDispatched, "office", at(30, 10, 5), lead_department="market"),
        action(TicketAccepted, "market", at(30, 11, 0)),
        action(TicketResolved, "market", at(30, 15, 0), resolution="已办"),
        action(SatisfactionRated, "enterprise", at(30, 16, 0), **unsatisfied),
        action(TicketResolved, "market", at(30, 17, 0), resolution="再办"),
    )
    assert outcome_view(record) == [
        ("accept", "approval", 0, True),
        ("accept", "market", 1, True),
        ("resolve", "market", 1, True),
        ("resolve", "market", 2, True),
    ]
    book = SlaBook(policy)
    triage = InMemoryTicketStore(book=book)
    routed = record_all(triage, route_ticket(submission("有问题想反映"), policy, FRIDAY_4PM))
    breach = next(a for a in book.schedule(routed) if a.kind == "breach" and a.stage is SlaStage.accept)
    assert outcomes_of(record_all(triage, alert_event(breach, book, breach.fire_at))) == ()


def test_records_from_before_outcomes_read_their_current_round_off_the_clock(
    store: InMemoryTicketStore, policy: RoutingPolicy
) -> None:
    record = record_all(store, ordinary(policy), action(TicketAccepted, "approval", at(27, 16, 30)))
    assert record.sla is not None
    legacy = record.model_copy(update={"sla": record.sla.model_copy(update={"outcomes": None})})
    assert outcome_view(legacy) == [("accept", "approval", 0, True)]
    breached = legacy.model_copy(
        update={"sla": legacy.sla.model_copy(update={"breached": (SlaStage.resolve,)})}  # type: ignore[union-attr]
    )
    assert outcome_view(breached) == [("accept", "approval", 0, True), ("resolve", "approval", 0, False)]
    old_store = InMemoryTicketStore(book=SlaBook(policy), tickets={legacy.ticket_id: legacy})
    later = record_all(old_store, action(TicketResolved, "approval", at(30, 9, 0), resolution="已办"))
    assert outcome_view(later) == [("accept", "approval", 0, True), ("resolve", "approval", 0, True)]
