"""Ticket stores: where the consumers keep tickets, their history and their indexes.

``TicketStore`` is the small Protocol the rest of ZTC uses. ``RedisTicketStore``
is the real one; ``InMemoryTicketStore`` is a full adapter for fast unit tests
and passes the same contract tests. Both delegate every decision to the pure
``transition`` (``consumers.recording``); they only persist the outcome,
atomically and idempotently by ``event_id`` — the ticket, its indexes, its SLA
alerts and its share of the reports' read model (``consumers.read_model``) in
one transaction.

``record_many`` records a poll's batch at once: events apply in order (two
events of one ticket see each other), each gets its own outcome — or the error
that kept it from being recorded, which leaves the others alone — and the
whole batch is written at once (one Lua script, ``redis_writes``), decided again
from fresh reads if another writer changed one of its tickets or claimed one of
its channel messages meanwhile.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis

from consumers.read_model import InMemoryReadModel, ReportSource, contribution
from consumers.recording import (
    Recorded,
    RecordOutcome,
    RecordStatus,
    enterprise_keys,
    message_of,
    transition,
)
from consumers.redis_batch import BatchPlan, Claim, TicketKeys
from consumers.redis_read_model import RedisReadModel, built_marker
from consumers.redis_rebuild import rebuild
from consumers.redis_writes import Committer, fingerprint
from consumers.sla_engine import SlaBook
from consumers.sla_schedule import InMemorySlaSchedule, RedisSlaSchedule
from consumers.ticket_reader import read_ticket
from schemas.events import Event, canonical_ticket_id
from schemas.outbox import message_claim, message_key
from schemas.sla import SlaEvent
from schemas.ticket import InboxBucket, TicketRecord
from schemas.ticket_state import inbox_buckets
from schemas.ticket_storage import decode_record

__all__ = [
    "InMemoryTicketStore",
    "RecordOutcome",
    "RecordStatus",
    "Recorded",
    "RedisTicketStore",
    "TicketStore",
    "enterprise_keys",
    "message_of",
]

log = logging.getLogger(__name__)

_transition = transition
"""Looked up at each call, so a test can make another writer race a store's write."""

BATCH_ATTEMPTS = 3
"""A batch that loses this many races in a row is recorded event by event instead."""


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _single(recorded: Recorded) -> RecordOutcome:
    if isinstance(recorded, Exception):
        raise recorded
    return recorded


class TicketStore(Protocol):
    def record(self, event: Event) -> RecordOutcome: ...
    def record_many(self, events: Sequence[Event]) -> list[Recorded]: ...
    def get(self, ticket_id: str) -> TicketRecord | None: ...
    def ticket_for_message(self, dedupe_key: str) -> str | None: ...
    def inbox(self, department: str, bucket: InboxBucket) -> list[TicketRecord]: ...
    def enterprise_tickets(self, name_or_code: str) -> list[TicketRecord]: ...
    def project_tickets(self, project: str) -> list[TicketRecord]: ...
    def get_many(self, ticket_ids: Sequence[str]) -> list[TicketRecord]: ...
    @property
    def reports(self) -> ReportSource: ...
    def rebuild_read_model(self) -> int: ...


@dataclass
class _Staged:
    """A batch decided over the in-memory store, not yet committed."""

    tickets: dict[str, TicketRecord] = field(default_factory=dict)
    claims: dict[str, str] = field(default_factory=dict)
    applied: list[tuple[TicketRecord, Event, object, object]] = field(default_factory=list)
    """(new record, event, old contribution, new contribution) in order"""


