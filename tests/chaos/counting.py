"""Counting from what the system recorded: tickets in Redis, SLA events in their histories, alerts received.

*Lost*: an acknowledged channel message whose ticket id has no ticket in Redis,
or whose ticket holds another message (two messages answered with one id: the
second's content was never recorded). *Doubled* (applied twice): a ticket whose
history holds one event id twice, or a second ``TicketRouted`` entry with no
lead bounce since the previous one (so it does not answer a re-route), or a
channel message recorded as more than one ticket.

*Alerts expected*: every SLA event in a ticket's history; every alert the
ticket's own SLA clock says fell due (more than ``grace`` ago) but was never
recorded — the monitor lost it; and, by construction, the whole accept-stage
ladder of every seconds-tier ticket whose ladder has run out (``must_fire``):
these tickets are never accepted, so nothing may spare them an alert, not even
a clock that is missing or wrong. An expected alert is *lost* when no webhook
delivery names it, *doubled* when more than one does. A delivery names an alert
by its ``X-ZTC-Event-Id`` header when that is a recorded event's id, else by
the (ticket, stage, kind) its text spells; clock rounds are not in the text,
so that fallback assumes round 0 (no scenario here re-routes or reopens).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import redis

from consumers.sla_engine import SlaBook
from schemas.ticket import HistoryEntry, TicketRecord
from schemas.ticket_storage import decode_record
from tests.chaos.webhook import Delivery, signature

SLA_TYPES = frozenset({"SlaWarning", "SlaBreached", "SlaEscalated"})
Sig = tuple[str, str, str, int]
"""(ticket id, stage, kind, round): one SLA alert, as its key ``ticket:stage:kind:round`` names it."""


def read_tickets(client: redis.Redis, prefix: str) -> dict[str, TicketRecord]:
    """Every ticket under ``{prefix}ticket:*`` (read with SCAN and MGET, in chunks)."""
    keys = [k for k in client.scan_iter(match=f"{prefix}ticket:*", count=2000)]
    out: dict[str, TicketRecord] = {}
    for start in range(0, len(keys), 500):
        for raw in client.mget(keys[start : start + 500]):
            if raw:
                record = decode_record(raw)
                out[record.ticket_id] = record
    return out


@dataclass
class TicketCount:
    recorded: int
    lost: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    """one line per problem: "ticket: what" """


def _routing_doubled(history: tuple[HistoryEntry, ...]) -> bool:
    routed_before, bounced_since = False, False
    for entry in history:
        if entry.event_type == "TicketRouted":
            if routed_before and not bounced_since:
                return True
            routed_before, bounced_since = True, False
        elif entry.event_type == "TicketBounced":
            bounced_since = True
    return False


def count_tickets(acknowledged: dict[str, str], records: dict[str, TicketRecord]) -> TicketCount:
    """Lost and doubled among ``records`` for ``acknowledged`` (channel message id → ticket id)."""
    result = TicketCount(recorded=0)
    for message, ticket_id in sorted(acknowledged.items()):
        record = records.get(ticket_id)
        if record is None:
            result.lost.append(ticket_id)
        elif record.submission.channel_message_id != message:
            result.lost.append(
                f"{ticket_id} (holds message {record.submission.channel_message_id}, not {message})"
            )
        else:
            result.recorded += 1
    by_message: dict[str, list[str]] = defaultdict(list)
    for record in records.values():
        by_message[record.submission.dedupe_key].append(record.ticket_id)
        repeated = [i for i, n in Counter(e.event_id for e in record.history).items() if n > 1]
        if repeated:
            result.doubled.append(f"{record.ticket_id}: event {repeated[0]} applied {len(repeated)}× twice")
        if _routing_doubled(record.history):
            result.doubled.append(f"{record.ticket_id}: routed again without a bounce")
    for message, tickets in by_message.items():
        if len(tickets) > 1:
            result.doubled.append(f"message {message}: recorded as {len(tickets)} tickets {sorted(tickets)}")
    return result


def routing_entries(records: dict[str, TicketRecord]) -> dict[str, int]:
    """Per ticket, how many routing decisions its history holds."""
    return {t: sum(e.event_type == "TicketRouted" for e in r.history) for t, r in records.items()}


@dataclass
class AlertCount:
    expected: int = 0
    sent: int = 0
    lost: int = 0
    doubled: int = 0
    notes: list[str] = field(default_factory=list)


def _key_sig(key: str) -> Sig | None:
    parts = key.rsplit(":", 3)
    if len(parts) != 4 or not parts[3].isdigit():
        return None
    return parts[0], parts[1], parts[2], int(parts[3])


def recorded_alerts(records: dict[str, TicketRecord]) -> dict[str, Sig]:
    """event id → alert, for every SLA event recorded in a history."""
    out: dict[str, Sig] = {}
    for record in records.values():
        for entry in record.history:
            if entry.event_type in SLA_TYPES:
                sig = _key_sig(str(entry.details.get("key", "")))
                if sig is not None:
                    out[entry.event_id] = sig
    return out


def unfired_alerts(records: dict[str, TicketRecord], book: SlaBook, before: datetime) -> set[Sig]:
    """Alerts each ticket's clock scheduled before ``before`` that were never recorded."""
    out: set[Sig] = set()
    for record in records.values():
        for alert in book.schedule(record):
            if alert.fire_at < before:
                sig = _key_sig(alert.key)
                if sig is not None:
                    out.add(sig)
    return out


