"""The recorder: a kafka-python consumer that records every ticket event in the ticket store.

Offsets are committed only after the batch is written (and any dead letters
are acknowledged by the broker), so a restart neither loses nor doubles a
record: redelivered events are recognised by ``event_id`` and skipped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import redis
from kafka import KafkaConsumer, KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord
from pydantic import ValidationError

from consumers.follow_ups import follow_ups
from consumers.metrics import DEAD_LETTERS, EVENTS_IN, EVENTS_OUT
from consumers.ticket_store import RecordOutcome, RecordStatus, TicketStore
from schemas.events import Event, TicketRouted
from schemas.feedback import parse_feedback
from schemas.settings import Settings
from schemas.sla import SLA_EVENT_ADAPTER
from streams.intake import dead_letter, describe_validation_error

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def parse_event(topic_kind: str, raw: bytes | None) -> Event:
    """Decode one recorded event; raise ValueError with a readable reason."""
    if not raw:
        raise ValueError("empty message")
    if topic_kind == "feedback":
        return parse_feedback(raw)
    if topic_kind == "sla":
        try:
            return SLA_EVENT_ADAPTER.validate_json(raw)
        except ValidationError as exc:
            raise ValueError(f"schema: {describe_validation_error(exc)}") from None
    try:
        return TicketRouted.model_validate_json(raw)
    except ValidationError as exc:
        raise ValueError(f"schema: {describe_validation_error(exc)}") from None


class Recorder:
    """Consume, record, dead-letter what cannot be recorded, then commit."""

    def __init__(self, settings: Settings, store: TicketStore, clock: Clock) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        topics = settings.topics
        self.kind_of_topic = {topics.routed: "routed", topics.feedback: "feedback", topics.sla: "sla"}
        self._sent: list[Any] = []

    def _raise_if_unsent(self) -> None:
        """Every message this batch produced is acknowledged, or the batch is not committed."""
        sent, self._sent = self._sent, []
        for future in sent:
            future.get(timeout=30)

    def _consumer(self) -> KafkaConsumer:
        return KafkaConsumer(
            *self.kind_of_topic,
            bootstrap_servers=self.settings.kafka_bootstrap,
            group_id=f"{self.settings.group_prefix}-recorder",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=self.settings.session_timeout_s * 1000,
            heartbeat_interval_ms=2000,
            max_poll_records=500,
        )

    def run(self, stop: threading.Event) -> None:
        consumer = self._consumer()
        producer = KafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap, acks="all")
        log.info("recorder consuming %s", ", ".join(self.kind_of_topic))
        try:
            while not stop.is_set():
                batches = consumer.poll(timeout_ms=500)
                for records in batches.values():
                    for message in records:
                        self._handle(message, producer, stop)
                if batches:
                    producer.flush()
                    self._raise_if_unsent()  # a lost follow-up or dead letter must not be committed past
                    consumer.commit()
        finally:
            consumer.close()
            producer.close()

    def _handle(self, message: ConsumerRecord, producer: KafkaProducer, stop: threading.Event) -> None:
        kind = self.kind_of_topic[message.topic]
        EVENTS_IN.labels(topic=message.topic).inc()
        try:
            event = parse_event(kind, message.value)
        except ValueError as exc:
            self._dead_letter(message, producer, str(exc))
            return
        outcome = self._record_with_retry(event, stop)
        if outcome.status is RecordStatus.refused:
            self._dead_letter(message, producer, f"refused: {outcome.reason}", event.ticket_id)
        else:
            if outcome.status is RecordStatus.duplicate:
                log.info("event %s already recorded for %s", event.event_id, event.ticket_id)
            for follow_up in follow_ups(event, outcome.record, self.settings.topics):
                payload = follow_up.event.model_dump_json().encode()
                self._sent.append(producer.send(follow_up.topic, key=event.ticket_id.encode(), value=payload))
                EVENTS_OUT.labels(topic=follow_up.topic).inc()

    def _record_with_retry(self, event: Event, stop: threading.Event) -> RecordOutcome:
        delay = 0.5
        while not stop.is_set():
            try:
                return self.store.record(event)
            except redis.ConnectionError as exc:
                log.warning("Redis unavailable (%s); retrying in %.1fs", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
        raise InterruptedError("stopped while Redis was unavailable; offsets not committed")

    def _dead_letter(
        self, message: ConsumerRecord, producer: KafkaProducer, reason: str, ticket_id: str = "-"
    ) -> None:
        record = dead_letter(
            message.value,
            reason=reason,
            stage="record",
            source_topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            now=self.clock(),
            ticket_id=ticket_id,
        )
        log.warning("dead-lettered %s@%s/%s: %s", message.topic, message.partition, message.offset, reason)
        self._sent.append(
            producer.send(self.settings.topics.deadletter, value=record.model_dump_json().encode())
        )
        DEAD_LETTERS.labels(stage="record").inc()
