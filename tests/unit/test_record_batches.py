"""``BatchSender``'s bookkeeping with a producer that refuses: one outcome per record, in order.

The real producer and broker are in ``tests/integration/test_record_batches.py``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka.partitioner import DefaultPartitioner, murmur2
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.record_batches import BatchSender, default_partition
from streams.record_batches import murmur2 as murmur2_by_words


@dataclass(frozen=True)
class Out:
    topic: str
    key: bytes | None
    value: bytes


class Builder:
    def __init__(self, capacity: int) -> None:
        self.records: list[bytes] = []
        self.capacity = capacity
        self.closed = False

    def append(self, *, key: bytes | None, value: bytes, timestamp: None) -> object | None:
        if len(self.records) >= self.capacity or len(value) > 100:
            return None
        self.records.append(value)
        return object()

    def close(self) -> None:
        self.closed = True


class Cluster:
    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return None if topic == "unknown" else {0, 1, 2}


class Client:
    cluster = Cluster()

    async def _wait_on_metadata(self, topic: str) -> None:
        if topic == "timeout":
            raise TimeoutError("no metadata for timeout")


class Producer:
    """Builders of two records; ``send_batch`` refuses the topic ``refused``."""

    client = Client()

    def __init__(self) -> None:
        self.batches: list[tuple[str, int, list[bytes]]] = []

    def create_batch(self) -> Builder:
        return Builder(capacity=2)

    async def send_batch(self, builder: Builder, topic: str, *, partition: int) -> asyncio.Future[Any]:
        assert builder.closed
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if topic == "refused":
            done.set_exception(RuntimeError("refused"))
        else:
            self.batches.append((topic, partition, builder.records))
            done.set_result(None)
        return done


def test_each_record_gets_its_own_outcome_and_full_builders_roll_over() -> None:
    producer = Producer()
    records = [
        Out("ok", b"k", b"1"),
        Out("refused", b"k", b"2"),
        Out("ok", b"k", b"3"),
        Out("unknown", b"k", b"4"),
        Out("ok", b"k", b"5"),
        Out("timeout", b"k", b"6"),
        Out("ok", b"k", b"x" * 101),
    ]
    outcomes = asyncio.run(BatchSender(lambda: producer).send_all(records))
    assert [o is None for o in outcomes] == [True, False, True, False, True, False, False]
    assert "refused" in repr(outcomes[1]) and "unknown" in repr(outcomes[3])
    assert "larger than a whole batch" in repr(outcomes[6])
    ok = [b for b in producer.batches if b[0] == "ok"]
    assert [values for _, _, values in ok] == [[b"1", b"3"], [b"5"]]  # one key, one partition, in order
    assert len({partition for _, partition, _ in ok}) == 1


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=80), st.integers(min_value=1, max_value=64))
def test_records_go_to_the_partition_aiokafka_and_the_java_client_choose(key: bytes, count: int) -> None:
    partitions = list(range(count))
    assert murmur2_by_words(key) == murmur2(key)
    assert default_partition(key, partitions) == DefaultPartitioner()(key, partitions, partitions)


@pytest.mark.parametrize(
    ("key", "java"), [(b"21", -973932308), (b"foobar", -790332482), (b"a-little-bit-long-string", -985981536)]
)
def test_murmur2_gives_what_kafkas_java_client_gives(key: bytes, java: int) -> None:
    """Kafka's own UtilsTest values (signed 32-bit in Java)."""
    assert murmur2_by_words(key) == java & 0xFFFFFFFF
