"""Unit and property tests for the ticket state machine and the feedback event family."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.ticket_store import InMemoryTicketStore, RecordStatus
from schemas.events import DISTRICT_ZONE, Channel, Event, Priority, TicketRouted, TicketSubmitted
from schemas.feedback import (
    FEEDBACK_EVENT_TYPES,
    FEEDBACK_LABELS,
    BounceReason,
    CoDepartmentDone,
    DepartmentAction,
    DuplicateMerged,
    ExtensionApproved,
    ExtensionRejected,
    ExtensionRequested,
    InformationRequested,
    InformationSupplied,
    InvalidKind,
    JointMeetingConvened,
    ProgressNoted,
    Rating,
    SatisfactionRated,
    TicketAccepted,
    TicketBounced,
    TicketClosedInvalid,
    TicketDispatched,
    TicketMerged,
    TicketReopened,
    TicketResolved,
    WithdrawalApproved,
    WithdrawalRefused,
    WithdrawalRequested,
    parse_feedback,
)
from schemas.ticket import AssignmentRole, InboxBucket, ReleaseReason, TicketRecord, TicketStatus
from schemas.ticket_state import TRANSITIONS, Change, TransitionRefused, apply, inbox_buckets, transition

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=DISTRICT_ZONE)
TICKET = "ZTC-20261102-0000ABCD"
KEPT = "ZTC-20261102-0000FFFF"
DUPLICATE = "ZTC-20261102-0000EEEE"
FAST = settings(max_examples=100, deadline=None)


# ---------------------------------------------------------------- factories


class Clock:
    """Hands out strictly increasing event times, one minute apart."""

    def __init__(self) -> None:
        self.minutes = 0

    def __call__(self) -> datetime:
        self.minutes += 1
        return T0 + timedelta(minutes=self.minutes)


def submitted(ticket_id: str = TICKET) -> TicketSubmitted:
    return TicketSubmitted(
        ticket_id=ticket_id,
        occurred_at=T0,
        channel=Channel.wechat_group,
        channel_message_id="msg-1",
        enterprise_name="康杰药业",
        title="土石方施工许可证办理",
        text="项目土石方施工许可证需要市级审批，材料不清楚，请协助。",
        submitted_at=T0,
    )


def routed(
    lead: str = "approval",
    co: tuple[str, ...] = ("planning",),
    *,
    manual: bool = False,
    at: datetime = T0,
    ticket_id: str = TICKET,
    answering: TicketRecord | None = None,
) -> TicketRouted:
    """A routing; ``answering``: a ticket awaiting re-routing whose request this decision answers."""
    return TicketRouted(
        reroute_request_id=answering.reroute_request_id if answering is not None else None,
        ticket_id=ticket_id,
        occurred_at=at,
        submission=submitted(ticket_id),
        category="construction_permit",
        confidence=0.3 if manual else 0.9,
        lead_department="office" if manual else lead,
        co_departments=() if manual else co,
        priority=Priority.high,
        manual_triage=manual,
        policy_version="test-1",
    )


CONTENT: dict[type[DepartmentAction], dict[str, Any]] = {
    ProgressNoted: {"note": "已联系企业"},
    InformationRequested: {"question": "请补充土地证明"},
    InformationSupplied: {"content": "已上传土地证明"},
    TicketBounced: {"reason": BounceReason.not_our_remit, "note": "属规划事项"},
    CoDepartmentDone: {"note": "规划意见已出具"},
    TicketResolved: {"resolution": "许可证已办结"},
    TicketReopened: {"reason": "企业反映仍未解决"},
    TicketDispatched: {"lead_department": "construction"},
    JointMeetingConvened: {"departments": ("market",), "note": "周三联席会议"},
    SatisfactionRated: {"rating": Rating.satisfied},
    ExtensionRequested: {"extension": "5 working days", "reason": "需第三方检测报告"},
    ExtensionRejected: {"reason": "期限内可办结"},
    TicketMerged: {"into": KEPT},
    DuplicateMerged: {"duplicate": DUPLICATE},
    TicketClosedInvalid: {"kind": InvalidKind.spam, "reason": "广告信息"},
    WithdrawalRequested: {"reason": "本部门已无职责"},
    WithdrawalRefused: {"reason": "仍需出具意见"},
}


def act(cls: type[DepartmentAction], department: str, at: datetime, **fields: Any) -> Event:
    """A feedback event with sensible content for its kind; ``fields`` override."""
    content = CONTENT.get(cls, {}) | ({"rated_by": department} if cls is SatisfactionRated else {})
    return cls(ticket_id=TICKET, occurred_at=at, department=department, actor="张科长", **(content | fields))


def run(*events: Event) -> TicketRecord:
    state: TicketRecord | None = None
    for event in events:
        state = apply(state, event)
    assert state is not None
    return state


def ticket(
    *steps: tuple[type[DepartmentAction], str, dict[str, Any]], start: TicketRouted | None = None
) -> TicketRecord:
    clock = Clock()
    return run(start or routed(), *(act(cls, dept, clock(), **fields) for cls, dept, fields in steps))


def later(state: TicketRecord) -> datetime:
    return state.updated_at + timedelta(minutes=5)


Step = tuple[type[DepartmentAction], str, dict[str, Any]]
ACCEPTED: tuple[Step, ...] = ((TicketAccepted, "approval", {}),)
WORKING: tuple[Step, ...] = (*ACCEPTED, (ProgressNoted, "approval", {}))
AWAITING: tuple[Step, ...] = (*ACCEPTED, (InformationRequested, "approval", {}))
CO_DONE: tuple[Step, ...] = (*ACCEPTED, (CoDepartmentDone, "planning", {}))
RESOLVED: tuple[Step, ...] = (*CO_DONE, (TicketResolved, "approval", {}))
CLOSED: tuple[Step, ...] = (*RESOLVED, (SatisfactionRated, "enterprise", {}))
BOUNCED: tuple[Step, ...] = ((TicketBounced, "approval", {}),)
EXTENDING: tuple[Step, ...] = (*WORKING, (ExtensionRequested, "approval", {}))
WITHDRAWING: tuple[Step, ...] = (*WORKING, (WithdrawalRequested, "planning", {}))
INVALID: tuple[Step, ...] = (*WORKING, (TicketClosedInvalid, "office", {}))
MERGED: tuple[Step, ...] = (*WORKING, (TicketMerged, "office", {}))


# ---------------------------------------------------------------- schema


def test_every_kind_has_a_chinese_label() -> None:
    assert set(FEEDBACK_LABELS) == {cls.event_type for cls in FEEDBACK_EVENT_TYPES}
    assert FEEDBACK_LABELS["TicketBounced"] == "退单"
    assert all(label and label.isascii() is False for label in FEEDBACK_LABELS.values())


@pytest.mark.parametrize("cls", FEEDBACK_EVENT_TYPES, ids=lambda c: c.event_type)
def test_parse_feedback_round_trips_every_kind(cls: type[DepartmentAction]) -> None:
    department = "enterprise" if cls is SatisfactionRated else "office"
    event = act(cls, department, T0)
    assert parse_feedback(event.model_dump_json()) == event
    assert parse_feedback(event.model_dump_json().encode()) == event


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("", "empty message"),
        ("{not json", "Invalid JSON"),
        ('{"type": "TicketVanished"}', "does not match any of the expected tags"),
        (
            act(SatisfactionRated, "office", T0)
            .model_dump_json()
            .replace('"rated_by":"office"', '"rated_by":"x"'),
            "SatisfactionRated.rated_by",
        ),
        (
            act(SatisfactionRated, "office", T0)
            .model_dump_json()
            .replace('"department":"office"', '"department":"approval"'),
            "department must be 'office'",
        ),
        (
            act(TicketBounced, "approval", T0).model_dump_json().replace("not_our_remit", "lazy"),
            "TicketBounced.reason",
        ),
        (
            act(TicketDispatched, "office", T0)
            .model_dump_json()
            .replace('"co_departments":[]', '"co_departments":["construction"]'),
            "lead_department must not also be a co-department",
        ),
        (
            act(ProgressNoted, "approval", T0).model_dump_json().replace("+08:00", ""),
            "occurred_at",
        ),
    ],
)
def test_parse_feedback_rejects_with_a_readable_reason(raw: str, fragment: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_feedback(raw)
    assert fragment in str(caught.value)


def test_feedback_text_is_kept_as_written_trimmed_and_bounded() -> None:
    event = act(ProgressNoted, "approval", T0, note="  已受理１２件，（待复核）  ")
    assert isinstance(event, ProgressNoted) and event.note == "已受理１２件，（待复核）"
    with pytest.raises(ValueError):
        act(ProgressNoted, "approval", T0, note="   ")


# ---------------------------------------------------------------- allowed transitions

ALLOWED: list[
    tuple[str, tuple[Any, ...], tuple[type[DepartmentAction], str, dict[str, Any]], TicketStatus]
] = [
    ("lead accepts", (), (TicketAccepted, "approval", {}), TicketStatus.accepted),
    ("co accepts its part", (), (TicketAccepted, "planning", {}), TicketStatus.routed),
    ("lead notes progress", ACCEPTED, (ProgressNoted, "approval", {}), TicketStatus.in_progress),
    ("progress while awaiting", AWAITING, (ProgressNoted, "approval", {}), TicketStatus.awaiting_enterprise),
    (
        "lead requests info",
        ACCEPTED,
        (InformationRequested, "approval", {}),
        TicketStatus.awaiting_enterprise,
    ),
    ("office requests info", WORKING, (InformationRequested, "office", {}), TicketStatus.awaiting_enterprise),
    ("second question", AWAITING, (InformationRequested, "approval", {}), TicketStatus.awaiting_enterprise),
    ("enterprise supplies", AWAITING, (InformationSupplied, "enterprise", {}), TicketStatus.in_progress),
    ("office supplies for it", AWAITING, (InformationSupplied, "office", {}), TicketStatus.in_progress),
    ("lead logs receipt", AWAITING, (InformationSupplied, "approval", {}), TicketStatus.in_progress),
    ("lead bounces unaccepted", (), (TicketBounced, "approval", {}), TicketStatus.rerouting),
    ("lead bounces while working", WORKING, (TicketBounced, "approval", {}), TicketStatus.rerouting),
    ("co bounces", WORKING, (TicketBounced, "planning", {}), TicketStatus.in_progress),
    ("co done before lead accepts", (), (CoDepartmentDone, "planning", {}), TicketStatus.routed),
    ("co done", WORKING, (CoDepartmentDone, "planning", {}), TicketStatus.in_progress),
    ("resolve after co done", CO_DONE, (TicketResolved, "approval", {}), TicketStatus.resolved),
    (
        "resolve with override",
        ACCEPTED,
        (TicketResolved, "approval", {"override_reason": "规划意见另行出具"}),
        TicketStatus.resolved,
    ),
    (
        "resolve while awaiting",
        (*CO_DONE, (InformationRequested, "approval", {})),
        (TicketResolved, "approval", {}),
        TicketStatus.resolved,
    ),
    ("enterprise satisfied", RESOLVED, (SatisfactionRated, "enterprise", {}), TicketStatus.closed),
    (
        "basically satisfied",
        RESOLVED,
        (SatisfactionRated, "enterprise", {"rating": Rating.basically_satisfied}),
        TicketStatus.closed,
    ),
    ("office rates for it", RESOLVED, (SatisfactionRated, "office", {}), TicketStatus.closed),
    (
        "unsatisfied reopens",
        RESOLVED,
        (SatisfactionRated, "enterprise", {"rating": Rating.unsatisfied}),
        TicketStatus.in_progress,
    ),
    ("office reopens resolved", RESOLVED, (TicketReopened, "office", {}), TicketStatus.in_progress),
    ("office reopens closed", CLOSED, (TicketReopened, "office", {}), TicketStatus.in_progress),
    ("office dispatches bounced", BOUNCED, (TicketDispatched, "office", {}), TicketStatus.routed),
    ("office convenes", WORKING, (JointMeetingConvened, "office", {}), TicketStatus.in_progress),
    ("lead convenes", ACCEPTED, (JointMeetingConvened, "approval", {}), TicketStatus.accepted),
    ("convene before accept", (), (JointMeetingConvened, "office", {}), TicketStatus.routed),
    ("office rejects an extension", EXTENDING, (ExtensionRejected, "office", {}), TicketStatus.in_progress),
    ("co asks to withdraw", WORKING, (WithdrawalRequested, "planning", {}), TicketStatus.in_progress),
    ("co asks before accepting", (), (WithdrawalRequested, "planning", {}), TicketStatus.routed),
    ("office lets it go", WITHDRAWING, (WithdrawalApproved, "office", {}), TicketStatus.in_progress),
    ("office keeps it", WITHDRAWING, (WithdrawalRefused, "office", {}), TicketStatus.in_progress),
    ("office closes spam", WORKING, (TicketClosedInvalid, "office", {}), TicketStatus.closed),
    ("office closes resolved", RESOLVED, (TicketClosedInvalid, "office", {}), TicketStatus.closed),
    ("office closes rerouting", BOUNCED, (TicketClosedInvalid, "office", {}), TicketStatus.closed),
    ("office merges a duplicate", (), (TicketMerged, "office", {}), TicketStatus.closed),
    ("the kept ticket notes it", WORKING, (DuplicateMerged, "office", {}), TicketStatus.in_progress),
    ("a closed ticket is kept", CLOSED, (DuplicateMerged, "office", {}), TicketStatus.closed),
]


@pytest.mark.parametrize(
    ("setup", "step", "status"), [row[1:] for row in ALLOWED], ids=[row[0] for row in ALLOWED]
)
def test_allowed_transition(
    setup: tuple[Any, ...], step: tuple[type[DepartmentAction], str, dict[str, Any]], status: TicketStatus
) -> None:
    before = ticket(*setup)
    cls, department, fields = step
    event = act(cls, department, later(before), **fields)
    after = apply(before, event)
    assert after.status is status
    assert after.history == (*before.history, after.history[-1])
    assert after.history[-1].event_id == event.event_id
    assert after.history[-1].department == department
    assert after.updated_at == event.occurred_at


# ---------------------------------------------------------------- refused transitions

REFUSED: list[tuple[str, tuple[Any, ...], tuple[type[DepartmentAction], str, dict[str, Any]], str]] = [
    ("outsider accepts", (), (TicketAccepted, "market", {}), "neither lead nor co-department"),
    ("office accepts for lead", (), (TicketAccepted, "office", {}), "不是本工单的主办或协办部门"),
    ("lead accepts twice", ACCEPTED, (TicketAccepted, "approval", {}), "already accepted"),
    ("co accepts twice", ((TicketAccepted, "planning", {}),), (TicketAccepted, "planning", {}), "已签收协办"),
    ("progress before accept", (), (ProgressNoted, "approval", {}), "须先签收"),
    ("co notes progress", ACCEPTED, (ProgressNoted, "planning", {}), "only the lead may note progress"),
    ("office notes progress", ACCEPTED, (ProgressNoted, "office", {}), "仅主办部门"),
    ("co requests info", ACCEPTED, (InformationRequested, "planning", {}), "only the lead or the office"),
    ("request before accept", (), (InformationRequested, "approval", {}), "routed"),
    ("supply unasked", WORKING, (InformationSupplied, "enterprise", {}), "未要求企业补充"),
    ("co supplies", AWAITING, (InformationSupplied, "planning", {}), "补充材料须由"),
    ("resolve before accept", (), (TicketResolved, "approval", {}), "the lead must accept it first"),
    ("co resolves", CO_DONE, (TicketResolved, "planning", {}), "only the lead may resolve"),
    ("office resolves", CO_DONE, (TicketResolved, "office", {}), "仅主办部门可"),
    (
        "resolve before co done",
        ACCEPTED,
        (TicketResolved, "approval", {}),
        "co-departments not done yet: planning",
    ),
    ("resolve twice", RESOLVED, (TicketResolved, "approval", {}), "resolved"),
    ("lead reports co done", ACCEPTED, (CoDepartmentDone, "approval", {}), "only a co-department"),
    ("co done twice", CO_DONE, (CoDepartmentDone, "planning", {}), "already reported done"),
    ("outsider co done", ACCEPTED, (CoDepartmentDone, "market", {}), "neither lead nor co-department"),
    (
        "co done after resolve",
        ((TicketAccepted, "approval", {}), (TicketResolved, "approval", {"override_reason": "急"})),
        (CoDepartmentDone, "planning", {}),
        "resolved",
    ),
    ("lead bounces resolved", RESOLVED, (TicketBounced, "approval", {}), "resolved"),
    ("outsider bounces", (), (TicketBounced, "market", {}), "neither lead"),
    ("done co bounces", CO_DONE, (TicketBounced, "planning", {}), "已协办完成"),
    (
        "bounced co acts again",
        ((TicketBounced, "planning", {}),),
        (CoDepartmentDone, "planning", {}),
        "neither lead",
    ),
    ("bounce while rerouting", BOUNCED, (TicketBounced, "approval", {}), "rerouting"),
    ("rate unresolved", WORKING, (SatisfactionRated, "enterprise", {}), "尚未办结"),
    ("rate twice", CLOSED, (SatisfactionRated, "enterprise", {}), "already been rated"),
    ("rate twice by office", CLOSED, (SatisfactionRated, "office", {}), "本轮办结已回访"),
    ("reopen open ticket", WORKING, (TicketReopened, "office", {}), "in_progress"),
    ("lead reopens", RESOLVED, (TicketReopened, "approval", {}), "only the office reopens"),
    ("dispatch routed ticket", (), (TicketDispatched, "office", {}), "routed"),
    ("lead dispatches", BOUNCED, (TicketDispatched, "approval", {}), "only the office dispatches"),
    ("co convenes", ACCEPTED, (JointMeetingConvened, "planning", {}), "only the lead or the office"),
    ("convene when resolved", RESOLVED, (JointMeetingConvened, "office", {}), "召开联席会议"),
    ("act while rerouting", BOUNCED, (ProgressNoted, "approval", {}), "rerouting"),
    ("lead rejects extension", EXTENDING, (ExtensionRejected, "approval", {}), "仅区政府办公室可驳回延期"),
    ("reject nothing", WORKING, (ExtensionRejected, "office", {}), "没有待批的延期申请"),
    ("lead asks to withdraw", WORKING, (WithdrawalRequested, "approval", {}), "仅协办部门可申请退出协办"),
    ("outsider asks to withdraw", WORKING, (WithdrawalRequested, "market", {}), "不是本工单的主办或协办部门"),
    ("co asks twice", WITHDRAWING, (WithdrawalRequested, "planning", {}), "退出申请已在等待审批"),
    ("done co asks", CO_DONE, (WithdrawalRequested, "planning", {}), "已报告协办完成"),
    ("withdraw when resolved", RESOLVED, (WithdrawalRequested, "planning", {}), "不能申请退出协办"),
    ("approve nothing", WORKING, (WithdrawalApproved, "office", {}), "没有待审批的退出协办申请"),
    ("lead approves", WITHDRAWING, (WithdrawalApproved, "approval", {}), "仅区政府办公室可同意退出协办"),
    ("co refuses itself", WITHDRAWING, (WithdrawalRefused, "planning", {}), "仅区政府办公室可不同意退出协办"),
    (
        "approve another",
        WITHDRAWING,
        (WithdrawalApproved, "office", {"withdrawing": "market"}),
        "market 未申请退出协办",
    ),
    ("department closes", WORKING, (TicketClosedInvalid, "approval", {}), "仅区政府办公室可关闭无效工单"),
    ("close closed", CLOSED, (TicketClosedInvalid, "office", {}), "不能关闭"),
    ("close twice", INVALID, (TicketClosedInvalid, "office", {}), "已关闭（骚扰或垃圾信息），不能关闭"),
    ("department merges", WORKING, (TicketMerged, "approval", {}), "仅区政府办公室可合并重复工单"),
    (
        "merge into itself",
        WORKING,
        (TicketMerged, "office", {"into": TICKET.lower()}),
        "不能合并到本工单自身",
    ),
    ("merge closed", INVALID, (TicketMerged, "office", {}), "不能合并"),
    ("keep a spam ticket", INVALID, (DuplicateMerged, "office", {}), "不能作为保留工单"),
    ("keep a merged ticket", MERGED, (DuplicateMerged, "office", {}), f"请合并到 {KEPT}"),
    ("reopen spam", INVALID, (TicketReopened, "office", {}), "不能重办"),
    ("rate spam", INVALID, (SatisfactionRated, "enterprise", {}), "无需回访"),
]


@pytest.mark.parametrize(
    ("setup", "step", "reason"), [row[1:] for row in REFUSED], ids=[row[0] for row in REFUSED]
)
def test_refused_transition(
    setup: tuple[Any, ...], step: tuple[type[DepartmentAction], str, dict[str, Any]], reason: str
) -> None:
    before = ticket(*setup)
    snapshot = before.model_dump()
    cls, department, fields = step
    with pytest.raises(TransitionRefused) as caught:
        apply(before, act(cls, department, later(before), **fields))
    assert reason in str(caught.value)
    assert " / " in str(caught.value)  # English / 中文
    assert before.model_dump() == snapshot


LEAVE_TRIAGE = (TicketDispatched, TicketClosedInvalid, TicketMerged)
"""The office's ways out of triage besides a routing: dispatch, or close it unhandled."""


