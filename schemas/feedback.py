"""Feedback events: the department work loop 接单—派单—反馈 after routing.

Every event names its acting ``department`` (a department code, or ``enterprise`` for the
enterprise itself) and ``actor`` (a person or system), and is a frozen, past-tense fact.
``parse_feedback`` decodes any of them from the feedback topic (one union on ``type``).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Self, get_args

from pydantic import Field, TypeAdapter, ValidationError, field_validator, model_validator

from schemas.attachments import AttachedFiles
from schemas.events import (
    MAX_SHORT_CHARS,
    MAX_TEXT_CHARS,
    Event,
    FreeText,
    KeptText,
    NormalisedIdentifier,
    OptionalText,
)
from schemas.feedback_choices import Answer as Answer  # re-exported
from schemas.feedback_choices import BounceReason as BounceReason
from schemas.feedback_choices import InvalidKind as InvalidKind
from schemas.feedback_choices import RatedBy as RatedBy
from schemas.feedback_choices import Rating as Rating

OFFICE = "office"
"""The district office's department code: dispatches, convenes, supervises, acts for the enterprise."""
ENTERPRISE = "enterprise"
"""The ``department`` of an action taken by the enterprise itself."""

DepartmentCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*$", max_length=64)]
"""Lower-case ASCII only: the pattern also keeps control characters and blanks out."""
Actor = Annotated[NormalisedIdentifier, Field(min_length=1, max_length=MAX_SHORT_CHARS)]
"""A person or system: an identifier (no control characters, not blank), normalised like text."""
Text = Annotated[KeptText, Field(min_length=1, max_length=MAX_TEXT_CHARS)]


class DepartmentAction(Event):
    """Fields common to every feedback event: who acted."""

    label: ClassVar[str] = "反馈"

    department: DepartmentCode
    actor: Actor


class TicketAccepted(DepartmentAction):
    """签收: the lead takes the ticket on, or a co-department acknowledges its part."""

    event_type: ClassVar[str] = "TicketAccepted"
    label: ClassVar[str] = "签收"
    type: Literal["TicketAccepted"] = "TicketAccepted"

    note: OptionalText = Field(default=None, max_length=MAX_TEXT_CHARS)


class ProgressNoted(DepartmentAction):
    """进展: the lead reports progress."""

    event_type: ClassVar[str] = "ProgressNoted"
    label: ClassVar[str] = "进展"
    type: Literal["ProgressNoted"] = "ProgressNoted"

    note: Text


class InformationRequested(DepartmentAction):
    """需企业补充材料: the ticket waits for the enterprise."""

    event_type: ClassVar[str] = "InformationRequested"
    label: ClassVar[str] = "需企业补充材料"
    type: Literal["InformationRequested"] = "InformationRequested"

    question: Text


class InformationSupplied(DepartmentAction):
    """企业已补充: by the enterprise, the office on its behalf, or the lead that received it."""

    event_type: ClassVar[str] = "InformationSupplied"
    label: ClassVar[str] = "企业已补充材料"
    type: Literal["InformationSupplied"] = "InformationSupplied"

    content: Text
    attachments: AttachedFiles = ()


class TicketBounced(DepartmentAction):
    """退单: the lead hands the ticket back for re-routing, or a co-department leaves it."""

    event_type: ClassVar[str] = "TicketBounced"
    label: ClassVar[str] = "退单"
    type: Literal["TicketBounced"] = "TicketBounced"

    reason: BounceReason
    note: Text
    suggested_department: DepartmentCode | None = None


class CoDepartmentDone(DepartmentAction):
    """协办完成: a co-department finished its part."""

    event_type: ClassVar[str] = "CoDepartmentDone"
    label: ClassVar[str] = "协办完成"
    type: Literal["CoDepartmentDone"] = "CoDepartmentDone"

    note: Text


class TicketResolved(DepartmentAction):
    """办结: the lead resolves; ``override_reason`` when a co-department is not done yet."""

    event_type: ClassVar[str] = "TicketResolved"
    label: ClassVar[str] = "办结"
    type: Literal["TicketResolved"] = "TicketResolved"

    resolution: Text
    override_reason: OptionalText = Field(default=None, max_length=MAX_TEXT_CHARS)
    attachments: AttachedFiles = ()


class TicketReopened(DepartmentAction):
    """重办: the office reopens a resolved or closed ticket to the same lead."""

    event_type: ClassVar[str] = "TicketReopened"
    label: ClassVar[str] = "重办"
    type: Literal["TicketReopened"] = "TicketReopened"

    reason: Text


