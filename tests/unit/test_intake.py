"""Bytes → TicketSubmitted or a dead-letter reason; never anything else."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from schemas.dead_letters import dead_letter
from schemas.events import (
    DISTRICT_ZONE,
    MAX_DEAD_LETTER_ORIGINAL_BYTES,
    DeadLettered,
    TicketSubmitted,
    ticket_id_for,
)
from streams.intake import (
    MAX_MESSAGE_BYTES,
    InvalidInput,
    parse_submission,
    validated_directly,
    validated_stepwise,
)
from tests.unit.factories import NOW, submission

FAST = settings(max_examples=200, deadline=None)
PRODUCER_LIMIT = 1024 * 1024


def encoded(**fields: object) -> bytes:
    return submission(**fields).model_dump_json().encode()  # type: ignore[arg-type]


def test_valid_submission_round_trips() -> None:
    parsed = parse_submission(encoded())
    assert isinstance(parsed, TicketSubmitted) and parsed.text == "我们想办理食品经营许可证"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty message"),
        (None, "empty message"),
        (b"\xff\xfe", "not JSON"),
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a JSON object but list"),
        (b'{"type": "TicketRouted"}', "wrong event type 'TicketRouted'"),
        (b"x" * (MAX_MESSAGE_BYTES + 1), "oversize message"),
        (b"[" * 100_000, "oversize message"),
        (b"[" * 60_000, "nested deeper than 32 levels"),
        (b'{"a":' * 10_000, "nested deeper than 32 levels"),
        (b'{"schema_version": ' + b"1" * 4300 + b"}", "number literal of 4300 characters"),
        (b'{"schema_version": NaN}', "NaN and Infinity"),
        (b" " * (1024 * 1024 - 10) + b"{}", "oversize message: 1048568 bytes > 65536"),
        (b'{"a": "\xff"}', "not UTF-8"),
    ],
)
def test_undecodable_input_is_rejected_with_its_reason(raw: bytes | None, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        parse_submission(raw)


def test_schema_errors_name_every_field() -> None:
    document = json.loads(encoded())
    document.update({"channel": "fax", "text": "   ", "occurred_at": "2026-11-27T10:00:00"})
    with pytest.raises(InvalidInput) as caught:
        parse_submission(json.dumps(document).encode())
    reason = str(caught.value)
    assert reason.startswith("schema: ")
    assert "channel:" in reason and "text:" in reason and "occurred_at:" in reason


def test_text_is_kept_as_written_and_trimmed_while_names_are_nfkc_normalised() -> None:
    parsed = parse_submission(
        encoded(text="  ＡＢＣ公司　办理营业执照１次，（急）  ", contact="  ", enterprise_name="ＡＢＣ公司")
    )
    assert parsed.text == "ＡＢＣ公司　办理营业执照１次，（急）"
    assert parsed.contact is None
    assert parsed.enterprise_name == "ABC公司"


def test_oversize_text_and_bad_credit_code_are_invalid() -> None:
    document = json.loads(encoded())
    document["text"] = "长" * 5001
    document["credit_code"] = "123"
    with pytest.raises(InvalidInput, match=r"credit_code: .*text: "):
        parse_submission(json.dumps(document, ensure_ascii=False).encode())


def test_poison_inside_a_valid_looking_submission_is_invalid_input() -> None:
    document = json.loads(encoded())
    value: Any = "deep"
    for _ in range(40):
        value = [value]
    document["text"] = value
    with pytest.raises(InvalidInput, match="nested deeper"):
        parse_submission(json.dumps(document).encode())


def test_ticket_id_is_derived_never_taken_from_the_input() -> None:
    victim = ticket_id_for("wechat_group", "m-1", NOW)
    attack = encoded(ticket_id=victim, channel_message_id="m-2", title="覆盖别人的工单")
    parsed = parse_submission(attack)
    assert parsed.ticket_id == ticket_id_for("wechat_group", "m-2", NOW) != victim


def test_a_ticket_id_already_derived_is_kept() -> None:
    own = ticket_id_for("wechat_group", "m-1", NOW)
    assert parse_submission(encoded(ticket_id=own)).ticket_id == own


JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=3)
    ),
    max_leaves=20,
)
FIELDS = sorted(TicketSubmitted.model_fields)


def same_either_way(raw: bytes) -> None:
    """The direct way (pydantic's JSON parser) accepts only what the stepwise way (json_limits, then the
    dict) accepts, and makes the same submission of it; what it does not accept goes the stepwise way."""
    direct = validated_directly(raw)
    if direct is not None:
        stepwise = validated_stepwise(raw)
        assert direct == stepwise
        assert direct.model_dump_json() == stepwise.model_dump_json()


def accepted_or_invalid(raw: bytes) -> None:
    """The property: a TicketSubmitted that serialises again, or InvalidInput; never anything else."""
    same_either_way(raw)
    try:
        parsed = parse_submission(raw)
    except InvalidInput:
        return
    assert isinstance(parsed, TicketSubmitted)
    assert parsed.ticket_id == ticket_id_for(
        parsed.channel.value, parsed.channel_message_id, parsed.submitted_at
    )
    parsed.model_dump_json().encode()


@FAST
@given(st.binary(max_size=600))
def test_arbitrary_bytes_become_a_submission_or_invalid_input(raw: bytes) -> None:
    accepted_or_invalid(raw)


@FAST
@given(JSON_VALUES)
def test_arbitrary_json_becomes_a_submission_or_invalid_input(value: Any) -> None:
    accepted_or_invalid(json.dumps(value).encode())


@FAST
@given(st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=4), st.booleans())
def test_a_submission_with_arbitrary_fields_is_a_submission_or_invalid_input(
    changes: dict[str, Any], ascii_only: bool
) -> None:
    document = {**json.loads(encoded()), **changes}
    accepted_or_invalid(json.dumps(document, ensure_ascii=ascii_only).encode())


@FAST
@given(st.text(max_size=60), st.text(max_size=60), st.text(max_size=60))
def test_a_submission_with_arbitrary_text_is_a_submission_or_invalid_input(
    text: str, message_id: str, contact: str
) -> None:
    document = {**json.loads(encoded()), "text": text, "channel_message_id": message_id, "contact": contact}
    accepted_or_invalid(json.dumps(document, ensure_ascii=False).encode("utf-8", "surrogatepass"))


POISON = [
    b"NaN",
    b"-Infinity",
    b"1e999",
    b"-1E+400",
    b"1" * 41,
    b"[" * 40 + b"]" * 40,
    b'"\\ud800"',
    b'"\xff"',
]


@pytest.mark.parametrize("poison", POISON)
@pytest.mark.parametrize("field", ["schema_version", "text", "attachments"])
@pytest.mark.parametrize("colon", [b": ", b" :", b"\n\t:"])
def test_a_poisoned_duplicate_key_is_refused_either_way(field: str, poison: bytes, colon: bytes) -> None:
    """JSON parsers keep a repeated key's last value; the limits still hold for the first."""
    raw = b'{"' + field.encode() + b'"' + colon + poison + b", " + encoded()[1:]
    assert validated_directly(raw) is None
    same_either_way(raw)
    if poison != b'"\\ud800"':  # json.loads drops it with the first value: the submission is fine
        with pytest.raises(InvalidInput):
            parse_submission(raw)


