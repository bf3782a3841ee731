"""The Redis ticket store's plan for a batch of events: decisions and writes, before anything is sent.

``RedisTicketStore.record_many`` reads every ticket and channel-message claim
the batch touches in one round trip (under WATCH), lets a ``BatchPlan`` apply
the events in order — each through the pure ``transition``, later events of a
ticket seeing what earlier ones made of it — and sends the plan's net writes
in one MULTI/EXEC. Nothing here talks to Redis, so what one event writes is
the same whether it is recorded alone or among five hundred.

Per applied event the plan writes the ticket (once per batch, its last state,
compactly: ``schemas.ticket_storage``), the message claim of a first routing,
the inbox / enterprise / project indexes, the ticket's entry in
the SLA due index (member: the ticket id; score: its next alert), the alert
outbox entry of an SLA event and the read model's changes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from consumers.read_model import Contribution, contribution
from consumers.recording import Recorded, RecordOutcome, RecordStatus, enterprise_keys, message_of
from consumers.redis_read_model import ReadModelKeys, write_changes
from consumers.redis_writes import WriteBatch
from consumers.sla_engine import SlaBook
from schemas.events import Event
from schemas.outbox import alert_outbox_key, message_key
from schemas.sla import SlaBreached, SlaEvent
from schemas.ticket import InboxBucket, TicketRecord
from schemas.ticket_state import inbox_buckets
from schemas.ticket_storage import decode_record, encode_record

Decide = Callable[[TicketRecord | None, Event, SlaBook | None], RecordOutcome | TicketRecord]


class TicketKeys:
    """Redis key names of the ticket store under one prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.read_model = ReadModelKeys(prefix)
        self.legacy_tickets = f"{prefix}tickets"
        """A sorted set of every ticket id that older recorders kept; ``ztc reindex`` walks the
        ticket keys instead, and drops it."""
        self.sla_due = f"{prefix}sla:due"
        """Sorted set: ticket id → when its next SLA alert fires (the monitor's index)."""
        self.alerts = alert_outbox_key(prefix)
        self.breaches = f"{prefix}sla:breaches"

    def ticket(self, ticket_id: str) -> str:
        return f"{self.prefix}ticket:{ticket_id}"

    @property
    def every_ticket(self) -> str:
        """SCAN pattern of every ticket key (the prefix's glob characters escaped)."""
        return re.sub(r"([*?\[\]\\])", r"\\\1", self.prefix) + "ticket:*"

    def inbox(self, department: str, bucket: InboxBucket) -> str:
        return f"{self.prefix}dept:{department}:{bucket.value}"

    def enterprise(self, key: str) -> str:
        return f"{self.prefix}enterprise:{key}"

    def project(self, project: str) -> str:
        return f"{self.prefix}project:{project}"

    def claim(self, event: Event) -> str | None:
        """The key of the channel message a first routing claims, if ``event`` is one."""
        message = message_of(event)
        return message_key(self.prefix, message) if message is not None else None


def reindex(writes: WriteBatch, keys: TicketKeys, old: TicketRecord | None, new: TicketRecord) -> None:
    """The inbox, enterprise and project indexes of ``new`` (and out of ``old``'s)."""
    score = new.routed_at.timestamp()
    before, after = inbox_buckets(old), inbox_buckets(new)
    for department, bucket in before.items():
        if after.get(department) != bucket:
            writes.zrem(keys.inbox(department, bucket), new.ticket_id)
    for department, bucket in after.items():
        writes.zadd(keys.inbox(department, bucket), {new.ticket_id: score})
    for enterprise in enterprise_keys(new):
        writes.zadd(keys.enterprise(enterprise), {new.ticket_id: score})
    if new.key_project:
        writes.zadd(keys.project(new.key_project), {new.ticket_id: score})


def reschedule(writes: WriteBatch, keys: TicketKeys, book: SlaBook, record: TicketRecord) -> None:
    """The ticket's entry in the SLA due index: its next alert, or none."""
    fire_at = book.next_alert_at(record)
    if fire_at is None:
        writes.zrem(keys.sla_due, record.ticket_id)
    else:
        writes.zadd(keys.sla_due, {record.ticket_id: fire_at.timestamp()})


class BatchPlan:
    """Events applied in order over the tickets and claims read at the start of a batch.

    ``stored``: ticket id → its stored bytes (None: no such ticket) for every ticket
    the batch names, and for the owners of its claimed messages; ``claims``: claim
    key → the ticket that owns it (None: unclaimed).
    """

    def __init__(
        self,
        keys: TicketKeys,
        book: SlaBook | None,
        decide: Decide,
        stored: Mapping[str, bytes | str | None],
        claims: Mapping[str, str | None],
    ) -> None:
        self.keys = keys
        self.book = book
        self.decide = decide
        self.stored = stored
        self.claims = dict(claims)
        self.records: dict[str, TicketRecord | None] = {}
        self.contributions: dict[str, Contribution] = {}
        self.changed: dict[str, TicketRecord] = {}
        self.writes = WriteBatch()

    def current(self, ticket_id: str) -> TicketRecord | None:
        """The ticket as the events so far left it (decoded on first use)."""
        if ticket_id not in self.records:
            raw = self.stored.get(ticket_id)
            self.records[ticket_id] = decode_record(raw) if raw else None
        return self.records[ticket_id]

    def apply(self, event: Event) -> Recorded:
        """Decide ``event`` and queue its writes; an error leaves the plan as it was."""
        try:
            return self._apply(event)
        except Exception as exc:  # poison: the caller dead-letters this event, the others go on
            return exc

    def _apply(self, event: Event) -> RecordOutcome:
        ticket_id = event.ticket_id
        old = self.current(ticket_id)
        claim = self.keys.claim(event) if old is None else None
        owner = self.claims.get(claim) if claim is not None else None
        if owner is not None and owner != ticket_id:
            return RecordOutcome(RecordStatus.duplicate, self.current(owner))
        result = self.decide(old, event, self.book)
        if isinstance(result, RecordOutcome):
            return result
        mine = WriteBatch()
        before = (
            self.contributions[ticket_id] if ticket_id in self.contributions else contribution(old, self.book)
        )
        after = contribution(result, self.book)
        if claim is not None:
            mine.set(claim, ticket_id)
        if isinstance(event, SlaEvent):  # the alert outbox, in the same transaction
            mine.xadd(self.keys.alerts, {"event": event.model_dump_json()})
        if isinstance(event, SlaBreached):
            mine.hincrby(self.keys.breaches, event.department, 1)
        reindex(mine, self.keys, old, result)
        if self.book is not None:
            reschedule(mine, self.keys, self.book, result)
        write_changes(mine, self.keys.read_model, before, after)
        self.writes.merge(mine)
        self.records[ticket_id] = self.changed[ticket_id] = result
        self.contributions[ticket_id] = after
        if claim is not None:
            self.claims[claim] = ticket_id
        return RecordOutcome(RecordStatus.applied, result)

    def finish(self) -> WriteBatch:
        """Every write of the batch: the plan's queued ones plus each changed ticket's last state."""
        for ticket_id, record in self.changed.items():
            self.writes.set(self.keys.ticket(ticket_id), encode_record(record))
        return self.writes
