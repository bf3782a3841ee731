"""The recorded ticket: current state plus its full history, as the consumers keep it."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.events import Priority, RuleHit, TicketSubmitted
from schemas.feedback import BounceReason, RatedBy, Rating
from schemas.sla import SlaClock


class TicketStatus(StrEnum):
    triage = "triage"
    routed = "routed"
    accepted = "accepted"
    in_progress = "in_progress"
    awaiting_enterprise = "awaiting_enterprise"
    resolved = "resolved"
    closed = "closed"
    rerouting = "rerouting"

    @property
    def label(self) -> str:
        return STATUS_LABELS[self]


STATUS_LABELS: dict[TicketStatus, str] = {
    TicketStatus.triage: "待人工分派",
    TicketStatus.routed: "待签收",
    TicketStatus.accepted: "已签收",
    TicketStatus.in_progress: "办理中",
    TicketStatus.awaiting_enterprise: "待企业补充",
    TicketStatus.resolved: "已办结",
    TicketStatus.closed: "已回访归档",
    TicketStatus.rerouting: "已退单待重新派单",
}

OPEN_STATUSES: frozenset[TicketStatus] = frozenset(
    {TicketStatus.routed, TicketStatus.accepted, TicketStatus.in_progress, TicketStatus.awaiting_enterprise}
)
"""Statuses in which departments work on the ticket (accept, note, bounce, co-done, convene)."""


class InboxBucket(StrEnum):
    """How a ticket sits in a department's inbox."""

    new = "new"
    in_progress = "in_progress"
    awaiting_enterprise = "awaiting_enterprise"
    co_handling = "co_handling"
    """a co-department's accepted share of a ticket another department leads"""

    @property
    def label(self) -> str:
        return {
            "new": "新派单",
            "in_progress": "办理中",
            "awaiting_enterprise": "待企业补充",
            "co_handling": "协办中",
        }[self.value]


class HistoryEntry(BaseModel):
    """One applied event, in order, readable by people."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    event_type: str
    at: AwareDatetime
    department: str | None = None
    actor: str | None = None
    summary: str
    details: dict[str, Any] = {}


class AssignmentRole(StrEnum):
    triage = "triage"
    lead = "lead"
    co = "co"

    @property
    def label(self) -> str:
        return {"triage": "人工分派", "lead": "主办", "co": "协办"}[self.value]


class ReleaseReason(StrEnum):
    """Why a department's assignment ended before (or instead of) being done."""

    bounced = "bounced"
    rerouted = "rerouted"
    overridden = "overridden"
    withdrawn = "withdrawn"
    """a co-department the office let leave (申请退出协办, approved)"""
    closed = "closed"
    """the office closed the ticket unhandled (invalid, spam, merged as a duplicate)"""


class Assignment(BaseModel):
    """One department's spell on a ticket in one role: the per-department clock.

    A new row starts whenever a department is (re-)engaged: routing, dispatch,
    joint meeting, or a reopen (a new round for the lead). The clock runs from
    ``assigned_at`` to ``done_at`` (lead: resolved; co: reported done) or
    ``released_at`` (bounced, re-routed away, or resolved over by the lead).
    """

    model_config = ConfigDict(frozen=True)

    department: str
    role: AssignmentRole
    assigned_at: AwareDatetime
    accepted_at: AwareDatetime | None = None
    done_at: AwareDatetime | None = None
    released_at: AwareDatetime | None = None
    release_reason: ReleaseReason | None = None

    @property
    def ended_at(self) -> datetime | None:
        return self.done_at or self.released_at

    @property
    def active(self) -> bool:
        """Still engaged and not finished: the department owes work on this row."""
        return self.ended_at is None

    def handling_time(self, now: datetime) -> timedelta:
        """Wall-clock time on this row up to ``now`` (business-time SLA maths is elsewhere)."""
        return (self.ended_at or now) - self.assigned_at


class Bounce(BaseModel):
    """One 退单, kept for the router (exclusions, suggestion) and for reporting."""

    model_config = ConfigDict(frozen=True)

    department: str
    role: AssignmentRole
    reason: BounceReason
    note: str
    suggested_department: str | None = None
    at: AwareDatetime


