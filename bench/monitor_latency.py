"""How late the monitor finds a due alert: the real ``Monitor.run`` loop, on a clock that runs in real time.

The due tickets are recorded for real, so their first alert falls at a moment
hours ahead (``moment``). The loop's clock is the wall clock shifted so that
``moment`` comes ``lead_s`` after the loop starts; every duration on it is a
real one. The loop sleeps as ``ztc monitor`` does (until the earliest entry,
at most the interval), passes, and publishes through the real producer; the
publisher stamps each alert when the broker acknowledged it. An alert's
latency is that stamp minus the moment the alert fell due (its ``fire_at``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from consumers.monitor import Monitor
from consumers.sla_publisher import Answer, ProducerPublisher
from schemas.events import DISTRICT_ZONE, Event

LEAD_S = 1.5
"""the loop starts this long before the alerts fall due: one capped sleep, then one until the moment"""


@dataclass
class StampingPublisher:
    """The real publisher; records when (on the shifted clock) each alert was acknowledged."""

    inner: ProducerPublisher
    offset_s: float
    expected: int
    acked: dict[str, float] = field(default_factory=dict)
    """alert key → acknowledged at (epoch seconds on the shifted clock)"""
    done: threading.Event = field(default_factory=threading.Event)

    def publish_event(self, topic: str, event: Event, timeout_s: float = 10.0) -> None:
        self.inner.publish_event(topic, event, timeout_s)
        self._stamp([event], [None])

    def publish_all(self, topic: str, events: Sequence[Event], timeout_s: float = 10.0) -> list[Answer]:
        answers = self.inner.publish_all(topic, events, timeout_s)
        self._stamp(events, answers)
        return answers

    def _stamp(self, events: Sequence[Event], answers: list[Answer]) -> None:
        at = time.time() + self.offset_s
        for event, answer in zip(events, answers, strict=True):
            key = getattr(event, "key", event.event_id)
            if answer is None:
                self.acked.setdefault(key, at)
        if len(self.acked) >= self.expected:
            self.done.set()


def detection_latencies(
    monitor: Monitor, publisher: ProducerPublisher, fire_at: dict[str, float], interval_s: float = 1.0
) -> list[float]:
    """Seconds from each due alert's time to its acknowledgement, by the real loop (``fire_at``: key → due).

    All of ``fire_at`` must fall due at or before the same moment, and nothing else in the schedule
    before it. An alert not found within 60 s counts as ``inf``.
    """
    moment = max(fire_at.values())
    offset = moment - (time.time() + LEAD_S)
    stamping = StampingPublisher(publisher, offset, len(fire_at))
    monitor.publisher = stamping

    def clock() -> datetime:
        return datetime.fromtimestamp(time.time() + offset, DISTRICT_ZONE)

    stop = threading.Event()
    loop = threading.Thread(target=monitor.run, args=(stop, clock, interval_s), daemon=True)
    loop.start()
    try:
        stamping.done.wait(LEAD_S + 60)
    finally:
        stop.set()
        loop.join(timeout=30)
    return [stamping.acked.get(key, float("inf")) - due for key, due in fire_at.items()]
