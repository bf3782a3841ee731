"""Bytes → TicketSubmitted or a dead-letter reason; never anything else."""

from __future__ import annotations

import base64
import json

import pytest

from schemas.events import TicketSubmitted, ticket_id_for
from streams.intake import MAX_MESSAGE_BYTES, InvalidInput, dead_letter, parse_submission
from tests.unit.factories import NOW, submission


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


def test_text_is_nfkc_normalised_and_trimmed() -> None:
    parsed = parse_submission(encoded(text="  ＡＢＣ公司　办理营业执照１次  ", contact="  "))
    assert parsed.text == "ABC公司 办理营业执照1次"
    assert parsed.contact is None


def test_oversize_text_and_bad_credit_code_are_invalid() -> None:
    document = json.loads(encoded())
    document["text"] = "长" * 5001
    document["credit_code"] = "123"
    with pytest.raises(InvalidInput, match=r"credit_code: .*text: "):
        parse_submission(json.dumps(document, ensure_ascii=False).encode())


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
