"""Events: the one contract between intake channels, the router and the consumers.

Every event is a frozen pydantic model named as a past-tense fact, carrying
``event_id``, ``ticket_id``, a timezone-aware ``occurred_at`` and
``schema_version``. Nothing here imports Kafka, Faust or Redis.

Input strictness (every event read from a topic or an HTTP body goes through here):

- ``schema_version`` is a real integer: ``true``, ``1.0`` and ``"1"`` are refused;
- every date-time field (:data:`EventTime`) takes a ``datetime`` or an ISO-8601
  string with a time and an offset, never a number (``12345`` is not 1970);
- free text (:data:`KeptText`, :data:`OptionalText`, :data:`FreeText`) refuses
  control characters except tab, newline and carriage return: C0, DEL, C1 and
  lone surrogates. U+2028/U+2029 (line/paragraph separator) are kept in free
  text: they are legitimate in pasted documents and every consumer renders text
  escaped;
- identifiers (:data:`Identifier`: event, ticket and channel message ids,
  departments, actors) refuse every control or format character (categories
  Cc, Cf, Cs, Zl, Zp: also U+2028/2029, zero-width and bidi marks) and
  whitespace-only values.
"""

from __future__ import annotations

import base64
import hashlib
import re
import unicodedata
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, Self
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    field_validator,
    model_validator,
)

from schemas.attachments import AttachedFiles
from schemas.model_stamp import ModelSha256, ModelVersion
from schemas.ticket_ids import canonical_ticket_id as canonical_ticket_id  # re-exported
from schemas.ticket_ids import ticket_id_for as ticket_id_for  # re-exported

DISTRICT_ZONE = ZoneInfo("Asia/Shanghai")
SCHEMA_VERSION = 1

MAX_TITLE_CHARS = 200
MAX_TEXT_CHARS = 5000
MAX_SHORT_CHARS = 200


def normalise_text(value: str) -> str:
    """NFKC-normalise and trim: full-width digits and letters become ASCII."""
    return unicodedata.normalize("NFKC", value).strip()