@pytest.mark.parametrize("cls", [c for c in FEEDBACK_EVENT_TYPES if c not in LEAVE_TRIAGE], ids=str)
@pytest.mark.parametrize("department", ["office", "approval", "enterprise"])
def test_only_dispatch_close_or_routing_moves_a_ticket_out_of_triage(
    cls: type[DepartmentAction], department: str
) -> None:
    before = apply(None, routed(manual=True))
    if cls is SatisfactionRated and department == "approval":
        department = "enterprise"
    try:
        after = apply(before, act(cls, department, later(before)))
    except TransitionRefused:
        return
    assert (cls, department, after.status) == (DuplicateMerged, "office", TicketStatus.triage)


@pytest.mark.parametrize("cls", [TicketClosedInvalid, TicketMerged], ids=str)
def test_the_office_closes_a_triage_ticket_unhandled(cls: type[DepartmentAction]) -> None:
    before = apply(None, routed(manual=True))
    after = apply(before, act(cls, "office", later(before)))
    assert after.status is TicketStatus.closed and after.excluded_from_rates
    assert inbox_buckets(after) == {} and not any(row.active for row in after.assignments)


def test_office_cannot_rate_a_ticket_it_handles() -> None:
    before = ticket(
        (TicketAccepted, "office", {}), (TicketResolved, "office", {}), start=routed("office", ())
    )
    with pytest.raises(TransitionRefused, match="cannot rate"):
        apply(before, act(SatisfactionRated, "office", later(before)))
    as_co = ticket(
        *ACCEPTED,
        (CoDepartmentDone, "office", {}),
        (TicketResolved, "approval", {}),
        start=routed("approval", ("office",)),
    )
    with pytest.raises(TransitionRefused, match="承办部门不能"):
        apply(as_co, act(SatisfactionRated, "office", later(as_co)))
    assert apply(as_co, act(SatisfactionRated, "enterprise", later(as_co))).status is TicketStatus.closed


