"""The monitor against a real Redis: poison is dead-lettered, an unrecorded alert is published again."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import redis

from consumers.monitor import Monitor, Pace
from consumers.sla_engine import SlaBook
from consumers.ticket_store import RedisTicketStore
from deploy.embedded import EmbeddedStack
from producers.publisher import InMemoryPublisher
from streams.routing import route_ticket
from tests.unit.factories import NOW, submission
from ztc.bootstrap import DEFAULT_POLICY, load_checked_policy

pytestmark = pytest.mark.integration


@pytest.fixture()
def store(stack: EmbeddedStack) -> RedisTicketStore:
    client = redis.Redis.from_url(stack.redis_url)
    book = SlaBook(load_checked_policy(DEFAULT_POLICY))
    return RedisTicketStore(client, f"m{uuid.uuid4().hex[:8]}:", book)


def routed_ticket(store: RedisTicketStore, message_id: str) -> str:
    assert store.book is not None
    sub = submission(ticket_id=f"ZTC-20261127-{message_id.upper():0>8}", channel_message_id=message_id)
    event = route_ticket(sub, store.book.policy, NOW)
    store.record(event)
    return event.ticket_id


def test_a_corrupt_ticket_is_dead_lettered_and_the_pass_goes_on(store: RedisTicketStore) -> None:
    assert store.book is not None
    good = routed_ticket(store, "aa")
    bad = routed_ticket(store, "bb")
    store.client.set(f"{store.prefix}ticket:{bad}", b'{"not": "a ticket"}')
    reported: list[tuple[str, str]] = []
    monitor = Monitor(
        store.sla_schedule,
        store.book,
        InMemoryPublisher(),
        "sla",
        dead_letter=lambda k, r: reported.append((k, r)),
    )
    emitted = monitor.run_pass(NOW + timedelta(days=60))
    assert emitted and {e.ticket_id for e in emitted} == {good}
    assert [key for key, _ in reported] == [bad]
    assert all("ValidationError" in reason for _, reason in reported)
    due = [
        str(m.decode() if isinstance(m, bytes) else m) for m in store.client.zrange(store.sla_due_key, 0, -1)
    ]
    assert not any(key.startswith(bad) for key in due)


def test_an_alert_the_recorder_never_got_is_published_again_and_a_recorded_one_is_not(
    store: RedisTicketStore,
) -> None:
    assert store.book is not None
    ticket_id = routed_ticket(store, "cc")
    record = store.get(ticket_id)
    assert record is not None
    first_alert = min(store.book.schedule(record), key=lambda a: a.fire_at)
    at = first_alert.fire_at + timedelta(seconds=1)
    publisher = InMemoryPublisher()
    schedule = store.sla_schedule
    monitor = Monitor(schedule, store.book, publisher, "sla", pace=Pace(lease_s=1, republish_after_s=60))
    [event] = monitor.run_pass(at)
    assert monitor.run_pass(at + timedelta(seconds=30)) == []  # waiting for the recorder
    store.client.delete(schedule.claim_key(first_alert.key))  # the lease ran out
    [again] = monitor.run_pass(at + timedelta(seconds=61))  # the broker lost it: publish again
    assert again.event_id == event.event_id
    store.record(again)  # now recorded: it leaves the index for good
    store.client.delete(schedule.claim_key(first_alert.key))
    assert [e.key for e in monitor.run_pass(at + timedelta(seconds=200))] == []
    assert [e.event_id for e in publisher.events("sla")] == [event.event_id, event.event_id]


def due_members(store: RedisTicketStore) -> list[tuple[str, float]]:
    found: list[tuple[bytes, float]] = store.client.zrange(store.sla_due_key, 0, -1, withscores=True)  # type: ignore[assignment]
    return [(m.decode() if isinstance(m, bytes) else str(m), float(s)) for m, s in found]


def test_the_due_index_holds_one_entry_per_ticket_at_its_next_alert(store: RedisTicketStore) -> None:
    assert store.book is not None
    ticket_id = routed_ticket(store, "dd")
    record = store.get(ticket_id)
    assert record is not None
    alerts = store.book.schedule(record)
    assert len(alerts) > 2 and due_members(store) == [(ticket_id, min(a.fire_at for a in alerts).timestamp())]


def test_legacy_members_one_per_alert_are_read_as_their_ticket_and_replaced(store: RedisTicketStore) -> None:
    assert store.book is not None
    ticket_id = routed_ticket(store, "ee")
    record = store.get(ticket_id)
    assert record is not None
    alerts = sorted(store.book.schedule(record), key=lambda a: a.fire_at)
    store.client.delete(store.sla_due_key)
    store.client.zadd(store.sla_due_key, {a.key: a.fire_at.timestamp() for a in alerts})  # as before
    pace = Pace(republish_after_s=30)
    monitor = Monitor(store.sla_schedule, store.book, InMemoryPublisher(), "sla", pace=pace)
    at = alerts[0].fire_at
    assert [e.key for e in monitor.run_pass(at)] == [a.key for a in alerts if a.fire_at <= at]
    later = [a.fire_at.timestamp() for a in alerts if a.fire_at > at]
    assert due_members(store) == [(ticket_id, min([at.timestamp() + pace.republish_after_s, *later]))]
