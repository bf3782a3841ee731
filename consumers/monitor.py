"""The overdue monitor: emits SLA warnings, breaches and escalations from a Redis index, until recorded.

It never scans open tickets: the recorder keeps ``{prefix}sla:due`` — one member
per ticket with alerts to come, scored by when the next one fires — equal to
what the pure engine schedules. A pass costs what is due: it takes up to
``batch`` tickets due by ``now`` (ZRANGEBYSCORE … LIMIT), reads them in one
MGET under WATCH, works out each one's due alerts from its current state and
moves its entry to its next alert — or ``republish_after_s`` ahead while an
alert it emits is not yet recorded — in one transaction (a ticket the recorder
changed meanwhile is simply decided again at the next pass). Then it claims
each due alert with a short lease (``SET NX EX``) so two monitors never both
emit it at once, and publishes the event (its id derived from the alert key,
so every copy is recorded once). An event the broker lost (the embedded broker
forgets everything on a restart) is published again once the entry comes due
again. People are alerted from what the recorder recorded (the alert outbox),
never from this topic, so a re-publication never alerts twice.

Members written before one-entry-per-ticket (``ticket:stage:kind:round``, one
per alert) are read as their ticket: when the first of them comes due, all of
the ticket's are replaced by its entry (``ztc reindex`` replaces them all at once).

A due ticket that cannot be checked (a corrupt ticket, a bug) is dead-lettered
with its reason and dropped from the index; an unavailable Redis or broker
ends the pass, and the next pass tries again.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import redis
from kafka.errors import KafkaError

from consumers.sla_engine import ScheduledAlert, SlaBook, alert_event
from consumers.ticket_store import RedisTicketStore
from schemas.sla import SlaEvent
from schemas.ticket_storage import decode_record

log = logging.getLogger(__name__)

Publish = Callable[[SlaEvent], None]
DeadLetter = Callable[[str, str], None]
"""(alert key or ticket id, reason): report an alert the monitor cannot handle."""
Infrastructure = (redis.ConnectionError, redis.TimeoutError, KafkaError)
LEGACY_MEMBER = re.compile(r"^(?P<ticket>.+):(accept|resolve):(warning|breach|escalation\d+):\d+$")
WATCH_ATTEMPTS = 3


def _log_dead_letter(key: str, reason: str) -> None:
    log.error("cannot handle SLA alert %s: %s", key, reason)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def ticket_of(member: str) -> str:
    """The ticket a due-index member stands for (a ticket id, or a legacy alert key)."""
    legacy = LEGACY_MEMBER.match(member)
    return legacy.group("ticket") if legacy else member


@dataclass
class DuePass:
    """What one pass decided over the due tickets it read."""

    alerts: list[ScheduledAlert] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    """ticket id → when to look at it again"""
    done: list[str] = field(default_factory=list)
    """members to drop: tickets with nothing to come, legacy members, poison"""
    poison: list[tuple[str, str]] = field(default_factory=list)
    """(member, reason)"""


class Monitor:
    def __init__(
        self,
        store: RedisTicketStore,
        book: SlaBook,
        publish: Publish,
        *,
        lease_s: int = 30,
        batch: int = 500,
        republish_after_s: float = 30.0,
        dead_letter: DeadLetter = _log_dead_letter,
    ) -> None:
        self.store = store
        self.client = store.client
        self.book = book
        self.publish = publish
        self.lease_s = lease_s
        self.batch = batch
        self.republish_after_s = republish_after_s
        self.dead_letter = dead_letter
        self.monitor_id = uuid.uuid4().hex

    def _claim_key(self, alert_key: str) -> str:
        return f"{self.store.prefix}sla:claim:{alert_key}"

    def run_pass(self, now: datetime) -> list[SlaEvent]:
        """Emit every alert due by ``now`` (of up to ``batch`` tickets); return what this monitor emitted."""
        due = self.client.zrangebyscore(
            self.store.sla_due_key, "-inf", now.timestamp(), start=0, num=self.batch
        )
        members = [_text(m) for m in due]
        if not members:
            return []
        decided = self._reschedule(members, now)
        for member, reason in decided.poison:
            self.dead_letter(member, reason)
        emitted: list[SlaEvent] = []
        for alert in decided.alerts:
            try:
                event = self._emit(alert, now)
            except Infrastructure:
                raise
            except Exception as exc:  # poison: report it, drop the ticket from the index, go on
                log.exception("SLA alert %s failed", alert.key)
                self.dead_letter(alert.key, f"monitor failed: {type(exc).__name__}: {exc}")
                self.client.zrem(self.store.sla_due_key, alert.ticket_id)
                continue
            if event is not None:
                emitted.append(event)
        return emitted

    def _reschedule(self, members: list[str], now: datetime) -> DuePass:
        """Read the due tickets, decide, move their entries on — atomically, or not at all."""
        ticket_ids = list(dict.fromkeys(ticket_of(m) for m in members))
        keys = [self.store.keys.ticket(t) for t in ticket_ids]
        for _ in range(WATCH_ATTEMPTS):
            with self.client.pipeline() as pipe:
                try:
                    pipe.watch(*keys)  # type: ignore[no-untyped-call]
                    raws = pipe.mget(keys)
                    decided = self._decide(members, dict(zip(ticket_ids, raws, strict=True)), now)
                    pipe.multi()
                    if decided.done:
                        pipe.zrem(self.store.sla_due_key, *decided.done)
                    if decided.scores:
                        pipe.zadd(self.store.sla_due_key, decided.scores)
                    pipe.execute()
                    return decided
                except redis.WatchError:
                    continue
        log.info("due tickets kept changing under the monitor; next pass")
        return DuePass()

    def _decide(self, members: list[str], raws: dict[str, bytes | str | None], now: datetime) -> DuePass:
        decided = DuePass()
        at = now.timestamp()
        legacy = set()
        for member in members:
            ticket_id = ticket_of(member)
            if member != ticket_id:
                decided.done.append(member)
                legacy.add(ticket_id)
        for ticket_id, raw in raws.items():
            try:
                alerts = self.book.schedule(decode_record(raw)) if raw else []
            except Exception as exc:  # a corrupt ticket, a bug: report it, drop it, go on
                log.exception("SLA alerts of %s failed", ticket_id)
                decided.poison.append((ticket_id, f"monitor failed: {type(exc).__name__}: {exc}"))
                decided.done.append(ticket_id)
                continue
            if ticket_id in legacy:  # its other alerts' members go too: the ticket's entry stands for them
                decided.done += [a.key for a in alerts]
            due = sorted((a for a in alerts if a.fire_at <= now), key=lambda a: (a.fire_at, a.key))
            later = [a.fire_at.timestamp() for a in alerts if a.fire_at > now]
            if due:  # until the recorder has them (then the entry moves), look again later
                later.append(at + self.republish_after_s)
            if later:
                decided.scores[ticket_id] = min(later)
            else:  # accepted, resolved, paused or recorded meanwhile
                decided.done.append(ticket_id)
            decided.alerts += due
        return decided

    def _emit(self, alert: ScheduledAlert, now: datetime) -> SlaEvent | None:
        if not self.client.set(self._claim_key(alert.key), self.monitor_id, nx=True, ex=self.lease_s):
            return None  # another monitor is emitting it right now
        event = alert_event(alert, self.book, now)
        self.publish(event)
        log.info("emitted %s for %s (%s)", event.event_type, event.ticket_id, alert.key)
        return event

    def run(
        self,
        stop: threading.Event,
        clock: Callable[[], datetime],
        interval_s: float = 1.0,
        also: Callable[[datetime], object] | None = None,
    ) -> None:
        """Pass after pass until ``stop``; ``also`` runs after each pass (the outbox relay)."""
        log.info("monitor %s watching %s", self.monitor_id[:8], self.store.sla_due_key)
        while not stop.is_set():
            try:
                self.run_pass(clock())
                if also is not None:
                    also(clock())
            except Infrastructure as exc:
                log.warning("monitor pass interrupted (%s: %s); trying again", type(exc).__name__, exc)
                stop.wait(min(5.0, interval_s * 5))
            stop.wait(interval_s)