def test_an_event_for_another_ticket_is_refused() -> None:
    before = ticket()
    other = TicketAccepted(ticket_id="ZTC-OTHER", occurred_at=later(before), department="approval", actor="x")
    with pytest.raises(TransitionRefused, match="ZTC-OTHER"):
        apply(before, other)


def test_feedback_on_an_unknown_ticket_is_refused() -> None:
    with pytest.raises(TransitionRefused, match="unknown ticket"):
        apply(None, act(TicketAccepted, "approval", T0))


def test_every_department_action_has_exactly_one_transition() -> None:
    assert set(TRANSITIONS) == set(FEEDBACK_EVENT_TYPES)
    with pytest.raises(ValueError, match="already has a transition"):
        transition(TicketAccepted, guard=lambda state, department: None)(lambda state, event: Change("again"))


class Unregistered(DepartmentAction):
    """A department action nobody gave a transition: refused, never applied."""

    event_type: ClassVar[str] = "Unregistered"


def test_an_action_without_a_transition_is_refused() -> None:
    before = ticket()
    stray = Unregistered(ticket_id=TICKET, occurred_at=later(before), department="approval", actor="x")
    with pytest.raises(
        TransitionRefused, match="Unregistered does not apply to tickets / 此事件不适用于工单"
    ):
        apply(before, stray)