def test_ordinary_submissions_are_validated_directly() -> None:
    """The direct way is the common one: as the intake writes them, and with every character escaped."""
    attached = {"sha256": "ab" * 32, "name": "执照.pdf", "content_type": "application/pdf", "size": 12345}
    own_id = ticket_id_for("wechat_group", "m-1", NOW)
    raw = encoded(
        ticket_id=own_id, enterprise_name="青岛e100有限公司", contact="王 1e5", attachments=[attached]
    )
    ascii_only = json.dumps(json.loads(raw)).encode()
    for message in (raw, ascii_only):
        direct = validated_directly(message)
        assert direct is not None and direct == validated_stepwise(message) == parse_submission(message)


@FAST
@given(st.sampled_from(FIELDS), st.sampled_from(POISON) | JSON_VALUES.map(lambda v: json.dumps(v).encode()))
def test_a_duplicate_key_of_any_value_is_the_same_either_way(field: str, value: bytes) -> None:
    accepted_or_invalid(b'{"' + field.encode() + b'": ' + value + b"," + encoded()[1:])
    accepted_or_invalid(b'{"' + field.encode() + b'" : ' + value + b', "title": "a\\":", ' + encoded()[1:])


@FAST
@given(st.data())
def test_a_mangled_submission_is_the_same_either_way(data: st.DataObject) -> None:
    raw = bytearray(encoded(attachments=[{"sha256": "c" * 64, "name": "a", "content_type": "x", "size": 9}]))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw)))
        raw[at:at] = data.draw(st.binary(min_size=1, max_size=4) | st.sampled_from(POISON))
    accepted_or_invalid(bytes(raw))


def test_dead_letter_keeps_the_original_bytes() -> None:
    raw = b"\x00\xffbinary"
    letter = dead_letter(raw, reason="not JSON", stage="validate", source_topic="t", now=NOW, offset=7)
    assert base64.b64decode(letter.original_b64) == raw
    assert letter.source_offset == 7 and letter.reason == "not JSON"