def _trim_input(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _normalise_input(value: Any) -> Any:
    return normalise_text(value) if isinstance(value, str) else value


def _normalise_optional(value: Any) -> Any:
    if isinstance(value, str):
        return normalise_text(value) or None
    return value


_TEXT_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_ASCII_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")
_IDENTIFIER_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _codepoint(char: str) -> str:
    return f"U+{ord(char):04X}"


def check_text(value: str) -> str:
    """Free text: no control characters except tab, newline and carriage return."""
    found = _TEXT_CONTROLS.search(value)
    if found is not None:
        raise ValueError(
            f"control character {_codepoint(found.group())} at position {found.start()} is not allowed "
            "in text (only tab, newline and carriage return are)"
        )
    return value


def _check_optional_text(value: str | None) -> str | None:
    return None if value is None else check_text(value)


def check_identifier(value: str) -> str:
    """Ids, codes and names: not blank, and no control, format or line-separator character at all."""
    if not value.strip():
        raise ValueError("must not be blank or whitespace only")
    if value.isascii():
        found = _ASCII_CONTROLS.search(value)
        bad = None if found is None else (found.start(), found.group())
    else:
        bad = next(
            (
                (i, c)
                for i, c in enumerate(value)
                if unicodedata.category(c) in _IDENTIFIER_FORBIDDEN_CATEGORIES
            ),
            None,
        )
    if bad is not None:
        raise ValueError(f"control character {_codepoint(bad[1])} at position {bad[0]} is not allowed here")
    return value


def _datetime_or_iso(value: Any) -> Any:
    """Only datetimes and ISO-8601 strings: a number is not read as seconds since 1970."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATETIME.match(value):
        return value
    raise ValueError(
        "expected an ISO-8601 date-time with offset such as 2026-11-28T09:30:00+08:00, "
        f"not {type(value).__name__} {str(value)[:40]!r}"
    )


# Before-validators, so that length limits apply to the trimmed (and, for names, normalised) text.
KeptText = Annotated[str, BeforeValidator(_trim_input), AfterValidator(check_text)]
"""What a person wrote (a request, a note, a resolution), kept as written — full-width "，（）" and
all — only trimmed. Classification and de-duplication normalise their own copy (NFKC)."""
NormalisedText = Annotated[str, BeforeValidator(_normalise_input), AfterValidator(check_text)]
"""Short text compared by value: NFKC-normalised and trimmed."""
OptionalText = Annotated[
    str | None, BeforeValidator(_normalise_optional), AfterValidator(_check_optional_text)
]
FreeText = Annotated[str, AfterValidator(check_text)]
"""Text kept as given (not normalised), without control characters."""
Identifier = Annotated[str, AfterValidator(check_identifier)]
"""An id, code or name as given: not blank, no control characters."""
NormalisedIdentifier = Annotated[str, BeforeValidator(_normalise_input), AfterValidator(check_identifier)]
"""An identifier typed by people or channels: NFKC-normalised and trimmed, then checked."""
EventTime = Annotated[AwareDatetime, BeforeValidator(_datetime_or_iso)]
"""Every date-time of an event: a timezone-aware datetime or an ISO-8601 string, never a number."""


def new_event_id() -> str:
    return uuid.uuid4().hex


class Channel(StrEnum):
    """Where a request came in."""

    wechat_group = "wechat_group"
    hotline = "hotline"
    web_form = "web_form"
    street_visit = "street_visit"
    api = "api"
    cli = "cli"

    @property
    def label(self) -> str:
        return _CHANNEL_LABELS[self.value]


class Priority(StrEnum):
    normal = "normal"
    high = "high"
    urgent = "urgent"

    @property
    def rank(self) -> int:
        return {"normal": 0, "high": 1, "urgent": 2}[self.value]

    @property
    def label(self) -> str:
        return {"normal": "一般", "high": "重点", "urgent": "紧急"}[self.value]


_CHANNEL_LABELS = {
    "wechat_group": "企业服务群",
    "hotline": "热线电话",
    "web_form": "网上填报",
    "street_visit": "街道走访",
    "api": "接口",
    "cli": "命令行",
}


class Event(BaseModel):
    """Common envelope fields of every ZTC event."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)
    event_type: ClassVar[str] = "Event"

    event_id: Identifier = Field(default_factory=new_event_id, min_length=1, max_length=64)
    ticket_id: Identifier = Field(min_length=1, max_length=64)
    occurred_at: EventTime
    schema_version: StrictInt = SCHEMA_VERSION

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value != SCHEMA_VERSION:
            raise ValueError(f"unsupported schema_version {value}, this build reads {SCHEMA_VERSION}")
        return value


class TicketSubmitted(Event):
    """An enterprise's request as an intake channel received it."""

    event_type: ClassVar[str] = "TicketSubmitted"
    label: ClassVar[str] = "受理"
    type: Literal["TicketSubmitted"] = "TicketSubmitted"

    channel: Channel
    channel_message_id: NormalisedIdentifier = Field(min_length=1, max_length=MAX_SHORT_CHARS)
    enterprise_name: OptionalText = Field(default=None, max_length=MAX_SHORT_CHARS)
    credit_code: OptionalText = Field(
        default=None,
        pattern=r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$",
        description="统一社会信用代码 (18 characters)",
    )
    contact: OptionalText = Field(default=None, max_length=MAX_SHORT_CHARS)
    street: OptionalText = Field(default=None, max_length=MAX_SHORT_CHARS)
    project_name: OptionalText = Field(default=None, max_length=MAX_SHORT_CHARS)
    title: KeptText = Field(min_length=1, max_length=MAX_TITLE_CHARS)
    text: KeptText = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    submitted_at: EventTime
    attachments: AttachedFiles = ()

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
    label: ClassVar[str] = "派单"
    type: Literal["TicketRouted"] = "TicketRouted"

    submission: TicketSubmitted
    category: str
    confidence: float = Field(ge=0.0, le=1.0)
    lead_department: Identifier
    co_departments: tuple[Identifier, ...] = ()
    priority: Priority
    manual_triage: bool = False
    rules_fired: tuple[RuleHit, ...] = ()
    key_enterprise: bool = False
    key_project: str | None = None
    policy_version: str
    sla_tier: str | None = None
    accept_due_at: EventTime | None = None
    resolve_due_at: EventTime | None = None
    reroute_request_id: Identifier | None = Field(
        default=None,
        max_length=64,
        description="the RerouteRequested this decision answers; None for a first routing",
    )
    model_version: ModelVersion = None
    model_sha256: ModelSha256 = None

    @property
    def departments(self) -> tuple[str, ...]:
        return (self.lead_department, *self.co_departments)

    @model_validator(mode="after")
    def _about_its_submission(self) -> Self:
        _require_same_ticket(self.ticket_id, self.submission)
        return self


def _require_same_ticket(ticket_id: str, submission: TicketSubmitted) -> None:
    if submission.ticket_id != ticket_id:
        raise ValueError(f"ticket_id {ticket_id} differs from its submission's {submission.ticket_id}")


class RerouteRequested(Event):
    """A lead department bounced the ticket: route it again without the departments that bounced it."""

    event_type: ClassVar[str] = "RerouteRequested"
    label: ClassVar[str] = "重新派单"
    type: Literal["RerouteRequested"] = "RerouteRequested"

    submission: TicketSubmitted
    excluded_departments: tuple[Identifier, ...]
    reason: FreeText
    bounce_event_id: Identifier

    @model_validator(mode="after")
    def _about_its_submission(self) -> Self:
        _require_same_ticket(self.ticket_id, self.submission)
        return self


_URL_NAMESPACE = uuid.NAMESPACE_URL.bytes


def derived_event_id(kind: str, source_event_id: str) -> str:
    """A deterministic id for an event caused by another, so redelivery never doubles it.

    ``uuid.uuid5(uuid.NAMESPACE_URL, f"ztc:{kind}:{source_event_id}").hex``, computed directly
    (the SHA-1 of namespace and name, with the version and variant bits set), at a third of the cost.
    """
    digest = bytearray(hashlib.sha1(_URL_NAMESPACE + f"ztc:{kind}:{source_event_id}".encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    return digest.hex()


MAX_DEAD_LETTER_ORIGINAL_BYTES = 128 * 1024
"""At most this much of the original is kept in a dead letter, so it always fits the 1 MB producer limit."""


class DeadLettered(Event):
    """An input that could not be processed, kept with its reason and (the start of) its original bytes.

    ``original_b64`` keeps at most :data:`MAX_DEAD_LETTER_ORIGINAL_BYTES` of the
    original; ``original_length`` and ``original_sha256`` describe the whole of
    it and ``original_truncated`` says whether bytes were left out. ``reason``
    and ``original_preview`` are not checked for control characters, so that
    every dead letter ever written still parses; ``schemas.dead_letters.dead_letter``
    writes them without control characters and with personal data masked.
    """

    event_type: ClassVar[str] = "DeadLettered"
    label: ClassVar[str] = "无法处理（死信）"
    type: Literal["DeadLettered"] = "DeadLettered"

    ticket_id: Identifier = Field(default="-", min_length=1, max_length=64)
    source_topic: str
    source_partition: int | None = None
    source_offset: int | None = None
    stage: str
    reason: str
    original_b64: str
    original_preview: str
    original_length: int = Field(default=0, ge=0, description="bytes in the whole original")
    original_sha256: str = Field(
        default="", pattern=r"^([0-9a-f]{64})?$", description="SHA-256 (hex) of the whole original"
    )
    original_truncated: bool = Field(default=False, description="original_b64 holds only its start")
    source_event_id: Identifier | None = Field(
        default=None, max_length=64, description="the event id of the input, when it could be read"
    )

    @model_validator(mode="before")
    @classmethod
    def _describe_older_original(cls, data: Any) -> Any:
        """Dead letters written before the original was capped kept all of it: describe it."""
        if not isinstance(data, dict) or "original_length" in data:
            return data
        encoded = data.get("original_b64")
        if not isinstance(encoded, str):
            return data
        try:
            original = base64.b64decode(encoded, validate=True)
        except ValueError:
            return data
        digest = hashlib.sha256(original).hexdigest()
        return {**data, "original_length": len(original), "original_sha256": digest}


EVENT_TYPES: tuple[type[Event], ...] = (TicketSubmitted, TicketRouted, RerouteRequested, DeadLettered)
"""The ticket-path events of this module; every event type of ZTC: ``schemas.catalog.event_types()``."""


def now_in_district() -> datetime:
    """The current moment in the district's zone; for edges only, never the pure core."""
    return datetime.now(DISTRICT_ZONE)