class TicketDispatched(DepartmentAction):
    """人工派单: the office's manual routing of a ticket in triage or awaiting re-routing."""

    event_type: ClassVar[str] = "TicketDispatched"
    label: ClassVar[str] = "人工派单"
    type: Literal["TicketDispatched"] = "TicketDispatched"

    lead_department: DepartmentCode
    co_departments: tuple[DepartmentCode, ...] = ()
    note: OptionalText = Field(default=None, max_length=MAX_TEXT_CHARS)

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        if self.lead_department in self.co_departments:
            raise ValueError("lead_department must not also be a co-department")
        if len(set(self.co_departments)) != len(self.co_departments):
            raise ValueError("co_departments must not repeat a department")
        if ENTERPRISE in self.departments:
            raise ValueError("the enterprise cannot be dispatched to")
        return self

    @property
    def departments(self) -> tuple[str, ...]:
        return (self.lead_department, *self.co_departments)


class JointMeetingConvened(DepartmentAction):
    """联席会议: the office or the lead brings ``departments`` in as co-departments."""

    event_type: ClassVar[str] = "JointMeetingConvened"
    label: ClassVar[str] = "联席会议"
    type: Literal["JointMeetingConvened"] = "JointMeetingConvened"

    departments: tuple[DepartmentCode, ...] = Field(min_length=1)
    note: Text

    @model_validator(mode="after")
    def _no_enterprise(self) -> Self:
        if ENTERPRISE in self.departments:
            raise ValueError("the enterprise cannot be a co-department")
        return self


class SatisfactionRated(DepartmentAction):
    """回访: the enterprise's rating, or the office's on its behalf; ``department`` is the rater."""

    event_type: ClassVar[str] = "SatisfactionRated"
    label: ClassVar[str] = "回访"
    type: Literal["SatisfactionRated"] = "SatisfactionRated"

    rating: Rating
    comment: OptionalText = Field(default=None, max_length=MAX_TEXT_CHARS)
    rated_by: RatedBy
    contacted: Answer | None = None
    """Did the department contact the enterprise (响应)? Unasked (older callbacks): counted as yes."""
    solved: Answer | None = None
    """Was the problem solved (解决)? Unasked: yes when the rating closes the ticket."""
    final_answer: Answer | None = None
    """The office certifies the answer as final (最终答复): the policy may leave it out of the rates."""

    @model_validator(mode="after")
    def _rater_is_department(self) -> Self:
        if self.department != self.rated_by.value:
            raise ValueError(f"department must be {self.rated_by.value!r} when rated_by is {self.rated_by}")
        if self.final_answer is Answer.yes and self.rated_by is not RatedBy.office:
            raise ValueError(
                "only the office certifies a final answer (最终答复) / 仅区政府办公室可认定最终答复"
            )
        return self


class ExtensionRequested(DepartmentAction):
    """延期申请: the lead asks for more time to resolve; the office approves it or not."""

    event_type: ClassVar[str] = "ExtensionRequested"
    label: ClassVar[str] = "延期申请"
    type: Literal["ExtensionRequested"] = "ExtensionRequested"

    extension: FreeText = Field(min_length=1, max_length=60, description="e.g. '5 working days'")
    reason: Text


class ExtensionApproved(DepartmentAction):
    """延期批准: the office moves the resolve deadline by the requested extension."""

    event_type: ClassVar[str] = "ExtensionApproved"
    label: ClassVar[str] = "延期批准"
    type: Literal["ExtensionApproved"] = "ExtensionApproved"

    note: OptionalText = Field(default=None, max_length=MAX_TEXT_CHARS)


class ExtensionRejected(DepartmentAction):
    """不予延期: the office turns the pending extension request down; the deadline stays."""

    event_type: ClassVar[str] = "ExtensionRejected"
    label: ClassVar[str] = "不予延期"
    type: Literal["ExtensionRejected"] = "ExtensionRejected"

    reason: Text


class TicketMerged(DepartmentAction):
    """合并重复工单: the office closes this ticket as a duplicate of ``into``, which is kept."""

    event_type: ClassVar[str] = "TicketMerged"
    label: ClassVar[str] = "合并重复工单"
    type: Literal["TicketMerged"] = "TicketMerged"

    into: NormalisedIdentifier = Field(min_length=1, max_length=64, description="the ticket kept")
    note: OptionalText = Field(default=None, max_length=MAX_TEXT_CHARS)

    @field_validator("into")
    @classmethod
    def _upper(cls, value: str) -> str:
        """Ticket ids are upper case; people type them in any case."""
        return value.upper()


