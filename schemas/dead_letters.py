"""Dead-letter records and readable validation reasons: pure helpers every side shares.

Whatever cannot be processed — bytes the router cannot parse, an event the
recorder refuses, an alert the alerter cannot read — becomes a ``DeadLettered``
built here. :func:`dead_letter` never raises, whatever the bytes: it keeps at
most ``MAX_DEAD_LETTER_ORIGINAL_BYTES`` of the original with the length and
SHA-256 of all of it, and a reason and preview without control characters and
with personal numbers masked. :func:`describe_validation_error` turns a pydantic
error into the one-line reason people read.
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
    check_identifier,
)
from schemas.json_limits import JsonLimitError, parse_json_object
from schemas.privacy import mask_personal

log = logging.getLogger(__name__)

PREVIEW_CHARS = 300
MAX_REASON_CHARS = 2000
MAX_SNIFF_BYTES = 1024 * 1024
"""Inputs up to this size are read for their ``event_id`` when the caller does not know it."""

_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def describe_validation_error(exc: ValidationError) -> str:
    """One line listing every field error as ``path: message``."""
    parts = []
    for error in exc.errors():
        path = ".".join(str(p) for p in error["loc"]) or "(root)"
        parts.append(f"{path}: {error['msg']}")
    return "; ".join(parts)


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
