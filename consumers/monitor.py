"""The overdue monitor: emits SLA warnings, breaches and escalations from the alert schedule, until recorded.

It never scans open tickets: the recorder keeps the schedule (``consumers.sla_schedule``,
``{prefix}sla:due`` in Redis) equal to what the pure engine schedules. Two layers:

- ``plan_pass`` decides, for the alerts due by ``now``, what to do — re-checked
  against each ticket's current state: the events to emit, the alerts to drop
  (accepted, resolved, paused or recorded meanwhile), the ones whose deadline
  moved, and the ones that cannot be handled (dead letters). No broker, no
  clock: unit tests drive it in milliseconds.
- ``Monitor.run_pass`` applies that plan: it claims each alert with a short
  lease so two monitors never emit it at once, publishes the event (its id
  derived from the alert key, so every copy is recorded once) and pushes the
  alert back by ``Pace.republish_after_s``; it stays scheduled until the recorder has
  recorded it, so an event the broker lost (the embedded broker forgets
  everything on a restart) is simply published again. ``Monitor.run`` is the
  timer around it, and also runs the outbox relay.

People are alerted from what the recorder recorded (the alert outbox), never
from this topic, so a re-publication never alerts twice. A due alert that
cannot be checked (a corrupt ticket, a bug) is dead-lettered with its reason
and dropped from the schedule; an unavailable Redis or broker ends the pass,
and the next pass tries again.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import redis
from kafka.errors import KafkaError

from consumers.sla_engine import SlaBook, alert_event
from consumers.sla_schedule import SlaSchedule
from schemas.publishing import Publisher
from schemas.sla import SlaEvent
from schemas.ticket import TicketRecord

log = logging.getLogger(__name__)

DeadLetter = Callable[[str, str], None]
"""(alert key, reason): report an alert the monitor cannot handle."""
Infrastructure = (redis.ConnectionError, redis.TimeoutError, KafkaError)


class Tickets(Protocol):
    """What the monitor reads of the ticket store."""

    def get(self, ticket_id: str) -> TicketRecord | None: ...


@dataclass
class PassPlan:
    """What one pass must do, decided from the due alerts and the tickets' current state."""

    emit: list[tuple[str, SlaEvent]] = field(default_factory=list)
    """(alert key, event) due now: claim, publish, push back until recorded"""
    drop: list[str] = field(default_factory=list)
    """alert keys no longer scheduled for their ticket"""
    move: dict[str, datetime] = field(default_factory=dict)
    """alert key → its new fire time (the deadline moved: pause, extension)"""
    dead: list[tuple[str, str]] = field(default_factory=list)
    """(alert key, reason) that could not be handled: dead-letter, then drop"""


def _decide(key: str, tickets: Tickets, book: SlaBook, now: datetime, plan: PassPlan) -> None:
    record = tickets.get(key.split(":", 1)[0])
    alerts = {a.key: a for a in book.schedule(record)} if record is not None else {}
    alert = alerts.get(key)
    if alert is None:  # accepted, resolved, paused or already recorded meanwhile
        plan.drop.append(key)
    elif alert.fire_at > now:  # the deadline moved: wait for the new time
        plan.move[key] = alert.fire_at
    else:
        plan.emit.append((key, alert_event(alert, book, now)))


def plan_pass(due: Sequence[str], tickets: Tickets, book: SlaBook, now: datetime) -> PassPlan:
    """Decide, for every alert key due by ``now``, what the pass must do; raise only for infrastructure."""
    plan = PassPlan()
    for key in due:
        try:
            _decide(key, tickets, book, now, plan)
        except Infrastructure:
            raise
        except Exception as exc:  # poison: report it, drop it from the schedule, go on
            log.exception("SLA alert %s failed", key)
            plan.dead.append((key, f"monitor failed: {type(exc).__name__}: {exc}"))
    return plan


@dataclass(frozen=True)
class Pace:
    lease_s: int = 30
    """how long a claim keeps other monitors from emitting the same alert"""
    batch: int = 500
    """due alerts read per pass"""
    republish_after_s: float = 30.0
    """an emitted alert the recorder has not recorded by then is published again"""


DEFAULT_PACE = Pace()


def _log_dead_letter(key: str, reason: str) -> None:
    log.error("cannot handle SLA alert %s: %s", key, reason)


class Monitor:
    """Applies each pass's plan: schedule bookkeeping, leases, publication."""

    def __init__(
        self,
        tickets: Tickets,
        schedule: SlaSchedule,
        book: SlaBook,
        publisher: Publisher,
        topic: str,
        *,
        pace: Pace = DEFAULT_PACE,
        dead_letter: DeadLetter = _log_dead_letter,
    ) -> None:
        self.tickets = tickets
        self.schedule = schedule
        self.book = book
        self.publisher = publisher
        self.topic = topic
        self.pace = pace
        self.dead_letter = dead_letter
        self.monitor_id = uuid.uuid4().hex

    def run_pass(self, now: datetime) -> list[SlaEvent]:
        """Emit every alert due by ``now``; return what this monitor emitted."""
        plan = plan_pass(self.schedule.due(now, self.pace.batch), self.tickets, self.book, now)
        for key, reason in plan.dead:
            self.dead_letter(key, reason)
            self.schedule.remove(key)
        for key in plan.drop:
            self.schedule.remove(key)
        for key, fire_at in plan.move.items():
            self.schedule.move(key, fire_at)
        return [event for key, event in plan.emit if self._emit(key, event, now)]

    def _emit(self, key: str, event: SlaEvent, now: datetime) -> bool:
        if not self.schedule.claim(key, self.monitor_id, self.pace.lease_s):
            return False  # another monitor is emitting it right now
        self.publisher.publish_event(self.topic, event)
        # Until the recorder has it (it then leaves the schedule), look again later: the broker may lose it.
        self.schedule.postpone(key, now + timedelta(seconds=self.pace.republish_after_s))
        log.info("emitted %s for %s (%s)", event.event_type, event.ticket_id, key)
        return True

    def run(
        self,
        stop: threading.Event,
        clock: Callable[[], datetime],
        interval_s: float = 1.0,
        also: Callable[[datetime], object] | None = None,
    ) -> None:
        """Pass after pass until ``stop``; ``also`` runs after each pass (the outbox relay)."""
        log.info("monitor %s watching the SLA schedule", self.monitor_id[:8])
        while not stop.is_set():
            try:
                self.run_pass(clock())
                if also is not None:
                    also(clock())
            except Infrastructure as exc:
                log.warning("monitor pass interrupted (%s: %s); trying again", type(exc).__name__, exc)
                stop.wait(min(5.0, interval_s * 5))
            stop.wait(interval_s)
