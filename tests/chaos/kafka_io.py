"""Raw Kafka for the malformed scenario: produce poison where it was sent, tail the dead-letter topic.

A poison message is identified by (topic, partition, offset), as the broker
acknowledged it; a dead letter names the same three (``source_topic``,
``source_partition``, ``source_offset``), so each message is matched exactly.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from tests.chaos.poison import MARKER, Poison

log = logging.getLogger(__name__)

MARKER_SCAN_B64 = 400_000
"""how much of a dead letter's original is searched for a poison marker (the markers sit near the start)"""
_MARKER = re.compile(MARKER.encode() + rb"\d+")

Where = tuple[str, int, int]
"""(topic, partition, offset)"""


@dataclass(frozen=True)
class Sent:
    topic: str
    kind: str
    where: Where | None
    """None: the broker refused it (too large, ...) — then it is not counted as sent."""
    marker: str | None = None
    error: str | None = None


def produce_all(bootstrap: str, messages: list[tuple[str, Poison]]) -> list[Sent]:
    """Send (topic, poison) messages with ``acks=all``; where each one landed."""
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=20,
        max_request_size=4 * 1024 * 1024,
        allow_auto_create_topics=False,
        max_block_ms=30000,
    )
    try:
        futures = [(topic, p, producer.send(topic, key=p.key, value=p.value)) for topic, p in messages]
        producer.flush(timeout=300)
        out = []
        for topic, poison, future in futures:
            try:
                meta = future.get(timeout=60)
                out.append(Sent(topic, poison.kind, (topic, meta.partition, meta.offset), poison.marker))
            except KafkaError as exc:
                out.append(Sent(topic, poison.kind, None, poison.marker, f"{type(exc).__name__}: {exc}"))
        return out
    finally:
        producer.close(timeout=30)


@dataclass(frozen=True)
class Letter:
    where: Where | None
    reason: str
    stage: str
    markers: frozenset[str]
    """poison channel message ids found in the original bytes"""


def _letter(raw: bytes | None) -> Letter | None:
    try:
        doc: Any = json.loads(raw or b"")
    except (ValueError, RecursionError):
        return None
    if not isinstance(doc, dict):
        return None
    partition, offset = doc.get("source_partition"), doc.get("source_offset")
    where = (
        (str(doc.get("source_topic")), partition, offset)
        if isinstance(partition, int) and isinstance(offset, int)
        else None
    )
    original = str(doc.get("original_b64") or "")
    try:
        text = base64.b64decode(original[:MARKER_SCAN_B64]) if original else b""
    except ValueError:
        text = b""
    text += str(doc.get("original_preview") or "").encode()
    markers = frozenset(m.decode() for m in _MARKER.findall(text))
    return Letter(where, str(doc.get("reason") or ""), str(doc.get("stage") or ""), markers)


class DeadLetterTail:
    """Reads the dead-letter topic from its beginning and keeps reading as letters arrive."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.letters: list[Letter] = []
        self.unreadable = 0
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            group_id=None,
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=16 * 1024 * 1024,
        )
        self.assigned: list[TopicPartition] = []

    def poll(self) -> int:
        """Read what is there now; how many new letters."""
        if not self.assigned:
            partitions = self.consumer.partitions_for_topic(self.topic) or set()
            self.assigned = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            if not self.assigned:
                return 0
            self.consumer.assign(self.assigned)
            self.consumer.seek_to_beginning(*self.assigned)
        before = len(self.letters)
        for _ in range(20):
            batches = self.consumer.poll(timeout_ms=300)
            if not batches:
                break
            for records in batches.values():
                for record in records:
                    letter = _letter(record.value)
                    if letter is None:
                        self.unreadable += 1
                    else:
                        self.letters.append(letter)
        return len(self.letters) - before

    def close(self) -> None:
        self.consumer.close()
