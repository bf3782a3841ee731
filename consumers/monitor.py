"""The overdue monitor: emits SLA warnings, breaches and escalations from a Redis index, until recorded.

It never scans open tickets: the recorder keeps ``{prefix}sla:due`` (alert key →
fire time) equal to what the pure engine schedules. Each pass takes the
alerts due by ``now``, re-checks them against the ticket's current state,
claims each with a short lease (``SET NX EX``) so two monitors never both emit
it at once, and publishes the event (its id derived from the alert key, so
every copy is recorded once). The alert stays in the index, pushed back by
``republish_after_s``, until the recorder has recorded it — so an event the
broker lost (the embedded broker forgets everything on a restart) is simply
published again. People are alerted from what the recorder recorded (the
alert outbox), never from this topic, so a re-publication never alerts twice.

A due alert that cannot be checked (a corrupt ticket, a bug) is dead-lettered
with its reason and dropped from the index; an unavailable Redis or broker
ends the pass, and the next pass tries again.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import datetime

import redis
from kafka.errors import KafkaError

from consumers.sla_engine import SlaBook, alert_event
from consumers.ticket_store import RedisTicketStore
from schemas.sla import SlaEvent

log = logging.getLogger(__name__)

Publish = Callable[[SlaEvent], None]
DeadLetter = Callable[[str, str], None]
"""(alert key, reason): report an alert the monitor cannot handle."""
Infrastructure = (redis.ConnectionError, redis.TimeoutError, KafkaError)


def _log_dead_letter(key: str, reason: str) -> None:
    log.error("cannot handle SLA alert %s: %s", key, reason)


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
        """Emit every alert due by ``now``; return what this monitor emitted."""
        emitted: list[SlaEvent] = []
        due = self.client.zrangebyscore(
            self.store.sla_due_key, "-inf", now.timestamp(), start=0, num=self.batch
        )
        for raw in due:
            key = raw.decode() if isinstance(raw, bytes) else str(raw)
            try:
                event = self._emit_if_due(key, now)
            except Infrastructure:
                raise
            except Exception as exc:  # poison: report it, drop it from the index, go on
                log.exception("SLA alert %s failed", key)
                self.dead_letter(key, f"monitor failed: {type(exc).__name__}: {exc}")
                self.client.zrem(self.store.sla_due_key, key)
                continue
            if event is not None:
                emitted.append(event)
        return emitted

    def _emit_if_due(self, key: str, now: datetime) -> SlaEvent | None:
        record = self.store.get(key.split(":", 1)[0])
        alerts = {a.key: a for a in self.book.schedule(record)} if record is not None else {}
        alert = alerts.get(key)
        if alert is None:  # accepted, resolved, paused or already recorded meanwhile
            self.client.zrem(self.store.sla_due_key, key)
            return None
        if alert.fire_at > now:  # the deadline moved (pause, extension): wait for the new time
            self.client.zadd(self.store.sla_due_key, {key: alert.fire_at.timestamp()})
            return None
        if not self.client.set(self._claim_key(key), self.monitor_id, nx=True, ex=self.lease_s):
            return None  # another monitor is emitting it right now
        event = alert_event(alert, self.book, now)
        self.publish(event)
        # Until the recorder has it (it then leaves the index), look again later: the broker may lose it.
        later = now.timestamp() + self.republish_after_s
        self.client.zadd(self.store.sla_due_key, {key: later}, xx=True)
        log.info("emitted %s for %s (%s)", event.event_type, event.ticket_id, key)
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
