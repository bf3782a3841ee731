"""SLA contracts: the SLA section of the policy, a ticket's clocks, and the monitor's events."""

from __future__ import annotations

from datetime import date, time
from enum import StrEnum
from typing import Annotated, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from schemas.events import Event, EventTime, Identifier, Priority


class SlaStage(StrEnum):
    accept = "accept"
    resolve = "resolve"

    @property
    def label(self) -> str:
        return {"accept": "签收", "resolve": "办结"}[self.value]


class EscalationLevel(BaseModel):
    """One rung of the escalation ladder, counted from the breach."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    level: int = Field(ge=1)
    name: str = Field(min_length=1, description="e.g. reminder / supervision / notice")
    label: str = Field(min_length=1, description="e.g. 催办 / 督办 / 通报")
    after: str = Field(description="delay after the breach, e.g. '0 seconds', '1 working day'")
    notify: Literal["department", "office"] = "department"


class SlaTier(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    label: str = ""
    accept: str = Field(description="time to accept (签收), e.g. '1 working day' or '2 hours'")
    resolve: str = Field(description="time to resolve (办结), e.g. '7 working days'")


class SlaRule(BaseModel):
    """Which tier a ticket gets: the first rule whose conditions all match wins."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tier: str
    categories: tuple[str, ...] = ()
    priorities: tuple[Priority, ...] = ()
    key: bool | None = Field(default=None, description="True: only key enterprises/projects")


def _default_tiers() -> tuple[SlaTier, ...]:
    return (
        SlaTier(name="urgent", label="紧急", accept="2 hours", resolve="24 hours"),
        SlaTier(name="ordinary", label="一般", accept="1 working day", resolve="7 working days"),
        SlaTier(name="complex", label="复杂", accept="1 working day", resolve="15 working days"),
        SlaTier(name="enquiry", label="咨询", accept="1 working day", resolve="3 working days"),
    )


def _default_ladder() -> tuple[EscalationLevel, ...]:
    return (
        EscalationLevel(level=1, name="reminder", label="催办", after="0 seconds", notify="department"),
        EscalationLevel(level=2, name="supervision", label="督办", after="1 working day", notify="office"),
        EscalationLevel(level=3, name="notice", label="通报", after="5 working days", notify="office"),
    )


class SlaPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    working_periods: tuple[tuple[time, time], ...] = (
        (time(8, 30), time(12, 0)),
        (time(13, 30), time(17, 30)),
    )
    holidays: tuple[date, ...] = Field(
        default=(), description="extra non-working days (years not yet packaged)"
    )
    workdays: tuple[date, ...] = Field(default=(), description="extra working days, e.g. 调休 Saturdays")
    warning_share: float = Field(default=0.8, gt=0.0, lt=1.0)
    hold_outside_working_hours: bool = True
    tiers: tuple[SlaTier, ...] = Field(default_factory=_default_tiers)
    rules: tuple[SlaRule, ...] = (SlaRule(tier="urgent", priorities=(Priority.urgent,)),)
    default_tier: str = "ordinary"
    escalation: tuple[EscalationLevel, ...] = Field(default_factory=_default_ladder)

    @field_validator("working_periods")
    @classmethod
    def _ordered(cls, periods: tuple[tuple[time, time], ...]) -> tuple[tuple[time, time], ...]:
        if not periods:
            raise ValueError("needs at least one working period")
        for start, end in periods:
            if start >= end:
                raise ValueError(f"period {start}-{end} ends before it starts")
        return periods

    def tier(self, name: str) -> SlaTier | None:
        return next((t for t in self.tiers if t.name == name), None)


class SlaOutcome(BaseModel):
    """One stage decided for the lead of one round: met (accepted / resolved by the deadline) or missed.

    Missed is decided at the breach (the monitor's SlaBreached) or, when no breach
    was recorded, by a late accept / resolve; a stage missed stays missed.
    """

    model_config = ConfigDict(frozen=True)

    stage: SlaStage
    department: str
    round: int
    due_at: EventTime
    decided_at: EventTime
    met: bool


class SlaClock(BaseModel):
    """A ticket's SLA state: tier, current deadlines, pauses and what was already emitted."""

    model_config = ConfigDict(frozen=True)

    tier: str
    urgent: bool = False
    round: int = Field(default=0, description="increments whenever the clocks restart (re-route, reopen)")
    accept_started_at: EventTime
    accept_due_at: EventTime
    accepted_at: EventTime | None = None
    resolve_started_at: EventTime
    resolve_due_at: EventTime
    resolved_at: EventTime | None = None
    paused_since: EventTime | None = None
    paused_seconds: int = Field(default=0, description="business seconds paused awaiting the enterprise")
    extensions: int = 0
    emitted: tuple[str, ...] = Field(default=(), description="keys of SLA events recorded for this ticket")
    breached: tuple[SlaStage, ...] = ()
    escalation_level: int = 0
    outcomes: tuple[SlaOutcome, ...] | None = Field(
        default=None,
        description="decided stages of every round; None: recorded before outcomes were kept",
    )


class SlaEvent(Event):
    """Common fields of the monitor's events."""

    label: ClassVar[str] = "时限"

    stage: SlaStage
    department: Identifier
    due_at: EventTime
    round: int = 0
    key: Identifier = Field(description="ticket:stage:kind:round — one event per key, ever")

    @model_validator(mode="after")
    def _key_of_its_ticket(self) -> Self:
        if not self.key.startswith(f"{self.ticket_id}:"):
            raise ValueError(f"key {self.key} is not an alert of ticket {self.ticket_id}")
        return self


class SlaWarning(SlaEvent):
    event_type: ClassVar[str] = "SlaWarning"
    label: ClassVar[str] = "临期预警"
    type: Literal["SlaWarning"] = "SlaWarning"

    share: float


class SlaBreached(SlaEvent):
    event_type: ClassVar[str] = "SlaBreached"
    label: ClassVar[str] = "超期"
    type: Literal["SlaBreached"] = "SlaBreached"


class SlaEscalated(SlaEvent):
    event_type: ClassVar[str] = "SlaEscalated"
    label: ClassVar[str] = "升级督办"
    type: Literal["SlaEscalated"] = "SlaEscalated"

    level: int = Field(ge=1)
    level_name: str
    level_label: str
    notify: Literal["department", "office"]


SLA_EVENT_TYPES: tuple[type[SlaEvent], ...] = (SlaWarning, SlaBreached, SlaEscalated)
SLA_EVENT_ADAPTER: TypeAdapter[SlaWarning | SlaBreached | SlaEscalated] = TypeAdapter(
    Annotated[SlaWarning | SlaBreached | SlaEscalated, Field(discriminator="type")],
    config=ConfigDict(defer_build=True),  # built on first use
)
