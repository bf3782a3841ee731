"""Pure state transitions: ``apply(state, event)`` and what a state means for the inboxes.

The ticket's life: triage / routed → accepted → (in_progress ⇄ awaiting_enterprise)
→ resolved → closed, with 退单 (rerouting), 重办 (reopen) and per-department
assignment clocks. ``apply`` never reads the clock: "now" is the event's
``occurred_at``. A refused event raises ``TransitionRefused`` and changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from schemas import office_desk
from schemas.events import Event, TicketRouted, derived_event_id
from schemas.feedback import (
    ENTERPRISE,
    OFFICE,
    Answer,
    CoDepartmentDone,
    DepartmentAction,
    InformationRequested,
    InformationSupplied,
    JointMeetingConvened,
    ProgressNoted,
    RatedBy,
    SatisfactionRated,
    TicketAccepted,
    TicketBounced,
    TicketDispatched,
    TicketReopened,
    TicketResolved,
)
from schemas.sla import SlaBreached, SlaEscalated, SlaEvent, SlaWarning
from schemas.ticket import (
    OPEN_STATUSES,
    Assignment,
    AssignmentRole,
    Bounce,
    HistoryEntry,
    InboxBucket,
    RatingRecord,
    ReleaseReason,
    TicketRecord,
    TicketStatus,
)
from schemas.transitions import (
    DISPATCHABLE,
    GUARDS,
    TRANSITIONS,
    WORKING,
    Change,
    TransitionRefused,
    involved_row,
    latest_index,
    refuse,
    require_lead,
    require_office,
    require_status,
    transition,
    update_row,
    without,
)

__all__ = [
    "TRANSITIONS",
    "Change",
    "TransitionRefused",
    "answers_reroute",
    "apply",
    "companion_events",
    "inbox_buckets",
    "refusal",
    "reroute_request_id",
    "transition",
]


def reroute_request_id(bounce: TicketBounced) -> str:
    """The id of the RerouteRequested a lead's bounce causes (derived, so redelivery keeps it)."""
    return derived_event_id("reroute", bounce.event_id)


# ---------------------------------------------------------------- assignments


def _reassign(
    rows: tuple[Assignment, ...], wanted: dict[str, AssignmentRole], at: datetime
) -> tuple[Assignment, ...]:
    """Keep the rows of departments that stay in the same role; release the others; start new ones."""
    out = list(rows)
    kept: set[str] = set()
    for department in dict.fromkeys(row.department for row in rows):
        i = latest_index(rows, department)
        row = out[i]
        if row.released_at is not None:
            continue
        if wanted.get(department) == row.role:
            kept.add(department)
        elif row.done_at is None:
            out[i] = row.model_copy(update={"released_at": at, "release_reason": ReleaseReason.rerouted})
    out += [Assignment(department=d, role=r, assigned_at=at) for d, r in wanted.items() if d not in kept]
    return tuple(out)


def _backfilled(state: TicketRecord) -> TicketRecord:
    """Records written before assignments existed get rows from their routing."""
    if state.assignments:
        return state
    lead_role = AssignmentRole.triage if state.status is TicketStatus.triage else AssignmentRole.lead
    wanted = {state.lead_department: lead_role, **dict.fromkeys(state.co_departments, AssignmentRole.co)}
    return state.model_copy(update={"assignments": _reassign((), wanted, state.routed_at)})


def _new_round(state: TicketRecord, at: datetime) -> dict[str, Any]:
    """Reopen to the same lead: a new, already-accepted lead row, status in_progress."""
    row = Assignment(
        department=state.lead_department, role=AssignmentRole.lead, assigned_at=at, accepted_at=at
    )
    return {
        "status": TicketStatus.in_progress,
        "reopen_count": state.reopen_count + 1,
        "assignments": (*state.assignments, row),
        "resolution": None,
        "resolved_at": None,
    }


# ---------------------------------------------------------------- routing


def _routed_summary(event: TicketRouted, again: bool = False) -> str:
    co = "、".join(event.co_departments) or "无"
    if event.manual_triage:
        return f"置信度 {event.confidence:.2f} 低于阈值，转 {event.lead_department} 人工分派"
    return (
        f"{'重新' if again else ''}派单：主办 {event.lead_department}，协办 {co}；"
        f"类别 {event.category}，置信度 {event.confidence:.2f}，优先级 {event.priority.value}"
    )


