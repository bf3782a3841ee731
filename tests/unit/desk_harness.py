"""In-memory stand-ins for the office desk's HTTP tests: a publisher that records at once and, like
the recorder, publishes the follow-ups that go back to the feedback topic (a merge's note)."""

from __future__ import annotations

from consumers.follow_ups import follow_ups
from consumers.recording import RecordStatus
from consumers.ticket_store import InMemoryTicketStore
from producers.publisher import InMemoryPublisher
from schemas.events import Event, Priority, TicketRouted
from schemas.topics import Topics
from tests.unit.factories import NOW, submission

TOPICS = Topics()
FEEDBACK = TOPICS.feedback


class RecordingDesk(InMemoryPublisher):
    """Publishes, records at once, and publishes what the recorder would send to the feedback topic."""

    def __init__(self, store: InMemoryTicketStore) -> None:
        super().__init__()
        self.store = store
        self.refused: list[str] = []

    def publish_event(self, topic: str, event: Event, timeout_s: float = 10.0) -> None:
        super().publish_event(topic, event, timeout_s)
        outcome = self.store.record(event)
        if outcome.status is RecordStatus.refused:
            self.refused.append(outcome.reason)
            return
        for follow_up in follow_ups(event, outcome.record, TOPICS):
            if follow_up.topic == FEEDBACK:
                self.publish_event(follow_up.topic, follow_up.event)


def route(
    store: InMemoryTicketStore,
    ticket_id: str,
    lead: str = "approval",
    co: tuple[str, ...] = ("construction",),
) -> None:
    """A ticket routed to ``lead`` (``office``: in manual triage) with ``co``."""
    triage = lead == "office"
    store.record(
        TicketRouted(
            ticket_id=ticket_id,
            occurred_at=NOW,
            submission=submission(ticket_id=ticket_id, channel_message_id=ticket_id),
            category="admin_licence",
            confidence=0.2 if triage else 0.9,
            lead_department=lead,
            co_departments=() if triage else co,
            priority=Priority.normal,
            manual_triage=triage,
            policy_version="t",
        )
    )