@pytest.mark.parametrize("setup", [(), ACCEPTED, RESOLVED, CLOSED, BOUNCED])
def test_routing_a_known_ticket_again_is_a_duplicate_never_applied(setup: tuple[Any, ...]) -> None:
    """A repeated submission (broker restart, re-sent message) must not re-route a live ticket."""
    before = ticket(*setup)
    assert apply(before, routed("planning", ("market",), at=later(before))) is before


def test_only_the_answer_to_the_tickets_own_reroute_request_routes_it_again() -> None:
    bounced = ticket(*BOUNCED)
    assert bounced.reroute_request_id is not None
    stranger = routed("construction", (), at=later(bounced)).model_copy(
        update={"reroute_request_id": "someone-elses-request"}
    )
    assert apply(bounced, stranger) is bounced
    answered = apply(bounced, routed("construction", (), at=later(bounced), answering=bounced))
    assert answered.status is TicketStatus.routed and answered.lead_department == "construction"
    assert answered.reroute_request_id is None
    late_copy = routed("market", (), at=later(answered), answering=bounced)
    assert apply(answered, late_copy) is answered


def test_a_reroute_answer_after_the_office_dispatched_by_hand_is_not_applied() -> None:
    bounced = ticket(*BOUNCED)
    dispatched = apply(bounced, act(TicketDispatched, "office", later(bounced), lead_department="market"))
    assert dispatched.reroute_request_id is None
    late = routed("construction", (), at=later(dispatched), answering=bounced)
    assert apply(dispatched, late) is dispatched


