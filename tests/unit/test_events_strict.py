"""Schema strictness: versions are integers, times are times, text and ids carry no control characters."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from schemas.events import (
    EVENT_TYPES,
    DeadLettered,
    Priority,
    RerouteRequested,
    TicketRouted,
    TicketSubmitted,
    derived_event_id,
)
from schemas.feedback import FEEDBACK_EVENT_TYPES, TicketAccepted, TicketResolved, parse_feedback
from schemas.sla import SLA_EVENT_ADAPTER, SLA_EVENT_TYPES, SlaBreached, SlaClock, SlaStage
from tests.unit.factories import NOW, submission

ISO = NOW.isoformat()


def submitted(**changes: Any) -> dict[str, Any]:
    return {**json.loads(submission().model_dump_json()), **changes}


def accepted(**changes: Any) -> dict[str, Any]:
    event = {
        "type": "TicketAccepted",
        "ticket_id": "ZTC-20261127-00000001",
        "occurred_at": ISO,
        "department": "approval",
        "actor": "王科长",
    }
    return {**event, **changes}


def errors_of(model: type[BaseModel], document: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        model.model_validate_json(json.dumps(document))
    with pytest.raises(ValidationError):  # python mode (dicts from a decoder) is as strict as JSON mode
        model.model_validate(document)
    return str(caught.value)


# ---------------------------------------------------------------- schema_version


@pytest.mark.parametrize("version", [True, 1.0, "1", [1]])
def test_schema_version_must_be_a_real_integer(version: Any) -> None:
    assert "schema_version" in errors_of(TicketSubmitted, submitted(schema_version=version))


def test_schema_version_one_is_fine_and_two_is_refused_readably() -> None:
    assert TicketSubmitted.model_validate_json(json.dumps(submitted(schema_version=1))).schema_version == 1
    assert "unsupported schema_version 2" in errors_of(TicketSubmitted, submitted(schema_version=2))


def test_feedback_schema_version_is_strict_too() -> None:
    with pytest.raises(ValueError, match="schema_version"):
        parse_feedback(json.dumps(accepted(schema_version=True)))


# ---------------------------------------------------------------- date-times


@pytest.mark.parametrize("value", [12345, 0, 1.5, -1, True, "12345", "1764208800", "2026-11-27", "now", None])
def test_occurred_at_takes_no_numbers(value: Any) -> None:
    reason = errors_of(TicketSubmitted, submitted(occurred_at=value))
    assert "occurred_at" in reason


def test_a_number_is_explained_as_not_a_date_time() -> None:
    reason = errors_of(TicketSubmitted, submitted(submitted_at=12345))
    assert "submitted_at" in reason and "expected an ISO-8601 date-time" in reason


@pytest.mark.parametrize("value", [ISO, "2026-11-27T02:00:00Z", "2026-11-27 10:00:00+08:00", NOW])
def test_iso_strings_and_datetimes_are_fine(value: Any) -> None:
    document = submitted(occurred_at=value, submitted_at=value)
    assert TicketSubmitted.model_validate(document).occurred_at == NOW


def test_naive_times_are_still_refused() -> None:
    assert "occurred_at" in errors_of(TicketSubmitted, submitted(occurred_at="2026-11-27T10:00:00"))


def routed(**changes: Any) -> dict[str, Any]:
    event = {
        "ticket_id": "ZTC-20261127-00000001",
        "occurred_at": ISO,
        "submission": submitted(),
        "category": "licence",
        "confidence": 0.9,
        "lead_department": "approval",
        "priority": Priority.normal.value,
        "policy_version": "p1",
    }
    return {**event, **changes}


def test_every_date_time_of_every_event_refuses_numbers() -> None:
    assert "accept_due_at" in errors_of(TicketRouted, routed(accept_due_at=99))
    assert "resolve_due_at" in errors_of(TicketRouted, routed(resolve_due_at=99.0))
    assert "submission.submitted_at" in errors_of(TicketRouted, routed(submission=submitted(submitted_at=5)))
    breach = {
        "type": "SlaBreached",
        "ticket_id": "T-1",
        "occurred_at": ISO,
        "stage": "accept",
        "department": "approval",
        "due_at": 1,
        "key": "T-1:accept:breached:0",
    }
    with pytest.raises(ValidationError, match="due_at"):
        SLA_EVENT_ADAPTER.validate_json(json.dumps(breach))
    with pytest.raises(ValueError, match="occurred_at"):
        parse_feedback(json.dumps(accepted(occurred_at=1764208800)))


def test_sla_clock_times_refuse_numbers() -> None:
    clock = {
        "tier": "ordinary",
        "accept_started_at": ISO,
        "accept_due_at": ISO,
        "resolve_started_at": ISO,
        "resolve_due_at": 3,
    }
    with pytest.raises(ValidationError, match="resolve_due_at"):
        SlaClock.model_validate(clock)


def test_every_event_time_field_is_strict() -> None:
    """No event model keeps a date-time field that would take a number as seconds since 1970."""
    models: list[type[BaseModel]] = [*EVENT_TYPES, *FEEDBACK_EVENT_TYPES, *SLA_EVENT_TYPES, SlaClock]
    checked = 0
    for model in models:
        for name, field in model.model_fields.items():
            if "datetime" not in repr(field.annotation).lower():
                continue
            checked += 1
            with pytest.raises(ValidationError) as caught:
                model.model_validate({name: 12345})
            refused = [e for e in caught.value.errors() if e["loc"][:1] == (name,)]
            assert refused, f"{model.__name__}.{name} accepted a number"
    assert checked >= 20


def test_json_schema_still_says_date_time() -> None:
    schema = TicketSubmitted.model_json_schema()
    assert schema["properties"]["occurred_at"]["format"] == "date-time"
    assert schema["properties"]["schema_version"]["type"] == "integer"


# ---------------------------------------------------------------- control characters in text


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\x9f"])
def test_control_characters_in_text_are_refused_readably(char: str) -> None:
    reason = errors_of(TicketSubmitted, submitted(text=f"办理营业执照{char}遇到问题"))
    assert f"control character U+{ord(char):04X} at position 6" in reason and "text" in reason


def test_tab_newline_and_carriage_return_are_kept_in_text() -> None:
    text = "第一行\t说明\r\n第二行\n第三行\u2028第四段\u2029"
    parsed = TicketSubmitted.model_validate_json(json.dumps(submitted(text=text)))
    assert parsed.text == text.strip()


@pytest.mark.parametrize("field", ["title", "contact", "enterprise_name", "street", "project_name"])
def test_every_free_text_field_refuses_nul(field: str) -> None:
    assert field in errors_of(TicketSubmitted, submitted(**{field: "康杰\x00药业"}))


def test_lone_surrogates_are_refused() -> None:
    """``json.loads`` lets ``"\\ud800"`` through; such text could never be encoded again."""
    with pytest.raises(ValidationError, match=r"\ntext\n"):
        TicketSubmitted.model_validate(submitted(text="a\ud800b"))


def test_feedback_notes_refuse_control_characters() -> None:
    resolved = accepted(type="TicketResolved", resolution="已办结\x00")
    with pytest.raises(ValueError, match=r"resolution: .*control character U\+0000"):
        parse_feedback(json.dumps(resolved))
    note = TicketResolved.model_validate(accepted(type="TicketResolved", resolution="已办结\n附件见邮件"))
    assert note.resolution == "已办结\n附件见邮件"


def test_reroute_reason_refuses_control_characters() -> None:
    request = {
        "ticket_id": "T-1",
        "occurred_at": ISO,
        "submission": submitted(),
        "excluded_departments": ["approval"],
        "reason": "非本部门\x00职责",
        "bounce_event_id": "b-1",
    }
    assert "reason" in errors_of(RerouteRequested, request)


# ---------------------------------------------------------------- identifiers


@pytest.mark.parametrize(
    "value", ["m\x001", "m-\n1", "m\t1", "m\u200b1", "m\u202e1", "m\u20281", "\ufeffm-1"]
)
def test_channel_message_ids_refuse_any_control_character(value: str) -> None:
    assert "channel_message_id" in errors_of(TicketSubmitted, submitted(channel_message_id=value))


@pytest.mark.parametrize("field", ["event_id", "ticket_id"])
@pytest.mark.parametrize("value", ["a\x00b", "ab\n", " ", "\u3000", "\t", "a\u2029"])
def test_event_and_ticket_ids_refuse_controls_and_blanks(field: str, value: str) -> None:
    reason = errors_of(TicketSubmitted, submitted(**{field: value}))
    assert field in reason
    assert "control character" in reason or "blank" in reason


def test_a_whitespace_only_message_id_is_refused() -> None:
    assert "channel_message_id" in errors_of(TicketSubmitted, submitted(channel_message_id=" \u3000 "))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("actor", "王科长\x00"),
        ("actor", "   "),
        ("actor", "王\u200d科长"),
        ("department", "approval\n"),
        ("department", ""),
    ],
)
def test_feedback_actor_and_department_are_identifiers(field: str, value: str) -> None:
    with pytest.raises(ValueError, match=field):
        parse_feedback(json.dumps(accepted(**{field: value})))


def test_an_ordinary_actor_with_a_space_is_fine() -> None:
    event = TicketAccepted.model_validate(accepted(actor="派单台 张三"))
    assert event.actor == "派单台 张三"


def test_sla_department_and_key_are_identifiers() -> None:
    with pytest.raises(ValidationError, match="department"):
        SlaBreached(
            ticket_id="T-1",
            occurred_at=NOW,
            stage=SlaStage.accept,
            department="approval\x00",
            due_at=NOW + timedelta(hours=1),
            key="T-1:accept:breached:0",
        )


def test_routed_departments_are_identifiers() -> None:
    assert "co_departments" in errors_of(TicketRouted, routed(co_departments=["planning\x00"]))
    assert "reroute_request_id" in errors_of(TicketRouted, routed(reroute_request_id=" "))


def test_dead_letter_ids_are_identifiers_but_its_texts_stay_lenient() -> None:
    letter = {
        "event_id": "0" * 32,
        "occurred_at": ISO,
        "source_topic": "t",
        "stage": "validate",
        "reason": "not JSON \x00",
        "original_b64": "",
        "original_preview": "\x00\x01",
    }
    assert DeadLettered.model_validate(letter).reason == "not JSON \x00"
    assert "source_event_id" in errors_of(DeadLettered, {**letter, "source_event_id": "e\x00"})


@pytest.mark.parametrize("source", ["0f3c9a", "ZTC-20261127-ABCDEF012345", "sla:工单:accept:0", "x" * 200])
@pytest.mark.parametrize("kind", ["routed", "rerouted", "reroute", "sla"])
def test_derived_event_ids_are_uuid5_of_the_kind_and_source(kind: str, source: str) -> None:
    assert derived_event_id(kind, source) == uuid.uuid5(uuid.NAMESPACE_URL, f"ztc:{kind}:{source}").hex
