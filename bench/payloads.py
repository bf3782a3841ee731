"""What the bench feeds: realistic submissions (the fault suite's generator) and their routings.

Every ticket is a ``TicketSubmitted`` as the intake publishes it (about 950
bytes of JSON: an enterprise's request in Chinese), keyed by its ticket id.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from producers.publisher import build_submission
from schemas.events import Channel, TicketRouted, TicketSubmitted, now_in_district
from schemas.policy import RoutingPolicy
from streams.routing import LabelModel, route_ticket
from tests.chaos.tickets import ticket_body


def submissions(
    tag: str, count: int, now: datetime | None = None, start: int = 0
) -> Iterator[TicketSubmitted]:
    """``count`` distinct submissions of run ``tag`` (no key enterprises: no seconds-long SLA windows)."""
    moment = now or now_in_district()
    for index in range(start, start + count):
        fields = ticket_body(tag, index, fast_every=0) | {"channel": Channel.web_form.value}
        yield build_submission(fields, moment)


def encoded(submission: TicketSubmitted) -> tuple[bytes, bytes]:
    """(key, value) as the intake publisher writes it to ``tickets.submitted``."""
    return submission.ticket_id.encode(), submission.model_dump_json().encode()


def routed_events(
    tag: str, count: int, policy: RoutingPolicy, model: LabelModel | None, at: datetime | None = None
) -> list[TicketRouted]:
    """The routings the router would publish for ``count`` submissions (submitted and routed ``at``,
    by default now)."""
    now = at or now_in_district()
    return [route_ticket(s, policy, now, model=model) for s in submissions(tag, count, now)]
