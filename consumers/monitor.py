"""The overdue monitor: emits SLA warnings, breaches and escalations from the SLA schedule, until recorded.

It never scans open tickets: the recorder keeps the schedule (``consumers.sla_schedule``,
``{prefix}sla:due`` in Redis) at one entry per ticket with alerts to come, due
when its next alert fires. A pass costs what is due. Two layers:

- ``plan_pass`` decides, for the tickets due by ``now`` and from their current
  state, what to do: the alerts to emit, when each ticket's entry comes due
  next (its next alert — or ``Pace.republish_after_s`` ahead while an alert it
  emits is not yet recorded), the entries to drop (accepted, resolved, paused
  or recorded meanwhile; legacy per-alert members) and the tickets that cannot
  be handled (dead letters). No broker, no clock, no Redis: unit tests drive
  it in milliseconds.
- ``Monitor.run_pass`` has the schedule ``settle`` that plan (the due tickets
  read in one go, the entries moved in one transaction; a ticket the recorder
  changed meanwhile is decided again), claims every alert to emit with a short
  lease in one round trip, so two monitors never emit it at once, hands all of
  them to the broker and only then waits for the acknowledgements, together
  (one wait per pass, not one per alert). An alert the broker did not take is
  ``put_back``: its ticket's entry returns to when it fell due (unless the
  recorder moved it meanwhile) and its lease ends, so the next pass sends it
  again; the pass then fails, and the loop backs off. Each event's id is derived
  from the alert key, so a copy sent twice (a crash after the send, a lost
  acknowledgement) is recorded once. An event the broker lost after taking it
  (the embedded broker forgets everything on a restart) is published again
  once the ticket's entry comes due again; once recorded, the recorder moves
  the entry to the ticket's next alert.
- ``Monitor.run`` is the loop around it: after a pass it sleeps until the
  earliest entry comes due (at most ``interval_s``, so an entry the recorder
  adds earlier is seen within that), not a fixed interval, so a due alert is
  found within milliseconds of its time; a full batch is followed at once by
  the next. It also runs the outbox relay.

People are alerted from what the recorder recorded (the alert outbox), never
from this topic, so a re-publication never alerts twice. A due ticket that
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

import redis
from kafka.errors import KafkaError

from consumers.sla_engine import SlaBook, alert_event
from consumers.sla_publisher import BatchPublisher, publish_all
from consumers.sla_schedule import PutBack, SlaSchedule, Tickets, ticket_of
from schemas.publishing import Publisher
from schemas.sla import SlaEvent

__all__ = [
    "DEFAULT_PACE",
    "BatchPublisher",
    "Monitor",
    "Pace",
    "PassPlan",
    "Tickets",
    "plan_pass",
    "publish_all",
]

log = logging.getLogger(__name__)

DeadLetter = Callable[[str, str], None]
"""(ticket id or schedule member, reason): report a due ticket the monitor cannot handle."""
Infrastructure = (redis.ConnectionError, redis.TimeoutError, KafkaError)


@dataclass(frozen=True)
class Pace:
    lease_s: int = 30
    """how long a claim keeps other monitors from emitting the same alert"""
    batch: int = 500
    """due tickets read per pass"""
    republish_after_s: float = 30.0
    """an emitted alert the recorder has not recorded by then is published again"""


DEFAULT_PACE = Pace()


@dataclass
class PassPlan:
    """What one pass must do, decided from the due tickets and their current state."""

    emit: list[tuple[str, SlaEvent]] = field(default_factory=list)
    """(alert key, event) due now: claim and publish (each ticket's earliest first)"""
    reschedule: dict[str, datetime] = field(default_factory=dict)
    """ticket id → when its entry comes due next (its next alert, or the re-publication)"""
    drop: list[str] = field(default_factory=list)
    """members to forget: tickets with nothing to come, legacy per-alert members, poison"""
    dead: list[tuple[str, str]] = field(default_factory=list)
    """(ticket id, reason) that could not be handled: dead-letter, then drop"""
    fell_due: dict[str, datetime] = field(default_factory=dict)
    """ticket id → when its earliest alert to emit fell due (where its entry goes back if the send fails)"""


def _decide(
    ticket_id: str, legacy: bool, tickets: Tickets, book: SlaBook, now: datetime, pace: Pace
) -> PassPlan:
    record = tickets.get(ticket_id)
    alerts = book.schedule(record) if record is not None else []
    plan = PassPlan()
    if legacy:  # its other alerts' members go too: the ticket's entry stands for them
        plan.drop += [a.key for a in alerts]
    due = sorted((a for a in alerts if a.fire_at <= now), key=lambda a: (a.fire_at, a.key))
    later = [a.fire_at for a in alerts if a.fire_at > now]
    if due:  # until the recorder has them (then the entry moves on), look again later
        later.append(now + timedelta(seconds=pace.republish_after_s))
    if later:
        plan.reschedule[ticket_id] = min(later)
    else:  # accepted, resolved, paused or recorded meanwhile
        plan.drop.append(ticket_id)
    if due:
        plan.fell_due[ticket_id] = due[0].fire_at
    plan.emit += [(a.key, alert_event(a, book, now)) for a in due]
    return plan


def plan_pass(
    due: Sequence[str], tickets: Tickets, book: SlaBook, now: datetime, pace: Pace = DEFAULT_PACE
) -> PassPlan:
    """What the pass must do for the schedule members due by ``now``; raises only for infrastructure."""
    plan = PassPlan()
    legacy = {ticket_of(m) for m in due if ticket_of(m) != m}
    plan.drop += [m for m in due if ticket_of(m) != m]
    for ticket_id in dict.fromkeys(ticket_of(m) for m in due):
        try:
            decided = _decide(ticket_id, ticket_id in legacy, tickets, book, now, pace)
        except Infrastructure:
            raise
        except Exception as exc:  # poison: report it, drop it from the schedule, go on
            log.exception("SLA alerts of %s failed", ticket_id)
            plan.dead.append((ticket_id, f"monitor failed: {type(exc).__name__}: {exc}"))
            plan.drop.append(ticket_id)
            continue
        plan.emit += decided.emit
        plan.reschedule.update(decided.reschedule)
        plan.drop += decided.drop
        plan.fell_due.update(decided.fell_due)
    return plan


def _log_dead_letter(key: str, reason: str) -> None:
    log.error("cannot handle SLA alerts of %s: %s", key, reason)


class Monitor:
    """Has the schedule settle each pass's plan, then claims and publishes what it emits."""

    def __init__(
        self,
        schedule: SlaSchedule,
        book: SlaBook,
        publisher: Publisher | BatchPublisher,
        topic: str,
        *,
        pace: Pace = DEFAULT_PACE,
        dead_letter: DeadLetter = _log_dead_letter,
    ) -> None:
        self.schedule = schedule
        self.book = book
        self.publisher = publisher
        self.topic = topic
        self.pace = pace
        self.dead_letter = dead_letter
        self.monitor_id = uuid.uuid4().hex

    def plan(self, due: list[str], tickets: Tickets, now: datetime) -> PassPlan:
        return plan_pass(due, tickets, self.book, now, self.pace)

    def run_pass(self, now: datetime) -> list[SlaEvent]:
        """Emit every alert due by ``now`` (of up to ``Pace.batch`` tickets); return what the broker took.

        Raises the broker's error after putting back what it did not take (the next pass sends it again).
        """
        plan = self.schedule.settle(now, self.pace.batch, lambda due, tickets: self.plan(due, tickets, now))
        if plan is None:  # the due tickets kept changing: the next pass decides them again
            return []
        for ticket_id, reason in plan.dead:
            self.dead_letter(ticket_id, reason)
        claimed = self.schedule.claim_all([key for key, _ in plan.emit], self.monitor_id, self.pace.lease_s)
        sending = [(key, event) for (key, event), mine in zip(plan.emit, claimed, strict=True) if mine]
        answers = publish_all(self.publisher, self.topic, [event for _, event in sending])
        failed = [(key, event, error) for (key, event), error in zip(sending, answers, strict=True) if error]
        if failed:
            self._put_back(plan, failed)
        sent = [event for (_, event), error in zip(sending, answers, strict=True) if error is None]
        for event in sent:
            log.info("emitted %s for %s (%s)", event.event_type, event.ticket_id, event.key)
        if failed:
            raise failed[0][2]
        return sent

    def _put_back(self, plan: PassPlan, failed: list[tuple[str, SlaEvent, Exception]]) -> None:
        tickets = dict.fromkeys(event.ticket_id for _, event, _ in failed)
        entries = {t: PutBack(plan.reschedule[t], plan.fell_due[t]) for t in tickets if t in plan.reschedule}
        log.warning(
            "the broker did not take %d alert(s) of %d ticket(s) (%s); due again for the next pass",
            len(failed), len(tickets), failed[0][2],
        )  # fmt: skip
        self.schedule.put_back(entries, [key for key, _, _ in failed], self.monitor_id)

    def pause_after_pass(self, clock: Callable[[], datetime], interval_s: float) -> float:
        """Seconds until the earliest entry comes due (0 if one is due now), at most ``interval_s``."""
        next_due = self.schedule.next_due()
        if next_due is None:
            return interval_s
        return min(interval_s, max(0.0, (next_due - clock()).total_seconds()))

    def run(
        self,
        stop: threading.Event,
        clock: Callable[[], datetime],
        interval_s: float = 1.0,
        also: Callable[[datetime], object] | None = None,
    ) -> None:
        """Pass after pass until ``stop``, each when the next entry comes due (or after ``interval_s``);
        ``also`` runs after each pass (the outbox relay)."""
        log.info("monitor %s watching the SLA schedule", self.monitor_id[:8])
        while not stop.is_set():
            try:
                self.run_pass(clock())
                if also is not None:
                    also(clock())
                pause = self.pause_after_pass(clock, interval_s)
            except Infrastructure as exc:
                log.warning("monitor pass interrupted (%s: %s); trying again", type(exc).__name__, exc)
                pause = min(5.0, interval_s * 5)
            stop.wait(pause)
