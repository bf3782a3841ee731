"""Pure intake step: raw bytes from a topic become a validated ``TicketSubmitted`` or a reason.

Nothing here raises on bad input except :class:`InvalidInput`, whose message is
the reason written to the dead-letter topic: JSON is decoded within
``schemas.json_limits``' limits (size, depth, number length), so no input can
end in a RecursionError or a ValueError from ``int``.

Every message is first validated straight from its bytes by pydantic's JSON
parser (a third fewer instructions than ``json.loads`` and validating the dict);
whatever that refuses, and any message whose keys do not add up (a key given
twice), goes the stepwise way (limits, event type, schema), which gives the
reason. Both ways accept the same messages and make the same submission (tests
compare them).
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
_JSON_WHITESPACE = b" \t\r\n"


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
    """The submission pydantic's JSON parser makes of ``raw``, or None when the stepwise way must look:
    the parser refused it (``validated_stepwise`` says why), or a key may be given twice.

    With every key once, every value in ``raw`` is one the schema checked: no string holds a number,
    no field nests, schema_version is 1, so none can be past ``json_limits``' limits — except an
    attachment's size, so a message with attachments must also be plainly within them. A key given
    twice (JSON parsers keep the last value) could hide anything in the first: the keys are counted
    as ``":`` with whitespace left out; a string holding ``":`` only makes the count too high.
    """
    if len(raw) > MAX_MESSAGE_BYTES:
        return None
    try:
        submission = TicketSubmitted.model_validate_json(raw)
    except Exception:  # a ValidationError, or anything else: the stepwise way has the reason for it
        return None
    keys = len(submission.model_fields_set) + sum(len(a.model_fields_set) for a in submission.attachments)
    if raw.translate(None, _JSON_WHITESPACE).count(b'":') != keys:
        return None
    if submission.attachments and not plainly_within_limits(raw, max_bytes=MAX_MESSAGE_BYTES):
        return None
    return submission


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
