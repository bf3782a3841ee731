"""What the recorder publishes after recording: re-route requests and department notifications."""

from __future__ import annotations

from datetime import timedelta

from consumers.follow_ups import follow_ups
from schemas.events import RerouteRequested
from schemas.feedback import (
    BounceReason,
    DuplicateMerged,
    JointMeetingConvened,
    TicketAccepted,
    TicketBounced,
    TicketDispatched,
    TicketMerged,
)
from schemas.ticket_state import apply
from schemas.topics import Topics
from tests.unit.factories import NOW
from tests.unit.store_contract import routed

TOPICS = Topics(prefix="p.")


def test_a_lead_bounce_asks_to_route_again_without_every_bouncer() -> None:
    state = apply(None, routed("T1", lead="approval", co=("street-licun",)))
    bounce = TicketBounced(
        ticket_id="T1",
        occurred_at=NOW + timedelta(minutes=5),
        department="approval",
        actor="王",
        reason=BounceReason.not_our_remit,
        note="不是我们的",
    )
    after = apply(state, bounce)
    [follow_up] = follow_ups(bounce, after, TOPICS)
    assert follow_up.topic == "p.tickets.reroute"
    request = follow_up.event
    assert isinstance(request, RerouteRequested)
    assert request.excluded_departments == ("approval",)
    assert request.submission == state.submission
    assert follow_ups(bounce, after, TOPICS)[0].event.event_id == request.event_id  # redelivery: same id


def test_a_co_department_bounce_needs_no_reroute() -> None:
    state = apply(None, routed("T2", lead="approval", co=("street-licun",)))
    bounce = TicketBounced(
        ticket_id="T2",
        occurred_at=NOW,
        department="street-licun",
        actor="街道",
        reason="wrong_street",
        note="非本街道",
    )
    assert follow_ups(bounce, apply(state, bounce), TOPICS) == []


def test_dispatch_and_convene_notify_the_departments_they_bring_in() -> None:
    state = apply(None, routed("T3", lead="office"))
    dispatch = TicketDispatched(
        ticket_id="T3",
        occurred_at=NOW,
        department="office",
        actor="区府办",
        lead_department="market",
        co_departments=("urban",),
    )
    assert [f.topic for f in follow_ups(dispatch, state, TOPICS)] == ["p.dept.market", "p.dept.urban"]
    convene = JointMeetingConvened(
        ticket_id="T3",
        occurred_at=NOW,
        department="office",
        actor="区府办",
        departments=("health",),
        note="联席",
    )
    assert [f.topic for f in follow_ups(convene, state, TOPICS)] == ["p.dept.health"]
    accept = TicketAccepted(ticket_id="T3", occurred_at=NOW, department="office", actor="x")
    assert follow_ups(accept, state, TOPICS) == []
    assert follow_ups(accept, None, TOPICS) == []


def test_a_merge_notes_itself_on_the_ticket_kept_once() -> None:
    state = apply(None, routed("T4", lead="approval"))
    merge = TicketMerged(ticket_id="T4", occurred_at=NOW, department="office", actor="zhao", into="T5")
    [follow_up] = follow_ups(merge, apply(state, merge), TOPICS)
    note = follow_up.event
    assert follow_up.topic == "p.tickets.feedback" and isinstance(note, DuplicateMerged)
    assert (note.ticket_id, note.duplicate, note.actor) == ("T5", "T4", "zhao")
    assert follow_ups(merge, apply(state, merge), TOPICS)[0].event.event_id == note.event_id
