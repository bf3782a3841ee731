"""Intake publisher: turns channel input into ``TicketSubmitted`` events on the submissions topic.

kafka-python producer with ``acks=all``: ``publish`` returns only once the
broker has the event, so a channel can tell its user the ticket id.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kafka import KafkaProducer

from schemas.events import Channel, Event, TicketSubmitted, ticket_id_for


def build_submission(fields: Mapping[str, Any], now: datetime) -> TicketSubmitted:
    """A validated submission from channel fields; fills ids and times a channel may omit."""
    values = {k: v for k, v in fields.items() if v is not None and v != ""}
    values.setdefault("channel", Channel.cli.value)
    values.setdefault("channel_message_id", uuid.uuid4().hex)
    values.setdefault("submitted_at", now)
    values.setdefault("occurred_at", values["submitted_at"])
    if "title" not in values and isinstance(values.get("text"), str):
        values["title"] = values["text"][:30]
    probe = TicketSubmitted.model_validate({**values, "ticket_id": values.get("ticket_id", "pending")})
    if "ticket_id" not in values:
        ticket_id = ticket_id_for(probe.channel.value, probe.channel_message_id, probe.submitted_at)
        return probe.model_copy(update={"ticket_id": ticket_id})
    return probe


class TicketPublisher:
    """Publishes submissions; one producer per process (connected on first use), closed by the caller."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.bootstrap = bootstrap
        self._producer: KafkaProducer | None = None

    @property
    def producer(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5)
        return self._producer

    def publish(self, submission: TicketSubmitted, timeout_s: float = 10.0) -> None:
        self.publish_many([submission], timeout_s)

    def publish_many(self, submissions: list[TicketSubmitted], timeout_s: float = 30.0) -> None:
        futures = [
            self.producer.send(self.topic, key=s.ticket_id.encode(), value=s.model_dump_json().encode())
            for s in submissions
        ]
        self.producer.flush(timeout=timeout_s)
        for future in futures:
            future.get(timeout=timeout_s)

    def publish_event(self, topic: str, event: Event, timeout_s: float = 10.0) -> None:
        """Any event to any topic, keyed by its ticket id, acknowledged by the broker."""
        future = self.producer.send(
            topic, key=event.ticket_id.encode(), value=event.model_dump_json().encode()
        )
        future.get(timeout=timeout_s)

    def publish_raw(self, value: bytes, key: bytes | None = None) -> None:
        self.producer.send(self.topic, key=key, value=value).get(timeout=10)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close()