LADDER = ("warning", "breach", "escalation1", "escalation2", "escalation3")


def count_alerts(
    records: dict[str, TicketRecord],
    deliveries: list[Delivery],
    book: SlaBook,
    now: datetime,
    must_fire: dict[str, datetime] | None = None,
    grace: timedelta = timedelta(seconds=20),
) -> AlertCount:
    """``must_fire``: ticket id → when its whole accept-stage ladder (round 0) must have fired."""
    recorded = recorded_alerts(records)
    unfired = unfired_alerts(records, book, now - grace)
    ladders = {
        (ticket_id, "accept", kind, 0)
        for ticket_id, by in (must_fire or {}).items()
        if by < now - grace
        for kind in LADDER
    }
    expected = set(recorded.values()) | unfired | ladders
    never = ladders - set(recorded.values()) - unfired
    received: Counter[Sig] = Counter()
    unreadable = 0
    for delivery in deliveries:
        if delivery.event_id is not None and delivery.event_id in recorded:
            received[recorded[delivery.event_id]] += 1
            continue
        spelled = signature(delivery.text)
        if spelled is None:
            unreadable += 1
            continue
        received[(*spelled, 0)] += 1
    result = AlertCount(expected=len(expected), sent=len(deliveries))
    lost = sorted(expected - received.keys())
    twice = sorted(s for s in expected if received[s] > 1)
    strays = sorted(s for s in received if s not in expected)
    result.lost, result.doubled = len(lost), len(twice)
    if unfired:
        result.notes.append(
            f"{len(unfired)} alerts fell due but were never recorded (monitor), e.g. {min(unfired)}"
        )
    if never:
        result.notes.append(
            f"{len(never)} alerts of seconds-tier tickets neither recorded nor scheduled, e.g. {min(never)}"
        )
    if lost:
        result.notes.append(f"alerts lost, e.g. {lost[:3]}")
    if twice:
        extra = sum(received[s] - 1 for s in twice)
        result.notes.append(f"{len(twice)} alerts delivered more than once ({extra} extra), e.g. {twice[:3]}")
    if strays:
        result.notes.append(f"{len(strays)} deliveries name no expected alert, e.g. {strays[:3]}")
    if unreadable:
        result.notes.append(f"{unreadable} deliveries with a text this suite cannot read")
    return result
