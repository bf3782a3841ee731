"""The hot-spot worker (``ztc hotspots``): a Faust app of its own, beside the router, not inside it.

    tickets.routed   ─┐  group near-duplicate requests per street (schemas.hotspots)
    tickets.feedback ─┼─► heat: bounces, unsatisfied ratings, merges ──► Redis (streams.hotspot_store)
    tickets.sla      ─┘  overdue                                            │
                                    a group that became hot: its report ────┴─► tickets.hotspots, alert outbox

Its own consumer group (``{group_prefix}-hotspots``) reads what the router and the
departments wrote, so the router's hot path gains nothing (its throughput is
measured unchanged: README "Hot spots"). Messages are handed over a fetched batch
at a time, as in the router (``streams.faust_transport``). Every message is parsed
first; one that cannot be read is dead-lettered with its reason (stage ``hotspots``)
and the others go on. The batch is applied to Redis in one transaction, the reports
it queued are published, and only then is the batch acknowledged. Redis down: the
batch waits for it. A report the broker refuses stays queued in Redis and is sent
again by the next batch or the timer; a dead letter the broker refuses stops the
process before anything is acknowledged, as in the router.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import redis
from pydantic import ValidationError

from schemas.dead_letters import dead_letter, describe_validation_error
from schemas.events import TicketRouted
from schemas.hotspot_events import HotSpotDetected, SignalEvent, parse_signal, request_of
from schemas.hotspots import HotspotRequest
from schemas.policy import RoutingPolicy
from schemas.settings import Settings
from schemas.topics import Consumed, Topics
from streams.faust_transport import PromptApp, aiokafka_producer, raw_topic, worker_app
from streams.record_batches import BatchSender, RecordSender
from streams.router import BATCH_MAX
from streams.router_steps import Send

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
STAGE = "hotspots"
REDIS_RETRY_S = 1.0
UNDELIVERABLE_EXIT = 75


class HotspotState(Protocol):
    """What the worker needs of its state (``streams.hotspot_store.RedisHotspotStore``)."""

    def apply(
        self,
        requests: Sequence[HotspotRequest],
        signal_events: Sequence[tuple[str, SignalEvent]],
        now: datetime,
    ) -> list[HotSpotDetected]: ...

    def pending(self) -> list[HotSpotDetected]: ...

    def published(self, hotspot_ids: Sequence[str]) -> None: ...


@dataclass
class ReadBatch:
    """A batch's messages, parsed: requests, signals, and dead letters for what could not be read."""

    requests: list[HotspotRequest] = field(default_factory=list)
    signals: list[tuple[str, SignalEvent]] = field(default_factory=list)
    letters: list[Send] = field(default_factory=list)