def test_ticket_id_is_stable_per_channel_message() -> None:
    first = ticket_id_for("wechat_group", "wx-1", NOW)
    assert first == ticket_id_for("wechat_group", "wx-1", NOW)
    assert first != ticket_id_for("hotline", "wx-1", NOW)
    assert first.startswith("ZTC-20261127-")


@FAST
@given(st.text(st.characters(exclude_categories=["Cs"]), min_size=1), st.datetimes(timezones=st.timezones()))
def test_ticket_ids_are_those_ever_issued(message_id: str, at: datetime) -> None:
    """The district's day as strftime("%Y%m%d") writes it, and the SHA-1's first 12 hex digits."""
    try:
        day = at.astimezone(DISTRICT_ZONE).strftime("%Y%m%d")
    except OverflowError:
        assume(False)
    digest = hashlib.sha1(f"api\x1f{message_id}".encode()).hexdigest()[:12].upper()
    assert ticket_id_for("api", message_id, at) == f"ZTC-{day}-{digest}"


def test_a_big_dead_letter_fits_the_producer_limit_and_describes_the_whole_original() -> None:
    raw = json.dumps({"event_id": "abc123", "text": "长" * 349_000}, ensure_ascii=False).encode()
    assert len(raw) > PRODUCER_LIMIT - 10_000
    letter = dead_letter(raw, reason="oversize message", stage="validate", source_topic="t", now=NOW)
    kept = base64.b64decode(letter.original_b64)
    assert kept == raw[:MAX_DEAD_LETTER_ORIGINAL_BYTES]
    assert letter.original_truncated and letter.original_length == len(raw)
    assert letter.original_sha256 == hashlib.sha256(raw).hexdigest()
    assert len(letter.model_dump_json().encode()) < 200 * 1024


def test_a_small_dead_letter_is_whole() -> None:
    letter = dead_letter(b"{}", reason="r", stage="validate", source_topic="t", now=NOW)
    assert not letter.original_truncated and letter.original_length == 2
    assert letter.original_sha256 == hashlib.sha256(b"{}").hexdigest()


def test_dead_letter_preview_and_reason_are_masked_and_readable() -> None:
    raw = "联系人王先生，手机13800138000，身份证370202198501011237\x00".encode()
    letter = dead_letter(raw, reason="bad contact 13900139000", stage="validate", source_topic="t", now=NOW)
    assert "138****8000" in letter.original_preview and "13800138000" not in letter.original_preview
    assert "370202********1237" in letter.original_preview and "\x00" not in letter.original_preview
    assert letter.reason == "bad contact 139****9000"
    assert base64.b64decode(letter.original_b64) == raw  # the original itself stays whole, for replay


def test_dead_letter_names_the_source_event() -> None:
    raw = json.dumps({"event_id": "e-42", "type": "TicketAccepted"}).encode()
    sniffed = dead_letter(raw, reason="r", stage="record", source_topic="t", now=NOW)
    given_id = dead_letter(raw, reason="r", stage="record", source_topic="t", now=NOW, source_event_id="e-7")
    unreadable = dead_letter(
        b'{"event_id": "\\u0000"}', reason="r", stage="record", source_topic="t", now=NOW
    )
    assert (sniffed.source_event_id, given_id.source_event_id, unreadable.source_event_id) == (
        "e-42",
        "e-7",
        None,
    )


def test_older_dead_letters_still_parse_and_are_described() -> None:
    old = {
        "type": "DeadLettered",
        "event_id": "0" * 32,
        "ticket_id": "-",
        "occurred_at": NOW.isoformat(),
        "schema_version": 1,
        "source_topic": "t",
        "stage": "validate",
        "reason": "not JSON",
        "original_b64": base64.b64encode(b"\x00\xffbinary").decode(),
        "original_preview": "\x00\ufffdbinary",
    }
    letter = DeadLettered.model_validate_json(json.dumps(old))
    assert letter.original_length == 8 and not letter.original_truncated and letter.source_event_id is None
    assert letter.original_sha256 == hashlib.sha256(b"\x00\xffbinary").hexdigest()


@FAST
@given(st.binary(max_size=2000), st.text(max_size=200), st.text(max_size=80), st.text(max_size=80))
def test_dead_letter_never_raises(raw: bytes, reason: str, ticket_id: str, event_id: str) -> None:
    letter = dead_letter(
        raw,
        reason=reason,
        stage="validate",
        source_topic="t",
        now=NOW,
        ticket_id=ticket_id,
        source_event_id=event_id,
    )
    assert base64.b64decode(letter.original_b64) == raw
    DeadLettered.model_validate_json(letter.model_dump_json())
