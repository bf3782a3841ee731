"""The Redis ticket store's plan for a batch of events: decisions and writes, before anything is sent.

``RedisTicketStore.record_many`` reads every ticket and channel-message claim
the batch touches in one round trip, lets a ``BatchPlan`` apply the events in
order — each through the pure ``transition``, later events of a ticket seeing
what earlier ones made of it — and commits the plan's net writes in one script
that first checks nothing it was decided on changed (``redis_writes.Committer``).
Nothing here talks to Redis, so what one event writes is the same whether it is
recorded alone or among five hundred.

Per applied event the plan writes the ticket (once per batch, its last state,
compactly: ``schemas.ticket_storage``), the message claim of a first routing,
the inbox indexes (sorted sets of ticket ids scored by the deadline each
department works against, ``schemas.ticket_state.inbox_deadline``, so a page of
an inbox is one range read) and the enterprise / project sets (readers sort
what they load by routing time), the ticket's entry in the SLA due index (member:
the ticket id; score: its next alert), the alert outbox entry of an SLA event
and the read model's changes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime

from consumers.read_model import Contribution, contribution
from consumers.recording import Recorded, RecordOutcome, RecordStatus, enterprise_keys, message_of
from consumers.redis_read_model import ReadModelKeys, write_changes
from consumers.redis_writes import WriteBatch
from consumers.sla_engine import SlaBook
from schemas.events import Event
from schemas.outbox import alert_outbox_key, message_claim
from schemas.sla import SlaBreached, SlaEvent
from schemas.ticket import InboxBucket, TicketRecord
from schemas.ticket_state import inbox_buckets, inbox_deadline
from schemas.ticket_storage import decode_record, encode_record, ticket_key

Decide = Callable[[TicketRecord | None, Event, SlaBook | None], RecordOutcome | TicketRecord]
Claim = tuple[str, bytes]
"""(hash key, field) of a channel message's claim (``schemas.outbox.message_claim``)"""


def _glob(prefix: str) -> str:
    """``prefix`` as a SCAN pattern (its glob characters escaped)."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", prefix)


class TicketKeys:
    """Redis key names of the ticket store under one prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.read_model = ReadModelKeys(prefix)
        self.sla_due = f"{prefix}sla:due"
        """Sorted set: ticket id → when its next SLA alert fires (the monitor's index)."""
        self.alerts = alert_outbox_key(prefix)
        self.breaches = f"{prefix}sla:breaches"

    def ticket(self, ticket_id: str) -> str:
        return ticket_key(self.prefix, ticket_id)

    @property
    def every_ticket(self) -> str:
        """SCAN pattern of every ticket key."""
        return _glob(self.prefix) + "ticket:*"

    def inbox(self, department: str, bucket: InboxBucket) -> str:
        """Sorted set of the tickets in a department's inbox bucket, scored by their deadline there."""
        return f"{self.prefix}inbox:{department}:{bucket.value}"

    def enterprise(self, key: str) -> str:
        """Set of an enterprise's tickets (``key``: ``code:…`` or ``name:…``)."""
        return f"{self.prefix}ent:{key}"

    def project(self, project: str) -> str:
        """Set of a key project's tickets."""
        return f"{self.prefix}proj:{project}"

    def claim(self, event: Event) -> Claim | None:
        """The claim of the channel message a first routing claims, if ``event`` is one."""
        message = message_of(event)
        return message_claim(self.prefix, message) if message is not None else None

    @property
    def every_claim(self) -> str:
        """SCAN pattern of the channel-message claims' hashes."""
        return _glob(self.prefix) + "msg:*"

    @property
    def every_index(self) -> tuple[str, ...]:
        """SCAN patterns of the inbox, enterprise and project sets."""
        return tuple(_glob(self.prefix) + name for name in ("inbox:*", "ent:*", "proj:*"))

    @property
    def legacy_indexes(self) -> tuple[str, ...]:
        """SCAN patterns of what older recorders kept instead and ``ztc reindex`` deletes: the inbox,
        enterprise and project sorted sets and the sorted set of every ticket id."""
        return tuple(_glob(self.prefix) + name for name in ("dept:*", "enterprise:*", "project:*", "tickets"))

    @property
    def legacy_messages(self) -> str:
        """SCAN pattern of the one key per channel message older recorders kept (``message_key``)."""
        return _glob(self.prefix) + "message:*"