# ---------------------------------------------------------------- idempotency


@pytest.mark.parametrize("setup", [(), ACCEPTED, AWAITING, RESOLVED, CLOSED, BOUNCED])
def test_a_repeated_event_id_changes_nothing(setup: tuple[Any, ...]) -> None:
    state = ticket(*setup)
    last_id = state.history[-1].event_id
    again = act(ProgressNoted, "approval", later(state), event_id=last_id)
    assert apply(state, again) is state
    assert (
        apply(state, routed(at=later(state)).model_copy(update={"event_id": state.history[0].event_id}))
        is state
    )


def test_store_reports_applied_duplicate_and_refused() -> None:
    store = InMemoryTicketStore()
    clock = Clock()
    assert store.record(routed()).status is RecordStatus.applied
    accept = act(TicketAccepted, "approval", clock())
    assert store.record(accept).status is RecordStatus.applied
    assert store.record(accept).status is RecordStatus.duplicate
    refused = store.record(act(TicketResolved, "approval", clock()))
    assert refused.status is RecordStatus.refused and "planning" in refused.reason
    assert [r.ticket_id for r in store.inbox("approval", InboxBucket.in_progress)] == [TICKET]
    assert [r.ticket_id for r in store.inbox("planning", InboxBucket.new)] == [TICKET]


# ---------------------------------------------------------------- the full walk


def test_full_walk_from_routing_to_closed_through_a_reopen() -> None:
    clock = Clock()
    state = apply(None, routed())
    assert state.status is TicketStatus.routed
    assert inbox_buckets(state) == {"approval": InboxBucket.new, "planning": InboxBucket.new}

    steps: list[tuple[Event, TicketStatus, dict[str, InboxBucket]]] = [
        (
            act(TicketAccepted, "approval", clock()),
            TicketStatus.accepted,
            {"approval": InboxBucket.in_progress, "planning": InboxBucket.new},
        ),
        (
            act(TicketAccepted, "planning", clock()),
            TicketStatus.accepted,
            {"approval": InboxBucket.in_progress, "planning": InboxBucket.co_handling},
        ),
        (
            act(CoDepartmentDone, "planning", clock()),
            TicketStatus.accepted,
            {"approval": InboxBucket.in_progress},
        ),
        (
            act(InformationRequested, "approval", clock()),
            TicketStatus.awaiting_enterprise,
            {"approval": InboxBucket.awaiting_enterprise},
        ),
        (
            act(InformationSupplied, "enterprise", clock()),
            TicketStatus.in_progress,
            {"approval": InboxBucket.in_progress},
        ),
        (act(TicketResolved, "approval", clock()), TicketStatus.resolved, {}),
        (
            act(
                SatisfactionRated, "enterprise", clock(), rating=Rating.unsatisfied, comment="仍未拿到许可证"
            ),
            TicketStatus.in_progress,
            {"approval": InboxBucket.in_progress},
        ),
        (act(TicketResolved, "approval", clock(), resolution="许可证已送达"), TicketStatus.resolved, {}),
        (act(SatisfactionRated, "enterprise", clock()), TicketStatus.closed, {}),
    ]
    for event, status, buckets in steps:
        state = apply(state, event)
        assert (state.status, inbox_buckets(state)) == (status, buckets), state.history[-1].summary

    assert state.lead_department == "approval" and state.reopen_count == 1
    assert [(r.rating, r.round) for r in state.ratings] == [(Rating.unsatisfied, 0), (Rating.satisfied, 1)]
    assert [e.summary for e in state.history[1:]] == [
        "签收",
        "签收（协办）",
        "协办完成：规划意见已出具",
        "需企业补充材料：请补充土地证明",
        "企业已补充材料：已上传土地证明",
        "办结：许可证已办结",
        "回访：不满意（企业评价） — 仍未拿到许可证；退回主办 approval 重办（第 1 次）",
        "办结：许可证已送达",
        "回访：满意（企业评价）；归档",
    ]
    lead_rows = [a for a in state.assignments if a.department == "approval"]
    assert [r.role for r in lead_rows] == [AssignmentRole.lead, AssignmentRole.lead]
    assert all(r.done_at is not None for r in lead_rows)
    assert state.resolution == "许可证已送达" and state.resolved_at == state.history[-2].at
    assert TicketRecord.model_validate_json(state.model_dump_json()) == state


