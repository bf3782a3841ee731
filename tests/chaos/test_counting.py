"""The suite's own counting rules, on an in-memory store: an instrument is only as honest as its counts."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from consumers.alerts import alert_text
from consumers.sla_engine import SlaBook, alert_event
from consumers.ticket_store import InMemoryTicketStore
from producers.publisher import build_submission
from schemas.events import DISTRICT_ZONE
from schemas.policy import RoutingPolicy
from schemas.sla import SlaEvent
from schemas.ticket import HistoryEntry, TicketRecord
from streams.routing import route_ticket
from tests.chaos.counting import count_alerts, count_tickets
from tests.chaos.system import chaos_policy
from tests.chaos.webhook import Delivery, signature
from ztc.bootstrap import load_checked_policy

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=DISTRICT_ZONE)


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> RoutingPolicy:
    path = tmp_path_factory.mktemp("policy") / "chaos.toml"
    path.write_text(chaos_policy(6), encoding="utf-8")
    return load_checked_policy(path)


def routed(store: InMemoryTicketStore, policy: RoutingPolicy, message_id: str) -> TicketRecord:
    fields = {"text": "食品经营许可证延续一直约不上核查", "channel": "api", "channel_message_id": message_id}
    submission = build_submission({**fields, "enterprise_name": "康杰药业"}, NOW)
    record = store.record(route_ticket(submission, policy, NOW)).record
    assert record is not None
    return record


def with_history(record: TicketRecord, *entries: HistoryEntry) -> TicketRecord:
    return record.model_copy(update={"history": (*record.history, *entries)})


def test_a_recorded_ticket_is_neither_lost_nor_doubled_and_a_missing_one_is_lost(
    policy: RoutingPolicy,
) -> None:
    store = InMemoryTicketStore(book=SlaBook(policy))
    record = routed(store, policy, "m-1")
    acked = {"m-1": record.ticket_id, "m-2": "ZTC-20261127-MISSING0"}
    counted = count_tickets(acked, {record.ticket_id: record})
    assert counted.recorded == 1 and counted.lost == ["ZTC-20261127-MISSING0"] and counted.doubled == []


def test_a_message_answered_with_a_ticket_that_holds_another_message_is_lost(policy: RoutingPolicy) -> None:
    store = InMemoryTicketStore(book=SlaBook(policy))
    record = routed(store, policy, "m-1")
    counted = count_tickets({"m-1": record.ticket_id, "m-2": record.ticket_id}, {record.ticket_id: record})
    assert counted.recorded == 1 and len(counted.lost) == 1 and "not m-2" in counted.lost[0]


def test_an_event_applied_twice_and_a_routing_without_bounce_are_doubled(policy: RoutingPolicy) -> None:
    store = InMemoryTicketStore(book=SlaBook(policy))
    record = routed(store, policy, "m-1")
    first = record.history[0]
    twice = with_history(record, first)
    again = with_history(record, first.model_copy(update={"event_id": "another-routing"}))
    for doubled in (twice, again):
        assert len(count_tickets({"m-1": record.ticket_id}, {record.ticket_id: doubled}).doubled) >= 1
    bounce = first.model_copy(update={"event_id": "b", "event_type": "TicketBounced"})
    answered = with_history(record, bounce, first.model_copy(update={"event_id": "rerouted"}))
    assert count_tickets({"m-1": record.ticket_id}, {record.ticket_id: answered}).doubled == []


def test_one_channel_message_recorded_as_two_tickets_is_doubled(policy: RoutingPolicy) -> None:
    store = InMemoryTicketStore(book=SlaBook(policy))
    record = routed(store, policy, "m-1")
    twin = record.model_copy(update={"ticket_id": "ZTC-20261128-TWIN0000"})
    counted = count_tickets({"m-1": record.ticket_id}, {record.ticket_id: record, twin.ticket_id: twin})
    assert len(counted.doubled) == 1 and "recorded as 2 tickets" in counted.doubled[0]


def fire_all(store: InMemoryTicketStore, book: SlaBook, ticket_id: str, skip: int = 0) -> list[SlaEvent]:
    """Record every alert of the ticket's clock as the monitor would (leaving out the last ``skip``)."""
    later = NOW + timedelta(hours=1)
    record = store.get(ticket_id)
    assert record is not None
    alerts = sorted(book.schedule(record), key=lambda a: a.fire_at)
    events = [alert_event(a, book, later) for a in alerts if a.fire_at < later]
    for event in events[: len(events) - skip]:
        store.record(event)
    return events


def test_alerts_expected_lost_and_doubled_by_event_id_or_by_text(policy: RoutingPolicy) -> None:
    book = SlaBook(policy)
    store = InMemoryTicketStore(book=book)
    record = routed(store, policy, "m-1")
    events = fire_all(store, book, record.ticket_id)
    assert len(events) == 5  # warning, breach, 催办, 督办, 通报 of the accept stage
    records = {record.ticket_id: store.get(record.ticket_id) or record}
    at = NOW + timedelta(hours=2)
    by_id = [Delivery(e.event_id, alert_text(e), 0.0) for e in events]
    by_text = [Delivery(None, alert_text(e), 0.0) for e in events]
    assert (count_alerts(records, by_id, book, at).lost, count_alerts(records, by_text, book, at).lost) == (
        0,
        0,
    )
    partial = count_alerts(records, [*by_id[1:], by_text[2]], book, at)
    assert (partial.expected, partial.sent, partial.lost, partial.doubled) == (5, 5, 1, 1)


def test_an_alert_that_fell_due_but_was_never_recorded_is_expected_and_lost(policy: RoutingPolicy) -> None:
    book = SlaBook(policy)
    store = InMemoryTicketStore(book=book)
    record = routed(store, policy, "m-1")
    events = fire_all(store, book, record.ticket_id, skip=1)
    records = {record.ticket_id: store.get(record.ticket_id) or record}
    delivered = [Delivery(e.event_id, alert_text(e), 0.0) for e in events[:-1]]
    counted = count_alerts(records, delivered, book, NOW + timedelta(hours=2))
    assert (counted.expected, counted.lost) == (5, 1)


def test_signature_reads_every_kind_of_alert_text(policy: RoutingPolicy) -> None:
    book = SlaBook(policy)
    store = InMemoryTicketStore(book=book)
    record = routed(store, policy, "m-1")
    events = fire_all(store, book, record.ticket_id)
    assert {signature(alert_text(e)) for e in events} == {
        (record.ticket_id, "accept", kind)
        for kind in ("warning", "breach", "escalation1", "escalation2", "escalation3")
    }


def test_a_seconds_tier_ticket_whose_ladder_ran_out_expects_all_five_alerts_even_without_a_clock(
    policy: RoutingPolicy,
) -> None:
    book = SlaBook(policy)
    store = InMemoryTicketStore(book=book)
    record = routed(store, policy, "m-1")
    clockless = {record.ticket_id: record.model_copy(update={"sla": None})}
    at = NOW + timedelta(hours=2)
    counted = count_alerts(clockless, [], book, at, must_fire={record.ticket_id: NOW + timedelta(minutes=1)})
    assert (counted.expected, counted.lost) == (5, 5)
    not_yet = count_alerts(clockless, [], book, at, must_fire={record.ticket_id: at})
    assert not_yet.expected == 0