class RatingRecord(BaseModel):
    """One 回访 result; ``round`` is the resolution round it rated (0 = the first)."""

    model_config = ConfigDict(frozen=True)

    rating: Rating
    rated_by: RatedBy
    comment: str | None = None
    at: AwareDatetime
    round: int
    contacted: bool | None = Field(default=None, exclude_if=lambda value: value is None)
    """回访: did the department contact the enterprise? None: not asked (older callbacks)."""
    solved: bool | None = Field(default=None, exclude_if=lambda value: value is None)
    """回访: was the problem solved? None: not asked."""
    final_answer: bool = Field(default=False, exclude_if=lambda value: not value)
    """The office certified the answer as final (最终答复). Unset fields stay out of the stored
    JSON, so a ticket rated before these questions existed keeps its bytes."""

    @property
    def was_contacted(self) -> bool:
        """Contacted, counting an unasked callback as contacted (it reached the enterprise)."""
        return self.contacted is not False

    @property
    def problem_solved(self) -> bool:
        """Solved as the enterprise said, or, unasked, as its rating says (满意 / 基本满意 close)."""
        return self.rating.closes if self.solved is None else self.solved


class ClosureKind(StrEnum):
    """Why the office closed a ticket without it being resolved and rated."""

    invalid = "invalid"
    spam = "spam"
    duplicate = "duplicate"

    @property
    def label(self) -> str:
        return {"invalid": "无效诉求", "spam": "骚扰或垃圾信息", "duplicate": "重复工单"}[self.value]


class Closure(BaseModel):
    """A ticket the office closed unhandled: kept for the record, left out of the three rates."""

    model_config = ConfigDict(frozen=True)

    kind: ClosureKind
    reason: str | None = None
    merged_into: str | None = None
    """For a duplicate: the ticket kept, which carries on."""
    at: AwareDatetime


class TicketRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    ticket_id: str
    status: TicketStatus
    submission: TicketSubmitted
    category: str
    confidence: float
    lead_department: str
    co_departments: tuple[str, ...]
    priority: Priority
    manual_triage: bool
    key_enterprise: bool
    key_project: str | None
    policy_version: str
    rules_fired: tuple[RuleHit, ...]
    routed_at: AwareDatetime
    updated_at: AwareDatetime
    history: tuple[HistoryEntry, ...]
    assignments: tuple[Assignment, ...] = ()
    bounced_by: tuple[str, ...] = ()
    bounces: tuple[Bounce, ...] = ()
    reopen_count: int = 0
    ratings: tuple[RatingRecord, ...] = ()
    resolution: str | None = None
    resolved_at: AwareDatetime | None = None
    sla: SlaClock | None = None
    pending_extension: str | None = None
    reroute_request_id: str | None = None
    """While ``rerouting``: the id of the RerouteRequested whose answer may route the ticket again."""
    closure: Closure | None = Field(default=None, exclude_if=lambda value: value is None)
    """Set when the office closed the ticket as invalid, spam or a duplicate (status ``closed``).
    Left out of the JSON while unset (like ``pending_withdrawals`` while empty), so the stored
    form of every other ticket stays byte for byte what it was."""
    pending_withdrawals: tuple[str, ...] = Field(default=(), exclude_if=lambda value: not value)
    """Co-departments whose request to leave the ticket waits for the office."""

    @property
    def status_label(self) -> str:
        """The status as people read it: a ticket the office closed unhandled says why."""
        if self.closure is not None:
            return f"已关闭（{self.closure.kind.label}）"
        return self.status.label

    @property
    def excluded_from_rates(self) -> bool:
        """Closed as invalid, spam or a duplicate: the response, on-time and satisfaction rates
        leave this ticket out (the kept ticket of a duplicate counts once)."""
        return self.closure is not None

    @property
    def merged_duplicates(self) -> tuple[str, ...]:
        """The tickets merged into this one as duplicates, in order."""
        return tuple(str(h.details["duplicate"]) for h in self.history if h.event_type == "DuplicateMerged")

    @property
    def departments(self) -> tuple[str, ...]:
        return (self.lead_department, *self.co_departments)

    def current_assignment(self, department: str) -> Assignment | None:
        """The department's latest row, if it is the lead or a co-department now."""
        if department not in self.departments:
            return None
        rows = [a for a in self.assignments if a.department == department]
        return rows[-1] if rows else None

    def handling_time(self, department: str, now: datetime) -> timedelta:
        """Total time across every row of one department (all rounds, all roles)."""
        rows = [a for a in self.assignments if a.department == department]
        return sum((a.handling_time(now) for a in rows), timedelta())

    def has_applied(self, event_id: str) -> bool:
        return any(entry.event_id == event_id for entry in self.history)
