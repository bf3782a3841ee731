"""The overdue monitor: emits SLA warnings, breaches and escalations exactly once, from a Redis index.

It never scans open tickets: the recorder keeps ``{prefix}sla:due`` (alert key →
fire time) equal to what the pure engine schedules. Each pass takes the
alerts due by ``now``, re-checks them against the ticket's current state,
claims each with a lease (``SET NX EX``) so two monitors never both emit it,
publishes the event (its id derived from the alert key, so even a re-emission
after a crash is recorded once), then marks the claim done.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import datetime

from consumers.sla_engine import SlaBook, alert_event
from consumers.ticket_store import RedisTicketStore
from schemas.sla import SlaEvent

log = logging.getLogger(__name__)

Publish = Callable[[SlaEvent], None]
DONE = b"done"
DONE_TTL_S = 90 * 24 * 3600


class Monitor:
    def __init__(
        self, store: RedisTicketStore, book: SlaBook, publish: Publish, *, lease_s: int = 30, batch: int = 500
    ) -> None:
        self.store = store
        self.client = store.client
        self.book = book
        self.publish = publish
        self.lease_s = lease_s
        self.batch = batch
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
            event = self._emit_if_due(key, now)
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
        claim = self._claim_key(key)
        if not self.client.set(claim, self.monitor_id, nx=True, ex=self.lease_s):
            if self.client.get(claim) == DONE:
                self.client.zrem(self.store.sla_due_key, key)
            return None
        event = alert_event(alert, self.book, now)
        self.publish(event)
        self.client.set(claim, DONE, ex=DONE_TTL_S)
        self.client.zrem(self.store.sla_due_key, key)
        log.info("emitted %s for %s (%s)", event.event_type, event.ticket_id, key)
        return event

    def run(self, stop: threading.Event, clock: Callable[[], datetime], interval_s: float = 1.0) -> None:
        log.info("monitor %s watching %s", self.monitor_id[:8], self.store.sla_due_key)
        while not stop.is_set():
            self.run_pass(clock())
            stop.wait(interval_s)
