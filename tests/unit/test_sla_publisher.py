"""Publishing a pass's alerts: handed over together, answered per event, a broker away fails fast.

The real producer against the real broker is in tests/integration/test_monitor.py;
here a producer that refuses on cue shows what each kind of failure answers.
"""

from __future__ import annotations

from datetime import timedelta

from kafka.errors import KafkaError, KafkaTimeoutError, MessageSizeTooLargeError, NotLeaderForPartitionError

from consumers.sla_publisher import ProducerPublisher, publish_all
from producers.publisher import InMemoryPublisher
from schemas.events import Event
from schemas.sla import SlaStage, SlaWarning
from tests.unit.factories import NOW


def warnings(count: int) -> list[Event]:
    return [
        SlaWarning(
            ticket_id=f"ZTC-20261127-{n:012X}",
            occurred_at=NOW,
            stage=SlaStage.accept,
            department="market",
            due_at=NOW + timedelta(hours=1),
            round=0,
            key=f"ZTC-20261127-{n:012X}:accept:warning:0",
            share=0.8,
        )
        for n in range(count)
    ]


class Sent:
    def __init__(self, error: KafkaError | None) -> None:
        self.error = error

    def get(self, timeout: float | None = None) -> object:
        if self.error is not None:
            raise self.error
        return object()


class Producer:
    """Refuses the send of event number ``refuse_send`` with ``send_error``; fails the acknowledgement of
    ``fail_ack`` with ``ack_error``; counts sends and flushes."""

    def __init__(
        self,
        refuse_send: int = -1,
        send_error: KafkaError | None = None,
        fail_ack: int = -1,
        ack_error: KafkaError | None = None,
    ) -> None:
        self.refuse_send, self.send_error = refuse_send, send_error
        self.fail_ack, self.ack_error = fail_ack, ack_error
        self.sends = 0
        self.flushes = 0

    def send(self, topic: str, key: bytes, value: bytes) -> Sent:
        number = self.sends
        self.sends += 1
        if number == self.refuse_send and self.send_error is not None:
            raise self.send_error
        return Sent(self.ack_error if number == self.fail_ack else None)

    def flush(self, timeout: float | None = None) -> None:
        self.flushes += 1


def test_every_event_is_sent_before_one_flush_and_each_is_answered() -> None:
    producer = Producer(fail_ack=2, ack_error=NotLeaderForPartitionError())
    answers = ProducerPublisher(producer).publish_all("sla", warnings(5))
    assert (producer.sends, producer.flushes) == (5, 1)
    assert [type(a).__name__ if a else None for a in answers] == [
        None,
        None,
        "NotLeaderForPartitionError",
        None,
        None,
    ]


def test_a_broker_away_fails_the_rest_at_once_and_a_refused_event_fails_alone() -> None:
    away = Producer(refuse_send=1, send_error=KafkaTimeoutError("no metadata"))
    answers = ProducerPublisher(away).publish_all("sla", warnings(4))
    assert away.sends == 2  # not once more per event: each would wait max_block_ms
    assert answers[0] is None and all(isinstance(a, KafkaTimeoutError) for a in answers[1:])
    big = Producer(refuse_send=1, send_error=MessageSizeTooLargeError())
    answers = ProducerPublisher(big).publish_all("sla", warnings(3))
    assert big.sends == 3 and [a is None for a in answers] == [True, False, True]


class Flaky(InMemoryPublisher):
    def __init__(self, fail_from: int) -> None:
        super().__init__()
        self.fail_from = fail_from
        self.calls = 0

    def publish_event(self, topic: str, event: Event, timeout_s: float = 10.0) -> None:
        self.calls += 1
        if self.calls > self.fail_from:
            raise KafkaTimeoutError("broker away")
        super().publish_event(topic, event, timeout_s)


def test_a_publisher_of_one_event_at_a_time_is_used_until_it_fails() -> None:
    flaky, events = Flaky(fail_from=2), warnings(5)
    answers = publish_all(flaky, "sla", events)
    assert flaky.calls == 3 and [a is None for a in answers] == [True, True, False, False, False]
    assert [p.event for p in flaky.published] == events[:2]
