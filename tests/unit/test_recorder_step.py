"""The recorder's handling step without Kafka: poison is dead-lettered, nothing stops it, follow-ups kept."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import pytest
import redis

from consumers.dead_letters import InMemoryDeadLetterStore
from consumers.recorder import Outputs, RecorderStep
from consumers.sla_engine import SlaBook, alert_event
from consumers.ticket_store import InMemoryTicketStore, Recorded
from schemas.dead_letters import dead_letter
from schemas.events import DeadLettered, Event, RerouteRequested, TicketRouted
from schemas.feedback import BounceReason, ExtensionRequested, TicketAccepted, TicketBounced
from schemas.outbox import event_entry_id, submission_entry_id
from schemas.settings import Settings
from streams.routing import route_ticket
from tests.unit.factories import NOW, submission
from ztc.bootstrap import DEFAULT_POLICY, load_checked_policy

SETTINGS = Settings()
TOPICS = SETTINGS.topics
POLICY = load_checked_policy(DEFAULT_POLICY)


@dataclass(frozen=True)
class Message:
    topic: str
    value: bytes | None
    partition: int = 0
    offset: int = 0


def make_step(store: object | None = None) -> tuple[RecorderStep, InMemoryDeadLetterStore]:
    letters = InMemoryDeadLetterStore()
    tickets = store if store is not None else InMemoryTicketStore(book=SlaBook(POLICY))
    departments = frozenset(POLICY.department_codes)
    return RecorderStep(SETTINGS, tickets, letters, lambda: NOW, departments), letters  # type: ignore[arg-type]


def handle(step: RecorderStep, topic: str, value: bytes | None) -> Outputs:
    return step.handle(Message(topic, value), threading.Event())


def routed() -> TicketRouted:
    return route_ticket(submission("我们想办理食品经营许可证"), POLICY, NOW)


def as_bytes(event: Event) -> bytes:
    return event.model_dump_json().encode()


POISON = [
    b"",
    b"\xff\xfe not utf-8",
    b"[1, 2, 3]",
    b"[" * 100_000 + b"]" * 100_000,
    b'{"type": "TicketAccepted", "n": ' + b"9" * 5000 + b"}",
    b'{"type": "TicketRouted"}',
    b"x" * 900_000,
]


@pytest.mark.parametrize("topic", [TOPICS.routed, TOPICS.feedback, TOPICS.sla])
@pytest.mark.parametrize("raw", POISON, ids=lambda r: f"{len(r)}B")
def test_poison_on_any_input_topic_is_dead_lettered_with_a_reason(topic: str, raw: bytes) -> None:
    step, letters = make_step()
    out = handle(step, topic, raw)
    [kept] = letters.records.values()
    assert kept.reason and kept.source_topic == topic and kept.stage == "record"
    [(to, _, payload)] = out.sends
    assert to == TOPICS.deadletter and len(payload) < 1_000_000
    assert DeadLettered.model_validate_json(payload).event_id == kept.event_id
    assert out.confirms == []


def test_an_unexpected_failure_while_recording_is_dead_lettered_and_the_input_confirmed() -> None:
    class Broken(InMemoryTicketStore):
        def record_many(self, events: Sequence[Event]) -> list[Recorded]:
            raise ValueError("a bug in the engine")

    step, letters = make_step(Broken())
    event = routed()
    out = handle(step, TOPICS.routed, as_bytes(event))
    [kept] = letters.records.values()
    assert "record failed: ValueError: a bug in the engine" in kept.reason
    assert kept.ticket_id == event.ticket_id
    assert out.confirms == [event_entry_id(event.event_id), submission_entry_id(event.submission)]


def test_redis_being_down_is_waited_for_not_dead_lettered() -> None:
    class Flaky(InMemoryTicketStore):
        failures = 2

        def record_many(self, events: Sequence[Event]) -> list[Recorded]:
            if self.failures:
                self.failures -= 1
                raise redis.ConnectionError("Connection refused")
            return super().record_many(events)

    store = Flaky(book=SlaBook(POLICY))
    step, letters = make_step(store)
    step_stop = threading.Event()
    out = step.handle(Message(TOPICS.routed, as_bytes(routed())), step_stop)
    assert letters.records == {} and out.sends == [] and store.failures == 0


def test_an_action_the_state_refuses_is_dead_lettered() -> None:
    step, letters = make_step()
    accept = TicketAccepted(ticket_id="ZTC-NOPE", occurred_at=NOW, department="approval", actor="张")
    out = handle(step, TOPICS.feedback, as_bytes(accept))
    [kept] = letters.records.values()
    assert kept.reason.startswith("refused: unknown ticket")
    assert out.confirms == [event_entry_id(accept.event_id)]


def test_an_extension_that_is_not_a_time_limit_is_refused_not_a_poison_pill() -> None:
    step, letters = make_step()
    event = routed()
    handle(step, TOPICS.routed, as_bytes(event))
    lead = event.lead_department
    handle(step, TOPICS.feedback, as_bytes(TicketAccepted(**common(event, lead))))
    bad = ExtensionRequested(**common(event, lead, 2), extension="5 fortnights", reason="太忙")
    handle(step, TOPICS.feedback, as_bytes(bad))
    [kept] = letters.records.values()
    assert "5 fortnights" in kept.reason


def common(event: TicketRouted, department: str, minutes: int = 1) -> dict[str, object]:
    return {
        "ticket_id": event.ticket_id,
        "occurred_at": NOW + timedelta(minutes=minutes),
        "department": department,
        "actor": "张",
    }


def test_a_lead_bounce_asks_for_rerouting_durably_and_the_same_way_on_redelivery() -> None:
    step, _ = make_step()
    event = routed()
    handle(step, TOPICS.routed, as_bytes(event))
    bounce = TicketBounced(
        **common(event, event.lead_department), reason=BounceReason.not_our_remit, note="不属本部门"
    )
    first = handle(step, TOPICS.feedback, as_bytes(bounce))
    again = handle(step, TOPICS.feedback, as_bytes(bounce))
    [(topic, key, payload)] = first.sends
    request = RerouteRequested.model_validate_json(payload)
    assert topic == TOPICS.reroute and key == event.ticket_id
    assert [e.entry_id for e in first.outbox] == [event_entry_id(request.event_id)]
    assert again.sends == first.sends and again.outbox == first.outbox


def test_dead_letters_from_other_workers_are_kept_even_unreadable_ones() -> None:
    step, letters = make_step()
    router_letter = dead_letter(
        b"{}", reason="schema: text missing", stage="validate", source_topic="x", now=NOW
    )
    handle(step, TOPICS.deadletter, as_bytes(router_letter))
    handle(step, TOPICS.deadletter, as_bytes(router_letter))
    handle(step, TOPICS.deadletter, json.dumps({"what": "garbage"}).encode())
    assert len(letters.records) == 2
    assert letters.records[router_letter.event_id].reason == "schema: text missing"
    assert any(r.reason.startswith("unreadable dead letter") for r in letters.records.values())


def test_an_event_naming_a_department_the_policy_does_not_know_is_refused() -> None:
    step, letters = make_step()
    forged = routed().model_copy(update={"lead_department": "no-such-department"})
    out = handle(step, TOPICS.routed, as_bytes(forged))
    [kept] = letters.records.values()
    assert kept.reason == "refused: unknown department no-such-department"
    assert out.confirms  # it reached the recorder: its outbox entry (if any) is answered


def test_an_event_about_another_tickets_submission_is_malformed() -> None:
    step, letters = make_step()
    event = routed()
    forged = json.loads(as_bytes(event)) | {"ticket_id": "ZTC-20261127-99999999"}
    handle(step, TOPICS.routed, json.dumps(forged).encode())
    [kept] = letters.records.values()
    assert "differs from its submission" in kept.reason


def test_a_routing_is_recorded_once_and_its_outbox_entries_confirmed_on_every_delivery() -> None:
    store = InMemoryTicketStore(book=SlaBook(POLICY))
    step, letters = make_step(store)
    event = routed()
    first = handle(step, TOPICS.routed, as_bytes(event))
    again = handle(step, TOPICS.routed, as_bytes(event))  # redelivered after a crash before the commit
    expected = [event_entry_id(event.event_id), submission_entry_id(event.submission)]
    assert first.confirms == expected and again.confirms == expected
    assert first.sends == [] and again.sends == [] and letters.records == {}
    record = store.get(event.ticket_id)
    assert record is not None and len(record.history) == 1
    assert store.ticket_for_message(event.submission.dedupe_key) == event.ticket_id


def test_a_monitor_event_enters_the_alert_outbox_once_however_often_it_comes() -> None:
    book = SlaBook(POLICY)
    store = InMemoryTicketStore(book=book)
    step, letters = make_step(store)
    event = routed()
    handle(step, TOPICS.routed, as_bytes(event))
    record = store.get(event.ticket_id)
    assert record is not None
    alert = min(book.schedule(record), key=lambda a: a.fire_at)
    sla = alert_event(alert, book, alert.fire_at)
    republished = alert_event(alert, book, alert.fire_at + timedelta(seconds=30))
    for raw in (as_bytes(sla), as_bytes(sla), as_bytes(republished)):
        assert handle(step, TOPICS.sla, raw).confirms == [event_entry_id(sla.event_id)]
    assert [e.event_id for e in store.alerts] == [sla.event_id] and letters.records == {}
    after = store.get(event.ticket_id)
    assert after is not None and alert.key not in {a.key for a in book.schedule(after)}
    next_at = book.next_alert_at(after)  # the ticket's one entry moved on to what is still to come
    assert next_at is not None and store.sla_schedule.fire_at == {event.ticket_id: next_at.timestamp()}
