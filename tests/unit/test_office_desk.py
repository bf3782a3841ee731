"""The office desk's transitions beyond the one-step tables of test_ticket_state: merging touches two
tickets, a withdrawal releases a co-department, closing unhandled marks the ticket for the rates,
and ``refusal`` (the guards) says what the pages may offer."""

from __future__ import annotations

import pytest

from schemas.feedback import (
    FEEDBACK_EVENT_TYPES,
    CoDepartmentDone,
    DepartmentAction,
    DuplicateMerged,
    ExtensionApproved,
    ExtensionRejected,
    InformationSupplied,
    SatisfactionRated,
    TicketAccepted,
    TicketClosedInvalid,
    TicketMerged,
    TicketResolved,
    WithdrawalApproved,
    WithdrawalRefused,
    WithdrawalRequested,
)
from schemas.ticket import ClosureKind, InboxBucket, ReleaseReason, TicketStatus
from schemas.ticket_state import TransitionRefused, apply, companion_events, inbox_buckets, refusal
from tests.unit.test_ticket_state import (
    ACCEPTED,
    EXTENDING,
    KEPT,
    RESOLVED,
    TICKET,
    WITHDRAWING,
    WORKING,
    Step,
    act,
    later,
    routed,
    ticket,
)


def test_a_merge_closes_the_duplicate_pointing_at_the_kept_ticket_which_notes_it() -> None:
    duplicate = ticket(*WORKING)
    kept = apply(None, routed(ticket_id=KEPT))
    merge = act(TicketMerged, "office", later(duplicate), into=KEPT.lower(), note="同一项目同一诉求")
    assert isinstance(merge, TicketMerged)
    closed = apply(duplicate, merge)
    assert closed.status is TicketStatus.closed and closed.excluded_from_rates
    assert closed.closure is not None and closed.closure.kind is ClosureKind.duplicate
    assert closed.closure.merged_into == KEPT and closed.closure.reason == "同一项目同一诉求"
    assert closed.history[-1].summary.startswith(f"重复工单，已合并到 {KEPT}")
    assert inbox_buckets(closed) == {} and all(not row.active for row in closed.assignments)
    assert {row.release_reason for row in closed.assignments} == {ReleaseReason.closed}

    [note] = companion_events(merge)
    assert isinstance(note, DuplicateMerged) and (note.ticket_id, note.duplicate) == (KEPT, TICKET)
    assert companion_events(merge) == (note,)  # derived id: a redelivered merge notes it once
    assert (note.department, note.actor) == ("office", merge.actor)
    noted = apply(kept, note)
    assert noted.status is TicketStatus.routed and not noted.excluded_from_rates
    assert noted.merged_duplicates == (TICKET,)
    assert noted.history[-1].summary.startswith(f"重复工单 {TICKET} 已并入本工单")
    assert apply(noted, note) is noted
    accepted = act(TicketAccepted, "approval", later(kept))
    assert isinstance(accepted, TicketAccepted) and companion_events(accepted) == ()


def test_closing_as_spam_keeps_the_reason_and_ends_every_clock() -> None:
    before = ticket(*EXTENDING, (WithdrawalRequested, "planning", {}))
    after = apply(before, act(TicketClosedInvalid, "office", later(before), reason="推销广告"))
    assert after.closure is not None and (after.closure.kind, after.closure.reason) == (
        ClosureKind.spam,
        "推销广告",
    )
    assert (after.pending_extension, after.pending_withdrawals) == (None, ())
    assert after.history[-1].summary == "作为骚扰或垃圾信息关闭：推销广告（不计入三率）"
    assert not ticket(*RESOLVED).excluded_from_rates


def test_an_approved_withdrawal_releases_the_co_department_and_the_lead_resolves_alone() -> None:
    before = ticket(*WITHDRAWING)
    assert inbox_buckets(before) == {"approval": InboxBucket.in_progress, "planning": InboxBucket.new}
    after = apply(before, act(WithdrawalApproved, "office", later(before)))
    assert after.co_departments == () and after.pending_withdrawals == ()
    row = after.assignments[-1]
    assert (row.department, row.release_reason) == ("planning", ReleaseReason.withdrawn)
    assert inbox_buckets(after) == {"approval": InboxBucket.in_progress}
    resolved = apply(after, act(TicketResolved, "approval", later(after)))  # no override needed
    assert resolved.status is TicketStatus.resolved


