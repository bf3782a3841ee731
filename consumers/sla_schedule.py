"""The SLA schedule: which tickets have an alert due when, and who is emitting an alert right now.

One entry per ticket with alerts to come, due when its next alert fires. The
recorder keeps it equal to what the pure engine schedules for each ticket's
current state (in the same write as the ticket); the monitor ``settle``\\ s a
pass: it reads the tickets due by ``now`` together with their current state,
lets a pure ``decide`` work out what to emit and when each ticket comes due
next, and moves or drops the entries atomically — if the recorder changed one
of those tickets meanwhile, the batch is read and decided again. A short lease
per alert keeps two monitors from emitting it at the same moment.

Members written before one-entry-per-ticket (``ticket:stage:kind:round``, one
per alert) may still be in the schedule: ``due`` hands them over as they are,
and the decision (``consumers.monitor.plan_pass``) reads them as their ticket
and drops them.

``SlaSchedule`` is the Protocol the monitor uses. ``RedisSlaSchedule`` is the
real one (a sorted set ``{prefix}sla:due``, member → next fire time; the due
tickets read in one MGET under WATCH, the entries moved in one transaction;
``SET NX EX`` leases); ``InMemorySlaSchedule`` is a full adapter for unit tests
and passes the same contract tests.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, TypeVar

import redis

from consumers.redis_batch import TicketKeys
from schemas.ticket import TicketRecord
from schemas.ticket_storage import decode_record

log = logging.getLogger(__name__)

LEGACY_MEMBER = re.compile(r"^(?P<ticket>.+):(accept|resolve):(warning|breach|escalation\d+):\d+$")
WATCH_ATTEMPTS = 3


def ticket_of(member: str) -> str:
    """The ticket a schedule member stands for (a ticket id, or a legacy alert key)."""
    legacy = LEGACY_MEMBER.match(member)
    return legacy.group("ticket") if legacy else member


class Tickets(Protocol):
    """The tickets' current state, as a decision reads it."""

    def get(self, ticket_id: str) -> TicketRecord | None: ...


class Decision(Protocol):
    """What ``settle`` writes back of a decision."""

    @property
    def reschedule(self) -> dict[str, datetime]:
        """ticket id → when its entry comes due next"""
        ...

    @property
    def drop(self) -> list[str]:
        """members to forget (tickets with nothing to come, legacy members, poison)"""
        ...


D = TypeVar("D", bound=Decision)
Decide = Callable[[list[str], Tickets], D]
"""(due members earliest first, the due tickets' current state) → decision"""


class SlaSchedule(Protocol):
    def due(self, now: datetime, limit: int) -> list[str]:
        """Members due by ``now``, earliest first, ``limit`` at most (ticket ids; legacy alert keys as is)."""
        ...

    def settle(self, now: datetime, limit: int, decide: Decide[D]) -> D | None:
        """Decide over the tickets due by ``now`` and write the decision back atomically.

        If one of those tickets changes between the read and the write, read
        and decide again (a few times; then ``None``: the next pass tries).
        Nothing due: ``decide`` gets an empty list.
        """
        ...

    def reschedule(self, ticket_id: str, fire_at: datetime) -> None:
        """The ticket's entry comes due at ``fire_at``."""
        ...

    def drop(self, member: str) -> None:
        """Forget the member (nothing to come, or it cannot be handled)."""
        ...

    def claim(self, alert_key: str, owner: str, lease_s: int) -> bool:
        """True if ``owner`` may emit the alert now: nobody holds an unexpired lease on it."""
        ...


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass
class _Stored:
    """The due tickets as read in one MGET, decoded when the decision asks (a corrupt one fails alone)."""

    raws: dict[str, bytes | str | None]

    def get(self, ticket_id: str) -> TicketRecord | None:
        raw = self.raws.get(ticket_id)
        return decode_record(raw) if raw else None


