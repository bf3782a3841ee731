"""Kafka for the bench (aiokafka): produce a batch, send at a fixed rate, and watch topics arrive.

The watcher reads every partition of its topics from the beginning with a
short fetch wait (``WATCH_WAIT_MS``): Tansu holds a fetch until its wait runs
out, so this sets the resolution of every arrival time.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

WATCH_WAIT_MS = 20
Record = tuple[bytes, bytes]


def producer(bootstrap: str, **config: Any) -> AIOKafkaProducer:
    return AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", **config)


async def produce_all(bootstrap: str, topic: str, records: Sequence[Record]) -> float:
    """Send every record, batched (linger 5 ms), and wait for every acknowledgement; seconds taken."""
    out = producer(bootstrap, linger_ms=5, max_batch_size=256 * 1024)
    await out.start()
    try:
        began = time.monotonic()
        futures = [await out.send(topic, key=key, value=value) for key, value in records]
        await asyncio.gather(*futures)
        return time.monotonic() - began
    finally:
        await out.stop()


@dataclass
class Arrival:
    topic: str
    key: bytes
    at: float
    """time.monotonic() when the watcher read it"""
    lead: str | None = None
    """for a routing: its lead department"""


@dataclass
class Watcher:
    """Everything that arrives on ``topics``, with the moment it was read; ``on_first`` at the first one."""

    bootstrap: str
    topics: tuple[str, ...]
    parse_lead: frozenset[str] = frozenset()
    """topics whose values are routings: remember each one's lead department"""
    on_arrival: Callable[[Arrival], None] | None = None
    arrivals: list[Arrival] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None
    _ready: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._ready.wait(), timeout=30)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=WATCH_WAIT_MS,
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        await consumer.start()
        try:
            partitions = [
                TopicPartition(topic, p)
                for topic in self.topics
                for p in sorted(consumer.partitions_for_topic(topic) or await _partitions(consumer, topic))
            ]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            self._ready.set()
            while True:
                batches = await consumer.getmany(timeout_ms=200, max_records=5000)
                now = time.monotonic()
                for records in batches.values():
                    for record in records:
                        lead = None
                        if record.topic in self.parse_lead:
                            lead = str(json.loads(record.value).get("lead_department"))
                        arrival = Arrival(record.topic, record.key or b"", now, lead)
                        self.arrivals.append(arrival)
                        if self.on_arrival is not None:
                            self.on_arrival(arrival)
        finally:
            await consumer.stop()

    def count(self, topic: str | None = None) -> int:
        if topic is None:
            return len(self.arrivals)
        return sum(1 for a in self.arrivals if a.topic == topic)

    def rate_after(self, first_at: float) -> tuple[float, int]:
        """Arrivals per second after the batch that arrived at ``first_at`` (the clock starts there),
        and how many were counted; the first batch itself is left out."""
        in_first_batch = sum(1 for a in self.arrivals if a.at == first_at)
        window = self.arrivals[-1].at - first_at
        counted = len(self.arrivals) - in_first_batch
        return (counted / window if window > 0 else math.inf), counted

    async def wait_for(self, expected: int, idle_s: float, topic: str | None = None) -> bool:
        """Until ``expected`` arrived (True) or nothing new came for ``idle_s`` (False)."""
        seen, since = -1, time.monotonic()
        while True:
            now_count = self.count(topic)
            if now_count >= expected:
                return True
            if now_count != seen:
                seen, since = now_count, time.monotonic()
            elif time.monotonic() - since > idle_s:
                return False
            await asyncio.sleep(0.05)


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    for _ in range(100):
        await consumer._client.force_metadata_update()
        found = consumer.partitions_for_topic(topic)
        if found:
            return set(found)
        await asyncio.sleep(0.1)
    raise RuntimeError(f"topic {topic} has no partitions")


async def send_at_rate(
    bootstrap: str,
    topic: str,
    records: Sequence[Record],
    rate: float,
    sent_at: dict[bytes, float],
) -> float:
    """Send ``records`` one by one at ``rate``/s (no linger, as a channel sends); seconds late at the end.

    ``sent_at`` gets each key's ``time.monotonic()`` just before its send.
    """
    out = producer(bootstrap)
    await out.start()
    try:
        began = time.monotonic()
        futures = []
        for index, (key, value) in enumerate(records):
            delay = began + index / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            sent_at[key] = time.monotonic()
            futures.append(await out.send(topic, key=key, value=value))
        await asyncio.gather(*futures)
        return max(0.0, time.monotonic() - began - len(records) / rate)
    finally:
        await out.stop()
