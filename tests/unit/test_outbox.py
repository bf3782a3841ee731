"""The in-memory outbox passes the same contract as the Redis one (tests/integration), and the relay."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from kafka.errors import KafkaTimeoutError

from producers.outbox import InMemoryOutbox, Relay, retry_delay
from schemas.events import Event
from schemas.outbox import Outbox, OutboxEntry, answered_entries, submission_entry_id
from tests.unit.factories import NOW
from tests.unit.outbox_contract import OutboxContract, entry
from tests.unit.store_contract import routed


class TestInMemoryOutbox(OutboxContract):
    def make_outbox(self) -> Outbox:
        return InMemoryOutbox(first_retry_s=self.first_retry_s)

    def mark_recorded(self, outbox: Outbox, dedupe_key: str, ticket_id: str) -> None:
        assert isinstance(outbox, InMemoryOutbox)
        outbox.recorded[dedupe_key] = ticket_id


class Future:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error

    def get(self, timeout: float) -> None:
        if self.error is not None:
            raise self.error


def sender(sent: list[OutboxEntry], failing: set[str]) -> Callable[[OutboxEntry], Any]:
    def send(e: OutboxEntry) -> Future:
        sent.append(e)
        return Future(KafkaTimeoutError("broker down") if e.entry_id in failing else None)

    return send


def test_relay_republishes_due_entries_and_retries_failures_soon() -> None:
    outbox = InMemoryOutbox(first_retry_s=60)
    outbox.put([entry("a"), entry("b")], NOW)
    sent: list[OutboxEntry] = []
    relay = Relay(outbox, sender(sent, failing={"evt:b"}), flush=lambda: None)
    assert relay.run_pass(NOW + timedelta(seconds=59)) == 0 and sent == []
    assert relay.run_pass(NOW + timedelta(seconds=60)) == 1
    assert [e.entry_id for e in sent] == ["evt:a", "evt:b"]
    sent.clear()
    assert relay.run_pass(NOW + timedelta(seconds=63)) == 0  # b again (soon), a not yet
    assert [e.entry_id for e in sent] == ["evt:b"]


def test_retry_delay_doubles_up_to_an_hour() -> None:
    assert [retry_delay(n, 300) for n in (1, 2, 3, 4, 5)] == [300, 600, 1200, 2400, 3600]
    assert retry_delay(50, 300) == 3600


def test_the_recorder_confirms_what_an_event_answers() -> None:
    first = routed("T9")
    answer = first.model_copy(update={"reroute_request_id": "rq-1", "event_id": "ev-a"})
    own = f"evt:{first.event_id}"
    assert answered_entries(first) == [own, submission_entry_id(first.submission)]
    assert answered_entries(answer) == ["evt:ev-a", submission_entry_id(first.submission), "evt:rq-1"]
    other = Event(ticket_id="T9", occurred_at=NOW, event_id="ev-9")
    assert answered_entries(other) == ["evt:ev-9"]
