"""Training labels from the office's own dispatches: which recorded tickets a person routed, and where.

The truth is the office's hand: a ticket whose latest routing is a ``TicketDispatched`` (人工派单,
first dispatch from triage or a re-dispatch after a bounce) was routed by a person, and the
category of the department it went to is its label. Everything else is skipped, with the reason
counted: tickets only the router decided (nobody confirmed them), tickets the router routed again
after the office's dispatch, tickets closed as invalid, spam or duplicates, and dispatches whose
department does not name one category (the office itself; a bureau leading several categories
when the router's category is not one of them). Pure: records and the policy in, labels out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from schemas.events import TicketSubmitted
from schemas.policy import Category, DepartmentKind, RoutingPolicy
from schemas.ticket import TicketRecord
from streams.routing_text import model_text

DISPATCHED = "TicketDispatched"
ROUTED = "TicketRouted"

SKIP_REASONS: dict[str, str] = {
    "not_dispatched": "未经人工派单 routed by the router only, never confirmed by the office",
    "rerouted_after_dispatch": "人工派单后又由系统重新派单 the router routed it again after the office",
    "closed": "已作无效、骚扰或重复关闭 closed as invalid, spam or a duplicate",
    "no_category": "派往部门不对应唯一类别 the department it went to names no single category",
}


@dataclass(frozen=True)
class HistoryLabel:
    """One ticket the office routed by hand: the text the model reads and the category it went to."""

    ticket_id: str
    text: str
    category: str
    label: str
    """the model label of ``category`` (its first ``model_labels``, else its code)"""
    submission: TicketSubmitted
    routed_at: datetime


@dataclass
class HistoryLabels:
    labelled: list[HistoryLabel] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)


def categories_led_by(policy: RoutingPolicy, department: str) -> list[Category]:
    """The categories whose lead ``department`` is (for a street office: the street-led ones)."""
    dept = policy.department(department)
    if dept is None:
        return []
    if dept.kind is DepartmentKind.street:
        return [c for c in policy.categories if c.lead_is_street]
    return [c for c in policy.categories if c.lead == department and not c.lead_is_street]


def dispatched_category(record: TicketRecord, policy: RoutingPolicy) -> Category | str:
    """The category the office's latest dispatch gives the ticket, or the reason it gives none."""
    if record.closure is not None:
        return "closed"
    routings = [h for h in record.history if h.event_type in (DISPATCHED, ROUTED)]
    if not any(h.event_type == DISPATCHED for h in routings):
        return "not_dispatched"
    if routings[-1].event_type != DISPATCHED:
        return "rerouted_after_dispatch"
    department = str(routings[-1].details.get("lead_department", record.lead_department))
    led = categories_led_by(policy, department)
    if len(led) == 1:
        return led[0]
    chosen = [c for c in led if c.code == record.category]  # the router's guess, when the office agreed
    return chosen[0] if chosen else "no_category"


def history_labels(records: Iterable[TicketRecord], policy: RoutingPolicy) -> HistoryLabels:
    """Every hand-routed ticket's text and category; the others counted by reason."""
    out = HistoryLabels()
    for record in sorted(records, key=lambda r: (r.routed_at, r.ticket_id)):
        found = dispatched_category(record, policy)
        if isinstance(found, str):
            out.skipped[found] += 1
            continue
        label = found.model_labels[0] if found.model_labels else found.code
        text = model_text(record.submission)
        out.labelled.append(
            HistoryLabel(record.ticket_id, text, found.code, label, record.submission, record.routed_at)
        )
    return out
