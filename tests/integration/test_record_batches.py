"""``BatchSender`` against the real embedded broker: the contract the router's in-memory sender stands in for.

Every record is acknowledged and readable, in order per partition, on the
partition aiokafka's own ``send`` puts its key on. (The embedded broker creates
a topic it is asked about, so failures are covered in memory:
``tests/unit/test_record_batches.py``.)
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer

from consumers.topic_reader import read_topic
from deploy.embedded import EmbeddedStack
from deploy.topics import ensure_topics
from streams.record_batches import BatchSender


@dataclass(frozen=True)
class Out:
    topic: str
    key: bytes | None
    value: bytes


def bootstrap_of(stack: EmbeddedStack) -> str:
    return f"127.0.0.1:{stack.broker_port}"


async def send_both_ways(bootstrap: str, batched: list[Out], single: Out) -> tuple[list[object], int]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", request_timeout_ms=5000)
    await producer.start()
    try:
        outcomes = await BatchSender(lambda: producer).send_all(batched)
        metadata = await (await producer.send(single.topic, single.value, key=single.key))
        return list(outcomes), metadata.partition
    finally:
        await producer.stop()


def test_records_are_acknowledged_on_the_partition_the_default_partitioner_picks(
    stack: EmbeddedStack,
) -> None:
    a, b = f"rb-a-{uuid.uuid4().hex[:8]}", f"rb-b-{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap_of(stack), (a, b), 3)
    keys = [f"ZTC-{n:04d}".encode() for n in range(40)]
    batched = [Out(topic, key, f"{topic}/{key.decode()}".encode()) for key in keys for topic in (a, b)]
    outcomes, single_partition = asyncio.run(
        send_both_ways(bootstrap_of(stack), batched, Out(a, keys[7], b"single"))
    )
    assert outcomes == [None] * len(batched)
    for topic in (a, b):
        records = read_topic(bootstrap_of(stack), topic)
        mine = [r for r in records if r.value != b"single"]
        assert sorted(r.value for r in mine) == sorted(o.value for o in batched if o.topic == topic)
        partition_of = {r.key: r.partition for r in mine}
        assert len(set(partition_of.values())) > 1  # 40 keys spread over the partitions
        for key in keys:  # in key order within each partition, as appended
            same = [r for r in mine if r.partition == partition_of[key]]
            assert [r.offset for r in same] == sorted(r.offset for r in same)
    [single] = [r for r in read_topic(bootstrap_of(stack), a) if r.value == b"single"]
    assert single.partition == single_partition == partition_of_key(bootstrap_of(stack), a, keys[7])


def partition_of_key(bootstrap: str, topic: str, key: bytes) -> int:
    [record] = [r for r in read_topic(bootstrap, topic) if r.key == key and r.value != b"single"]
    return int(record.partition)
