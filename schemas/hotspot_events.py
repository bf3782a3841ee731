"""Hot spots as events: what the hot-spot worker reads from the topics and what it reports. Pure.

``request_of(routed, policy)`` turns a ``TicketRouted`` into the grouping's
``HotspotRequest`` (street: the street office routing involved, else the street the
enterprise named); ``signal_after(signals, event)`` folds a bounce, a rating, an SLA
breach or a merge into a ticket's ``TicketSignals``; ``detected(group, ...)`` is the
``HotSpotDetected`` event of a hot group, with the suggestion: merge the repeats of
one enterprise (the office confirms with 合并重复工单, ``TicketMerged``) or convene a
joint meeting (联合会商). Its ``event_id`` derives from the hot spot, so a worker
that reports it again after a restart sends the very same event.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from schemas.events import Event, EventTime, Identifier, TicketRouted, derived_event_id
from schemas.feedback import Rating, SatisfactionRated, TicketBounced, TicketMerged, parse_feedback
from schemas.hotspots import (
    Heat,
    HotspotGroup,
    HotspotRequest,
    TicketSignals,
    heat,
    repeats,
    suggests_meeting,
)
from schemas.policy import DepartmentKind, RoutingPolicy
from schemas.sla import SLA_EVENT_ADAPTER, SlaBreached, SlaEscalated, SlaEvent, SlaWarning

UNKNOWN_STREET = "未指明街道"
NO_ENTERPRISE = "未填写企业"

Suggestion = Literal["merge", "joint_meeting"]
SUGGESTION_TEXT: dict[str, str] = {
    "merge": "合并重复诉求，由一个部门统一答复（并案办理）",
    "joint_meeting": "召开联合会商，牵头部门与相关部门、属地街道一并研究解决",
}


class HotspotTicket(BaseModel):
    """One ticket of a hot spot, as the office reads it in the list."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ticket_id: Identifier
    enterprise: str
    title: str
    at: EventTime


class MergeSuggestion(BaseModel):
    """A repeat of one enterprise's request: merge ``duplicate`` into ``into`` (the office confirms)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    duplicate: Identifier
    into: Identifier


class HotSpotDetected(Event):
    """热点预警: near-duplicate requests of several enterprises in one street crossed the threshold.

    ``ticket_id`` is the group's first ticket; ``tickets`` every ticket of the group when it
    was detected. Reported once per hot spot (``hotspot_id``); the office's list shows the
    group as it grows afterwards.
    """

    event_type: ClassVar[str] = "HotSpotDetected"
    label: ClassVar[str] = "热点预警"
    type: Literal["HotSpotDetected"] = "HotSpotDetected"

    hotspot_id: Identifier = Field(min_length=1, max_length=64)
    street: Identifier
    street_name: str
    category: Identifier
    tickets: tuple[HotspotTicket, ...] = Field(min_length=1)
    ticket_count: int = Field(
        default=0, ge=0, description="every request of the group; ``tickets`` lists the first and latest"
    )
    enterprise_count: int = Field(ge=1)
    heat: float
    heat_enterprises: float = Field(description="the decayed sum over distinct enterprises")
    departments: tuple[Identifier, ...] = ()
    overdue: int = 0
    bounced: int = 0
    unsatisfied: int = 0
    suggestion: Suggestion
    suggestion_text: str
    merge_suggestions: tuple[MergeSuggestion, ...] = ()
    first_at: EventTime
    last_at: EventTime
    detected_at: EventTime


@dataclass(frozen=True)
class HotspotKeys:
    """Redis keys of one installation's hot spots (``streams.hotspot_store`` writes them, the dashboard reads
    ``view`` and ``index``)."""

    prefix: str

    def street(self, street: str) -> str:
        return f"{self.prefix}hotspots:street:{street}"

    def ticket(self, ticket_id: str) -> str:
        return f"{self.prefix}hotspots:ticket:{ticket_id}"

    def signals(self, ticket_id: str) -> str:
        return f"{self.prefix}hotspots:signals:{ticket_id}"

    @property
    def view(self) -> str:
        return f"{self.prefix}hotspots:view"

    @property
    def index(self) -> str:
        return f"{self.prefix}hotspots:index"

    @property
    def pending(self) -> str:
        return f"{self.prefix}hotspots:pending"


def street_of(routed: TicketRouted, policy: RoutingPolicy) -> tuple[str, str]:
    """(code, name) of the ticket's street: the street office routing involved, else what it named."""
    for code in routed.departments:
        department = policy.department(code)
        if department is not None and department.kind == DepartmentKind.street:
            return department.code, department.name
    named = routed.submission.street
    return (named, named) if named else (UNKNOWN_STREET, UNKNOWN_STREET)


def street_words(street: str, policy: RoutingPolicy) -> tuple[str, ...]:
    """The names of a street every request of it may say (cut out before comparing)."""
    department = policy.department(street)
    if department is None:
        return (street,)
    return (department.name, *department.street_names)