def answers_reroute(state: TicketRecord, event: TicketRouted) -> bool:
    """True when ``event`` is the router's answer to this ticket's own pending re-route request."""
    return (
        state.status is TicketStatus.rerouting
        and event.reroute_request_id is not None
        and event.reroute_request_id == state.reroute_request_id
    )


def _model_details(event: TicketRouted) -> dict[str, str]:
    """The model that scored a decision, in its history line (nothing for a decision without one)."""
    if event.model_sha256 is None:
        return {}
    return {"model_version": event.model_version or "", "model_sha256": event.model_sha256}


def _apply_routed(state: TicketRecord | None, event: TicketRouted) -> TicketRecord:
    if state is not None and state.submission.dedupe_key != event.submission.dedupe_key:
        refuse(
            state,
            f"ticket id collision: {event.submission.dedupe_key} hashes to the id of "
            f"{state.submission.dedupe_key}",
            "工单号冲突：另一条渠道消息已占用此工单号",
        )
    if state is not None and not answers_reroute(state, event):
        return state  # a repeated routing of a known ticket: a duplicate, never applied
    entry = HistoryEntry(
        event_id=event.event_id,
        event_type=event.event_type,
        at=event.occurred_at,
        department=event.lead_department,
        actor="router",
        summary=_routed_summary(event, again=state is not None and state.status is TicketStatus.rerouting),
        details={
            "category": event.category,
            "confidence": event.confidence,
            "lead_department": event.lead_department,
            "co_departments": list(event.co_departments),
            "rules_fired": [hit.rule_id for hit in event.rules_fired],
            "policy_version": event.policy_version,
            **_model_details(event),
        },
    )
    lead_role = AssignmentRole.triage if event.manual_triage else AssignmentRole.lead
    wanted = {event.lead_department: lead_role, **dict.fromkeys(event.co_departments, AssignmentRole.co)}
    previous = _backfilled(state) if state is not None else None
    return TicketRecord(
        ticket_id=event.ticket_id,
        status=TicketStatus.triage if event.manual_triage else TicketStatus.routed,
        submission=event.submission,
        category=event.category,
        confidence=event.confidence,
        lead_department=event.lead_department,
        co_departments=event.co_departments,
        priority=event.priority,
        manual_triage=event.manual_triage,
        key_enterprise=event.key_enterprise,
        key_project=event.key_project,
        policy_version=event.policy_version,
        rules_fired=event.rules_fired,
        routed_at=previous.routed_at if previous is not None else event.occurred_at,
        updated_at=event.occurred_at,
        history=(*previous.history, entry) if previous is not None else (entry,),
        assignments=_reassign(previous.assignments if previous else (), wanted, event.occurred_at),
        bounced_by=previous.bounced_by if previous else (),
        bounces=previous.bounces if previous else (),
        reopen_count=previous.reopen_count if previous else 0,
        ratings=previous.ratings if previous else (),
    )


def _may_dispatch(state: TicketRecord, department: str) -> None:
    require_office(state, department, "dispatches by hand", "人工派单")
    require_status(state, DISPATCHABLE, "dispatch by hand", "人工派单")


@transition(TicketDispatched, guard=_may_dispatch)
def _dispatched(state: TicketRecord, event: TicketDispatched) -> Change:
    wanted = {
        event.lead_department: AssignmentRole.lead,
        **dict.fromkeys(event.co_departments, AssignmentRole.co),
    }
    co = "、".join(event.co_departments) or "无"
    return Change(
        summary=f"人工派单：主办 {event.lead_department}，协办 {co}"
        + (f" — {event.note}" if event.note else ""),
        updates={
            "status": TicketStatus.routed,
            "reroute_request_id": None,
            "lead_department": event.lead_department,
            "co_departments": event.co_departments,
            "assignments": _reassign(state.assignments, wanted, event.occurred_at),
        },
        details={"lead_department": event.lead_department, "co_departments": list(event.co_departments)},
    )


# ---------------------------------------------------------------- department work


def _may_accept(state: TicketRecord, department: str) -> None:
    require_status(state, OPEN_STATUSES, "accept", "签收")
    row = involved_row(state, department)
    if row.role is AssignmentRole.lead:
        if state.status is not TicketStatus.routed:
            refuse(state, "the lead has already accepted", "主办部门已签收")
    elif row.accepted_at is not None or not row.active:
        refuse(state, f"{department} has already accepted its part", f"{department} 已签收协办")