class DuplicateMerged(DepartmentAction):
    """并入重复工单: the kept ticket's note that ``duplicate`` was merged into it.

    Never taken by a person: the recorder publishes it once it recorded the
    ``TicketMerged`` on the duplicate (``schemas.ticket_state.companion_events``),
    so it has no entry in the action registry."""

    event_type: ClassVar[str] = "DuplicateMerged"
    label: ClassVar[str] = "并入重复工单"
    type: Literal["DuplicateMerged"] = "DuplicateMerged"

    duplicate: NormalisedIdentifier = Field(min_length=1, max_length=64)
    note: OptionalText = Field(default=None, max_length=MAX_TEXT_CHARS)


class TicketClosedInvalid(DepartmentAction):
    """无效工单关闭: the office closes an invalid or spam ticket with its reason; it leaves the rates."""

    event_type: ClassVar[str] = "TicketClosedInvalid"
    label: ClassVar[str] = "关闭无效工单"
    type: Literal["TicketClosedInvalid"] = "TicketClosedInvalid"

    kind: InvalidKind
    reason: Text


class WithdrawalRequested(DepartmentAction):
    """申请退出协办: a co-department asks the office to let it leave the ticket."""

    event_type: ClassVar[str] = "WithdrawalRequested"
    label: ClassVar[str] = "申请退出协办"
    type: Literal["WithdrawalRequested"] = "WithdrawalRequested"

    reason: Text


class WithdrawalApproved(DepartmentAction):
    """同意退出协办: the office releases the co-department (the only one asking, unless named)."""

    event_type: ClassVar[str] = "WithdrawalApproved"
    label: ClassVar[str] = "同意退出协办"
    type: Literal["WithdrawalApproved"] = "WithdrawalApproved"

    withdrawing: DepartmentCode | None = None
    note: OptionalText = Field(default=None, max_length=MAX_TEXT_CHARS)


class WithdrawalRefused(DepartmentAction):
    """不同意退出协办: the co-department stays on the ticket (the only one asking, unless named)."""

    event_type: ClassVar[str] = "WithdrawalRefused"
    label: ClassVar[str] = "不同意退出协办"
    type: Literal["WithdrawalRefused"] = "WithdrawalRefused"

    withdrawing: DepartmentCode | None = None
    reason: Text


FeedbackEvent = Annotated[
    TicketAccepted
    | ProgressNoted
    | InformationRequested
    | InformationSupplied
    | TicketBounced
    | CoDepartmentDone
    | TicketResolved
    | TicketReopened
    | TicketDispatched
    | JointMeetingConvened
    | SatisfactionRated
    | ExtensionRequested
    | ExtensionApproved
    | ExtensionRejected
    | TicketMerged
    | DuplicateMerged
    | TicketClosedInvalid
    | WithdrawalRequested
    | WithdrawalApproved
    | WithdrawalRefused,
    Field(discriminator="type"),
]

FEEDBACK_EVENT_TYPES: tuple[type[DepartmentAction], ...] = get_args(get_args(FeedbackEvent)[0])
"""Every department action, in the union's order (the action registry has one entry for each,
except the ``FOLLOW_UP_EVENTS``)."""

FOLLOW_UP_EVENTS: frozenset[type[DepartmentAction]] = frozenset({DuplicateMerged})
"""Recorded like the others, but published by the recorder after another event, never by a person."""

FEEDBACK_LABELS: dict[str, str] = {cls.event_type: cls.label for cls in FEEDBACK_EVENT_TYPES}

_FEEDBACK_ADAPTER: TypeAdapter[FeedbackEvent] = TypeAdapter(FeedbackEvent, config={"defer_build": True})


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        path = ".".join(str(p) for p in error["loc"]) or "(root)"
        parts.append(f"{path}: {error['msg']}")
    return "; ".join(parts)


def parse_feedback(raw: bytes | str) -> FeedbackEvent:
    """Decode one feedback event; raise ValueError with a one-line, readable reason.

    pydantic's own JSON parser is bounded (nesting limit, no NaN, readable errors), so poison
    ends in a ValueError here too; callers check the size first (the recorder does).
    """
    if not raw:
        raise ValueError("empty message")
    try:
        return _FEEDBACK_ADAPTER.validate_json(raw)
    except ValidationError as exc:
        raise ValueError(f"schema: {_describe(exc)}") from None
