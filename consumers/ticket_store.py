"""Ticket stores: where the consumers keep tickets, their history and their indexes.

``TicketStore`` is the small Protocol the rest of ZTC uses. ``RedisTicketStore``
is the real one; ``InMemoryTicketStore`` is a full adapter for fast unit tests
and passes the same contract tests. Both delegate every decision to the pure
``apply`` and ``inbox_buckets``; they only persist the outcome, atomically and
idempotently by ``event_id`` — the ticket, its indexes, its SLA alerts and its
share of the reports' read model (``consumers.read_model``) in one transaction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import redis

from consumers.read_model import InMemoryReadModel, ReportSource, contribution
from consumers.redis_read_model import ReadModelKeys, RedisReadModel, replace_all, write_changes
from consumers.sla_engine import SlaBook
from consumers.sla_schedule import InMemorySlaSchedule, RedisSlaSchedule
from schemas.events import Event, TicketRouted
from schemas.outbox import alert_outbox_key, message_key
from schemas.sla import SlaBreached, SlaEvent
from schemas.ticket import InboxBucket, TicketRecord
from schemas.ticket_state import TransitionRefused, apply, inbox_buckets

log = logging.getLogger(__name__)


class RecordStatus(StrEnum):
    applied = "applied"
    duplicate = "duplicate"
    refused = "refused"


@dataclass(frozen=True)
class RecordOutcome:
    status: RecordStatus
    record: TicketRecord | None
    reason: str = ""


def enterprise_keys(record: TicketRecord) -> list[str]:
    """Index keys under which an enterprise's file finds this ticket."""
    keys = []
    if record.submission.credit_code:
        keys.append(f"code:{record.submission.credit_code}")
    if record.submission.enterprise_name:
        keys.append(f"name:{record.submission.enterprise_name}")
    return keys


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class TicketStore(Protocol):
    def record(self, event: Event) -> RecordOutcome: ...
    def get(self, ticket_id: str) -> TicketRecord | None: ...
    def ticket_for_message(self, dedupe_key: str) -> str | None: ...
    def inbox(self, department: str, bucket: InboxBucket) -> list[TicketRecord]: ...
    def enterprise_tickets(self, name_or_code: str) -> list[TicketRecord]: ...
    def project_tickets(self, project: str) -> list[TicketRecord]: ...
    def get_many(self, ticket_ids: Sequence[str]) -> list[TicketRecord]: ...
    @property
    def reports(self) -> ReportSource: ...
    def rebuild_read_model(self) -> int: ...


def message_of(event: Event) -> str | None:
    """The channel message a first routing claims: one channel message is one ticket, for ever."""
    return event.submission.dedupe_key if isinstance(event, TicketRouted) else None


