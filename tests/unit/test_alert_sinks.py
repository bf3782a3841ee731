"""Each alert sink behind its courier, in milliseconds: a local robot webhook, a fake Redis, the log.

The couriers use the in-memory ledger and parked alerts (held to the Redis
contract in ``alert_ledger_contract``), a hand-moved clock and retry delays of
a millisecond, so retries, parking and probing run without waiting.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client import REGISTRY

from consumers.alerts import (
    Courier,
    DeliveryLedger,
    LogSink,
    Outcome,
    RedisPubSubSink,
    RetryPolicy,
    WebhookSink,
    alert_text,
)
from consumers.alerts_memory import InMemoryLedger, InMemoryParkedAlerts
from tests.unit.alert_ledger_contract import T0, breach
from tests.unit.loopback_http import serving_posts

FAST = RetryPolicy(
    first_delay_s=0.001,
    max_delay_s=0.001,
    rate_limited_delay_s=0.001,
    max_rate_limited_delay_s=0.001,
    give_up_after_s=60.0,
    parked_first_s=30.0,
    parked_max_s=300.0,
    busy_wait_s=0.001,
)


class Clock:
    """Epoch seconds that move ``step`` at every reading (each attempt reads it)."""

    def __init__(self, step: float = 0.0) -> None:
        self.now = T0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def metric(name: str, sink: str) -> float:
    return REGISTRY.get_sample_value(f"ztc_alerts_{name}_total", {"sink": sink}) or 0.0


def courier(sink: Any, clock: Clock | None = None) -> tuple[Courier, InMemoryParkedAlerts]:
    parked = InMemoryParkedAlerts()
    made = Courier(sink, InMemoryLedger(), parked, "alerter-1", threading.Event(), FAST, clock or Clock())
    return made, parked


# ---------------------------------------------------------------- a local robot


@dataclass
class Robot:
    """Answers each POST with the next scripted (status, body); the last one repeats."""

    answers: list[tuple[int, bytes]] = field(default_factory=lambda: [(200, b'{"errcode":0,"errmsg":"ok"}')])
    requests: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)
    url: str = ""

    def answer(self) -> tuple[int, bytes]:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, list[Robot]]]:
    current: list[Robot] = []

    def answer(path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        robot = current[0]
        robot.requests.append((headers, json.loads(body)))
        return robot.answer()

    with serving_posts(answer) as base_url:
        yield base_url, current


@pytest.fixture()
def robot(server: tuple[str, list[Robot]]) -> Robot:
    base_url, current = server
    made = Robot(url=f"{base_url}/cgi-bin/webhook/send?key=k")
    current[:] = [made]
    return made


def test_the_webhook_posts_the_robot_text_once_with_the_event_id_header(robot: Robot) -> None:
    event = breach(1)
    delivered = metric("delivered", "webhook")
    mail, _ = courier(WebhookSink(robot.url, timeout_s=2))
    assert mail.deliver(event) is Outcome.delivered
    assert mail.deliver(event) is Outcome.duplicate  # redelivered from the outbox: not posted again
    [(headers, body)] = robot.requests
    assert headers["x-ztc-event-id"] == event.event_id  # header names are case-insensitive
    assert headers["content-type"] == "application/json"
    assert body == {"msgtype": "text", "text": {"content": alert_text(event)}}
    assert metric("delivered", "webhook") == delivered + 1


@pytest.mark.parametrize(
    "refusal",
    [
        b'{"errcode":93000,"errmsg":"invalid webhook url"}',
        b'{"errcode":45009,"errmsg":"api freq out of limit"}',
    ],
    ids=["error", "rate-limit"],
)
def test_a_robot_errcode_with_http_200_is_a_failure_and_retried_until_accepted(
    robot: Robot, refusal: bytes
) -> None:
    robot.answers = [(200, refusal), (200, refusal), (200, b'{"errcode":0,"errmsg":"ok"}')]
    retried = metric("retried", "webhook")
    mail, parked = courier(WebhookSink(robot.url, timeout_s=2))
    assert mail.deliver(breach(2)) is Outcome.delivered
    assert len(robot.requests) == 3
    assert metric("retried", "webhook") == retried + 2
    assert parked.count("webhook") == 0


def test_a_webhook_that_keeps_failing_gets_the_alert_parked_then_delivered_when_it_recovers(
    robot: Robot,
) -> None:
    robot.answers = [(500, b"down")]
    clock = Clock(step=10.0)  # every attempt is 10 s later: down after about a minute
    mail, parked = courier(WebhookSink(robot.url, timeout_s=2), clock)
    first, second = breach(3), breach(4)
    assert mail.deliver(first) is Outcome.parked
    tries = len(robot.requests)
    assert tries >= 3  # retried with backoff before giving up
    [waiting] = parked.waiting("webhook")
    assert waiting.event == first and "HTTP 500" in waiting.last_error and waiting.attempts == tries
    assert mail.deliver(second) is Outcome.parked  # while down: parked at once, not tried
    assert len(robot.requests) == tries and parked.count("webhook") == 2
    robot.answers = [(200, b'{"errcode":0}')]
    clock.now += 600  # past the next probe and both retry times
    assert mail.retry_parked() == 2
    assert parked.count("webhook") == 0 and len(robot.requests) == tries + 2
    assert mail.deliver(first) is Outcome.duplicate


# ---------------------------------------------------------------- Redis pub/sub, faked


@dataclass
class FakeRedis:
    """Just what ``RedisPubSubSink`` and ``DeliveryLedger`` use: PUBLISH, keys, WATCH/MULTI/EXEC."""

    keys: dict[str, str] = field(default_factory=dict)
    published: list[tuple[str, str]] = field(default_factory=list)

    def publish(self, channel: str, message: str) -> int:
        self.published.append((channel, message))
        return 1

    def register_script(self, script: str) -> Any:
        return None

    def pipeline(self, transaction: bool = True) -> FakePipeline:
        return FakePipeline(self)


@dataclass
class FakePipeline:
    redis: FakeRedis
    queued: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    buffering: bool = False

    def __enter__(self) -> FakePipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def watch(self, *keys: str) -> None:
        pass

    def unwatch(self) -> None:
        pass

    def exists(self, key: str) -> int:
        return int(key in self.redis.keys)

    def multi(self) -> None:
        self.buffering = True

    def publish(self, channel: str, message: str) -> None:
        self.queued.append(("publish", (channel, message)))

    def set(self, key: str, value: str, ex: int | None = None) -> None:
        self.queued.append(("set", (key, value)))

    def delete(self, key: str) -> None:
        self.queued.append(("delete", (key,)))

    def execute(self) -> None:
        for op, args in self.queued:
            if op == "publish":
                self.redis.publish(*args)
            elif op == "set":
                self.redis.keys[args[0]] = args[1]
            else:
                self.redis.keys.pop(args[0], None)
        self.queued = []


def test_the_redis_sink_publishes_the_event_and_its_text_once_per_courier() -> None:
    fake = FakeRedis()
    sink = RedisPubSubSink(fake, "ztc:alerts")  # type: ignore[arg-type]
    mail, _ = courier(sink)
    event = breach(5)
    assert mail.deliver(event) is Outcome.delivered
    assert mail.deliver(event) is Outcome.duplicate
    [(channel, message)] = fake.published
    payload = json.loads(message)
    assert channel == "ztc:alerts" and payload["text"] == alert_text(event)
    assert payload["event"]["event_id"] == event.event_id


def test_the_redis_sink_marks_in_the_same_transaction_and_never_publishes_a_marked_event() -> None:
    fake = FakeRedis()
    sink = RedisPubSubSink(fake, "ztc:alerts")  # type: ignore[arg-type]
    ledger = DeliveryLedger(fake, "ztc:")  # type: ignore[arg-type]
    event = breach(6)
    assert sink.send_marked(event, ledger) is True
    assert ledger.sent_key("redis", event.event_id) in fake.keys
    assert sink.send_marked(event, ledger) is False
    assert len(fake.published) == 1


# ---------------------------------------------------------------- the log


def test_the_log_sink_writes_the_alert_text_once(caplog: pytest.LogCaptureFixture) -> None:
    mail, _ = courier(LogSink())
    event = breach(7)
    with caplog.at_level(logging.WARNING, logger="consumers.alerts"):
        assert mail.deliver(event) is Outcome.delivered
        assert mail.deliver(event) is Outcome.duplicate
    lines = [r.getMessage() for r in caplog.records if r.name == "consumers.alerts"]
    assert lines == [f"SLA {alert_text(event)}"]