def request_of(routed: TicketRouted, policy: RoutingPolicy) -> HotspotRequest:
    """The grouping's view of a routed ticket; its text only trimmed to ``max_text_chars``."""
    submission = routed.submission
    limit = policy.hotspots.max_text_chars
    enterprise = submission.credit_code or submission.enterprise_name or f"{NO_ENTERPRISE}:{routed.ticket_id}"
    return HotspotRequest(
        ticket_id=routed.ticket_id,
        enterprise=enterprise,
        enterprise_name=submission.enterprise_name or NO_ENTERPRISE,
        street=street_of(routed, policy)[0],
        category=routed.category,
        title=submission.title[:60],
        text=submission.text[:limit],
        at=submission.submitted_at,
        departments=routed.departments,
    )


SignalEvent = SlaBreached | SlaEscalated | TicketBounced | SatisfactionRated | TicketMerged


def signal_after(signals: TicketSignals | None, event: SignalEvent) -> TicketSignals:
    """A ticket's signals after ``event`` (idempotent: the same event twice changes nothing more)."""
    current = signals or TicketSignals()
    if isinstance(event, SlaBreached | SlaEscalated):
        return current.model_copy(update={"overdue": True})
    if isinstance(event, TicketBounced):
        return current.model_copy(update={"bounces": current.bounces | {event.event_id}})
    if isinstance(event, SatisfactionRated):
        return current.model_copy(update={"unsatisfied": event.rating is Rating.unsatisfied})
    return current.model_copy(update={"merged_into": event.into})


FEEDBACK_SIGNALS = frozenset({"TicketBounced", "SatisfactionRated", "TicketMerged"})
SLA_SIGNALS = frozenset({"SlaBreached", "SlaEscalated"})


def parse_signal(raw: bytes, sla: bool) -> SignalEvent | None:
    """The signal in a feedback (``sla`` False) or SLA message; None: a kind heat ignores.

    ValueError (pydantic's ValidationError is one) when the message cannot be read.
    """
    if not raw:
        raise ValueError("empty message")
    try:
        kind = json.loads(raw).get("type")
    except (ValueError, AttributeError) as exc:
        raise ValueError(f"not a JSON object: {exc}") from None
    if kind not in (SLA_SIGNALS if sla else FEEDBACK_SIGNALS):
        if sla and kind != "SlaWarning":
            SLA_EVENT_ADAPTER.validate_json(raw)  # an unknown kind: say what is wrong with it
        return None
    event = SLA_EVENT_ADAPTER.validate_json(raw) if sla else parse_feedback(raw)
    if isinstance(event, SlaWarning) or not isinstance(event, SignalEvent):
        return None
    return event


def hotspot_id(group: HotspotGroup) -> str:
    return f"HS-{group.group_id}"


def detected(
    group: HotspotGroup,
    policy: RoutingPolicy,
    now: datetime,
    signals: Mapping[str, TicketSignals] | None = None,
) -> HotSpotDetected:
    """The report of a hot group as it stands at ``now`` (the office's list refreshes it as it grows)."""
    known = signals or {}
    value: Heat = heat(group, policy.hotspots, now, known)
    merges = tuple(MergeSuggestion(duplicate=d, into=i) for d, i in repeats(group, known))
    suggestion: Suggestion = "joint_meeting" if suggests_meeting(value, policy.hotspots) else "merge"
    department = policy.department(group.street)
    ident = hotspot_id(group)
    return HotSpotDetected(
        event_id=derived_event_id("hotspot", ident),
        ticket_id=group.group_id,
        occurred_at=group.detected_at or now,
        hotspot_id=ident,
        street=group.street,
        street_name=department.name if department is not None else group.street,
        category=group.category,
        tickets=tuple(_ticket(r) for r in group.requests),
        ticket_count=group.size,
        enterprise_count=value.enterprise_count,
        heat=value.total,
        heat_enterprises=value.enterprises,
        departments=value.departments,
        overdue=value.overdue,
        bounced=value.bounced,
        unsatisfied=value.unsatisfied,
        suggestion=suggestion,
        suggestion_text=SUGGESTION_TEXT[suggestion],
        merge_suggestions=merges,
        first_at=group.requests[0].at,
        last_at=group.last_at,
        detected_at=group.detected_at or now,
    )


def _ticket(request: HotspotRequest) -> HotspotTicket:
    shown = request.enterprise_name or request.enterprise
    return HotspotTicket(ticket_id=request.ticket_id, enterprise=shown, title=request.title, at=request.at)


AlertEvent = SlaEvent | HotSpotDetected
"""What the alert outbox carries: the recorder's SLA events and the hot-spot worker's reports."""
ALERT_EVENT_ADAPTER: TypeAdapter[SlaWarning | SlaBreached | SlaEscalated | HotSpotDetected] = TypeAdapter(
    Annotated[SlaWarning | SlaBreached | SlaEscalated | HotSpotDetected, Field(discriminator="type")],
    config=ConfigDict(defer_build=True),
)
