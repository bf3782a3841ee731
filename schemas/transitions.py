"""The machinery of the ticket's state machine: the table of transitions, their guards, and the
rules they share (who may act, in which status, on whose assignment row).

A transition is registered with ``@transition(Event, guard=...)``:

- its **guard** ``(state, department) -> None`` refuses (``TransitionRefused``) what no field
  value could make allowed — the wrong department or role, the wrong status. The ticket page
  asks the guards which forms to show (``schemas.ticket_state.refusal``), so it offers exactly
  what the server would not refuse for the ticket's state;
- its **decide** ``(state, event) -> Change`` runs after the guard and may refuse what depends
  on the event's fields (a missing override reason, a time limit it cannot read), or returns
  the ``Change``.

``schemas.ticket_state`` (routing, the departments' work, ``apply``) and
``schemas.office_desk`` (extensions, withdrawals, merging, closing) register into the
same table. Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NoReturn, TypeVar

from schemas.feedback import OFFICE, DepartmentAction
from schemas.ticket import (
    OPEN_STATUSES,
    Assignment,
    Closure,
    ReleaseReason,
    TicketRecord,
    TicketStatus,
)

WORKING = frozenset({TicketStatus.accepted, TicketStatus.in_progress, TicketStatus.awaiting_enterprise})
DISPATCHABLE = frozenset({TicketStatus.triage, TicketStatus.rerouting})


class TransitionRefused(ValueError):
    """An event the ticket's state does not allow; the message is the reason (English / 中文)."""


def refuse(state: TicketRecord, english: str, chinese: str) -> NoReturn:
    raise TransitionRefused(f"{state.ticket_id}: {english} / {chinese}")


@dataclass(frozen=True)
class Change:
    """What one accepted event does: the history line and the record's new field values."""

    summary: str
    updates: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


ActionT = TypeVar("ActionT", bound=DepartmentAction)
Decide = Callable[[TicketRecord, ActionT], Change]
Guard = Callable[[TicketRecord, str], None]
"""``guard(state, department)``: refuses what no field value could make allowed, else returns."""

TRANSITIONS: dict[type[DepartmentAction], Callable[[TicketRecord, Any], Change]] = {}
"""What each department action does to a ticket: one function per event type, registered by
``@transition``; ``apply`` dispatches through this table. A unit test checks every action has one."""
GUARDS: dict[type[DepartmentAction], Guard] = {}
"""The guard of each registered transition, run before it (and alone by ``refusal``)."""


def transition(action: type[ActionT], *, guard: Guard) -> Callable[[Decide[ActionT]], Decide[ActionT]]:
    """Register ``decide`` as the transition for ``action``, ``guard`` as what it checks first."""

    def register(decide: Decide[ActionT]) -> Decide[ActionT]:
        if action in TRANSITIONS:
            raise ValueError(f"{action.__name__} already has a transition")
        TRANSITIONS[action] = decide
        GUARDS[action] = guard
        return decide

    return register


# ---------------------------------------------------------------- shared rules


def require_status(state: TicketRecord, allowed: frozenset[TicketStatus], english: str, chinese: str) -> None:
    if state.status in allowed:
        return
    hint_en, hint_zh = "", ""
    if state.status is TicketStatus.routed and allowed <= WORKING:
        hint_en, hint_zh = "; the lead must accept it first", "，主办部门须先签收"
    elif allowed == {TicketStatus.awaiting_enterprise}:
        hint_en, hint_zh = "; no information was requested", "，未要求企业补充材料"
    refuse(
        state,
        f"cannot {english} while the ticket is {state.status.value}{hint_en}",
        f"工单{state.status_label}，不能{chinese}{hint_zh}",
    )


def require_not_closed(state: TicketRecord, english: str, chinese: str) -> None:
    if state.status is TicketStatus.closed:
        refuse(state, f"cannot {english}: the ticket is closed", f"工单{state.status_label}，不能{chinese}")


def require_lead(state: TicketRecord, department: str, action: str, office_too: bool = False) -> None:
    if department == state.lead_department or (office_too and department == OFFICE):
        return
    who = "the lead or the office" if office_too else "the lead"
    refuse(
        state, f"only {who} may {action}; {department} may not", f"仅主办部门可{action}，{department} 不可"
    )


def require_office(state: TicketRecord, department: str, english: str, chinese: str) -> None:
    if department != OFFICE:
        refuse(state, f"only the office {english}", f"仅区政府办公室可{chinese}")


def involved_row(state: TicketRecord, department: str) -> Assignment:
    row = state.current_assignment(department)
    if row is None:
        refuse(
            state,
            f"{department} is neither lead nor co-department",
            f"{department} 不是本工单的主办或协办部门",
        )
    return row


def in_open_status(state: TicketRecord) -> bool:
    return state.status in OPEN_STATUSES


# ---------------------------------------------------------------- assignment rows


def latest_index(rows: tuple[Assignment, ...], department: str) -> int:
    return max(i for i, row in enumerate(rows) if row.department == department)


def update_row(rows: tuple[Assignment, ...], department: str, **changes: Any) -> tuple[Assignment, ...]:
    i = latest_index(rows, department)
    return (*rows[:i], rows[i].model_copy(update=changes), *rows[i + 1 :])


def without(departments: tuple[str, ...], department: str) -> tuple[str, ...]:
    return tuple(d for d in departments if d != department)


def closed_unhandled(state: TicketRecord, closure: Closure) -> dict[str, Any]:
    """The updates of closing a ticket unhandled: every active row released, nothing left pending."""
    at: datetime = closure.at
    rows = tuple(
        row.model_copy(update={"released_at": at, "release_reason": ReleaseReason.closed})
        if row.active
        else row
        for row in state.assignments
    )
    return {
        "status": TicketStatus.closed,
        "closure": closure,
        "assignments": rows,
        "pending_extension": None,
        "pending_withdrawals": (),
        "reroute_request_id": None,
    }
