"""Pure intake step: raw bytes from a topic become a validated ``TicketSubmitted`` or a reason.

Nothing here raises on bad input except :class:`InvalidInput`, whose message is
the reason written to the dead-letter topic: JSON is decoded within
``schemas.json_limits``' limits (size, depth, number length), so no input can
end in a RecursionError or a ValueError from ``int``.

A message the limits plainly allow (``plainly_within_limits``: every ordinary
one) is validated straight from its bytes by pydantic's JSON parser, at half the
cost of ``json.loads`` and validating the dict; whatever that refuses goes the
stepwise way again (limits, event type, schema), which gives the reason. Both
ways accept the same messages and make the same submission (tests compare them).
The ticket id is derived
from channel + channel message id, never taken from the input. The dead letter
itself is built by ``schemas.dead_letters.dead_letter``, shared with the consumers.
"""

from __future__ import annotations

from pydantic import ValidationError

from schemas.dead_letters import describe_validation_error
from schemas.events import TicketSubmitted, ticket_id_for
from schemas.json_limits import JsonLimitError, parse_json_object, plainly_within_limits

MAX_MESSAGE_BYTES = 64 * 1024


class InvalidInput(ValueError):
    """Input that cannot become an event; the message says why, for people."""


def parse_submission(raw: bytes | None) -> TicketSubmitted:
    """Decode and validate one submitted message (NFKC-normalised, trimmed, length-checked).

    The returned submission's ``ticket_id`` is ``ticket_id_for(channel, channel_message_id,
    submitted_at)`` whatever the input carried, so no message can write over another ticket.
    """
    if not raw:
        raise InvalidInput("empty message")
    submission = validated_directly(raw)
    if submission is None:
        submission = validated_stepwise(raw)
    derived = ticket_id_for(submission.channel.value, submission.channel_message_id, submission.submitted_at)
    if derived == submission.ticket_id:
        return submission
    return submission.model_copy(update={"ticket_id": derived})


def validated_directly(raw: bytes) -> TicketSubmitted | None:
    """The submission pydantic's JSON parser makes of ``raw``, or None: not plainly within the limits,
    or refused (``validated_stepwise`` then says why)."""
    if not plainly_within_limits(raw, max_bytes=MAX_MESSAGE_BYTES):
        return None
    try:
        return TicketSubmitted.model_validate_json(raw)
    except Exception:  # a ValidationError, or anything else: the stepwise way has the reason for it
        return None


def validated_stepwise(raw: bytes) -> TicketSubmitted:
    """Decode within the limits, check the event type, validate the dict: the reason for each refusal."""
    try:
        document = parse_json_object(raw, max_bytes=MAX_MESSAGE_BYTES)
    except JsonLimitError as exc:
        raise InvalidInput(str(exc)) from None
    kind = document.get("type", "TicketSubmitted")
    if kind != "TicketSubmitted":
        raise InvalidInput(f"wrong event type {str(kind)[:60]!r} on the submissions topic")
    try:
        return TicketSubmitted.model_validate(document)
    except ValidationError as exc:
        raise InvalidInput(f"schema: {describe_validation_error(exc)}") from None
