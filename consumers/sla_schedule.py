"""The SLA schedule: which tickets have an alert due when, and who is emitting an alert right now.

One entry per ticket with alerts to come, due when its next alert fires. The
recorder keeps it equal to what the pure engine schedules for each ticket's
current state (in the same write as the ticket); the monitor ``settle``\\ s a
pass: it reads the tickets due by ``now`` together with their current state,
lets a pure ``decide`` work out what to emit and when each ticket comes due
next, and moves or drops the entries atomically — if the recorder changed one
of those tickets meanwhile, the batch is read and decided again. A short lease
per alert keeps two monitors from emitting it at the same moment (``claim_all``:
one round trip for a pass). When the broker did not take an alert, ``put_back``
returns its ticket's entry to when it fell due — unless the recorder moved it
meanwhile — and ends the lease, so the next pass sends it again. ``next_due``
tells the monitor how long it may sleep.

Members written before one-entry-per-ticket (``ticket:stage:kind:round``, one
per alert) may still be in the schedule: ``due`` hands them over as they are,
and the decision (``consumers.monitor.plan_pass``) reads them as their ticket
and drops them.

``SlaSchedule`` is the Protocol the monitor uses. ``RedisSlaSchedule`` is the
real one (a sorted set ``{prefix}sla:due``, member → next fire time; the due
tickets read in one MGET under WATCH, the entries moved in one transaction;
``SET NX EX`` leases, pipelined; ``put_back`` one Lua script, compare-and-set on
the entry's score); ``InMemorySlaSchedule`` is a full adapter for unit tests
and passes the same contract tests.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
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


@dataclass(frozen=True)
class PutBack:
    """Where ``settle`` moved a ticket's entry, and when it fell due (where a failed send puts it back)."""

    moved_to: datetime
    due_at: datetime


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

    def claim_all(self, alert_keys: Sequence[str], owner: str, lease_s: int) -> list[bool]:
        """``claim`` of each alert, in one go (one answer per key, in order)."""
        ...

    def put_back(self, entries: Mapping[str, PutBack], leases: Sequence[str], owner: str) -> None:
        """Undo a pass's moves for alerts the broker did not take, so the next pass sends them again.

        Each ticket's entry goes back from ``PutBack.moved_to`` (where ``settle``
        moved it) to ``PutBack.due_at`` — only if it is still there: if the
        recorder moved it meanwhile, the recorder's time stands. ``owner``'s
        leases on ``leases`` end (another owner's are left alone).
        """
        ...

    def next_due(self) -> datetime | None:
        """When the earliest entry comes due (it may be past); None when the schedule is empty."""
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
        return self.claim_all([alert_key], owner, lease_s)[0]

    def claim_all(self, alert_keys: Sequence[str], owner: str, lease_s: int) -> list[bool]:
        if not alert_keys:
            return []
        with self.client.pipeline(transaction=False) as pipe:
            for alert_key in alert_keys:
                pipe.set(self.claim_key(alert_key), owner, nx=True, ex=lease_s)
            return [bool(answer) for answer in pipe.execute()]

    def put_back(self, entries: Mapping[str, PutBack], leases: Sequence[str], owner: str) -> None:
        if not entries and not leases:
            return
        moves = [
            str(part)
            for ticket_id, back in entries.items()
            for part in (ticket_id, repr(back.moved_to.timestamp()), repr(back.due_at.timestamp()))
        ]
        claims = [self.claim_key(k) for k in leases]
        self.client.eval(PUT_BACK, 1 + len(claims), self.key, *claims, owner, *moves)

    def next_due(self) -> datetime | None:
        first: list[tuple[bytes, float]] = self.client.zrange(self.key, 0, 0, withscores=True)  # type: ignore[assignment]
        return datetime.fromtimestamp(first[0][1], UTC) if first else None


PUT_BACK = """
local due = KEYS[1]
for i = 2, #ARGV, 3 do
  local score = redis.call('ZSCORE', due, ARGV[i])
  if score and tonumber(score) == tonumber(ARGV[i + 1]) then
    redis.call('ZADD', due, ARGV[i + 2], ARGV[i])
  end
end
for k = 2, #KEYS do
  if redis.call('GET', KEYS[k]) == ARGV[1] then
    redis.call('DEL', KEYS[k])
  end
end
return 0
"""
"""KEYS: the due index, then the leases to end; ARGV: owner, then (ticket, moved to, due at) triples.
The entry moves back only if its score is still exactly what ``settle`` wrote (scores travel as
``repr`` of the float, which Redis and Lua read back to the same double)."""


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

    def claim_all(self, alert_keys: Sequence[str], owner: str, lease_s: int) -> list[bool]:
        return [self.claim(k, owner, lease_s) for k in alert_keys]

    def put_back(self, entries: Mapping[str, PutBack], leases: Sequence[str], owner: str) -> None:
        for ticket_id, back in entries.items():
            if self.fire_at.get(ticket_id) == back.moved_to.timestamp():
                self.fire_at[ticket_id] = back.due_at.timestamp()
        for alert_key in leases:
            if self.leases.get(alert_key, ("", 0.0))[0] == owner:
                del self.leases[alert_key]

    def next_due(self) -> datetime | None:
        first = min(self.fire_at.values(), default=None)
        return None if first is None else datetime.fromtimestamp(first, UTC)