@transition(TicketAccepted, guard=_may_accept)
def _accepted(state: TicketRecord, event: TicketAccepted) -> Change:
    row = involved_row(state, event.department)
    note = f"：{event.note}" if event.note else ""
    rows = update_row(state.assignments, event.department, accepted_at=event.occurred_at)
    if row.role is AssignmentRole.lead:
        return Change(f"签收{note}", {"status": TicketStatus.accepted, "assignments": rows})
    return Change(f"签收（协办）{note}", {"assignments": rows})


def _may_note_progress(state: TicketRecord, department: str) -> None:
    require_lead(state, department, "note progress")
    require_status(state, WORKING, "note progress", "记录进展")


@transition(ProgressNoted, guard=_may_note_progress)
def _progress(state: TicketRecord, event: ProgressNoted) -> Change:
    status = TicketStatus.in_progress if state.status is TicketStatus.accepted else state.status
    return Change(f"进展：{event.note}", {"status": status})


def _may_request(state: TicketRecord, department: str) -> None:
    require_lead(state, department, "request information", office_too=True)
    require_status(state, WORKING, "request information", "要求企业补充材料")


@transition(InformationRequested, guard=_may_request)
def _requested(state: TicketRecord, event: InformationRequested) -> Change:
    by = "（区政府办公室代发）" if event.department != state.lead_department else ""
    return Change(
        f"需企业补充材料{by}：{event.question}",
        {"status": TicketStatus.awaiting_enterprise},
        {"question": event.question},
    )


def _may_supply(state: TicketRecord, department: str) -> None:
    if department not in (ENTERPRISE, OFFICE, state.lead_department):
        refuse(
            state,
            "information comes from the enterprise, the office on its behalf, or the lead that received it",
            "补充材料须由企业、区政府办公室代企业或主办部门登记",
        )
    require_status(state, frozenset({TicketStatus.awaiting_enterprise}), "supply information", "登记补充材料")


@transition(InformationSupplied, guard=_may_supply)
def _supplied(state: TicketRecord, event: InformationSupplied) -> Change:
    how = {ENTERPRISE: "企业已补充材料", OFFICE: "区政府办公室代企业补充材料"}
    return Change(
        f"{how.get(event.department, '主办部门收到企业补充材料')}：{event.content}",
        {"status": TicketStatus.in_progress},
    )


def _active_row(state: TicketRecord, department: str) -> Assignment:
    row = involved_row(state, department)
    if not row.active:
        refuse(state, f"{department} has already reported its part done", f"{department} 已协办完成")
    return row


def _may_bounce(state: TicketRecord, department: str) -> None:
    require_status(state, OPEN_STATUSES, "bounce", "退单")
    _active_row(state, department)


@transition(TicketBounced, guard=_may_bounce)
def _bounced(state: TicketRecord, event: TicketBounced) -> Change:
    row = involved_row(state, event.department)
    at = event.occurred_at
    bounce = Bounce(
        department=event.department,
        role=row.role,
        reason=event.reason,
        note=event.note,
        suggested_department=event.suggested_department,
        at=at,
    )
    updates: dict[str, Any] = {
        "assignments": update_row(
            state.assignments, event.department, released_at=at, release_reason=ReleaseReason.bounced
        ),
        "bounced_by": tuple(dict.fromkeys((*state.bounced_by, event.department))),
        "bounces": (*state.bounces, bounce),
        "pending_withdrawals": without(state.pending_withdrawals, event.department),
    }
    suggestion = f"；建议转 {event.suggested_department}" if event.suggested_department else ""
    details = {"reason": event.reason.value, "suggested_department": event.suggested_department}
    if row.role is AssignmentRole.lead:
        updates["status"] = TicketStatus.rerouting
        updates["reroute_request_id"] = reroute_request_id(event)
        summary = f"退单：{event.reason.label} — {event.note}{suggestion}"
    else:
        updates["co_departments"] = without(state.co_departments, event.department)
        summary = f"协办退单：{event.reason.label} — {event.note}{suggestion}（退出协办）"
    return Change(summary, updates, details)