def index(writes: WriteBatch, keys: TicketKeys, old: TicketRecord | None, new: TicketRecord) -> None:
    """The inbox, enterprise and project indexes of ``new`` (and out of ``old``'s)."""
    ticket_id = new.ticket_id
    before, after = inbox_buckets(old), inbox_buckets(new)
    for department, bucket in before.items():
        if after.get(department) != bucket:
            writes.zrem(keys.inbox(department, bucket), ticket_id)
    for department, bucket in after.items():
        writes.zadd_one(
            keys.inbox(department, bucket), ticket_id, inbox_deadline(new, department).timestamp()
        )
    enterprises = enterprise_keys(new)
    for enterprise in enterprise_keys(old) if old is not None else ():
        if enterprise not in enterprises:
            writes.srem(keys.enterprise(enterprise), ticket_id)
    for enterprise in enterprises:
        writes.sadd(keys.enterprise(enterprise), ticket_id)
    if old is not None and old.key_project and old.key_project != new.key_project:
        writes.srem(keys.project(old.key_project), ticket_id)
    if new.key_project:
        writes.sadd(keys.project(new.key_project), ticket_id)


def reschedule(writes: WriteBatch, keys: TicketKeys, ticket_id: str, fire_at: datetime | None) -> None:
    """The ticket's entry in the SLA due index: its next alert, or none."""
    if fire_at is None:
        writes.zrem(keys.sla_due, ticket_id)
    else:
        writes.zadd(keys.sla_due, {ticket_id: fire_at.timestamp()})


class BatchPlan:
    """Events applied in order over the tickets and claims read at the start of a batch.

    ``stored``: ticket id → its stored bytes (None: no such ticket) for every ticket
    the batch names, and for the owners of its claimed messages; ``claims``: claim
    → the ticket that owns it (None: unclaimed).
    """

    def __init__(
        self,
        keys: TicketKeys,
        book: SlaBook | None,
        decide: Decide,
        stored: Mapping[str, bytes | str | None],
        claims: Mapping[Claim, str | None],
    ) -> None:
        self.keys = keys
        self.book = book
        self.decide = decide
        self.stored = stored
        self.claims = dict(claims)
        self.claimed: dict[Claim, str] = {}
        """the claims this batch makes: claim → ticket id"""
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
        # everything that may fail first: the writes below only fill dictionaries
        before = (
            self.contributions[ticket_id] if ticket_id in self.contributions else contribution(old, self.book)
        )
        after = contribution(result, self.book)
        fire_at = self.book.next_alert_at(result) if self.book is not None else None
        alert = event.model_dump_json() if isinstance(event, SlaEvent) else None
        mine = WriteBatch()
        index(mine, self.keys, old, result)
        write_changes(mine, self.keys.read_model, before, after)
        writes = self.writes
        writes.merge(mine)
        if alert is not None:  # the alert outbox, in the same transaction
            writes.xadd(self.keys.alerts, {"event": alert})
        if isinstance(event, SlaBreached):
            writes.hincrby(self.keys.breaches, event.department, 1)
        if self.book is not None:
            reschedule(writes, self.keys, ticket_id, fire_at)
        self.records[ticket_id] = self.changed[ticket_id] = result
        self.contributions[ticket_id] = after
        if claim is not None:
            self.claims[claim] = self.claimed[claim] = ticket_id
        return RecordOutcome(RecordStatus.applied, result)

    def finish(self) -> WriteBatch:
        """Every write of the batch: the plan's queued ones plus each changed ticket's last state."""
        for ticket_id, record in self.changed.items():
            self.writes.set(self.keys.ticket(ticket_id), encode_record(record))
        return self.writes