def test_a_refused_withdrawal_keeps_the_co_department() -> None:
    before = ticket(*WITHDRAWING)
    after = apply(before, act(WithdrawalRefused, "office", later(before)))
    assert after.co_departments == ("planning",) and after.pending_withdrawals == ()
    assert after.history[-1].summary == "不同意 planning 退出协办：仍需出具意见（继续协办）"
    again = apply(after, act(WithdrawalRequested, "planning", later(after)))  # it may ask again
    assert again.pending_withdrawals == ("planning",)


def test_with_two_co_departments_asking_the_office_names_one() -> None:
    both = ticket(
        (TicketAccepted, "approval", {}),
        (WithdrawalRequested, "planning", {}),
        (WithdrawalRequested, "market", {}),
        start=routed(co=("planning", "market")),
    )
    with pytest.raises(TransitionRefused, match="请指明部门"):
        apply(both, act(WithdrawalApproved, "office", later(both)))
    after = apply(both, act(WithdrawalApproved, "office", later(both), withdrawing="market"))
    assert after.co_departments == ("planning",) and after.pending_withdrawals == ("planning",)


def test_a_co_department_done_or_resolved_over_leaves_no_request_behind() -> None:
    done = ticket(*WITHDRAWING, (CoDepartmentDone, "planning", {}))
    assert done.pending_withdrawals == ()
    resolved = ticket(
        *EXTENDING,
        (WithdrawalRequested, "planning", {}),
        (TicketResolved, "approval", {"override_reason": "急"}),
    )
    assert (resolved.pending_withdrawals, resolved.pending_extension) == ((), None)


def test_a_rejected_extension_leaves_the_deadline_and_the_lead_may_ask_again() -> None:
    before = ticket(*EXTENDING)
    after = apply(before, act(ExtensionRejected, "office", later(before)))
    assert after.pending_extension is None and after.sla == before.sla
    assert after.history[-1].summary == "不予延期 5 working days：期限内可办结（办结期限不变）"
    with pytest.raises(TransitionRefused, match="没有待批的延期申请"):
        apply(after, act(ExtensionApproved, "office", later(after)))


# ---------------------------------------------------------------- refusal: the guards alone


def test_refusal_is_what_no_field_could_change() -> None:
    accepted = ticket(*ACCEPTED)  # planning (co) not done yet
    assert refusal(accepted, TicketResolved, "approval") is None  # an override reason would do
    with pytest.raises(TransitionRefused, match="尚未完成"):
        apply(accepted, act(TicketResolved, "approval", later(accepted)))
    routed_only = ticket()
    refused = refusal(routed_only, TicketResolved, "approval")
    assert refused is not None and "工单待签收，不能办结，主办部门须先签收" in str(refused)
    assert refusal(routed_only, InformationSupplied, "enterprise") is not None
    assert refusal(ticket(*RESOLVED), SatisfactionRated, "enterprise") is None
    assert refusal(ticket(*RESOLVED), SatisfactionRated, "approval") is not None


@pytest.mark.parametrize("cls", FEEDBACK_EVENT_TYPES, ids=lambda c: c.event_type)
@pytest.mark.parametrize("setup", [(), WORKING, WITHDRAWING, EXTENDING, RESOLVED], ids=str)
@pytest.mark.parametrize("department", ["office", "approval", "planning", "enterprise"])
def test_an_event_the_guard_refuses_is_refused_by_apply_for_the_same_reason(
    cls: type[DepartmentAction], setup: tuple[Step, ...], department: str
) -> None:
    before = ticket(*setup)
    if cls is SatisfactionRated and department not in ("office", "enterprise"):
        return
    refused = refusal(before, cls, department)
    if refused is None:
        return
    with pytest.raises(TransitionRefused) as caught:
        apply(before, act(cls, department, later(before)))
    assert str(caught.value) == str(refused) and " / " in str(refused)