# ---------------------------------------------------------------- bounce, re-route, dispatch, convene


def test_lead_bounce_waits_for_rerouting_and_accumulates_bounced_by() -> None:
    clock = Clock()
    state = run(
        routed(),
        act(
            TicketBounced,
            "approval",
            clock(),
            reason=BounceReason.needs_other_department,
            suggested_department="construction",
        ),
    )
    assert state.status is TicketStatus.rerouting and state.bounced_by == ("approval",)
    assert inbox_buckets(state) == {}
    assert state.history[-1].summary == "退单：需其他部门办理 — 属规划事项；建议转 construction"
    assert state.bounces[-1].suggested_department == "construction"

    state = apply(state, routed("construction", ("planning",), at=clock(), answering=state))
    assert state.status is TicketStatus.routed and state.routed_at == T0
    state = apply(state, act(TicketBounced, "construction", clock(), reason=BounceReason.wrong_street))
    assert state.bounced_by == ("approval", "construction")
    assert [h.event_type for h in state.history] == [
        "TicketRouted",
        "TicketBounced",
        "TicketRouted",
        "TicketBounced",
    ]


def test_co_department_bounce_leaves_the_ticket_only() -> None:
    state = ticket(*WORKING, (TicketBounced, "planning", {"reason": BounceReason.not_our_remit}))
    assert state.status is TicketStatus.in_progress
    assert state.co_departments == () and state.bounced_by == ("planning",)
    assert "planning" not in inbox_buckets(state)
    assert state.history[-1].summary.startswith("协办退单：非本部门职责 — ")
    row = [a for a in state.assignments if a.department == "planning"][-1]
    assert row.release_reason is ReleaseReason.bounced
    assert apply(state, act(TicketResolved, "approval", later(state))).status is TicketStatus.resolved


def test_reroute_keeps_departments_that_stay_and_releases_the_others() -> None:
    clock = Clock()
    state = run(routed("approval", ("planning", "market")), act(TicketAccepted, "planning", clock()))
    state = apply(state, act(TicketBounced, "approval", clock()))
    state = apply(state, routed("construction", ("planning",), at=clock(), answering=state))
    planning = [a for a in state.assignments if a.department == "planning"]
    assert len(planning) == 1 and planning[0].accepted_at is not None
    market = [a for a in state.assignments if a.department == "market"][-1]
    assert market.release_reason is ReleaseReason.rerouted
    assert inbox_buckets(state) == {"construction": InboxBucket.new, "planning": InboxBucket.co_handling}


def test_manual_triage_then_dispatch_by_the_office() -> None:
    clock = Clock()
    state = apply(None, routed(manual=True))
    assert state.status is TicketStatus.triage and inbox_buckets(state) == {"office": InboxBucket.new}
    state = apply(
        state,
        act(TicketDispatched, "office", clock(), lead_department="approval", co_departments=("planning",)),
    )
    assert state.status is TicketStatus.routed
    assert (state.lead_department, state.co_departments) == ("approval", ("planning",))
    assert inbox_buckets(state) == {"approval": InboxBucket.new, "planning": InboxBucket.new}
    triage = state.assignments[0]
    assert (triage.department, triage.role, triage.release_reason) == (
        "office",
        AssignmentRole.triage,
        ReleaseReason.rerouted,
    )
    assert state.history[-1].summary == "人工派单：主办 approval，协办 planning"


def test_a_triage_ticket_waits_for_the_office_not_a_repeated_routing() -> None:
    triage = run(routed(manual=True))
    assert apply(triage, routed(at=T0 + timedelta(hours=1))) is triage


def test_joint_meeting_adds_co_departments_and_re_engages_done_ones() -> None:
    state = ticket(
        *CO_DONE, (JointMeetingConvened, "office", {"departments": ("market", "planning", "approval")})
    )
    assert state.co_departments == ("planning", "market")
    assert state.history[-1].summary == "联席会议：协办 market、planning 参加 — 周三联席会议"
    assert inbox_buckets(state) == {
        "approval": InboxBucket.in_progress,
        "planning": InboxBucket.new,
        "market": InboxBucket.new,
    }
    with pytest.raises(TransitionRefused, match="planning, market"):
        apply(state, act(TicketResolved, "approval", later(state)))


def test_override_resolve_releases_pending_co_departments() -> None:
    state = ticket(*ACCEPTED, (TicketResolved, "approval", {"override_reason": "企业急需"}))
    row = [a for a in state.assignments if a.department == "planning"][-1]
    assert row.release_reason is ReleaseReason.overridden and row.released_at == state.resolved_at
    assert "先行办结理由：企业急需" in state.history[-1].summary
    reopened = apply(state, act(TicketReopened, "office", later(state)))
    assert reopened.reopen_count == 1 and reopened.lead_department == "approval"
    assert inbox_buckets(reopened) == {"approval": InboxBucket.in_progress}
    assert apply(reopened, act(TicketResolved, "approval", later(reopened))).status is TicketStatus.resolved


