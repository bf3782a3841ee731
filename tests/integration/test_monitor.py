"""The monitor against a real Redis and broker: poison is dead-lettered, an unrecorded alert is published
again, one the broker did not take is due again at once; the producer publisher answers per event."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

import pytest
import redis
from kafka import KafkaProducer
from kafka.errors import KafkaTimeoutError

from consumers.monitor import Monitor, Pace
from consumers.sla_engine import SlaBook, alert_event
from consumers.sla_publisher import ProducerPublisher
from consumers.ticket_store import InMemoryTicketStore, RedisTicketStore
from consumers.topic_reader import read_topic
from deploy.embedded import EmbeddedStack
from deploy.topics import ensure_topics
from producers.publisher import InMemoryPublisher
from schemas.events import Event
from schemas.settings import Settings
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


class Refusing(InMemoryPublisher):
    """Takes a pass's events in one call and refuses those of one ticket (no acknowledgement)."""

    def __init__(self, refuse: str) -> None:
        super().__init__()
        self.refuse = refuse

    def publish_all(
        self, topic: str, events: Sequence[Event], timeout_s: float = 10.0
    ) -> list[Exception | None]:
        answers: list[Exception | None] = []
        for event in events:
            if event.ticket_id == self.refuse:
                answers.append(KafkaTimeoutError("no acknowledgement"))
            else:
                self.publish_event(topic, event, timeout_s)
                answers.append(None)
        return answers


def test_an_alert_the_broker_did_not_take_is_put_back_due_and_sent_on_the_next_pass(
    store: RedisTicketStore,
) -> None:
    assert store.book is not None
    taken, refused = routed_ticket(store, "ff"), routed_ticket(store, "ab")
    record = store.get(refused)
    assert record is not None
    first = min(store.book.schedule(record), key=lambda a: a.fire_at)
    publisher = Refusing(refused)
    monitor = Monitor(store.sla_schedule, store.book, publisher, "sla", pace=Pace(republish_after_s=30))
    with pytest.raises(KafkaTimeoutError):
        monitor.run_pass(first.fire_at)
    assert dict(due_members(store)) == {
        taken: first.fire_at.timestamp() + 30,  # sent: pushed back until the recorder has it
        refused: first.fire_at.timestamp(),  # not taken: due, where it fell due
    }
    publisher.refuse = ""
    [again] = monitor.run_pass(first.fire_at + timedelta(seconds=1))  # its lease ended with the failure
    assert again.ticket_id == refused and again.key == first.key


def test_the_producer_publisher_hands_over_every_event_and_has_each_acknowledged(settings: Settings) -> None:
    policy = load_checked_policy(DEFAULT_POLICY)
    book = SlaBook(policy)
    topic = settings.topics.sla
    ensure_topics(settings.kafka_bootstrap, (topic,), 1)
    events = []
    for n in range(40):
        routed = route_ticket(
            submission(ticket_id=f"ZTC-20261127-{n:012X}", channel_message_id=f"p{n}"), policy, NOW
        )
        store = InMemoryTicketStore(book=book)
        store.record(routed)
        record = store.get(routed.ticket_id)
        assert record is not None
        events.append(alert_event(min(book.schedule(record), key=lambda a: a.fire_at), book, NOW))
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", allow_auto_create_topics=False
    )
    try:
        assert ProducerPublisher(producer).publish_all(topic, events) == [None] * len(events)
    finally:
        producer.close()
    on_topic = [m.value for m in read_topic(settings.kafka_bootstrap, topic)]
    assert sorted(on_topic) == sorted(e.model_dump_json().encode() for e in events)
