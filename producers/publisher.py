"""Intake publisher: turns channel input into ``TicketSubmitted`` events on the submissions topic.

``publish`` returns once the submission is durable (in the outbox, then
acknowledged by the broker with ``acks=all`` when it is up), so a channel can
tell its user the ticket id. ``Publisher`` (``schemas.publishing``, re-exported
here) is the small Protocol the department client and the monitor need (one
event to one topic); ``InMemoryPublisher`` implements it for unit tests.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from schemas.events import Channel, Event, TicketSubmitted, now_in_district, ticket_id_for
from schemas.outbox import Admission, Outbox, OutboxEntry, event_entry_id, submission_entry_id
from schemas.publishing import Publisher

log = logging.getLogger(__name__)

__all__ = ["InMemoryPublisher", "Published", "Publisher", "TicketPublisher", "build_submission"]


def build_submission(fields: Mapping[str, Any], now: datetime) -> TicketSubmitted:
    """A validated submission from channel fields; fills ids and times a channel may omit."""
    values = {k: v for k, v in fields.items() if v is not None and v != ""}
    values.setdefault("channel", Channel.cli.value)
    values.setdefault("channel_message_id", uuid.uuid4().hex)
    values.setdefault("submitted_at", now)
    values.setdefault("occurred_at", values["submitted_at"])
    if "title" not in values and isinstance(values.get("text"), str):
        values["title"] = values["text"][:30]
    probe = TicketSubmitted.model_validate({**values, "ticket_id": "pending"})  # ids are ZTC's, never input
    ticket_id = ticket_id_for(probe.channel.value, probe.channel_message_id, probe.submitted_at)
    return probe.model_copy(update={"ticket_id": ticket_id})


@dataclass(frozen=True)
class Published:
    """One record as the broker would get it: topic, key, JSON value (and the event it came from)."""

    topic: str
    key: str
    value: str
    event: Event


class InMemoryPublisher:
    """A ``Publisher`` that keeps what it was given, in order; for unit tests."""

    def __init__(self) -> None:
        self.published: list[Published] = []

    def publish_event(self, topic: str, event: Event, timeout_s: float = 10.0) -> None:
        self.published.append(Published(topic, event.ticket_id, event.model_dump_json(), event))

    def events(self, topic: str) -> list[Event]:
        return [p.event for p in self.published if p.topic == topic]

    def close(self) -> None:
        """Nothing to close; here so it stands in wherever a ``TicketPublisher`` is closed."""


class TicketPublisher:
    """Publishes what an edge acknowledges; one producer per process, made on first use, closed by the caller.

    With an outbox (the default everywhere but a few tests), every submission and
    event is written durably to it first and then published at once; if the broker
    cannot take it now, the relay publishes it later, so an acknowledged ticket is
    never lost. Without one, this is a plain ``acks=all`` producer.
    """

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        outbox: Outbox | None = None,
        clock: Callable[[], datetime] = now_in_district,
        transport: Publisher | None = None,
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.topic = topic
        self.client_options = dict(client_options or {})
        """security options of the Kafka producer (``Settings.kafka_client_options``)"""
        self.bootstrap = bootstrap
        self.outbox = outbox
        self.clock = clock
        self.transport = transport
        """the wire, when not Kafka (an ``InMemoryPublisher`` in unit tests); the outbox logic is the same"""
        self._producer: KafkaProducer | None = None

    @property
    def producer(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = KafkaProducer(
                bootstrap_servers=self.bootstrap,
                acks="all",
                linger_ms=5,
                max_block_ms=5000,
                allow_auto_create_topics=False,
                **self.client_options,
            )
        return self._producer

    def publish(self, submission: TicketSubmitted, timeout_s: float = 10.0) -> Admission:
        return self.publish_many([submission], timeout_s)[0]

    def publish_many(self, submissions: list[TicketSubmitted], timeout_s: float = 30.0) -> list[Admission]:
        """Admit and publish submissions; a channel message already admitted is not published again."""
        if self.outbox is None:
            self._send(list(submissions), self.topic, timeout_s)
            return [Admission(s.ticket_id, True) for s in submissions]
        now = self.clock()
        admissions = [self.outbox.admit_submission(s, self.topic, now) for s in submissions]
        new = [s for s, a in zip(submissions, admissions, strict=True) if a.new]
        self._send_or_defer(list(new), self.topic, [submission_entry_id(s) for s in new], timeout_s)
        return admissions

    def publish_event(self, topic: str, event: Event, timeout_s: float = 10.0) -> None:
        """Any event to any topic, keyed by its ticket id: durable in the outbox first when there is one."""
        if self.outbox is None:
            self._send([event], topic, timeout_s)
            return
        entry = OutboxEntry(
            event_entry_id(event.event_id), topic, event.ticket_id, event.model_dump_json(), event.ticket_id
        )
        self.outbox.put([entry], self.clock())
        self._send_or_defer([event], topic, [entry.entry_id], timeout_s)

    def _send(self, events: Sequence[Event], topic: str, timeout_s: float) -> None:
        if self.transport is not None:
            for event in events:
                self.transport.publish_event(topic, event, timeout_s)
            return
        futures = [
            self.producer.send(topic, key=e.ticket_id.encode(), value=e.model_dump_json().encode())
            for e in events
        ]
        self.producer.flush(timeout=timeout_s)
        for future in futures:
            future.get(timeout=timeout_s)

    def _send_or_defer(
        self, events: Sequence[Event], topic: str, entry_ids: list[str], timeout_s: float
    ) -> None:
        assert self.outbox is not None
        if not events:
            return
        try:
            self._send(events, topic, timeout_s)
        except KafkaError as exc:
            log.warning(
                "broker did not take %d events (%s); the outbox relay will publish them", len(events), exc
            )
            self.outbox.retry_soon(entry_ids, self.clock())

    def publish_raw(self, value: bytes, key: bytes | None = None) -> None:
        self.producer.send(self.topic, key=key, value=value).get(timeout=10)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close()
