"""The office desk's decisions: extensions, a co-department's withdrawal, merging a duplicate,
closing an invalid or spam ticket — transitions in the same table as ``schemas.ticket_state``'s.

A ticket closed unhandled (invalid, spam, or merged as a duplicate) has status ``closed`` and
its ``closure`` says why; ``TicketRecord.excluded_from_rates`` is then true. Merging touches
two tickets: ``TicketMerged`` closes the duplicate, and its companion ``DuplicateMerged``
(``companion_events``) notes it on the ticket kept. The department client checks both before
publishing; the recorder publishes the companion once it recorded the merge.
"""

from __future__ import annotations

from schemas.events import derived_event_id
from schemas.feedback import (
    OFFICE,
    DepartmentAction,
    DuplicateMerged,
    ExtensionApproved,
    ExtensionRejected,
    ExtensionRequested,
    TicketClosedInvalid,
    TicketMerged,
    WithdrawalApproved,
    WithdrawalRefused,
    WithdrawalRequested,
)
from schemas.ticket import OPEN_STATUSES, AssignmentRole, Closure, ClosureKind, ReleaseReason, TicketRecord
from schemas.time_limits import parse_target
from schemas.transitions import (
    WORKING,
    Change,
    closed_unhandled,
    involved_row,
    refuse,
    require_lead,
    require_not_closed,
    require_office,
    require_status,
    transition,
    update_row,
    without,
)

# ---------------------------------------------------------------- extensions


def _may_request_extension(state: TicketRecord, department: str) -> None:
    require_lead(state, department, "request an extension")
    require_status(state, WORKING, "request an extension", "申请延期")
    if state.pending_extension is not None:
        refuse(state, "an extension request is already waiting for the office", "已有延期申请待批")


@transition(ExtensionRequested, guard=_may_request_extension)
def _extension_requested(state: TicketRecord, event: ExtensionRequested) -> Change:
    try:
        parse_target(event.extension)
    except ValueError as exc:
        refuse(state, f"extension {event.extension!r} is not a time limit ({exc})", "延期时长无法识别")
    return Change(
        f"申请延期 {event.extension}：{event.reason}",
        {"pending_extension": event.extension},
        {"extension": event.extension},
    )


def _extension_waiting(state: TicketRecord, department: str, english: str, chinese: str) -> None:
    require_office(state, department, f"{english}s extensions", f"{chinese}延期")
    if state.pending_extension is None:
        refuse(state, "no extension request is waiting", "没有待批的延期申请")
    require_status(state, WORKING, f"{english} an extension", f"{chinese}延期")


def _may_approve_extension(state: TicketRecord, department: str) -> None:
    _extension_waiting(state, department, "approve", "批准")


def _may_reject_extension(state: TicketRecord, department: str) -> None:
    _extension_waiting(state, department, "reject", "驳回")


@transition(ExtensionApproved, guard=_may_approve_extension)
def _extension_approved(state: TicketRecord, event: ExtensionApproved) -> Change:
    note = f"：{event.note}" if event.note else ""
    return Change(
        f"批准延期 {state.pending_extension}{note}",
        {"pending_extension": None},
        {"extension": state.pending_extension},
    )


@transition(ExtensionRejected, guard=_may_reject_extension)
def _extension_rejected(state: TicketRecord, event: ExtensionRejected) -> Change:
    return Change(
        f"不予延期 {state.pending_extension}：{event.reason}（办结期限不变）",
        {"pending_extension": None},
        {"extension": state.pending_extension},
    )


# ---------------------------------------------------------------- a co-department's withdrawal


def _may_request_withdrawal(state: TicketRecord, department: str) -> None:
    require_status(state, OPEN_STATUSES, "request to withdraw", "申请退出协办")
    row = involved_row(state, department)
    if row.role is not AssignmentRole.co:
        refuse(
            state, "only a co-department may ask to withdraw; the lead bounces", "仅协办部门可申请退出协办"
        )
    if not row.active:
        refuse(state, f"{department} has already reported done", f"{department} 已报告协办完成")
    if department in state.pending_withdrawals:
        refuse(state, f"{department} has already asked to withdraw", f"{department} 的退出申请已在等待审批")


@transition(WithdrawalRequested, guard=_may_request_withdrawal)
def _withdrawal_requested(state: TicketRecord, event: WithdrawalRequested) -> Change:
    return Change(
        f"申请退出协办：{event.reason}（待区政府办公室审批）",
        {"pending_withdrawals": (*state.pending_withdrawals, event.department)},
    )


def _withdrawal_waiting(state: TicketRecord, department: str, english: str, chinese: str) -> None:
    require_office(state, department, f"{english}s a withdrawal", f"{chinese}退出协办")
    require_status(state, OPEN_STATUSES, f"{english} a withdrawal", f"{chinese}退出协办")
    if not state.pending_withdrawals:
        refuse(state, "no co-department has asked to withdraw", "没有待审批的退出协办申请")


