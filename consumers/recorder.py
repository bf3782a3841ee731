"""The recorder: a kafka-python consumer that records every ticket event in the ticket store.

Two layers. ``RecorderStep.handle_batch`` decides, for one poll's messages, what
to record and what must follow (records to publish, outbox entries to add and
to confirm, dead letters) — no Kafka, so unit tests drive it in milliseconds;
``handle`` is the same for one message. The events of a poll are recorded in
one store batch (``TicketStore.record_many``: one transaction, in order), each
with its own outcome, so a poison event is dead-lettered alone.
``Recorder.run`` is the thin poll → handle → publish → confirm → commit loop.

Offsets are committed only after the batch is written and everything it
produced is acknowledged, so a restart neither loses nor doubles a record:
redelivered events are recognised by ``event_id`` and skipped. Poison never
stops the loop: an input that cannot be parsed, is refused by the ticket's
state, or makes recording fail in any unexpected way is dead-lettered with its
reason (in Redis at once, and on the dead-letter topic) and the loop moves on.
Only an unavailable Redis is waited for, because nothing can be recorded then.
"""

from __future__ import annotations

import functools
import gc
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import redis
from kafka import KafkaConsumer, KafkaProducer
from prometheus_client import Counter
from pydantic import ValidationError

from consumers.dead_letters import DeadLetterStore
from consumers.follow_ups import follow_ups
from consumers.metrics import DEAD_LETTERS, EVENTS_IN, EVENTS_OUT
from consumers.ticket_store import Recorded, RecordOutcome, RecordStatus, TicketStore
from schemas.dead_letters import dead_letter, describe_validation_error
from schemas.events import DeadLettered, Event, RerouteRequested, TicketRouted
from schemas.feedback import ENTERPRISE, parse_feedback
from schemas.outbox import Outbox, OutboxEntry, answered_entries, event_entry_id
from schemas.settings import Settings
from schemas.sla import SLA_EVENT_ADAPTER
from schemas.topics import Consumed

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
E = TypeVar("E", bound=Event)
T = TypeVar("T")

DUPLICATES = Counter("ztc_recorder_duplicates", "Events recognised as already recorded, per type", ["type"])
MAX_EVENT_BYTES = 256 * 1024
"""Nothing ZTC writes comes near this; bigger input is poison (and stays parseable for a dead letter)."""


class InvalidEvent(ValueError):
    """An input the recorder cannot read; the message is the reason."""


def _validated(parse: Callable[[bytes], E], raw: bytes) -> E:
    try:
        return parse(raw)
    except ValidationError as exc:
        raise InvalidEvent(f"schema: {describe_validation_error(exc)}") from None
    except (ValueError, RecursionError) as exc:  # ValueError: e.g. a number too long to convert
        raise InvalidEvent(f"not a readable event: {type(exc).__name__}: {exc}"[:500]) from None


def parse_event(topic_kind: str, raw: bytes | None) -> Event:
    """Decode one recorded event; raise InvalidEvent with a readable reason."""
    if not raw:
        raise InvalidEvent("empty message")
    if len(raw) > MAX_EVENT_BYTES:
        raise InvalidEvent(f"oversize message: {len(raw)} bytes > {MAX_EVENT_BYTES}")
    if topic_kind == "feedback":
        try:
            return parse_feedback(raw)
        except (ValueError, RecursionError) as exc:
            raise InvalidEvent(str(exc)[:500] or type(exc).__name__) from None
    if topic_kind == "sla":
        return _validated(SLA_EVENT_ADAPTER.validate_json, raw)
    return _validated(TicketRouted.model_validate_json, raw)


@dataclass
class Outputs:
    """What handling one message asks the loop to do before the batch is committed."""

    sends: list[tuple[str, str | None, bytes]] = field(default_factory=list)
    """(topic, key, value) to publish"""
    outbox: list[OutboxEntry] = field(default_factory=list)
    """follow-ups to keep durable until answered (written before the commit)"""
    confirms: list[str] = field(default_factory=list)
    """outbox entries this message answered"""


DEPARTMENT_FIELDS = ("department", "lead_department", "co_departments", "departments", "suggested_department")


@functools.cache
def _department_fields(kind: type[Event]) -> tuple[str, ...]:
    """The ``DEPARTMENT_FIELDS`` an event class has (asking a pydantic model for a missing
    attribute raises and catches an exception: costly on every message)."""
    return tuple(name for name in DEPARTMENT_FIELDS if name in kind.model_fields or hasattr(kind, name))


