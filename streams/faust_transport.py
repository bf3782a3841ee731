"""Faust's aiokafka transport for the router: a short fetch wait and batch delivery.

**Fetch wait.** Faust builds its aiokafka consumer with ``fetch_max_wait_ms=1500``
and offers no setting for it. Tansu (the embedded broker) holds a fetch until that
wait expires instead of answering when data arrives, so every routed ticket waited
up to 1.5 s (measured: p50 at 100/s 1,792 ms with the stock wait, 80 ms with
100 ms). A real Kafka answers as soon as data is there; a short wait only costs it
a few more empty fetches per second while idle.

**Batch delivery.** Faust hands every fetched message to its streams one at a time:
a ``wait_first`` over four new tasks per message in the consumer's drain loop, the
conductor's lock and flow checks, an event, a queue hop and the stream iterator.
Measured on the embedded stack with nothing but forwarding in the agent (20,000
messages, three records out per message): 0.43 ms of worker CPU per message
through an agent with ``take_events``, 0.11 ms when the drain loop hands each
fetched batch to one coroutine. Topics subscribed with
:meth:`PromptApp.subscribe_batches` take that path: their messages are tracked and
acknowledged to Faust's consumer exactly as a stream would (so offsets are
committed by Faust's own commit loop, gaps are filled, and a rebalance waits for
the batch in hand), but they reach the handler as a list, at most ``max_batch``
at a time, and are acknowledged when the handler returns. Any other topic (agents,
tables) keeps Faust's ordinary path.

**Start.** Faust's table manager sleeps one second before it starts recovery, so that
agents started late can still declare tables, and the consumer subscribes only after
that. A PromptApp declares every table and topic when it is built, before its worker
starts, so :class:`PromptTableManager` starts recovery at once (measured: one second
of the router's eight to the first routed ticket from cold).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

import faust
from aiokafka import AIOKafkaProducer
from faust.tables import TableManager
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import Message, TopicT

from schemas.settings import Settings
from streams.kafka_security import faust_credentials

FETCH_MAX_WAIT_MS = 100

BatchHandler = Callable[[Sequence[Message]], Awaitable[None]]
"""Takes the messages of one topic in offset order per partition; they are acknowledged when it returns."""


class _PromptConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka reads this when it starts its fetcher, after Faust has built the consumer.
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer


class _PromptConsumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _PromptConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _drain_messages(self, fetcher: Any) -> None:
        app = cast(PromptApp, self.app)
        if not app.batch_handlers:
            await super()._drain_messages(fetcher)
            return
        while not (self._stopped.is_set() or fetcher._stopped.is_set()):
            fetched = await self._fetch_new(app)
            await self.sleep(0)
            for topic, messages in fetched.items():
                handler = app.batch_handlers.get(topic)
                for start in range(0, len(messages), app.max_batch):
                    await self._deliver(handler, messages[start : start + app.max_batch])
            if self._commit_every is not None and self._n_acked >= self._commit_every:
                self._n_acked = 0
                await self.commit()

    async def _fetch_new(self, app: PromptApp) -> dict[str, list[Message]]:
        """One fetch's new messages by topic, each after the last read of its partition (as Faust reads)."""
        fetched: dict[str, list[Message]] = {}
        read_offset = self._read_offset
        async for tp, message in self.getmany(timeout=1.0):
            last = read_offset[tp]
            if last is not None and message.offset < last:
                continue  # already read before a seek back
            if last and message.offset - last > 1 and app.topics.acks_enabled_for(message.topic):
                await self._add_gap(tp, last + 1, message.offset)  # offsets the broker skipped
            read_offset[tp] = message.offset
            fetched.setdefault(message.topic, []).append(message)
        return fetched

    async def _deliver(self, handler: BatchHandler | None, messages: Sequence[Message]) -> None:
        track = self.track_message
        for message in messages:
            track(message)
        if handler is None:  # a topic of an ordinary agent or table: Faust's own path
            for message in messages:
                await self.wait_first(self.callback(message), self.suspend_flow.wait())
            return
        await handler(messages)
        ack = self.ack
        for message in messages:
            ack(message)


class PromptTransport(faust_aiokafka.Transport):
    """The aiokafka transport whose consumers fetch with a 100 ms wait and deliver batches."""

    Consumer = _PromptConsumer


class PromptTableManager(TableManager):
    """Faust's table manager without the one-second pause before recovery (see the module's **Start**)."""

    async def on_start(self) -> None:
        if not self.should_stop:
            await self._update_channels()
            await self.recovery.start()


class PromptApp(faust.App):
    """A Faust app on ``PromptTransport`` (``kafka://`` URLs only; the router uses nothing else)."""

    max_batch = 500
    """Messages handed to a batch handler at most at once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("TableManager", PromptTableManager)
        super().__init__(*args, **kwargs)
        self.batch_handlers: dict[str, BatchHandler] = {}

    def _new_transport(self) -> Any:
        return PromptTransport(self.conf.broker_consumer, self)

    def subscribe_batches(self, topic: TopicT, handler: BatchHandler) -> None:
        """Consume ``topic`` in the consumer group, its fetched messages handed to ``handler`` in batches."""
        for name in topic.topics:
            self.batch_handlers[name] = handler
        self.topics.add(topic)


def aiokafka_producer(app: faust.App) -> AIOKafkaProducer:
    """The aiokafka producer inside Faust's (started with the app; raises ``NotReady`` before)."""
    return cast(faust_aiokafka.Producer, app.producer)._ensure_producer()


def raw_topic(app: faust.App, name: str) -> Any:
    """A topic of bytes keys and values, read and written as they are."""
    return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")


def worker_app(settings: Settings, role: str, max_batch: int, **overrides: Any) -> PromptApp:
    """A ZTC worker's Faust app: group ``{group_prefix}-{role}``, every output acknowledged by all
    replicas, the group's session and heartbeat from the settings; ``overrides`` for the rest."""
    options: dict[str, Any] = {
        "broker": f"kafka://{settings.kafka_bootstrap}",
        "store": "memory://",
        "web_enabled": False,
        "topic_partitions": settings.partitions,
        "broker_credentials": faust_credentials(settings),
        "broker_session_timeout": settings.session_timeout_s,
        "broker_heartbeat_interval": settings.heartbeat_interval_s,
        "consumer_auto_offset_reset": "earliest",
        "producer_acks": -1,
        "producer_linger": 0.005,  # a batch's records are handed over together: little to wait for
    }
    app = PromptApp(f"{settings.group_prefix}-{role}", **(options | overrides))
    app.max_batch = max_batch
    return app