# ---------------------------------------------------------------- clocks and compatibility


def test_handling_time_per_department() -> None:
    state = run(
        routed(at=T0),
        act(TicketAccepted, "approval", T0 + timedelta(hours=1)),
        act(CoDepartmentDone, "planning", T0 + timedelta(hours=3)),
        act(TicketResolved, "approval", T0 + timedelta(hours=5)),
    )
    now = T0 + timedelta(days=2)
    assert state.handling_time("approval", now) == timedelta(hours=5)
    assert state.handling_time("planning", now) == timedelta(hours=3)
    planning = state.current_assignment("planning")
    assert planning is not None and planning.accepted_at == planning.done_at  # done counts as accepted
    assert state.handling_time("market", now) == timedelta()


def test_records_written_before_assignments_still_work() -> None:
    legacy = TicketRecord.model_validate(apply(None, routed()).model_dump(exclude={"assignments"}))
    assert legacy.assignments == ()
    assert inbox_buckets(legacy) == {"approval": InboxBucket.new, "planning": InboxBucket.new}
    state = apply(legacy, act(TicketAccepted, "approval", later(legacy)))
    assert [a.department for a in state.assignments] == ["approval", "planning"]
    assert inbox_buckets(state) == {"approval": InboxBucket.in_progress, "planning": InboxBucket.new}


def test_status_labels_cover_every_status() -> None:
    assert TicketStatus.rerouting.label == "已退单待重新派单"
    assert all(status.label for status in TicketStatus)


# ---------------------------------------------------------------- properties

RANK = {
    TicketStatus.triage: 0,
    TicketStatus.routed: 0,
    TicketStatus.rerouting: 0,
    TicketStatus.accepted: 1,
    TicketStatus.in_progress: 2,
    TicketStatus.awaiting_enterprise: 2,
    TicketStatus.resolved: 3,
    TicketStatus.closed: 4,
}
MAY_GO_BACK = {"TicketReopened", "SatisfactionRated", "TicketBounced", "TicketRouted", "TicketDispatched"}
BUREAUS = ("approval", "planning", "construction", "market")
ACTORS = (*BUREAUS, "office", "enterprise")
KINDS: tuple[type[DepartmentAction] | None, ...] = (
    *FEEDBACK_EVENT_TYPES,
    *FEEDBACK_EVENT_TYPES,
    None,
)  # None: routed


@st.composite
def action(draw: st.DrawFn, at: datetime, involved: tuple[str, ...] = ()) -> Event:
    """Any feedback event or a re-routing; half of them by a department of the ticket."""
    kind = draw(st.sampled_from(KINDS))
    if kind is None:
        lead = draw(st.sampled_from(BUREAUS))
        co = tuple(
            draw(
                st.lists(unique=True, elements=st.sampled_from([b for b in BUREAUS if b != lead]), max_size=2)
            )
        )
        return routed(lead, co, manual=draw(st.booleans()), at=at)
    if kind is SatisfactionRated:
        rater = draw(st.sampled_from(("enterprise", "office")))
        return act(kind, rater, at, rating=draw(st.sampled_from(Rating)))
    pool = draw(st.sampled_from((involved or ACTORS, involved or ACTORS, ("office",), ACTORS)))
    department = draw(st.sampled_from(pool))
    fields: dict[str, Any] = {}
    if kind is TicketDispatched:
        lead = draw(st.sampled_from((*BUREAUS, "office")))
        fields = {
            "lead_department": lead,
            "co_departments": tuple(
                draw(
                    st.lists(
                        unique=True, elements=st.sampled_from([b for b in BUREAUS if b != lead]), max_size=2
                    )
                )
            ),
        }
    elif kind is JointMeetingConvened:
        fields = {
            "departments": tuple(
                draw(
                    st.lists(
                        unique=True, elements=st.sampled_from((*BUREAUS, "office")), min_size=1, max_size=2
                    )
                )
            )
        }
    elif kind is TicketResolved:
        fields = {"override_reason": draw(st.sampled_from((None, "企业急需")))}
    elif kind is TicketBounced:
        fields = {"reason": draw(st.sampled_from(BounceReason))}
    return act(kind, department, at, **fields)


def check_invariants(state: TicketRecord) -> None:
    assert state.lead_department not in state.co_departments
    assert len(set(state.co_departments)) == len(state.co_departments)
    assert len(set(state.bounced_by)) == len(state.bounced_by)
    for code in state.departments:
        row = state.current_assignment(code)
        assert row is not None
        expected = (
            (AssignmentRole.lead, AssignmentRole.triage)
            if code == state.lead_department
            else (AssignmentRole.co,)
        )
        assert row.role in expected
    assert set(inbox_buckets(state)) <= set(state.departments)
    lead_row = state.current_assignment(state.lead_department)
    assert lead_row is not None
    assert set(state.pending_withdrawals) <= set(state.co_departments)
    if state.closure is not None:
        assert state.status is TicketStatus.closed and not any(row.active for row in state.assignments)
        assert (
            inbox_buckets(state) == {} and not state.pending_withdrawals and state.pending_extension is None
        )
    elif state.status in (TicketStatus.resolved, TicketStatus.closed):
        assert lead_row.done_at is not None and lead_row.accepted_at is not None
    if state.status is TicketStatus.rerouting:
        assert state.lead_department in state.bounced_by and inbox_buckets(state) == {}
    reopens = sum(
        h.event_type == "TicketReopened" or h.details.get("rating") == Rating.unsatisfied.value
        for h in state.history
    )
    assert state.reopen_count == reopens


