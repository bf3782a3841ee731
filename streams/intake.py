"""Pure intake step: raw bytes from a topic become a validated ``TicketSubmitted`` or a reason.

Nothing here raises on bad input except :class:`InvalidInput`, whose message is
the reason written to the dead-letter topic: JSON is decoded within
``schemas.json_limits``' limits (size, depth, number length), so no input can
end in a RecursionError or a ValueError from ``int``. The ticket id is derived
from channel + channel message id, never taken from the input.
:func:`dead_letter` never raises at all, whatever the bytes.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from schemas.events import (
    DISTRICT_ZONE,
    MAX_DEAD_LETTER_ORIGINAL_BYTES,
    DeadLettered,
    TicketSubmitted,
    check_identifier,
    ticket_id_for,
)
from schemas.json_limits import JsonLimitError, parse_json_object
from schemas.privacy import mask_personal

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024
PREVIEW_CHARS = 300
MAX_REASON_CHARS = 2000
MAX_SNIFF_BYTES = 1024 * 1024
"""Inputs up to this size are read for their ``event_id`` when the caller does not know it."""

_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


class InvalidInput(ValueError):
    """Input that cannot become an event; the message says why, for people."""


def describe_validation_error(exc: ValidationError) -> str:
    """One line listing every field error as ``path: message``."""
    parts = []
    for error in exc.errors():
        path = ".".join(str(p) for p in error["loc"]) or "(root)"
        parts.append(f"{path}: {error['msg']}")
    return "; ".join(parts)


def parse_submission(raw: bytes | None) -> TicketSubmitted:
    """Decode and validate one submitted message (NFKC-normalised, trimmed, length-checked).

    The returned submission's ``ticket_id`` is ``ticket_id_for(channel, channel_message_id,
    submitted_at)`` whatever the input carried, so no message can write over another ticket.
    """
    if not raw:
        raise InvalidInput("empty message")
    try:
        document = parse_json_object(raw, max_bytes=MAX_MESSAGE_BYTES)
    except JsonLimitError as exc:
        raise InvalidInput(str(exc)) from None
    kind = document.get("type", "TicketSubmitted")
    if kind != "TicketSubmitted":
        raise InvalidInput(f"wrong event type {str(kind)[:60]!r} on the submissions topic")
    try:
        submission = TicketSubmitted.model_validate(document)
    except ValidationError as exc:
        raise InvalidInput(f"schema: {describe_validation_error(exc)}") from None
    derived = ticket_id_for(submission.channel.value, submission.channel_message_id, submission.submitted_at)
    if derived == submission.ticket_id:
        return submission
    return submission.model_copy(update={"ticket_id": derived})


def readable(text: str, limit: int) -> str:
    """Text for people: control characters shown as U+FFFD, personal numbers masked, at most ``limit``."""
    return mask_personal(_CONTROLS.sub("\ufffd", text))[:limit]


def _valid_id(value: Any) -> str | None:
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        return None
    try:
        return check_identifier(value)
    except ValueError:
        return None


def _sniff_event_id(original: bytes) -> str | None:
    """The input's own ``event_id`` when it is a readable JSON object; None otherwise."""
    if not original or len(original) > MAX_SNIFF_BYTES:
        return None
    try:
        document = parse_json_object(original, max_bytes=MAX_SNIFF_BYTES)
    except JsonLimitError:
        return None
    return _valid_id(document.get("event_id"))


def dead_letter(
    raw: bytes | None,
    *,
    reason: str,
    stage: str,
    source_topic: str,
    now: datetime,
    partition: int | None = None,
    offset: int | None = None,
    ticket_id: str = "-",
    source_event_id: str | None = None,
) -> DeadLettered:
    """A dead-letter record of any input; never raises, so that a dead letter can always be sent.

    Keeps at most ``MAX_DEAD_LETTER_ORIGINAL_BYTES`` of the original (base64) with the length and
    SHA-256 of the whole of it, and a preview and a reason without control characters and with
    personal numbers masked. ``source_event_id`` defaults to the input's own ``event_id`` when
    the input is readable JSON.
    """
    original = bytes(raw or b"")
    kept = original[:MAX_DEAD_LETTER_ORIGINAL_BYTES]
    moment = now if now.tzinfo is not None else now.replace(tzinfo=DISTRICT_ZONE)
    fields: dict[str, Any] = {
        "ticket_id": _valid_id(ticket_id) or "-",
        "occurred_at": moment,
        "source_topic": str(source_topic),
        "source_partition": partition,
        "source_offset": offset,
        "stage": str(stage),
        "reason": "",
        "original_b64": base64.b64encode(kept).decode("ascii"),
        "original_preview": "",
        "original_length": len(original),
        "original_sha256": hashlib.sha256(original).hexdigest(),
        "original_truncated": len(kept) < len(original),
        "source_event_id": None,
    }
    try:
        fields["reason"] = readable(str(reason), MAX_REASON_CHARS)
        fields["original_preview"] = readable(
            original[: PREVIEW_CHARS * 4].decode("utf-8", "replace"), PREVIEW_CHARS
        )
        fields["source_event_id"] = _valid_id(source_event_id) or _sniff_event_id(original)
        return DeadLettered(**fields)
    except Exception:  # a dead letter must always be producible: keep what is safe and say so
        log.exception("building the dead letter of %s@%s/%s failed", source_topic, partition, offset)
        fields["reason"] = fields["reason"] or "(reason could not be rendered)"
        return DeadLettered.model_construct(**fields)
