"""Unit tests for the alert text, the robot's answers, the retry schedule and the sink settings."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import redis

from consumers.alerter import Undecodable, decode_entry, outbox_key, sinks_from
from consumers.alerts import (
    RetryPolicy,
    SinkFailed,
    alert_text,
    check_robot_answer,
    robot_message,
)
from schemas.settings import Settings, SettingsError
from schemas.sla import SlaBreached, SlaEscalated, SlaStage, SlaWarning
from tests.unit.factories import NOW

TICKET = "ZTC-20261127-00000001"
DUE = NOW + timedelta(hours=2)


def test_the_texts_name_ticket_stage_deadline_and_who_must_act() -> None:
    common = {"ticket_id": TICKET, "occurred_at": NOW, "department": "approval", "due_at": DUE}
    warning = SlaWarning(stage=SlaStage.accept, key=f"{TICKET}:accept:warning:0", share=0.8, **common)
    breached = SlaBreached(stage=SlaStage.resolve, key=f"{TICKET}:resolve:breach:0", **common)
    escalated = SlaEscalated(
        stage=SlaStage.resolve, key=f"{TICKET}:resolve:escalation2:0", level=2,
        level_name="supervision", level_label="督办", notify="office", **common,
    )  # fmt: skip
    assert (
        alert_text(warning)
        == f"【临期预警】工单 {TICKET} 签收时限 11-27 12:00 将到期，请 approval 抓紧办理。"
    )
    assert alert_text(breached) == f"【超期】工单 {TICKET} 办结已超过时限 11-27 12:00，承办部门 approval。"
    assert alert_text(escalated) == (
        f"【督办】工单 {TICKET} 办结超期（时限 11-27 12:00），第 2 级：请 区政府办公室 督促 approval 办理。"
    )
    assert robot_message(breached) == {"msgtype": "text", "text": {"content": alert_text(breached)}}


@pytest.mark.parametrize(
    "answer", [b'{"errcode":0,"errmsg":"ok"}', b'{"errcode":"0"}', b"{}", b"ok", b"", b"[1]"]
)
def test_a_2xx_answer_without_a_non_zero_errcode_is_delivered(answer: bytes) -> None:
    check_robot_answer(answer)


@pytest.mark.parametrize(
    ("answer", "rate_limited"),
    [
        (b'{"errcode":45009,"errmsg":"api freq out of limit"}', True),
        (b'{"errcode":130101,"errmsg":"send too fast"}', True),
        (b'{"errcode":93000,"errmsg":"invalid webhook url"}', False),
        (b'{"errcode":"x"}', False),
    ],
)
def test_a_non_zero_errcode_is_a_failure_and_rate_limits_say_so(
    answer: bytes, rate_limited: bool, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), pytest.raises(SinkFailed) as failed:
        check_robot_answer(answer)
    assert failed.value.rate_limited is rate_limited
    assert "errcode" in str(failed.value) and "errmsg" in caplog.text


def test_retries_back_off_exponentially_and_longer_for_rate_limits() -> None:
    policy = RetryPolicy()
    assert [policy.delay(n, rate_limited=False) for n in range(7)] == [0.5, 1, 2, 4, 8, 10, 10]
    assert [policy.delay(n, rate_limited=True) for n in range(4)] == [5, 10, 20, 30]
    assert [policy.parked_delay(n) for n in range(5)] == [30, 60, 120, 240, 300]
    ordinary = 0.0
    for attempt in range(100):  # about a minute of ordinary retries before an alert is parked
        if ordinary >= policy.give_up_after_s:
            break
        ordinary += policy.delay(attempt, rate_limited=False)
    assert 5 <= attempt <= 12


def test_sinks_come_from_the_settings() -> None:
    client = redis.Redis()  # never connects: nothing is sent here
    sinks = sinks_from(Settings(alert_sinks="log, webhook,redis", alert_webhook_url="http://x/hook"), client)
    assert [s.name for s in sinks] == ["log", "webhook", "redis"]
    with pytest.raises(SettingsError, match="ZTC_ALERT_WEBHOOK_URL"):
        sinks_from(Settings(alert_sinks="webhook"), client)
    with pytest.raises(SettingsError, match="unknown sink 'mail'"):
        sinks_from(Settings(alert_sinks="log,mail"), client)


def test_the_outbox_is_the_stream_the_recorder_writes() -> None:
    assert outbox_key("ztc:") == "ztc:alerts:outbox"


def test_an_outbox_entry_holds_one_sla_event_or_is_undecodable() -> None:
    event = SlaBreached(
        ticket_id=TICKET,
        occurred_at=NOW,
        department="approval",
        due_at=DUE,
        stage=SlaStage.accept,
        key=f"{TICKET}:accept:breach:0",
    )
    assert decode_entry({b"event": event.model_dump_json().encode()}) == event
    assert decode_entry({"event": event.model_dump_json()}) == event  # a client that decodes responses
    with pytest.raises(Undecodable, match="Invalid JSON") as bad:
        decode_entry({b"event": b"\xff{"})
    assert bad.value.raw == b"\xff{"
    with pytest.raises(Undecodable, match="no 'event' field") as missing:
        decode_entry({b"other": b"1"})
    assert missing.value.raw == b'{"other": "1"}'
    with pytest.raises(Undecodable, match="SlaForgotten"):
        decode_entry({b"event": b'{"type": "SlaForgotten"}'})