def _may_report_co_done(state: TicketRecord, department: str) -> None:
    require_status(state, OPEN_STATUSES, "report co-department done", "报告协办完成")
    row = involved_row(state, department)
    if row.role is not AssignmentRole.co:
        refuse(state, "only a co-department reports 协办完成; the lead resolves", "仅协办部门可报告协办完成")
    if not row.active:
        refuse(state, f"{department} has already reported done", f"{department} 已报告协办完成")


@transition(CoDepartmentDone, guard=_may_report_co_done)
def _co_done(state: TicketRecord, event: CoDepartmentDone) -> Change:
    row = involved_row(state, event.department)
    rows = update_row(
        state.assignments,
        event.department,
        done_at=event.occurred_at,
        accepted_at=row.accepted_at or event.occurred_at,
    )
    pending = without(state.pending_withdrawals, event.department)
    return Change(f"协办完成：{event.note}", {"assignments": rows, "pending_withdrawals": pending})


def _pending_co(state: TicketRecord) -> list[str]:
    return [
        c for c in state.co_departments if (row := state.current_assignment(c)) is not None and row.active
    ]


def _may_resolve(state: TicketRecord, department: str) -> None:
    require_lead(state, department, "resolve")
    require_status(state, WORKING, "resolve", "办结")


@transition(TicketResolved, guard=_may_resolve)
def _resolved(state: TicketRecord, event: TicketResolved) -> Change:
    pending = _pending_co(state)
    if pending and not event.override_reason:
        refuse(
            state,
            f"co-departments not done yet: {', '.join(pending)}; give override_reason to resolve anyway",
            f"协办部门 {'、'.join(pending)} 尚未完成；如需先行办结请用 override_reason 说明理由",
        )
    at = event.occurred_at
    rows = update_row(state.assignments, state.lead_department, done_at=at)
    for department in pending:
        rows = update_row(rows, department, released_at=at, release_reason=ReleaseReason.overridden)
    override = (
        f"（协办 {'、'.join(pending)} 未完成，先行办结理由：{event.override_reason}）" if pending else ""
    )
    return Change(
        f"办结：{event.resolution}{override}",
        {
            "status": TicketStatus.resolved,
            "assignments": rows,
            "resolution": event.resolution,
            "resolved_at": at,
            "pending_extension": None,
            "pending_withdrawals": (),
        },
        {"overridden": pending, "override_reason": event.override_reason},
    )


def _may_reopen(state: TicketRecord, department: str) -> None:
    require_office(state, department, "reopens a ticket", "发起重办")
    if state.closure is not None:
        refuse(
            state,
            f"the office closed this ticket as {state.closure.kind.value}; it cannot be reopened",
            f"工单已作为{state.closure.kind.label}关闭，不能重办",
        )
    require_status(state, frozenset({TicketStatus.resolved, TicketStatus.closed}), "reopen", "重办")


@transition(TicketReopened, guard=_may_reopen)
def _reopened(state: TicketRecord, event: TicketReopened) -> Change:
    return Change(
        f"重办：{event.reason}（退回主办 {state.lead_department}，第 {state.reopen_count + 1} 次）",
        _new_round(state, event.occurred_at),
    )


def _may_rate(state: TicketRecord, department: str) -> None:
    if state.closure is not None:
        refuse(
            state,
            f"the office closed this ticket as {state.closure.kind.value}; there is nothing to rate",
            f"工单已作为{state.closure.kind.label}关闭，无需回访",
        )
    if state.status is TicketStatus.closed:
        refuse(state, "this resolution has already been rated", "本轮办结已回访")
    require_status(state, frozenset({TicketStatus.resolved}), "rate (not resolved yet)", "回访（尚未办结）")
    if department in state.departments:
        refuse(state, f"{department} handles this ticket and cannot rate it", "承办部门不能为本工单回访评价")


def _callback_answers(event: SatisfactionRated) -> str:
    """The callback's answers as the history reads them: ``；已联系企业；问题未解决；认定为最终答复``."""
    parts = []
    if event.contacted is not None:
        parts.append("已联系企业" if event.contacted.truth else "未联系企业")
    if event.solved is not None:
        parts.append("问题已解决" if event.solved.truth else "问题未解决")
    if event.final_answer is Answer.yes:
        parts.append("认定为最终答复")
    return "".join(f"；{part}" for part in parts)


