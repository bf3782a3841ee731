"""The publishing port every side shares: one event to one topic, keyed by its ticket id.

Nothing here talks to Kafka. The producers' ``TicketPublisher`` and
``InMemoryPublisher`` implement it; the monitor publishes through it, so a unit
test can hand it an in-memory one.
"""

from __future__ import annotations

from typing import Protocol

from schemas.events import Event


class Publisher(Protocol):
    """Publishes one event to a topic, keyed by its ticket id; returns once it is durable."""

    def publish_event(self, topic: str, event: Event, timeout_s: float = 10.0) -> None: ...