@dataclass
class InMemoryTicketStore:
    tickets: dict[str, TicketRecord] = field(default_factory=dict)
    book: SlaBook | None = None
    messages: dict[str, str] = field(default_factory=dict)
    """channel message (dedupe key) → the ticket it became"""
    alerts: list[SlaEvent] = field(default_factory=list)
    """the alert outbox: every applied SLA event, once"""
    read_model: InMemoryReadModel = field(default_factory=InMemoryReadModel)
    sla_schedule: InMemorySlaSchedule = field(default_factory=InMemorySlaSchedule)
    """one entry per ticket with SLA alerts to come, at its next alert (as Redis keeps ``sla:due``)"""

    def __post_init__(self) -> None:
        self.sla_schedule.tickets = self  # the schedule's due tickets are read here
        if self.tickets:  # tickets given up front: as if ``ztc reindex`` had run
            self.rebuild_read_model()

    @property
    def reports(self) -> InMemoryReadModel:
        return self.read_model

    def rebuild_read_model(self) -> int:
        """The read model summed afresh over every ticket, and the SLA schedule; returns how many."""
        self.read_model = InMemoryReadModel()
        self.read_model.add(contribution(r, self.book) for r in self.tickets.values())
        for record in self.tickets.values():
            self._reschedule(record)
        return len(self.tickets)

    def record(self, event: Event) -> RecordOutcome:
        return _single(self.record_many([event])[0])

    def record_many(self, events: Sequence[Event]) -> list[Recorded]:
        """Like Redis: decide the batch over what it read; if another writer changed one of its
        tickets or claimed one of its messages meanwhile, decide it all again."""
        while True:
            read = {e.ticket_id: self.tickets.get(e.ticket_id) for e in events}
            messages = {m: self.messages.get(m) for e in events if (m := message_of(e)) is not None}
            staged = _Staged()
            outcomes: list[Recorded] = []
            for event in events:
                try:
                    outcomes.append(self._stage(event, staged))
                except Exception as exc:  # poison: this event only
                    outcomes.append(exc)
            if any(self.tickets.get(t) is not old for t, old in read.items()) or any(
                self.messages.get(m) != owner for m, owner in messages.items()
            ):
                continue
            for new, event, before, after in staged.applied:
                self.tickets[new.ticket_id] = new
                self.read_model.replace(before, after)  # type: ignore[arg-type]
                if isinstance(event, SlaEvent):
                    self.alerts.append(event)
                self._reschedule(new)
            for message, ticket_id in staged.claims.items():
                self.messages.setdefault(message, ticket_id)
            return outcomes

    def _reschedule(self, record: TicketRecord) -> None:
        """The ticket's schedule entry at its next alert, or none (as ``redis_batch.reschedule``)."""
        fire_at = self.book.next_alert_at(record) if self.book is not None else None
        if fire_at is None:
            self.sla_schedule.drop(record.ticket_id)
        else:
            self.sla_schedule.reschedule(record.ticket_id, fire_at)

    def _stage(self, event: Event, staged: _Staged) -> RecordOutcome:
        ticket_id = event.ticket_id
        old = staged.tickets[ticket_id] if ticket_id in staged.tickets else self.tickets.get(ticket_id)
        message = message_of(event) if old is None else None
        owner = staged.claims.get(message) or self.messages.get(message) if message is not None else None
        if owner is not None and owner != ticket_id:
            return RecordOutcome(RecordStatus.duplicate, staged.tickets.get(owner, self.tickets.get(owner)))
        result = _transition(old, event, self.book)
        if isinstance(result, RecordOutcome):
            return result
        before, after = contribution(old, self.book), contribution(result, self.book)
        staged.tickets[ticket_id] = result
        staged.applied.append((result, event, before, after))
        if message is not None:
            staged.claims.setdefault(message, ticket_id)
        return RecordOutcome(RecordStatus.applied, result)

    def get(self, ticket_id: str) -> TicketRecord | None:
        return self.tickets.get(canonical_ticket_id(ticket_id))

    def get_many(self, ticket_ids: Sequence[str]) -> list[TicketRecord]:
        return [self.tickets[t] for t in ticket_ids if t in self.tickets]

    def ticket_for_message(self, dedupe_key: str) -> str | None:
        return self.messages.get(dedupe_key)

    def _sorted(self, records: list[TicketRecord]) -> list[TicketRecord]:
        return sorted(records, key=lambda r: (r.routed_at, r.ticket_id))

    def inbox(self, department: str, bucket: InboxBucket) -> list[TicketRecord]:
        return self._sorted([r for r in self.tickets.values() if inbox_buckets(r).get(department) == bucket])

    def enterprise_tickets(self, name_or_code: str) -> list[TicketRecord]:
        wanted = {f"code:{name_or_code.upper()}", f"name:{name_or_code}"}
        return self._sorted([r for r in self.tickets.values() if wanted & set(enterprise_keys(r))])

    def project_tickets(self, project: str) -> list[TicketRecord]:
        return self._sorted([r for r in self.tickets.values() if r.key_project == project])