@transition(SatisfactionRated, guard=_may_rate)
def _rated(state: TicketRecord, event: SatisfactionRated) -> Change:
    rating = RatingRecord(
        rating=event.rating,
        rated_by=event.rated_by,
        comment=event.comment,
        at=event.occurred_at,
        round=state.reopen_count,
        contacted=None if event.contacted is None else event.contacted.truth,
        solved=None if event.solved is None else event.solved.truth,
        final_answer=event.final_answer is Answer.yes,
    )
    by = "企业评价" if event.rated_by is RatedBy.enterprise else "区政府办公室代企业评价"
    comment = f" — {event.comment}" if event.comment else ""
    comment += _callback_answers(event)
    updates: dict[str, Any] = {"ratings": (*state.ratings, rating)}
    if event.rating.closes:
        updates["status"] = TicketStatus.closed
        summary = f"回访：{event.rating.label}（{by}）{comment}；归档"
    else:
        updates |= _new_round(state, event.occurred_at)
        summary = (
            f"回访：{event.rating.label}（{by}）{comment}；"
            f"退回主办 {state.lead_department} 重办（第 {state.reopen_count + 1} 次）"
        )
    return Change(summary, updates, {"rating": event.rating.value, "rated_by": event.rated_by.value})


def _may_convene(state: TicketRecord, department: str) -> None:
    require_lead(state, department, "convene a joint meeting", office_too=True)
    require_status(state, OPEN_STATUSES, "convene a joint meeting", "召开联席会议")


@transition(JointMeetingConvened, guard=_may_convene)
def _convened(state: TicketRecord, event: JointMeetingConvened) -> Change:
    co, rows, joined = list(state.co_departments), state.assignments, []
    for department in dict.fromkeys(event.departments):
        row = state.current_assignment(department)
        if department == state.lead_department or (row is not None and row.active):
            continue
        if department not in co:
            co.append(department)
        rows = (
            *rows,
            Assignment(department=department, role=AssignmentRole.co, assigned_at=event.occurred_at),
        )
        joined.append(department)
    added = f"协办 {'、'.join(joined)} 参加" if joined else "无新增协办"
    return Change(
        f"联席会议：{added} — {event.note}",
        {"co_departments": tuple(co), "assignments": rows},
        {"joined": joined, "departments": list(event.departments)},
    )


def _sla_recorded(state: TicketRecord, event: SlaEvent) -> TicketRecord:
    """Record a monitor event: history, the emitted key, breach flags and the escalation level."""
    clock = state.sla
    if clock is None:
        refuse(state, "the ticket has no SLA clock", "工单未计时")
    if event.key in clock.emitted:
        return state
    updates: dict[str, Any] = {"emitted": (*clock.emitted, event.key)}
    if isinstance(event, SlaBreached) and event.stage not in clock.breached:
        updates["breached"] = (*clock.breached, event.stage)
    if isinstance(event, SlaEscalated):
        updates["escalation_level"] = max(clock.escalation_level, event.level)
    late = "" if isinstance(event, SlaWarning) else f"（期限 {event.due_at:%m-%d %H:%M}）"
    level = f" {event.level_label}" if isinstance(event, SlaEscalated) else ""
    entry = HistoryEntry(
        event_id=event.event_id,
        event_type=event.event_type,
        at=event.occurred_at,
        department=event.department,
        actor="monitor",
        summary=f"{event.stage.label}{event.label}{level}{late}",
        details={"key": event.key, "stage": event.stage.value, "due_at": event.due_at.isoformat()},
    )
    return state.model_copy(
        update={"sla": clock.model_copy(update=updates), "history": (*state.history, entry)}
    )


def _decide(state: TicketRecord, event: DepartmentAction) -> Change:
    decide = TRANSITIONS.get(type(event))
    if decide is None:
        refuse(state, f"{type(event).__name__} does not apply to tickets", "此事件不适用于工单")
    GUARDS[type(event)](state, event.department)
    return decide(state, event)


def _with_attachments(details: dict[str, Any], event: DepartmentAction) -> dict[str, Any]:
    """The entry's details, with the metadata of the files the event carries (never their bytes)."""
    attached = getattr(event, "attachments", ())
    return {**details, "attachments": [a.model_dump() for a in attached]} if attached else details


