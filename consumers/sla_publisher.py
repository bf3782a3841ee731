"""Publishing the monitor's alerts: a whole pass handed to the broker, the acknowledgements awaited together.

Waiting for one broker acknowledgement per alert made a pass of 1,000 alerts
cost seconds; here every event of the pass goes to the producer, which batches
them into a few produce requests, and the pass waits once. ``BatchPublisher``
is the port; ``publish_all`` uses it when the publisher has it and otherwise
publishes one by one (an ``InMemoryPublisher`` in unit tests), stopping at the
first failure. ``ProducerPublisher`` is the real one, over a worker's
``KafkaProducer``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError
from kafka.producer.future import FutureRecordMetadata

from consumers.metrics import EVENTS_OUT
from schemas.events import Event
from schemas.publishing import Publisher

__all__ = ["BatchPublisher", "ProducerPublisher", "publish_all"]

Answer = Exception | None
"""Per event: None once the broker acknowledged it, else why it did not."""


@runtime_checkable
class BatchPublisher(Protocol):
    """A publisher that hands many events to the broker before waiting for any acknowledgement."""

    def publish_all(self, topic: str, events: Sequence[Event], timeout_s: float = 10.0) -> list[Answer]:
        """Publish every event keyed by its ticket id, then wait for all; one answer per event, in order."""
        ...


def publish_all(
    publisher: Publisher | BatchPublisher, topic: str, events: Sequence[Event], timeout_s: float = 10.0
) -> list[Answer]:
    """Every event to ``topic``: together when the publisher can, else one by one until one fails."""
    if isinstance(publisher, BatchPublisher):
        return publisher.publish_all(topic, events, timeout_s)
    answers: list[Answer] = []
    for event in events:
        if answers and answers[-1] is not None:  # the broker is away: do not wait once per event
            answers.append(answers[-1])
            continue
        try:
            publisher.publish_event(topic, event, timeout_s)
            answers.append(None)
        except KafkaError as exc:
            answers.append(exc)
    return answers


class ProducerPublisher:
    """The ``Publisher`` port over a worker's producer, and ``BatchPublisher`` for the monitor's passes."""

    def __init__(self, producer: KafkaProducer) -> None:
        self.producer = producer

    def publish_event(self, topic: str, event: Event, timeout_s: float = 10.0) -> None:
        """One event, acknowledged before it returns."""
        value = event.model_dump_json().encode()
        self.producer.send(topic, key=event.ticket_id.encode(), value=value).get(timeout=timeout_s)
        EVENTS_OUT.labels(topic=topic).inc()

    def publish_all(self, topic: str, events: Sequence[Event], timeout_s: float = 10.0) -> list[Answer]:
        """Every event handed to the producer, then one flush, then every acknowledgement.

        A send that times out waiting for metadata (``max_block_ms``: the broker
        is away) fails the rest at once rather than blocking once per event.
        """
        answers: list[Answer] = [None] * len(events)
        waiting: list[tuple[int, FutureRecordMetadata]] = []
        away: KafkaTimeoutError | None = None
        for index, event in enumerate(events):
            if away is not None:
                answers[index] = away
                continue
            try:
                value = event.model_dump_json().encode()
                waiting.append((index, self.producer.send(topic, key=event.ticket_id.encode(), value=value)))
            except KafkaTimeoutError as exc:  # no metadata within max_block_ms: the broker is away
                answers[index] = away = exc
            except KafkaError as exc:  # this event only
                answers[index] = exc
        with contextlib.suppress(KafkaError):  # what did not make it in time shows in its future
            self.producer.flush(timeout=timeout_s)
        for index, future in waiting:
            try:
                future.get(timeout=0.1)  # after the flush: done, or its time is up
            except KafkaError as exc:
                answers[index] = exc
        EVENTS_OUT.labels(topic=topic).inc(sum(1 for a in answers if a is None))
        return answers