class RedisTicketStore:
    """Tickets compactly (``schemas.ticket_storage``) under ``{prefix}ticket:{id}``; indexes as sets of
    ticket ids; key names in ``TicketKeys``; every index rebuilt by ``consumers.redis_rebuild``."""

    def __init__(self, client: redis.Redis, prefix: str = "ztc:", book: SlaBook | None = None) -> None:
        self.client = client
        self.prefix = prefix
        self.book = book
        self.keys = TicketKeys(prefix)
        self.read_model_keys = self.keys.read_model
        self.commit = Committer(client)

    @property
    def reports(self) -> RedisReadModel:
        return RedisReadModel(self.client, self.prefix)

    @property
    def sla_schedule(self) -> RedisSlaSchedule:
        """One entry per ticket with SLA alerts to come, which this store keeps in step with every write."""
        return RedisSlaSchedule(self.client, self.prefix)

    @property
    def sla_due_key(self) -> str:
        """Sorted set of tickets with SLA alerts to come (member: ticket id, score: its next alert)."""
        return self.keys.sla_due

    @property
    def alerts_key(self) -> str:
        """Stream of recorded SLA events for the alerter (one entry per applied event)."""
        return self.keys.alerts

    @property
    def breach_counts_key(self) -> str:
        return self.keys.breaches

    def get(self, ticket_id: str) -> TicketRecord | None:
        """The ticket; the id as people type it (any case, spaces around: ``canonical_ticket_id``)."""
        return read_ticket(self.client, self.prefix, ticket_id)

    def record(self, event: Event) -> RecordOutcome:
        """Apply ``event`` atomically (compare-and-set on the ticket and, for a routing, its message)."""
        return _single(self.record_many([event])[0])

    def record_many(self, events: Sequence[Event]) -> list[Recorded]:
        """Apply ``events`` in order, in one transaction; see the module's docstring."""
        for attempt in range(BATCH_ATTEMPTS):
            try:
                return self._record_batch(events, read_claims=attempt > 0)
            except redis.WatchError:
                continue
        log.info(
            "a batch of %d events lost %d races; recording it event by event", len(events), BATCH_ATTEMPTS
        )
        return [self._record_alone(event) for event in events]

    def _record_alone(self, event: Event) -> Recorded:
        while True:
            try:
                return self._record_batch([event], read_claims=True)[0]
            except redis.WatchError:
                continue

    def _record_batch(self, events: Sequence[Event], read_claims: bool) -> list[Recorded]:
        """One attempt: read every ticket (and, if ``read_claims``, every claim), decide, and write if
        nothing it was decided on changed meanwhile (WatchError: lost a race).

        Without ``read_claims`` every message is taken as unclaimed: the write's check finds one
        that is not, and the next attempt reads them. A channel message is claimed again only when
        it reaches the recorder under a second ticket id, which the intake already prevents, so
        the first attempt almost never needs the claims.
        """
        if not events:
            return []
        ticket_ids = list(dict.fromkeys(e.ticket_id for e in events))
        claims = (
            list(dict.fromkeys(c for e in events if (c := self.keys.claim(e)) is not None))
            if read_claims
            else []
        )
        raws, owners = self._read(ticket_ids, claims)
        stored = dict(zip(ticket_ids, raws, strict=True))
        others = [o for o in owners.values() if o is not None and o not in stored]
        if others:  # an earlier ticket of a re-sent message: its record is the answer
            stored.update(zip(others, self.client.mget([self.keys.ticket(o) for o in others]), strict=True))
        plan = BatchPlan(self.keys, self.book, _transition, stored, owners)
        outcomes = [plan.apply(event) for event in events]
        writes = plan.finish()
        if writes:
            read = {self.keys.ticket(t): fingerprint(stored[t]) for t in ticket_ids}
            self.commit(read, [(*claim, owner) for claim, owner in plan.claimed.items()], writes)
        return outcomes

    def _read(
        self, ticket_ids: Sequence[str], claims: Sequence[Claim]
    ) -> tuple[list[Any], dict[Claim, str | None]]:
        """The tickets' stored bytes and the claims' owners, in one round trip."""
        buckets: defaultdict[str, list[bytes]] = defaultdict(list)
        for bucket, digest in claims:
            buckets[bucket].append(digest)
        with self.client.pipeline(transaction=False) as pipe:
            pipe.mget([self.keys.ticket(t) for t in ticket_ids])
            for bucket, digests in buckets.items():
                pipe.hmget(bucket, digests)
            raws, *answers = pipe.execute()
        owners: dict[Claim, str | None] = {}
        for (bucket, digests), found in zip(buckets.items(), answers, strict=True):
            for digest, owner in zip(digests, found, strict=True):
                owners[(bucket, digest)] = _text(owner) if owner is not None else None
        return raws, owners

    def ticket_for_message(self, dedupe_key: str) -> str | None:
        """The ticket a channel message became, if it was recorded (by this recorder or an older one)."""
        bucket, digest = message_claim(self.prefix, dedupe_key)
        raw = self.client.hget(bucket, digest) or self.client.get(message_key(self.prefix, dedupe_key))
        return _text(raw) if raw is not None else None

    def _load_many(self, ticket_ids: Sequence[str]) -> list[TicketRecord]:
        if not ticket_ids:
            return []
        raws = self.client.mget([self.keys.ticket(t) for t in ticket_ids])
        return [decode_record(raw) for raw in raws if raw]

    def get_many(self, ticket_ids: Sequence[str]) -> list[TicketRecord]:
        """The tickets of ``ticket_ids`` that exist, in one round trip."""
        return self._load_many(ticket_ids)

    def rebuild_read_model(self, batch: int = 500) -> int:
        """Rebuild every index from the stored tickets (``consumers.redis_rebuild``); returns how many.

        Run it while no recorder writes (``ztc reindex`` says so): a write between the
        read and the swap would be lost from the sums.
        """
        return rebuild(self.client, self.keys, self.book, batch)

    def ensure_read_model(self, timeout_s: float = 600.0, poll_s: float = 0.5) -> int | None:
        """Before a recorder's first write: rebuild the indexes if this Redis has no read model, an
        older one, or one built under another SLA policy (``redis_read_model.built_marker``).

        Tickets recorded before are summed in once; one recorder builds (under a lock)
        while the others wait. Returns the tickets summed by this call, None when it was
        already built.
        """
        reports, marker = self.reports, built_marker(self.book)
        if reports.is_built(marker):
            return None
        lock = f"{self.prefix}rm-rebuild-lock"
        deadline = time.monotonic() + timeout_s
        while not self.client.set(lock, "1", nx=True, ex=int(timeout_s)):
            if reports.is_built(marker):
                return None
            if time.monotonic() > deadline:
                raise TimeoutError(f"another recorder held {lock} for {timeout_s:.0f}s")
            time.sleep(poll_s)
        try:
            if reports.is_built(marker):
                return None
            count = self.rebuild_read_model()
            log.info("indexes rebuilt from %d recorded tickets", count)
            return count
        finally:
            self.client.delete(lock)

    def _members(self, key: str) -> list[str]:
        return [_text(m) for m in self.client.smembers(key)]

    def _loaded(self, ticket_ids: Sequence[str]) -> list[TicketRecord]:
        """The tickets, oldest routing first (as the in-memory store lists them)."""
        return sorted(self._load_many(ticket_ids), key=lambda r: (r.routed_at, r.ticket_id))

    def inbox(self, department: str, bucket: InboxBucket) -> list[TicketRecord]:
        return self._loaded(
            [_text(m) for m in self.client.zrange(self.keys.inbox(department, bucket), 0, -1)]
        )

    def enterprise_tickets(self, name_or_code: str) -> list[TicketRecord]:
        ids: set[str] = set()
        for key in (f"code:{name_or_code.upper()}", f"name:{name_or_code}"):
            ids.update(self._members(self.keys.enterprise(key)))
        return self._loaded(sorted(ids))

    def project_tickets(self, project: str) -> list[TicketRecord]:
        return self._loaded(self._members(self.keys.project(project)))