class HotspotHandlers:
    """Batch handlers of the three input topics; each returns once its batch is applied and reported."""

    def __init__(
        self, topics: Topics, policy: RoutingPolicy, state: HotspotState, sender: RecordSender, clock: Clock
    ) -> None:
        self.topics = topics
        self.policy = policy
        self.state = state
        self.sender = sender
        self.clock = clock
        self.reported = 0
        self.seen = 0

    async def routed(self, messages: Sequence[Consumed]) -> None:
        await self._handle(messages, self._read_routed)

    async def feedback(self, messages: Sequence[Consumed]) -> None:
        await self._handle(messages, lambda m, batch: self._read_signal(m, batch, sla=False))

    async def sla(self, messages: Sequence[Consumed]) -> None:
        await self._handle(messages, lambda m, batch: self._read_signal(m, batch, sla=True))

    async def _handle(
        self, messages: Sequence[Consumed], read: Callable[[Consumed, ReadBatch], None]
    ) -> None:
        batch = ReadBatch()
        for message in messages:
            try:
                read(message, batch)
            except ValidationError as exc:
                self._dead_letter(message, f"schema: {describe_validation_error(exc)}", batch)
            except Exception as exc:  # unreadable input must never stop the worker
                self._dead_letter(message, f"unreadable: {exc}", batch)
        if batch.requests or batch.signals:
            try:
                await self._apply(batch)
            except (
                Exception
            ) as exc:  # a bug, not the input's fault: keep it visible, go on with the next batch
                log.exception("hot-spot step failed for a batch of %d messages", len(messages))
                batch.letters = []
                for message in messages:
                    self._dead_letter(message, f"hot-spot step failed: {exc!r}", batch)
        await self._send_letters(batch.letters)
        await self.publish_pending()
        self.seen += len(messages)
        log.info(
            "hotspots: read %d (%d requests, %d signals, %d dead-lettered); %d seen, %d reported",
            len(messages),
            len(batch.requests),
            len(batch.signals),
            len(batch.letters),
            self.seen,
            self.reported,
        )

    def _read_routed(self, message: Consumed, batch: ReadBatch) -> None:
        if not self.policy.hotspots.enabled:
            return
        routed = TicketRouted.model_validate_json(message.value or b"")
        batch.requests.append(request_of(routed, self.policy))

    def _read_signal(self, message: Consumed, batch: ReadBatch, sla: bool) -> None:
        event = parse_signal(message.value or b"", sla)
        if event is not None:
            batch.signals.append((event.ticket_id, event))

    async def _apply(self, batch: ReadBatch) -> None:
        """Apply to Redis, waiting for it if it is down (nothing is acknowledged meanwhile)."""
        while True:
            try:
                await asyncio.to_thread(self.state.apply, batch.requests, batch.signals, self.clock())
                return
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                log.warning("Redis unavailable (%s); trying again in %.0fs", exc, REDIS_RETRY_S)
                await asyncio.sleep(REDIS_RETRY_S)

    def _dead_letter(self, message: Consumed, reason: str, batch: ReadBatch) -> None:
        record = dead_letter(
            message.value,
            reason=reason,
            stage=STAGE,
            source_topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            now=self.clock(),
        )
        log.warning("dead-lettered %s@%s/%s: %s", message.topic, message.partition, message.offset, reason)
        batch.letters.append(Send(self.topics.deadletter, None, record.model_dump_json().encode()))

    async def _send_letters(self, letters: Sequence[Send]) -> None:
        if letters and any(o is not None for o in await self.sender.send_all(letters)):
            log.critical("the broker refused %d dead letters; exiting to read them again", len(letters))
            logging.shutdown()
            os._exit(UNDELIVERABLE_EXIT)

    async def publish_pending(self) -> int:
        """Send the queued reports to ``tickets.hotspots``; unqueue those the broker acknowledged."""
        try:
            reports = await asyncio.to_thread(self.state.pending)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("Redis unavailable (%s); reports stay queued", exc)
            return 0
        if not reports:
            return 0
        sends = [
            Send(self.topics.hotspots, r.ticket_id.encode(), r.model_dump_json().encode()) for r in reports
        ]
        outcomes = await self.sender.send_all(sends)
        done = [r.hotspot_id for r, o in zip(reports, outcomes, strict=True) if o is None]
        for report, outcome in zip(reports, outcomes, strict=True):
            if outcome is not None:
                log.error("publishing hot spot %s failed (kept queued): %r", report.hotspot_id, outcome)
        await asyncio.to_thread(self.state.published, done)
        self.reported += len(done)
        return len(done)


PENDING_RETRY_S = 10.0
"""How often queued reports are sent again when no message comes to carry them."""


def build_hotspot_app(
    settings: Settings, policy: RoutingPolicy, state: HotspotState, clock: Clock
) -> tuple[PromptApp, HotspotHandlers]:
    """Compose the worker: app, topics, handlers. Connects nothing until started."""
    app = _faust_app(settings)
    topics = settings.topics
    handlers = HotspotHandlers(topics, policy, state, BatchSender(lambda: aiokafka_producer(app)), clock)
    app.subscribe_batches(raw_topic(app, topics.routed), handlers.routed)
    app.subscribe_batches(raw_topic(app, topics.feedback), handlers.feedback)
    app.subscribe_batches(raw_topic(app, topics.sla), handlers.sla)

    async def retry_pending() -> None:
        await handlers.publish_pending()

    app.timer(PENDING_RETRY_S)(retry_pending)
    return app, handlers


def _faust_app(settings: Settings) -> PromptApp:
    return worker_app(settings, "hotspots", BATCH_MAX)