def _may_approve_withdrawal(state: TicketRecord, department: str) -> None:
    _withdrawal_waiting(state, department, "approve", "同意")


def _may_refuse_withdrawal(state: TicketRecord, department: str) -> None:
    _withdrawal_waiting(state, department, "refuse", "不同意")


def _withdrawing(state: TicketRecord, named: str | None) -> str:
    """The department whose request is decided: the one named, or the only one asking."""
    pending = state.pending_withdrawals
    if named is None and len(pending) > 1:
        refuse(
            state,
            f"several co-departments asked to withdraw ({', '.join(pending)}); name one",
            f"{'、'.join(pending)} 均申请退出协办，请指明部门",
        )
    department = named or pending[0]
    if department not in pending:
        refuse(state, f"{department} has not asked to withdraw", f"{department} 未申请退出协办")
    return department


@transition(WithdrawalApproved, guard=_may_approve_withdrawal)
def _withdrawal_approved(state: TicketRecord, event: WithdrawalApproved) -> Change:
    department = _withdrawing(state, event.withdrawing)
    rows = update_row(
        state.assignments, department, released_at=event.occurred_at, release_reason=ReleaseReason.withdrawn
    )
    note = f"：{event.note}" if event.note else ""
    return Change(
        f"同意 {department} 退出协办{note}",
        {
            "assignments": rows,
            "co_departments": without(state.co_departments, department),
            "pending_withdrawals": without(state.pending_withdrawals, department),
        },
        {"withdrawing": department},
    )


@transition(WithdrawalRefused, guard=_may_refuse_withdrawal)
def _withdrawal_refused(state: TicketRecord, event: WithdrawalRefused) -> Change:
    department = _withdrawing(state, event.withdrawing)
    return Change(
        f"不同意 {department} 退出协办：{event.reason}（继续协办）",
        {"pending_withdrawals": without(state.pending_withdrawals, department)},
        {"withdrawing": department},
    )


# ---------------------------------------------------------------- closing unhandled


def _may_close(state: TicketRecord, department: str) -> None:
    require_office(state, department, "closes a ticket as invalid", "关闭无效工单")
    require_not_closed(state, "close it as invalid", "关闭")


@transition(TicketClosedInvalid, guard=_may_close)
def _closed_invalid(state: TicketRecord, event: TicketClosedInvalid) -> Change:
    closure = Closure(kind=ClosureKind(event.kind.value), reason=event.reason, at=event.occurred_at)
    return Change(
        f"作为{event.kind.label}关闭：{event.reason}（不计入三率）",
        closed_unhandled(state, closure),
        {"kind": event.kind.value},
    )


def _may_merge(state: TicketRecord, department: str) -> None:
    require_office(state, department, "merges duplicates", "合并重复工单")
    require_not_closed(state, "merge it into another ticket", "合并")


@transition(TicketMerged, guard=_may_merge)
def _merged(state: TicketRecord, event: TicketMerged) -> Change:
    if event.into == state.ticket_id:
        refuse(state, "a ticket cannot be merged into itself", "不能合并到本工单自身")
    closure = Closure(
        kind=ClosureKind.duplicate, reason=event.note, merged_into=event.into, at=event.occurred_at
    )
    note = f"：{event.note}" if event.note else ""
    return Change(
        f"重复工单，已合并到 {event.into}{note}（不计入三率）",
        closed_unhandled(state, closure),
        {"into": event.into},
    )


def _may_take_duplicate(state: TicketRecord, department: str) -> None:
    require_office(state, department, "merges duplicates", "合并重复工单")
    closure = state.closure
    if closure is not None and closure.merged_into is not None:
        refuse(
            state,
            f"this ticket was itself merged into {closure.merged_into}; merge into that one",
            f"该工单本身已合并到 {closure.merged_into}，请合并到 {closure.merged_into}",
        )
    if closure is not None:
        refuse(
            state,
            f"this ticket was closed as {closure.kind.value}; keep another one",
            f"该工单已作为{closure.kind.label}关闭，不能作为保留工单",
        )


@transition(DuplicateMerged, guard=_may_take_duplicate)
def _took_duplicate(state: TicketRecord, event: DuplicateMerged) -> Change:
    if event.duplicate == state.ticket_id:
        refuse(state, "a ticket cannot be merged into itself", "不能合并到本工单自身")
    note = f"：{event.note}" if event.note else ""
    return Change(f"重复工单 {event.duplicate} 已并入本工单{note}", details={"duplicate": event.duplicate})


def companion_events(event: DepartmentAction) -> tuple[DepartmentAction, ...]:
    """What recording ``event`` makes the recorder publish for other tickets (ids derived, so a
    redelivery changes nothing): a merge's note on the ticket kept."""
    if isinstance(event, TicketMerged):
        note = DuplicateMerged(
            event_id=derived_event_id("merged", event.event_id),
            ticket_id=event.into,
            occurred_at=event.occurred_at,
            department=OFFICE,
            actor=event.actor,
            duplicate=event.ticket_id,
            note=event.note,
        )
        return (note,)
    return ()