def named_departments(event: Event) -> set[str]:
    """Every department code an event names (lead, co-departments, actor's department, suggestions)."""
    named: set[str] = set()
    for name in _department_fields(type(event)):
        value = getattr(event, name, None)
        if isinstance(value, str):
            named.add(value)
        elif isinstance(value, tuple):
            named.update(value)
    return named


class RecorderStep:
    """The recorder's decision for one message, over a ticket store and a dead-letter store.

    ``departments``: the policy's department codes; an event naming any other is refused
    (``enterprise`` may act for itself).
    """

    def __init__(
        self,
        settings: Settings,
        store: TicketStore,
        dead_letters: DeadLetterStore,
        clock: Clock,
        departments: frozenset[str] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.dead_letters = dead_letters
        self.clock = clock
        self.departments = departments | {ENTERPRISE} if departments is not None else None
        topics = settings.topics
        self.kind_of_topic = {
            topics.routed: "routed",
            topics.feedback: "feedback",
            topics.sla: "sla",
            topics.deadletter: "deadletter",
        }

    def handle(self, message: Consumed, stop: threading.Event) -> Outputs:
        """What one message asks for (``handle_batch`` of one)."""
        return self.handle_batch([message], stop)

    def handle_batch(self, messages: Sequence[Consumed], stop: threading.Event) -> Outputs:
        """What a poll's messages ask for, their events recorded in one store batch, in order."""
        out = Outputs()
        accepted: list[tuple[Consumed, Event]] = []
        for message in messages:
            event = self._checked(message, out)
            if event is not None:
                accepted.append((message, event))
        results = self._record_batch([event for _, event in accepted], stop)
        for (message, event), result in zip(accepted, results, strict=True):
            self._recorded(message, event, result, out)
        return out

    def _checked(self, message: Consumed, out: Outputs) -> Event | None:
        """The message's event if it may be recorded; else it is kept or dead-lettered here."""
        kind = self.kind_of_topic[message.topic]
        EVENTS_IN.labels(topic=message.topic).inc()
        if kind == "deadletter":
            self._keep_dead_letter(message)
            return None
        try:
            event = parse_event(kind, message.value)
        except InvalidEvent as exc:
            self._dead_letter(message, str(exc), out)
            return None
        out.confirms += answered_entries(event)
        unknown = sorted(named_departments(event) - self.departments) if self.departments else []
        if unknown:
            self._dead_letter(message, f"refused: unknown department {', '.join(unknown)}", out, event)
            return None
        return event

    def _recorded(self, message: Consumed, event: Event, result: Recorded, out: Outputs) -> None:
        if isinstance(result, Exception):  # poison: never let one event stop recording
            log.error("recording %s %s failed", event.event_type, event.event_id, exc_info=result)
            self._dead_letter(message, f"record failed: {type(result).__name__}: {result}", out, event)
            return
        if result.status is RecordStatus.refused:
            self._dead_letter(message, f"refused: {result.reason}", out, event)
            return
        if result.status is RecordStatus.duplicate:
            DUPLICATES.labels(type=event.event_type).inc()
            log.info("event %s already recorded for %s", event.event_id, event.ticket_id)
        self._follow_up(event, result, out)

    def _follow_up(self, event: Event, outcome: RecordOutcome, out: Outputs) -> None:
        for follow_up in follow_ups(event, outcome.record, self.settings.topics):
            payload = follow_up.event.model_dump_json()
            out.sends.append((follow_up.topic, event.ticket_id, payload.encode()))
            if isinstance(follow_up.event, RerouteRequested):  # the ticket waits on it: keep it durable
                out.outbox.append(
                    OutboxEntry(
                        event_entry_id(follow_up.event.event_id),
                        follow_up.topic,
                        event.ticket_id,
                        payload,
                        event.ticket_id,
                    )
                )

    def _record_batch(self, events: Sequence[Event], stop: threading.Event) -> list[Recorded]:
        """The store's batch; if it fails as a whole (not for want of Redis), event by event."""
        if not events:
            return []
        try:
            return self._with_redis(lambda: self.store.record_many(events), stop)
        except InterruptedError:
            raise
        except Exception as exc:  # e.g. Redis refused one write of the transaction: find the poison alone
            if len(events) == 1:
                return [exc]
            log.exception("recording a batch of %d events failed; recording them one by one", len(events))
            return [r for event in events for r in self._record_batch([event], stop)]

    def _with_redis(self, call: Callable[[], T], stop: threading.Event) -> T:
        """``call()``, waiting for Redis while it is unavailable (InterruptedError on ``stop``)."""
        delay = 0.5
        while not stop.is_set():
            try:
                return call()
            except (redis.ConnectionError, redis.TimeoutError) as exc:  # includes LOADING after a restart
                log.warning("Redis unavailable (%s); retrying in %.1fs", exc, delay)
                stop.wait(delay)
                delay = min(delay * 2, 10.0)
        raise InterruptedError("stopped while Redis was unavailable; offsets not committed")

    def _dead_letter(self, message: Consumed, reason: str, out: Outputs, event: Event | None = None) -> None:
        record = dead_letter(
            message.value,
            reason=reason,
            stage="record",
            source_topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            now=self.clock(),
            ticket_id=event.ticket_id if event is not None else "-",
            source_event_id=event.event_id if event is not None else None,
        )
        log.warning("dead-lettered %s@%s/%s: %s", message.topic, message.partition, message.offset, reason)
        DEAD_LETTERS.labels(stage="record").inc()
        self._keep(record)
        out.sends.append((self.settings.topics.deadletter, None, record.model_dump_json().encode()))

    def _keep_dead_letter(self, message: Consumed) -> None:
        """A dead letter from any worker: keep it where people can read and replay it."""
        try:
            record = _validated(DeadLettered.model_validate_json, message.value or b"")
        except InvalidEvent as exc:
            record = dead_letter(
                message.value,
                reason=f"unreadable dead letter: {exc}",
                stage="deadletter",
                source_topic=message.topic,
                partition=message.partition,
                offset=message.offset,
                now=self.clock(),
            )
        self._keep(record)

    def _keep(self, record: DeadLettered) -> None:
        delay = 0.5
        while True:
            try:
                self.dead_letters.add(record)
                return
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                log.warning("Redis unavailable for dead letters (%s); retrying in %.1fs", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 10.0)


class Recorder:
    """Consume, handle, publish what follows, confirm the outbox, then commit."""

    def __init__(
        self,
        settings: Settings,
        store: TicketStore,
        clock: Clock,
        outbox: Outbox,
        dead_letters: DeadLetterStore,
        departments: frozenset[str] | None = None,
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self.clock = clock
        self.step = RecorderStep(settings, store, dead_letters, clock, departments)
        self._sent: list[Any] = []
        self.consumer: KafkaConsumer | None = None
        self.last_round = time.monotonic()
        """when the loop last went round (``time.monotonic()``), for the liveness probe"""

    def assignment(self) -> set[Any]:
        """The partitions this recorder holds in its group (empty before it joined)."""
        consumer = self.consumer
        return set(consumer.assignment()) if consumer is not None else set()

    def _consumer(self) -> KafkaConsumer:
        return KafkaConsumer(
            *self.step.kind_of_topic,
            bootstrap_servers=self.settings.kafka_bootstrap,
            group_id=f"{self.settings.group_prefix}-recorder",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=self.settings.session_timeout_s * 1000,
            heartbeat_interval_ms=int(self.settings.heartbeat_interval_s * 1000),
            max_poll_records=500,
            allow_auto_create_topics=False,
            **self.settings.kafka_client_options(),
        )

    def run(self, stop: threading.Event) -> None:
        consumer = self.consumer = self._consumer()
        producer = KafkaProducer(
            bootstrap_servers=self.settings.kafka_bootstrap,
            acks="all",
            allow_auto_create_topics=False,
            **self.settings.kafka_client_options(),
        )
        log.info("recorder consuming %s", ", ".join(self.step.kind_of_topic))
        gc.freeze()  # what start-up built lives as long as the loop: the collector need not walk it again
        try:
            while not stop.is_set():
                batches = consumer.poll(timeout_ms=500)
                self.last_round = time.monotonic()
                if not batches:
                    continue
                out = self.step.handle_batch([m for records in batches.values() for m in records], stop)
                if out.outbox:
                    self.outbox.put(out.outbox, self.clock())
                for topic, key, value in out.sends:
                    self._sent.append(producer.send(topic, key=key and key.encode(), value=value))
                    EVENTS_OUT.labels(topic=topic).inc()
                producer.flush()
                self._raise_if_unsent()  # a lost follow-up or dead letter must not be committed past
                self.outbox.confirm(out.confirms)
                consumer.commit()
        finally:
            consumer.close()
            producer.close()

    def _raise_if_unsent(self) -> None:
        """Every message this batch produced is acknowledged, or the batch is not committed."""
        sent, self._sent = self._sent, []
        for future in sent:
            future.get(timeout=30)
