"""Pure intake step: raw bytes from a topic become a validated ``TicketSubmitted`` or a reason.

Nothing here raises on bad input except :class:`InvalidInput`, whose message is
the reason written to the dead-letter topic.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime

from pydantic import ValidationError

from schemas.events import DeadLettered, TicketSubmitted

MAX_MESSAGE_BYTES = 64 * 1024
PREVIEW_CHARS = 300


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
    """Decode and validate one submitted message (NFKC-normalised, trimmed, length-checked)."""
    if not raw:
        raise InvalidInput("empty message")
    if len(raw) > MAX_MESSAGE_BYTES:
        raise InvalidInput(f"oversize message: {len(raw)} bytes > {MAX_MESSAGE_BYTES}")
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidInput(f"not a JSON object but {type(document).__name__}")
    kind = document.get("type", "TicketSubmitted")
    if kind != "TicketSubmitted":
        raise InvalidInput(f"wrong event type {kind!r} on the submissions topic")
    try:
        return TicketSubmitted.model_validate(document)
    except ValidationError as exc:
        raise InvalidInput(f"schema: {describe_validation_error(exc)}") from None


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
) -> DeadLettered:
    """A dead-letter record that keeps the original bytes intact (base64) and a readable preview."""
    original = raw or b""
    return DeadLettered(
        ticket_id=ticket_id,
        occurred_at=now,
        source_topic=source_topic,
        source_partition=partition,
        source_offset=offset,
        stage=stage,
        reason=reason,
        original_b64=base64.b64encode(original).decode("ascii"),
        original_preview=original[: PREVIEW_CHARS * 4].decode("utf-8", "replace")[:PREVIEW_CHARS],
    )
