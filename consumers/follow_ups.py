"""Pure: what the recorder must publish after it recorded an event.

A lead's bounce asks the router to route again without every department that
bounced the ticket; a manual dispatch or a joint meeting notifies the
departments it brings in; an action that touches another ticket (a merge notes
itself on the ticket kept: ``schemas.ticket_state.companion_events``) has that
ticket's event published to the feedback topic, recorded like any other. Ids
are derived from the causing event, so a redelivered event produces the same
follow-ups and nothing is doubled.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.events import Event, RerouteRequested
from schemas.feedback import DepartmentAction, JointMeetingConvened, TicketBounced, TicketDispatched
from schemas.ticket import TicketRecord, TicketStatus
from schemas.ticket_state import companion_events, reroute_request_id
from schemas.topics import Topics


@dataclass(frozen=True)
class FollowUp:
    topic: str
    event: Event


def follow_ups(event: Event, record: TicketRecord | None, topics: Topics) -> list[FollowUp]:
    if record is None:
        return []
    if isinstance(event, TicketBounced) and record.status is TicketStatus.rerouting:
        request = RerouteRequested(
            event_id=reroute_request_id(event),
            ticket_id=record.ticket_id,
            occurred_at=event.occurred_at,
            submission=record.submission,
            excluded_departments=record.bounced_by,
            reason=f"{event.department} bounced: {event.reason.value}",
            bounce_event_id=event.event_id,
        )
        return [FollowUp(topics.reroute, request)]
    if isinstance(event, TicketDispatched):
        return [FollowUp(topics.department(d), event) for d in (event.lead_department, *event.co_departments)]
    if isinstance(event, JointMeetingConvened):
        return [FollowUp(topics.department(d), event) for d in event.departments]
    if isinstance(event, DepartmentAction):
        return [FollowUp(topics.feedback, companion) for companion in companion_events(event)]
    return []