def _commit(state: TicketRecord, event: DepartmentAction, change: Change) -> TicketRecord:
    entry = HistoryEntry(
        event_id=event.event_id,
        event_type=event.event_type,
        at=event.occurred_at,
        department=event.department,
        actor=event.actor,
        summary=change.summary,
        details=_with_attachments(change.details, event),
    )
    update = {**change.updates, "updated_at": event.occurred_at, "history": (*state.history, entry)}
    return state.model_copy(update=update)


def apply(state: TicketRecord | None, event: Event) -> TicketRecord:
    """The ticket after ``event``; an already-applied event leaves it unchanged."""
    if state is not None and state.has_applied(event.event_id):
        return state
    if state is not None and state.ticket_id != event.ticket_id:
        refuse(state, f"event is for ticket {event.ticket_id}", "事件不属于本工单")
    if isinstance(event, TicketRouted):
        return _withdrawals_of_co_departments(_apply_routed(state, event))
    if state is None:
        raise TransitionRefused(f"unknown ticket {event.ticket_id} / 工单不存在")
    if isinstance(event, SlaEvent):
        return _sla_recorded(state, event)
    if not isinstance(event, DepartmentAction):
        refuse(state, f"{type(event).__name__} does not apply to tickets", "此事件不适用于工单")
    current = _backfilled(state)
    return _withdrawals_of_co_departments(_commit(current, event, _decide(current, event)))


def _withdrawals_of_co_departments(state: TicketRecord) -> TicketRecord:
    """A withdrawal request lapses when its department is no longer co-handling (re-routed, dispatched)."""
    kept = tuple(code for code in state.pending_withdrawals if code in state.co_departments)
    if kept == state.pending_withdrawals:
        return state
    return state.model_copy(update={"pending_withdrawals": kept})


# ---------------------------------------------------------------- inboxes

_OPEN_BUCKETS = frozenset({*OPEN_STATUSES, TicketStatus.triage})


def _bucket(record: TicketRecord, row: Assignment | None) -> InboxBucket | None:
    if row is None:  # a record written before assignments existed
        return InboxBucket.new if record.status in (TicketStatus.triage, TicketStatus.routed) else None
    if not row.active:
        return None
    if row.accepted_at is None:
        return InboxBucket.new
    if row.role is AssignmentRole.co:
        return InboxBucket.co_handling
    if record.status is TicketStatus.awaiting_enterprise:
        return InboxBucket.awaiting_enterprise
    return InboxBucket.in_progress


def inbox_buckets(record: TicketRecord | None) -> dict[str, InboxBucket]:
    """Which inbox bucket the ticket occupies for each department that still owes work on it.

    Nothing once resolved, closed or awaiting re-routing; a co-department leaves
    its inbox when it reports done or bounces; "new" until that department accepted,
    then "co_handling" for a co-department and "in_progress" / "awaiting_enterprise" for the lead.
    """
    if record is None or record.status not in _OPEN_BUCKETS:
        return {}
    buckets = {code: _bucket(record, record.current_assignment(code)) for code in record.departments}
    return {code: bucket for code, bucket in buckets.items() if bucket is not None}


def inbox_deadline(record: TicketRecord, department: str) -> datetime:
    """What a department's inbox sorts the ticket by: the deadline its part runs against now.

    Accept-by (签收期限) until the department accepted, then resolve-by (办结期限); the routing
    time for a ticket without SLA clocks. The recorder scores the inbox indexes with it.
    """
    clock = record.sla
    if clock is None:
        return record.routed_at
    row = record.current_assignment(department)
    accepted = row.accepted_at if row is not None else clock.accepted_at
    return clock.accept_due_at if accepted is None else clock.resolve_due_at


# ---------------------------------------------------------------- what the pages and clients ask


def refusal(state: TicketRecord, action: type[DepartmentAction], department: str) -> TransitionRefused | None:
    """Why ``department`` may not take ``action`` on this ticket whatever it fills in, or ``None``.

    The action's guard alone: what its transition refuses before reading the event's fields.
    The ticket page offers only the forms this allows; the server still runs the whole transition.
    """
    if action not in TRANSITIONS:
        return TransitionRefused(
            f"{state.ticket_id}: {action.__name__} does not apply to tickets / 此事件不适用于工单"
        )
    try:
        GUARDS[action](_backfilled(state), department)
    except TransitionRefused as refused:
        return refused
    return None


companion_events = office_desk.companion_events