def plausible(state: TicketRecord) -> list[Step]:
    """Moves a real desk would make next, so that random walks also reach the late statuses."""
    pending = [c for c in state.co_departments if (row := state.current_assignment(c)) and row.active]
    lead = state.lead_department
    moves: dict[TicketStatus, list[Step]] = {
        TicketStatus.triage: [
            (TicketDispatched, "office", {"lead_department": "planning"}),
            (TicketDispatched, "office", {"lead_department": "planning", "co_departments": ("market",)}),
            (TicketClosedInvalid, "office", {}),
        ],
        TicketStatus.rerouting: [(TicketDispatched, "office", {"lead_department": "market"})],
        TicketStatus.routed: [(TicketAccepted, lead, {}), *((TicketAccepted, c, {}) for c in pending)],
        TicketStatus.accepted: [(ProgressNoted, lead, {}), (InformationRequested, lead, {})],
        TicketStatus.in_progress: [(InformationRequested, "office", {}), (TicketBounced, lead, {})],
        TicketStatus.awaiting_enterprise: [(InformationSupplied, "enterprise", {})],
        TicketStatus.resolved: [(SatisfactionRated, "enterprise", {"rating": r}) for r in Rating],
        TicketStatus.closed: [(TicketReopened, "office", {})],
    }
    finishing: list[Step] = [(CoDepartmentDone, c, {}) for c in pending]
    finishing += [(WithdrawalRequested, c, {}) for c in pending]
    finishing += [
        (cls, "office", {}) for cls in (WithdrawalApproved, WithdrawalRefused) if state.pending_withdrawals
    ]
    finishing += [(ExtensionRequested, lead, {})]
    if state.pending_extension is not None:
        finishing += [(ExtensionApproved, "office", {}), (ExtensionRejected, "office", {})]
    if state.status in (TicketStatus.accepted, TicketStatus.in_progress):
        finishing.append((TicketResolved, lead, {"override_reason": "企业急需"} if pending else {}))
    return [*moves[state.status], *finishing]


@dataclass(frozen=True)
class Applied:
    before: TicketRecord
    event: Event
    after: TicketRecord | None  # None: refused


def walk(data: st.DataObject) -> Iterator[Applied]:
    """Apply up to 40 events to a new ticket: half plausible moves, a tenth redeliveries, the rest random."""
    clock = Clock()
    state = apply(None, routed(manual=data.draw(st.booleans(), label="manual triage")))
    seen: list[Event] = []
    for _ in range(data.draw(st.integers(1, 40), label="length")):
        dice = data.draw(st.integers(0, 9), label="kind of step")
        if seen and dice == 0:
            event = data.draw(st.sampled_from(seen), label="redelivered")
        elif dice <= 5:
            cls, department, fields = data.draw(st.sampled_from(plausible(state)), label="plausible")
            event = act(cls, department, clock(), **fields)
        else:
            event = data.draw(action(clock(), state.departments), label="random")
        seen.append(event)
        try:
            after: TicketRecord | None = apply(state, event)
        except TransitionRefused:
            after = None
        yield Applied(state, event, after)
        state = after or state


@FAST
@given(st.data())
def test_history_is_the_applied_events_and_status_only_goes_back_by_reopen_bounce_or_reroute(
    data: st.DataObject,
) -> None:
    applied: list[str] = []
    for step in walk(data):
        applied = applied or [step.before.history[0].event_id]
        if step.after is None or step.after is step.before:
            continue
        applied.append(step.event.event_id)
        assert [h.event_id for h in step.after.history] == applied
        if RANK[step.after.status] < RANK[step.before.status]:
            assert step.event.event_type in MAY_GO_BACK, (step.before.status, step.after.status)
        check_invariants(step.after)


@FAST
@given(st.data())
def test_refused_events_never_change_state_and_repeats_are_no_ops(data: st.DataObject) -> None:
    for step in walk(data):
        snapshot = step.before.model_dump()
        if step.after is None:
            with pytest.raises(TransitionRefused):  # refused again, for the same reason
                apply(step.before, step.event)
            assert step.before.model_dump() == snapshot
            continue
        if step.before.has_applied(step.event.event_id):
            assert step.after is step.before
        assert apply(step.after, step.event) is step.after
        assert TicketRecord.model_validate_json(step.after.model_dump_json()) == step.after


def test_a_reroute_after_a_bounce_says_so() -> None:
    state = ticket(*BOUNCED)
    state = apply(state, routed("construction", (), at=later(state), answering=state))
    assert state.history[-1].summary.startswith("重新派单：主办 construction，协办 无")


def test_an_extension_is_requested_by_the_lead_and_approved_by_the_office() -> None:
    state = run(routed(), act(TicketAccepted, "approval", T0))
    with pytest.raises(TransitionRefused, match="no extension request"):
        apply(state, act(ExtensionApproved, "office", T0))
    with pytest.raises(TransitionRefused):
        apply(state, act(ExtensionRequested, "planning", T0))
    asked = apply(state, act(ExtensionRequested, "approval", T0))
    assert asked.pending_extension == "5 working days"
    with pytest.raises(TransitionRefused, match="already waiting"):
        apply(asked, act(ExtensionRequested, "approval", T0))
    with pytest.raises(TransitionRefused, match="only the office"):
        apply(asked, act(ExtensionApproved, "approval", T0))
    approved = apply(asked, act(ExtensionApproved, "office", T0, note="同意"))
    assert approved.pending_extension is None
    assert approved.history[-1].summary.startswith("批准延期 5 working days")


def test_a_second_channel_message_under_a_taken_ticket_id_is_refused_loudly_not_dropped() -> None:
    first = ticket()
    other = routed(at=later(first)).model_copy(
        update={"submission": first.submission.model_copy(update={"channel_message_id": "another-message"})}
    )
    with pytest.raises(TransitionRefused, match="ticket id collision"):
        apply(first, other)


def test_ticket_ids_carry_48_bits_of_the_message_under_the_day() -> None:
    from schemas.events import ticket_id_for

    ticket_id = ticket_id_for("web_form", "m-1", T0)
    assert len(ticket_id.rsplit("-", 1)[1]) == 12
