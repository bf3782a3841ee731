"""Events: the one contract between intake channels, the router and the consumers.

Every event is a frozen pydantic model named as a past-tense fact, carrying
``event_id``, ``ticket_id``, a timezone-aware ``occurred_at`` and
``schema_version``. Nothing here imports Kafka, Faust or Redis.
"""

from __future__ import annotations

import hashlib
import unicodedata
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

DISTRICT_ZONE = ZoneInfo("Asia/Shanghai")
SCHEMA_VERSION = 1

MAX_TITLE_CHARS = 200
MAX_TEXT_CHARS = 5000
MAX_SHORT_CHARS = 200


def normalise_text(value: str) -> str:
    """NFKC-normalise and trim: full-width digits and letters become ASCII."""
    return unicodedata.normalize("NFKC", value).strip()


def _normalise_input(value: Any) -> Any:
    return normalise_text(value) if isinstance(value, str) else value


def _normalise_optional(value: Any) -> Any:
    if isinstance(value, str):
        return normalise_text(value) or None
    return value


# Before-validators, so that length limits apply to the normalised, trimmed text.
NormalisedText = Annotated[str, BeforeValidator(_normalise_input)]
OptionalText = Annotated[str | None, BeforeValidator(_normalise_optional)]


def new_event_id() -> str:
    return uuid.uuid4().hex


def ticket_id_for(channel: str, channel_message_id: str, submitted_at: datetime) -> str:
    """A stable, human-typable ticket id: the same channel message always maps to one id."""
    digest = hashlib.sha1(f"{channel}\x1f{channel_message_id}".encode()).hexdigest()[:8].upper()
    day = submitted_at.astimezone(DISTRICT_ZONE).strftime("%Y%m%d")
    return f"ZTC-{day}-{digest}"


class Channel(StrEnum):
    """Where a request came in."""

    wechat_group = "wechat_group"
    hotline = "hotline"
    web_form = "web_form"
    street_visit = "street_visit"
    api = "api"
    cli = "cli"


class Priority(StrEnum):
    normal = "normal"
    high = "high"
    urgent = "urgent"

    @property
    def rank(self) -> int:
        return {"normal": 0, "high": 1, "urgent": 2}[self.value]


class Event(BaseModel):
    """Common envelope fields of every ZTC event."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    event_type: ClassVar[str] = "Event"

    event_id: str = Field(default_factory=new_event_id, min_length=1, max_length=64)
    ticket_id: str = Field(min_length=1, max_length=64)
    occurred_at: AwareDatetime
    schema_version: int = SCHEMA_VERSION

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value != SCHEMA_VERSION:
            raise ValueError(f"unsupported schema_version {value}, this build reads {SCHEMA_VERSION}")
        return value


class TicketSubmitted(Event):
    """An enterprise's request as an intake channel received it."""

    event_type: ClassVar[str] = "TicketSubmitted"
    type: Literal["TicketSubmitted"] = "TicketSubmitted"

    channel: Channel
    channel_message_id: NormalisedText = Field(min_length=1, max_length=MAX_SHORT_CHARS)
    enterprise_name: OptionalText = Field(default=None, max_length=MAX_SHORT_CHARS)
    credit_code: OptionalText = Field(
        default=None,
        pattern=r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$",
        description="统一社会信用代码 (18 characters)",
    )
    contact: OptionalText = Field(default=None, max_length=MAX_SHORT_CHARS)
    street: OptionalText = Field(default=None, max_length=MAX_SHORT_CHARS)
    project_name: OptionalText = Field(default=None, max_length=MAX_SHORT_CHARS)
    title: NormalisedText = Field(min_length=1, max_length=MAX_TITLE_CHARS)
    text: NormalisedText = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    submitted_at: AwareDatetime

    @field_validator("credit_code", mode="before")
    @classmethod
    def _upper_code(cls, value: Any) -> Any:
        return normalise_text(value).upper() if isinstance(value, str) else value

    @property
    def dedupe_key(self) -> str:
        """The same channel + channel message id is one ticket, however often it is published."""
        return f"{self.channel.value}:{self.channel_message_id}"


class RuleHit(BaseModel):
    """One policy rule that fired, with its weight: the explanation of a decision."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule_id: str
    category: str | None
    weight: float
    matched: str


class TicketRouted(Event):
    """The router's decision: who leads, who co-operates, how urgent, and why."""

    event_type: ClassVar[str] = "TicketRouted"
    type: Literal["TicketRouted"] = "TicketRouted"

    submission: TicketSubmitted
    category: str
    confidence: float = Field(ge=0.0, le=1.0)
    lead_department: str
    co_departments: tuple[str, ...] = ()
    priority: Priority
    manual_triage: bool = False
    rules_fired: tuple[RuleHit, ...] = ()
    key_enterprise: bool = False
    key_project: str | None = None
    policy_version: str
    sla_tier: str | None = None
    accept_due_at: AwareDatetime | None = None
    resolve_due_at: AwareDatetime | None = None

    @property
    def departments(self) -> tuple[str, ...]:
        return (self.lead_department, *self.co_departments)


class RerouteRequested(Event):
    """A lead department bounced the ticket: route it again without the departments that bounced it."""

    event_type: ClassVar[str] = "RerouteRequested"
    type: Literal["RerouteRequested"] = "RerouteRequested"

    submission: TicketSubmitted
    excluded_departments: tuple[str, ...]
    reason: str
    bounce_event_id: str


def derived_event_id(kind: str, source_event_id: str) -> str:
    """A deterministic id for an event caused by another, so redelivery never doubles it."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"ztc:{kind}:{source_event_id}").hex


class DeadLettered(Event):
    """An input that could not be processed, kept with its reason and original bytes."""

    event_type: ClassVar[str] = "DeadLettered"
    type: Literal["DeadLettered"] = "DeadLettered"

    ticket_id: str = Field(default="-", min_length=1, max_length=64)
    source_topic: str
    source_partition: int | None = None
    source_offset: int | None = None
    stage: str
    reason: str
    original_b64: str
    original_preview: str


EVENT_TYPES: tuple[type[Event], ...] = (TicketSubmitted, TicketRouted, RerouteRequested, DeadLettered)


def now_in_district() -> datetime:
    """The current moment in the district's zone; for edges only, never the pure core."""
    return datetime.now(DISTRICT_ZONE)
