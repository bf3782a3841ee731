"""Department client: the Python API behind ``ztc accept``, ``ztc bounce`` and friends.

Each action is checked against the ticket's current state with the same pure
``apply`` the recorder uses, so a refused action fails here at once with its
reason and nothing is published; an allowed one is published to
``tickets.feedback`` and, when asked, awaited until the recorder has it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from consumers.ticket_store import TicketStore
from producers.publisher import TicketPublisher
from schemas.feedback import (
    OFFICE,
    BounceReason,
    CoDepartmentDone,
    DepartmentAction,
    ExtensionApproved,
    ExtensionRequested,
    InformationRequested,
    InformationSupplied,
    JointMeetingConvened,
    ProgressNoted,
    RatedBy,
    Rating,
    SatisfactionRated,
    TicketAccepted,
    TicketBounced,
    TicketDispatched,
    TicketReopened,
    TicketResolved,
)
from schemas.ticket import TicketRecord
from schemas.ticket_state import apply
from streams.business_calendar import parse_target

Clock = Callable[[], datetime]


class ActionError(ValueError):
    """An action that cannot be taken (unknown ticket or department); the message says why."""


class DepartmentClient:
    def __init__(
        self,
        store: TicketStore,
        publisher: TicketPublisher,
        feedback_topic: str,
        departments: tuple[str, ...],
        clock: Clock,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.feedback_topic = feedback_topic
        self.departments = departments
        self.clock = clock

    def _known(self, *codes: str) -> None:
        for code in codes:
            if code not in self.departments and code != "enterprise":
                raise ActionError(f"unknown department {code!r}")

    def act(
        self, action: type[DepartmentAction], ticket_id: str, department: str, **fields: Any
    ) -> DepartmentAction:
        """Check the action against the current state (TransitionRefused if not allowed), then publish."""
        self._known(department)
        state = self.store.get(ticket_id)
        if state is None:
            raise ActionError(f"no ticket {ticket_id}")
        event = action(ticket_id=ticket_id, occurred_at=self.clock(), department=department, **fields)
        apply(state, event)
        self.publisher.publish_event(self.feedback_topic, event)
        return event

    def wait_recorded(self, event: DepartmentAction, timeout_s: float = 15.0) -> TicketRecord | None:
        """The ticket once the recorder has applied ``event``; None if it has not within the timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            record = self.store.get(event.ticket_id)
            if record is not None and record.has_applied(event.event_id):
                return record
            time.sleep(0.1)
        return None

    def accept(
        self, ticket_id: str, department: str, actor: str, note: str | None = None
    ) -> DepartmentAction:
        return self.act(TicketAccepted, ticket_id, department, actor=actor, note=note)

    def progress(self, ticket_id: str, department: str, actor: str, note: str) -> DepartmentAction:
        return self.act(ProgressNoted, ticket_id, department, actor=actor, note=note)

    def request_info(self, ticket_id: str, department: str, actor: str, question: str) -> DepartmentAction:
        return self.act(InformationRequested, ticket_id, department, actor=actor, question=question)

    def supply_info(self, ticket_id: str, department: str, actor: str, content: str) -> DepartmentAction:
        return self.act(InformationSupplied, ticket_id, department, actor=actor, content=content)

    def bounce(
        self,
        ticket_id: str,
        department: str,
        actor: str,
        reason: BounceReason,
        note: str,
        suggested_department: str | None = None,
    ) -> DepartmentAction:
        if suggested_department is not None:
            self._known(suggested_department)
        return self.act(
            TicketBounced,
            ticket_id,
            department,
            actor=actor,
            reason=reason,
            note=note,
            suggested_department=suggested_department,
        )

    def co_done(self, ticket_id: str, department: str, actor: str, note: str) -> DepartmentAction:
        return self.act(CoDepartmentDone, ticket_id, department, actor=actor, note=note)

    def resolve(
        self, ticket_id: str, department: str, actor: str, resolution: str, override_reason: str | None = None
    ) -> DepartmentAction:
        return self.act(
            TicketResolved,
            ticket_id,
            department,
            actor=actor,
            resolution=resolution,
            override_reason=override_reason,
        )

    def reopen(self, ticket_id: str, actor: str, reason: str) -> DepartmentAction:
        return self.act(TicketReopened, ticket_id, OFFICE, actor=actor, reason=reason)

    def dispatch(
        self, ticket_id: str, actor: str, lead: str, co: tuple[str, ...] = (), note: str | None = None
    ) -> DepartmentAction:
        self._known(lead, *co)
        return self.act(
            TicketDispatched,
            ticket_id,
            OFFICE,
            actor=actor,
            lead_department=lead,
            co_departments=co,
            note=note,
        )

    def convene(
        self, ticket_id: str, actor: str, departments: tuple[str, ...], note: str
    ) -> DepartmentAction:
        self._known(*departments)
        return self.act(
            JointMeetingConvened, ticket_id, OFFICE, actor=actor, departments=departments, note=note
        )

    def extend(
        self, ticket_id: str, department: str, actor: str, extension: str, reason: str
    ) -> DepartmentAction:
        try:
            parse_target(extension)
        except ValueError as exc:
            raise ActionError(f"extension: {exc}") from None
        return self.act(
            ExtensionRequested, ticket_id, department, actor=actor, extension=extension, reason=reason
        )

    def approve_extension(self, ticket_id: str, actor: str, note: str | None = None) -> DepartmentAction:
        return self.act(ExtensionApproved, ticket_id, OFFICE, actor=actor, note=note)

    def rate(
        self, ticket_id: str, rated_by: RatedBy, actor: str, rating: Rating, comment: str | None = None
    ) -> DepartmentAction:
        return self.act(
            SatisfactionRated,
            ticket_id,
            rated_by.value,
            actor=actor,
            rating=rating,
            comment=comment,
            rated_by=rated_by,
        )