def _transition(old: TicketRecord | None, event: Event, book: SlaBook | None) -> RecordOutcome | TicketRecord:
    if old is not None and old.has_applied(event.event_id):
        return RecordOutcome(RecordStatus.duplicate, old)
    try:
        new = apply(old, event)
    except TransitionRefused as exc:
        return RecordOutcome(RecordStatus.refused, old, str(exc))
    if new is old:  # e.g. an SLA event whose key was already recorded
        return RecordOutcome(RecordStatus.duplicate, old)
    return book.advance(old, new, event) if book is not None else new


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
    """the SLA alerts still to come, kept equal to what the book schedules (as Redis keeps ``sla:due``)"""

    def __post_init__(self) -> None:
        if self.tickets:  # tickets given up front: as if ``ztc reindex`` had run
            self.rebuild_read_model()

    @property
    def reports(self) -> InMemoryReadModel:
        return self.read_model

    def rebuild_read_model(self) -> int:
        """The read model summed afresh over every ticket; returns how many tickets."""
        self.read_model = InMemoryReadModel()
        self.read_model.add(contribution(r, self.book) for r in self.tickets.values())
        return len(self.tickets)

    def record(self, event: Event) -> RecordOutcome:
        """Like Redis: re-read and decide again if another writer changed the ticket meanwhile (WATCH)."""
        while True:
            old = self.tickets.get(event.ticket_id)
            message = message_of(event)
            owner = self.messages.get(message) if message is not None and old is None else None
            if owner is not None and owner != event.ticket_id:
                return RecordOutcome(RecordStatus.duplicate, self.tickets.get(owner))
            result = _transition(old, event, self.book)
            if isinstance(result, RecordOutcome):
                return result
            if self.tickets.get(event.ticket_id) is not old:
                continue
            self.tickets[result.ticket_id] = result
            self.read_model.replace(contribution(old, self.book), contribution(result, self.book))
            if message is not None:
                self.messages.setdefault(message, result.ticket_id)
            if self.book is not None:
                stale = [a.key for a in self.book.schedule(old)] if old is not None else []
                self.sla_schedule.replace(stale, self.book.schedule(result))
            if isinstance(event, SlaEvent):
                self.alerts.append(event)
            return RecordOutcome(RecordStatus.applied, result)

    def get(self, ticket_id: str) -> TicketRecord | None:
        return self.tickets.get(ticket_id)

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
    """Tickets as JSON under ``{prefix}ticket:{id}``; indexes as sorted sets scored by routing time."""

    def __init__(self, client: redis.Redis, prefix: str = "ztc:", book: SlaBook | None = None) -> None:
        self.client = client
        self.prefix = prefix
        self.book = book
        self.read_model_keys = ReadModelKeys(prefix)

    @property
    def reports(self) -> RedisReadModel:
        return RedisReadModel(self.client, self.prefix)

    @property
    def sla_schedule(self) -> RedisSlaSchedule:
        """The SLA alerts still to come, which this store keeps in step with every write."""
        return RedisSlaSchedule(self.client, self.prefix)

    @property
    def sla_due_key(self) -> str:
        """Sorted set of scheduled SLA alerts (member: alert key, score: when it fires)."""
        return self.sla_schedule.key

    @property
    def alerts_key(self) -> str:
        """Stream of recorded SLA events for the alerter (one entry per applied event)."""
        return alert_outbox_key(self.prefix)

    @property
    def breach_counts_key(self) -> str:
        return f"{self.prefix}sla:breaches"

    def _ticket_key(self, ticket_id: str) -> str:
        return f"{self.prefix}ticket:{ticket_id}"

    def _inbox_key(self, department: str, bucket: InboxBucket) -> str:
        return f"{self.prefix}dept:{department}:{bucket.value}"

    def _enterprise_key(self, key: str) -> str:
        return f"{self.prefix}enterprise:{key}"

    def _project_key(self, project: str) -> str:
        return f"{self.prefix}project:{project}"

    def get(self, ticket_id: str) -> TicketRecord | None:
        raw = self.client.get(self._ticket_key(ticket_id))
        return TicketRecord.model_validate_json(raw) if raw else None

    def record(self, event: Event) -> RecordOutcome:
        """Apply ``event`` atomically (optimistic lock on the ticket and, for a routing, its message)."""
        key = self._ticket_key(event.ticket_id)
        message = message_of(event)
        claim = message_key(self.prefix, message) if message is not None else None
        while True:
            with self.client.pipeline() as pipe:
                try:
                    pipe.watch(key, *([claim] if claim else []))  # type: ignore[no-untyped-call]
                    raw = pipe.get(key)
                    old = TicketRecord.model_validate_json(raw) if raw else None
                    claimed = pipe.get(claim) if claim is not None and old is None else None
                    owner = _text(claimed) if claimed is not None else None
                    if owner is not None and owner != event.ticket_id:
                        pipe.unwatch()
                        return RecordOutcome(RecordStatus.duplicate, self.get(owner))
                    result = _transition(old, event, self.book)
                    if isinstance(result, RecordOutcome):
                        pipe.unwatch()
                        return result
                    pipe.multi()
                    pipe.set(key, result.model_dump_json())
                    if claim is not None and old is None:
                        pipe.set(claim, result.ticket_id)
                    if isinstance(event, SlaEvent):  # the alert outbox, in the same transaction
                        pipe.xadd(self.alerts_key, {"event": event.model_dump_json()})
                    self._reindex(pipe, old, result)
                    self._reschedule(pipe, old, result, event)
                    write_changes(
                        pipe,
                        self.read_model_keys,
                        contribution(old, self.book),
                        contribution(result, self.book),
                    )
                    pipe.execute()
                    return RecordOutcome(RecordStatus.applied, result)
                except redis.WatchError:
                    continue

    def ticket_for_message(self, dedupe_key: str) -> str | None:
        """The ticket a channel message became, if it was recorded."""
        raw = self.client.get(message_key(self.prefix, dedupe_key))
        return _text(raw) if raw is not None else None

    def _reindex(self, pipe: redis.client.Pipeline, old: TicketRecord | None, new: TicketRecord) -> None:
        score = new.routed_at.timestamp()
        before, after = inbox_buckets(old), inbox_buckets(new)
        for department, bucket in before.items():
            if after.get(department) != bucket:
                pipe.zrem(self._inbox_key(department, bucket), new.ticket_id)
        for department, bucket in after.items():
            pipe.zadd(self._inbox_key(department, bucket), {new.ticket_id: score})
        for enterprise in enterprise_keys(new):
            pipe.zadd(self._enterprise_key(enterprise), {new.ticket_id: score})
        if new.key_project:
            pipe.zadd(self._project_key(new.key_project), {new.ticket_id: score})
        pipe.zadd(f"{self.prefix}tickets", {new.ticket_id: score})

    def _reschedule(
        self, pipe: redis.client.Pipeline, old: TicketRecord | None, new: TicketRecord, event: Event
    ) -> None:
        """Keep the SLA indexes equal to what the pure engine schedules for the new state."""
        if isinstance(event, SlaBreached):
            pipe.hincrby(self.breach_counts_key, event.department, 1)
        if self.book is None:
            return
        stale = [a.key for a in self.book.schedule(old)] if old is not None else []
        self.sla_schedule.replace_in(pipe, stale, self.book.schedule(new))

    def _load_many(self, ticket_ids: Sequence[str]) -> list[TicketRecord]:
        if not ticket_ids:
            return []
        raws = self.client.mget([self._ticket_key(t) for t in ticket_ids])
        return [TicketRecord.model_validate_json(raw) for raw in raws if raw]

    def get_many(self, ticket_ids: Sequence[str]) -> list[TicketRecord]:
        """The tickets of ``ticket_ids`` that exist, in one round trip."""
        return self._load_many(ticket_ids)

    def rebuild_read_model(self, batch: int = 500) -> int:
        """Sum the read model afresh over every stored ticket and swap it in; returns how many tickets.

        Run it while no recorder writes (``ztc reindex`` says so): a write between the
        read and the swap would be lost from the sums.
        """
        model = InMemoryReadModel()
        ids = self._members(f"{self.prefix}tickets")
        for i in range(0, len(ids), batch):
            model.add(contribution(r, self.book) for r in self._load_many(ids[i : i + batch]))
        replace_all(self.client, self.prefix, model)
        return len(ids)

    def ensure_read_model(self, timeout_s: float = 600.0, poll_s: float = 0.5) -> int | None:
        """Before a recorder's first write: build the read model if this Redis has none (or an older one).

        Tickets recorded before the read model existed are summed in once; one
        recorder builds (under a lock) while the others wait. Returns the tickets
        summed by this call, None when it was already built.
        """
        reports = self.reports
        if reports.is_built():
            return None
        lock = f"{self.prefix}rm-rebuild-lock"
        deadline = time.monotonic() + timeout_s
        while not self.client.set(lock, "1", nx=True, ex=int(timeout_s)):
            if reports.is_built():
                return None
            if time.monotonic() > deadline:
                raise TimeoutError(f"another recorder held {lock} for {timeout_s:.0f}s")
            time.sleep(poll_s)
        try:
            if reports.is_built():
                return None
            count = self.rebuild_read_model()
            log.info("read model built from %d recorded tickets", count)
            return count
        finally:
            self.client.delete(lock)

    def _members(self, key: str) -> list[str]:
        return [m.decode() if isinstance(m, bytes) else str(m) for m in self.client.zrange(key, 0, -1)]

    def inbox(self, department: str, bucket: InboxBucket) -> list[TicketRecord]:
        return self._load_many(self._members(self._inbox_key(department, bucket)))

    def enterprise_tickets(self, name_or_code: str) -> list[TicketRecord]:
        ids: list[str] = []
        for key in (f"code:{name_or_code.upper()}", f"name:{name_or_code}"):
            ids += [t for t in self._members(self._enterprise_key(key)) if t not in ids]
        return sorted(self._load_many(ids), key=lambda r: (r.routed_at, r.ticket_id))

    def project_tickets(self, project: str) -> list[TicketRecord]:
        return self._load_many(self._members(self._project_key(project)))
