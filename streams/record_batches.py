"""Sending many records at once: one record batch per topic partition, one acknowledgement each.

aiokafka's ``send`` costs a future, a partitioner call (murmur2 in Python) and
the accumulator's bookkeeping per record: about 65 µs each on this machine, three
records per routed ticket. ``BatchSender.send_all`` instead partitions each key
once, appends the records to one ``BatchBuilder`` per topic partition (the
record encoding is aiokafka's C extension) and hands each builder over with
``send_batch``: one future per batch. Records go to the partition the default
partitioner would choose (murmur2 of the key, as Kafka's Java client and
``producer.send`` do), so a ticket's records share a partition with every other
record of that ticket, whoever produced them. ``murmur2`` here is aiokafka's,
four bytes at a time (a test holds them equal): its byte-by-byte loop cost ~5 µs
a ticket.

The outcome is reported per record, in order: ``None`` once the broker
acknowledged it, else the error (a topic the broker does not have, a refused
batch); the caller decides what a failure means.
"""

from __future__ import annotations

import asyncio
import random
import struct
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer

Outcome = BaseException | None

_M = 0x5BD1E995
_WORDS = struct.Struct("<I")


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (``aiokafka.partitioner.murmur2``, after the Java client's ``Utils.murmur2``)."""
    length = len(data)
    h = 0x9747B28C ^ length
    whole = length & ~3
    for (k,) in _WORDS.iter_unpack(data[:whole]):
        k = (k * _M) & 0xFFFFFFFF
        k = ((k ^ (k >> 24)) * _M) & 0xFFFFFFFF
        h = ((h * _M) & 0xFFFFFFFF) ^ k
    rest = length & 3
    if rest:
        if rest == 3:
            h ^= data[whole + 2] << 16
        if rest >= 2:
            h ^= data[whole + 1] << 8
        h = ((h ^ data[whole]) * _M) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * _M) & 0xFFFFFFFF
    return h ^ (h >> 15)


def default_partition(key: bytes | None, partitions: list[int]) -> int:
    """The partition aiokafka's ``DefaultPartitioner`` chooses for ``key`` (a random one for no key)."""
    if key is None:
        return random.choice(partitions)
    return partitions[(murmur2(key) & 0x7FFFFFFF) % len(partitions)]


class Record(Protocol):
    @property
    def topic(self) -> str: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes: ...


class RecordSender(Protocol):
    async def send_all(self, records: Sequence[Record]) -> list[Outcome]:
        """Send every record; for each, in order, None once acknowledged or the error."""
        ...


class _Batch:
    """The records of one topic partition, in builders of at most the producer's batch size."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer
        self.builders: list[Any] = [producer.create_batch()]
        self.members: list[list[int]] = [[]]

    def append(self, index: int, key: bytes | None, value: bytes) -> None:
        if self.builders[-1].append(key=key, value=value, timestamp=None) is None:
            self.builders.append(self.producer.create_batch())  # the last one is full
            self.members.append([])
            if self.builders[-1].append(key=key, value=value, timestamp=None) is None:
                raise ValueError(f"a record of {len(value)} bytes is larger than a whole batch")
        self.members[-1].append(index)


class BatchSender:
    """``RecordSender`` over an aiokafka producer (``producer()`` is asked at each send: it may restart)."""

    def __init__(self, producer: Callable[[], AIOKafkaProducer]) -> None:
        self._producer = producer

    async def send_all(self, records: Sequence[Record]) -> list[Outcome]:
        producer = self._producer()
        outcomes: list[Outcome] = [None] * len(records)
        partitions_of = await self._partitions({record.topic for record in records}, producer)
        batches: dict[tuple[str, int], _Batch] = {}
        chosen: dict[tuple[bytes | None, int], int] = {}
        for index, record in enumerate(records):
            try:
                topic, key = record.topic, record.key
                partitions = partitions_of[topic]
                if isinstance(partitions, BaseException):
                    raise partitions
                partition = chosen.get((key, len(partitions)))
                if partition is None:
                    partition = chosen[key, len(partitions)] = default_partition(key, partitions)
                batch = batches.get((topic, partition))
                if batch is None:
                    batch = batches[topic, partition] = _Batch(producer)
                batch.append(index, key, record.value)
            except Exception as exc:  # e.g. a topic the broker does not have
                outcomes[index] = exc
        sent: list[tuple[list[int], Any]] = []
        for (topic, partition), batch in batches.items():
            for builder, members in zip(batch.builders, batch.members, strict=True):
                if not members:
                    continue
                builder.close()
                sent.append((members, self._submit(producer, builder, topic, partition)))
        results = await asyncio.gather(*(acknowledged for _, acknowledged in sent), return_exceptions=True)
        for (members, _), result in zip(sent, results, strict=True):
            if isinstance(result, BaseException):
                for index in members:
                    outcomes[index] = result
        return outcomes

    @staticmethod
    async def _partitions(
        topics: set[str], producer: AIOKafkaProducer
    ) -> dict[str, list[int] | BaseException]:
        """Each topic's partitions as the producer's metadata has them now (asked once per topic and send)."""
        known: dict[str, list[int] | BaseException] = {}
        for topic in topics:
            try:
                await producer.client._wait_on_metadata(topic)
                partitions = sorted(producer.client.cluster.partitions_for_topic(topic) or ())
                known[topic] = partitions or LookupError(f"topic {topic!r} has no partitions")
            except Exception as exc:
                known[topic] = exc
        return known

    @staticmethod
    async def _submit(producer: AIOKafkaProducer, builder: Any, topic: str, partition: int) -> Any:
        return await (await producer.send_batch(builder, topic, partition=partition))