class RedisSlaSchedule:
    """``{prefix}sla:due`` (ZSET member → next fire time) and ``{prefix}sla:claim:{alert key}`` leases."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self.keys = TicketKeys(prefix)  # the keys the recorder writes the tickets and the entries at

    @property
    def key(self) -> str:
        return self.keys.sla_due

    def claim_key(self, alert_key: str) -> str:
        return f"{self.prefix}sla:claim:{alert_key}"

    def due(self, now: datetime, limit: int) -> list[str]:
        found = self.client.zrangebyscore(self.key, "-inf", now.timestamp(), start=0, num=limit)
        return [_text(raw) for raw in found]

    def settle(self, now: datetime, limit: int, decide: Decide[D]) -> D | None:
        members = self.due(now, limit)
        if not members:
            return decide([], _Stored({}))
        ticket_ids = list(dict.fromkeys(ticket_of(m) for m in members))
        keys = [self.keys.ticket(t) for t in ticket_ids]
        for _ in range(WATCH_ATTEMPTS):
            with self.client.pipeline() as pipe:
                try:
                    pipe.watch(*keys)  # type: ignore[no-untyped-call]
                    raws = pipe.mget(keys)
                    decided = decide(members, _Stored(dict(zip(ticket_ids, raws, strict=True))))
                    pipe.multi()
                    if decided.drop:
                        pipe.zrem(self.key, *decided.drop)
                    if decided.reschedule:
                        pipe.zadd(self.key, {t: at.timestamp() for t, at in decided.reschedule.items()})
                    pipe.execute()
                    return decided
                except redis.WatchError:
                    continue
        log.info("due tickets kept changing under the monitor; next pass")
        return None

    def reschedule(self, ticket_id: str, fire_at: datetime) -> None:
        self.client.zadd(self.key, {ticket_id: fire_at.timestamp()})

    def drop(self, member: str) -> None:
        self.client.zrem(self.key, member)

    def claim(self, alert_key: str, owner: str, lease_s: int) -> bool:
        return bool(self.client.set(self.claim_key(alert_key), owner, nx=True, ex=lease_s))


class _Absent:
    def get(self, ticket_id: str) -> TicketRecord | None:
        return None


@dataclass
class _Read:
    """The tickets a decision read, remembered so a change before the write is noticed (as WATCH)."""

    source: Tickets
    seen: dict[str, TicketRecord | None] = field(default_factory=dict)

    def get(self, ticket_id: str) -> TicketRecord | None:
        if ticket_id not in self.seen:
            self.seen[ticket_id] = self.source.get(ticket_id)
        return self.seen[ticket_id]

    def changed(self) -> bool:
        return any(self.source.get(t) is not record for t, record in self.seen.items())


@dataclass
class InMemorySlaSchedule:
    """The same behaviour in dicts; ``clock`` (seconds) decides when a lease expires.

    ``tickets`` is what ``settle`` reads (the in-memory store sets itself there).
    """

    clock: Callable[[], float] = time.monotonic
    fire_at: dict[str, float] = field(default_factory=dict)
    """member (ticket id) → when it comes due (epoch seconds)"""
    leases: dict[str, tuple[str, float]] = field(default_factory=dict)
    """alert key → (owner, lease end on ``clock``)"""
    tickets: Tickets = field(default_factory=_Absent)

    def due(self, now: datetime, limit: int) -> list[str]:
        ready = sorted((at, key) for key, at in self.fire_at.items() if at <= now.timestamp())
        return [key for _, key in ready[:limit]]

    def settle(self, now: datetime, limit: int, decide: Decide[D]) -> D | None:
        for _ in range(WATCH_ATTEMPTS):
            read = _Read(self.tickets)
            decided = decide(self.due(now, limit), read)
            if read.changed():
                continue
            for member in decided.drop:
                self.fire_at.pop(member, None)
            self.fire_at.update({t: at.timestamp() for t, at in decided.reschedule.items()})
            return decided
        return None

    def reschedule(self, ticket_id: str, fire_at: datetime) -> None:
        self.fire_at[ticket_id] = fire_at.timestamp()

    def drop(self, member: str) -> None:
        self.fire_at.pop(member, None)

    def claim(self, alert_key: str, owner: str, lease_s: int) -> bool:
        now = self.clock()
        held = self.leases.get(alert_key)
        if held is not None and held[1] > now:
            return False
        self.leases[alert_key] = (owner, now + lease_s)
        return True
