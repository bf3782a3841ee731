"""What recording one event decides, for every ticket store: applied, a duplicate or refused.

The stores (``consumers.ticket_store``) only persist what ``transition`` decides,
whether they record one event or a poll's batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from consumers.sla_engine import SlaBook
from schemas.events import Event, TicketRouted
from schemas.ticket import TicketRecord
from schemas.ticket_state import TransitionRefused, apply


class RecordStatus(StrEnum):
    applied = "applied"
    duplicate = "duplicate"
    refused = "refused"


@dataclass(frozen=True)
class RecordOutcome:
    status: RecordStatus
    record: TicketRecord | None
    reason: str = ""


Recorded = RecordOutcome | Exception
"""One event's result in a batch: its outcome, or the error that kept it from being recorded."""


def enterprise_keys(record: TicketRecord) -> list[str]:
    """Index keys under which an enterprise's file finds this ticket."""
    keys = []
    if record.submission.credit_code:
        keys.append(f"code:{record.submission.credit_code}")
    if record.submission.enterprise_name:
        keys.append(f"name:{record.submission.enterprise_name}")
    return keys


def message_of(event: Event) -> str | None:
    """The channel message a first routing claims: one channel message is one ticket, for ever."""
    return event.submission.dedupe_key if isinstance(event, TicketRouted) else None


def transition(old: TicketRecord | None, event: Event, book: SlaBook | None) -> RecordOutcome | TicketRecord:
    """The new record, or why ``event`` changes nothing (already applied, refused)."""
    if old is not None and old.has_applied(event.event_id):
        return RecordOutcome(RecordStatus.duplicate, old)
    try:
        new = apply(old, event)
    except TransitionRefused as exc:
        return RecordOutcome(RecordStatus.refused, old, str(exc))
    if new is old:  # e.g. an SLA event whose key was already recorded
        return RecordOutcome(RecordStatus.duplicate, old)
    return book.advance(old, new, event) if book is not None else new
