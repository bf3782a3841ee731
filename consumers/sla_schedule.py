"""The SLA alert schedule: which alerts fall due when, and who is emitting one right now.

The recorder keeps the schedule equal to what the pure engine schedules for
each ticket's current state (``replace``, in the same write as the ticket); the
monitor reads what is due, drops or moves what no longer applies, pushes an
emitted alert back until the recorder has recorded it, and takes a short lease
per alert so two monitors never emit it at the same moment.

``SlaSchedule`` is the Protocol the monitor uses. ``RedisSlaSchedule`` is the
real one (a sorted set ``{prefix}sla:due``, alert key → fire time, and
``SET NX EX`` leases); ``InMemorySlaSchedule`` is a full adapter for unit tests
and passes the same contract tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import redis

from consumers.sla_engine import ScheduledAlert


class SlaSchedule(Protocol):
    def due(self, now: datetime, limit: int) -> list[str]:
        """Keys of the alerts due by ``now``, earliest first, at most ``limit``."""
        ...

    def remove(self, key: str) -> None:
        """The alert no longer applies (or cannot be handled): forget it."""
        ...

    def move(self, key: str, fire_at: datetime) -> None:
        """The alert's deadline moved: it fires at ``fire_at`` instead."""
        ...

    def postpone(self, key: str, until: datetime) -> None:
        """Look at an emitted alert again at ``until`` — only if it is still scheduled (not recorded)."""
        ...

    def claim(self, key: str, owner: str, lease_s: int) -> bool:
        """True if ``owner`` may emit the alert now: nobody holds an unexpired lease on it."""
        ...


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisSlaSchedule:
    """``{prefix}sla:due`` (ZSET alert key → fire time) and ``{prefix}sla:claim:{key}`` leases."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    @property
    def key(self) -> str:
        return f"{self.prefix}sla:due"

    def claim_key(self, alert_key: str) -> str:
        return f"{self.prefix}sla:claim:{alert_key}"

    def due(self, now: datetime, limit: int) -> list[str]:
        found = self.client.zrangebyscore(self.key, "-inf", now.timestamp(), start=0, num=limit)
        return [_text(raw) for raw in found]

    def remove(self, key: str) -> None:
        self.client.zrem(self.key, key)

    def move(self, key: str, fire_at: datetime) -> None:
        self.client.zadd(self.key, {key: fire_at.timestamp()})

    def postpone(self, key: str, until: datetime) -> None:
        self.client.zadd(self.key, {key: until.timestamp()}, xx=True)

    def claim(self, key: str, owner: str, lease_s: int) -> bool:
        return bool(self.client.set(self.claim_key(key), owner, nx=True, ex=lease_s))

    def replace_in(
        self, pipe: redis.client.Pipeline, stale: Iterable[str], alerts: Iterable[ScheduledAlert]
    ) -> None:
        """Inside the recorder's transaction: drop ``stale`` keys, schedule ``alerts``."""
        gone = list(stale)
        if gone:
            pipe.zrem(self.key, *gone)
        fresh = {a.key: a.fire_at.timestamp() for a in alerts}
        if fresh:
            pipe.zadd(self.key, fresh)


@dataclass
class InMemorySlaSchedule:
    """The same behaviour in dicts; ``clock`` (seconds) decides when a lease expires."""

    clock: Callable[[], float] = time.monotonic
    fire_at: dict[str, float] = field(default_factory=dict)
    """alert key → when it fires (epoch seconds)"""
    leases: dict[str, tuple[str, float]] = field(default_factory=dict)
    """alert key → (owner, lease end on ``clock``)"""

    def due(self, now: datetime, limit: int) -> list[str]:
        ready = sorted((at, key) for key, at in self.fire_at.items() if at <= now.timestamp())
        return [key for _, key in ready[:limit]]

    def remove(self, key: str) -> None:
        self.fire_at.pop(key, None)

    def move(self, key: str, fire_at: datetime) -> None:
        self.fire_at[key] = fire_at.timestamp()

    def postpone(self, key: str, until: datetime) -> None:
        if key in self.fire_at:
            self.fire_at[key] = until.timestamp()

    def claim(self, key: str, owner: str, lease_s: int) -> bool:
        now = self.clock()
        held = self.leases.get(key)
        if held is not None and held[1] > now:
            return False
        self.leases[key] = (owner, now + lease_s)
        return True

    def replace(self, stale: Iterable[str], alerts: Iterable[ScheduledAlert]) -> None:
        """What the in-memory store does when it records: drop ``stale`` keys, schedule ``alerts``."""
        for key in stale:
            self.fire_at.pop(key, None)
        self.fire_at.update({a.key: a.fire_at.timestamp() for a in alerts})
