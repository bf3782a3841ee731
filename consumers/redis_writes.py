"""The writes of one transaction, collected first and sent as their net effect: few commands, one trip.

The ticket store queues what a write changes (``_reindex``, ``_reschedule``,
``redis_read_model.write_changes``) on a ``WriteBatch`` instead of a Redis
pipeline. The batch keeps, per key, only the last word on each member or value
and the sum of each counter's increments, so recording 500 events costs a
handful of ``ZADD``/``ZREM``/``HINCRBY`` per key touched plus one ``MSET``, not
twenty commands per event. ``flush`` queues them on a pipeline inside
``MULTI``; applying them leaves Redis exactly as applying every call in order
would (a later ``zadd`` of a member beats an earlier ``zrem`` and the other way
round; increments commute; the last ``set`` wins). Stream entries (``xadd``)
keep their order.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import redis

REMOVED = None
"""A member's last word in a sorted set: removed."""


class WriteBatch:
    """Sorted-set, hash-counter, string and stream writes, reduced to their net effect."""

    def __init__(self) -> None:
        self.members: defaultdict[str, dict[str, float | None]] = defaultdict(dict)
        self.counters: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.values: dict[str, bytes | str] = {}
        self.entries: list[tuple[str, dict[str, str]]] = []

    def zadd(self, key: str, mapping: dict[str, float]) -> None:
        self.members[key].update(mapping)

    def zrem(self, key: str, *members: str) -> None:
        slot = self.members[key]
        for member in members:
            slot[member] = REMOVED

    def hincrby(self, key: str, field: str, amount: int = 1) -> None:
        self.counters[key][field] += amount

    def set(self, key: str, value: bytes | str) -> None:
        self.values[key] = value

    def xadd(self, key: str, fields: dict[str, str]) -> None:
        self.entries.append((key, fields))

    def __bool__(self) -> bool:
        return bool(self.members or self.values or self.entries or any(self.counters.values()))

    def flush(self, pipe: redis.client.Pipeline) -> None:
        """Queue the net writes on ``pipe`` (strings, then sorted sets, counters, stream entries)."""
        if self.values:
            pipe.mset(self.values)
        for key, slot in self.members.items():
            gone = [m for m, score in slot.items() if score is REMOVED]
            kept: dict[Any, Any] = {m: score for m, score in slot.items() if score is not REMOVED}
            if gone:
                pipe.zrem(key, *gone)
            if kept:
                pipe.zadd(key, kept)
        for key, fields in self.counters.items():
            for field, amount in fields.items():
                if amount:
                    pipe.hincrby(key, field, amount)
        for key, entry in self.entries:
            pipe.xadd(key, entry)  # type: ignore[arg-type]

    def merge(self, other: WriteBatch) -> None:
        """Add ``other``'s writes after this batch's own (as if queued after them)."""
        for key, slot in other.members.items():
            self.members[key].update(slot)
        for key, fields in other.counters.items():
            mine = self.counters[key]
            for field, amount in fields.items():
                mine[field] += amount
        self.values.update(other.values)
        self.entries += other.entries
