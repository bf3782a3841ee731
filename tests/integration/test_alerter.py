"""The alerter on a real Redis: the alert outbox stream to a loopback robot webhook, once, never dropped."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
import redis
from prometheus_client import REGISTRY

from consumers.alerter import Alerter, outbox_key, run_alerter, sinks_from
from consumers.alerts import AlertSink, LogSink, ParkedAlerts, RedisPubSubSink, RetryPolicy, WebhookSink
from deploy.embedded import EmbeddedStack
from schemas.events import now_in_district
from schemas.hotspot_events import AlertEvent
from schemas.settings import Settings
from schemas.sla import SlaBreached, SlaEvent, SlaStage
from tests.integration.conftest import stack_settings
from ztc.bootstrap import redis_client

pytestmark = pytest.mark.integration

FAST = RetryPolicy(
    first_delay_s=0.02,
    max_delay_s=0.1,
    rate_limited_delay_s=0.1,
    max_rate_limited_delay_s=0.2,
    give_up_after_s=5.0,
    parked_first_s=0.2,
    parked_max_s=0.5,
    lease_s=1.0,
    busy_wait_s=0.05,
)
TICKET = re.compile(r"ZTC-\d{8}-[0-9A-F]{12}")
OK = (200, {"errcode": 0, "errmsg": "ok"})


class Robot:
    """A loopback group robot: records every POST and answers from ``script``, then ``OK``."""

    def __init__(self, delay_s: float = 0.0, script: list[tuple[int, dict[str, Any]]] | None = None) -> None:
        self.delay_s = delay_s
        self.script = list(script or [])
        self.failing = False
        self.posts: list[str] = []
        self.accepted: list[str] = []
        self.lock = threading.Lock()
        self.url = ""

    def answer(self, content: str) -> tuple[int, dict[str, Any]]:
        time.sleep(self.delay_s)
        with self.lock:
            self.posts.append(content)
            status, body = (500, {}) if self.failing else (self.script.pop(0) if self.script else OK)
            if status == 200 and body.get("errcode", 0) == 0:
                self.accepted.append(content)
        return status, body

    def tickets(self) -> Counter[str]:
        with self.lock:
            return Counter(m.group(0) for text in self.accepted if (m := TICKET.search(text)))


@pytest.fixture
def robot() -> Iterator[Robot]:
    state = Robot()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            message = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status, body = state.answer(message["text"]["content"])
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(body).encode())

        def log_message(self, format: str, *args: object) -> None:
            return

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}/cgi-bin/webhook/send?key=test"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def settings(stack: EmbeddedStack, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return stack_settings(stack, tmp_path_factory.mktemp("alerter"))


@pytest.fixture(scope="module")
def client(settings: Settings) -> redis.Redis:
    return redis_client(settings)  # with the stack's password


@pytest.fixture
def prefix(settings: Settings) -> str:
    """A key prefix of this test's own: its outbox, markers and parked alerts."""
    return f"{settings.redis_prefix}{uuid.uuid4().hex[:6]}:"


def breach(n: int) -> SlaBreached:
    ticket_id = f"ZTC-20261128-{n:012X}"
    now = now_in_district()
    return SlaBreached(
        ticket_id=ticket_id,
        occurred_at=now,
        stage=SlaStage.accept,
        department="approval",
        due_at=now - timedelta(minutes=1),
        key=f"{ticket_id}:accept:breach:0",
    )


def add(client: redis.Redis, prefix: str, *events: SlaEvent) -> None:
    """What the recorder does for every SLA event it applies."""
    for event in events:
        client.xadd(outbox_key(prefix), {"event": event.model_dump_json()})


def alerter(
    client: redis.Redis, prefix: str, sinks: list[AlertSink], dead_letter: Any = None, **options: Any
) -> Alerter:
    values: dict[str, Any] = {"policy": FAST, "block_ms": 50, "claim_every_s": 0.1, "sweep_every_s": 0.05}
    values.update(options)
    return Alerter(
        client, sinks, dead_letter or _no_dead_letters, prefix=prefix, group=f"{prefix}alerter", **values
    )


def _no_dead_letters(raw: bytes, reason: str) -> None:
    raise AssertionError(f"unexpected dead letter: {reason}")


def drain(step: Alerter, done: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, "alerter did not finish in time"
        step.run_once()


def outbox_empty(client: redis.Redis, prefix: str) -> Callable[[], bool]:
    return lambda: client.xlen(outbox_key(prefix)) == 0


def pending(client: redis.Redis, prefix: str) -> int:
    return int(client.xpending(outbox_key(prefix), f"{prefix}alerter")["pending"])


def metric(name: str, sink: str) -> float:
    return REGISTRY.get_sample_value(f"ztc_alerts_{name}_total", {"sink": sink}) or 0.0


def metrics(sink: str) -> dict[str, float]:
    names = ("delivered", "retried", "parked", "duplicates_skipped", "in_doubt")
    return {name: metric(name, sink) for name in names}


def grew(before: dict[str, float], sink: str) -> dict[str, float]:
    return {name: value - before[name] for name, value in metrics(sink).items()}


class Crash(BaseException):
    """Stands for the process dying (SIGKILL): nothing after it runs."""


class CrashBefore:
    """The webhook, until the alerter dies just before posting ticket number ``at``."""

    def __init__(self, sink: WebhookSink, at: int) -> None:
        self.sink = sink
        self.name = sink.name
        self.at = f"{at:08X}"

    def send(self, event: AlertEvent) -> None:
        if event.ticket_id.endswith(self.at):
            raise Crash
        self.sink.send(event)


# ---------------------------------------------------------------- the cases


def test_a_slow_webhook_gets_every_alert_once_and_reading_waits_for_it(
    client: redis.Redis, prefix: str, robot: Robot
) -> None:
    robot.delay_s = 0.05
    before = metrics("webhook")
    events = [breach(n) for n in range(200)]
    add(client, prefix, *events)
    step = alerter(client, prefix, [WebhookSink(robot.url)])
    try:
        deadline = time.monotonic() + 60
        while client.xlen(outbox_key(prefix)):
            assert time.monotonic() < deadline
            step.run_once()
            assert pending(client, prefix) == 0  # a batch is finished before the next is read
    finally:
        step.close()
    assert robot.tickets() == Counter({e.ticket_id: 1 for e in events})
    assert len(robot.posts) == 200
    assert grew(before, "webhook")["delivered"] == 200


def test_a_robot_rate_limit_answered_with_http_200_is_retried_until_accepted(
    client: redis.Redis, prefix: str, robot: Robot, caplog: pytest.LogCaptureFixture
) -> None:
    limited = (200, {"errcode": 45009, "errmsg": "api freq out of limit"})
    robot.script = [limited, limited, OK]
    before = metrics("webhook")
    add(client, prefix, breach(1))
    step = alerter(client, prefix, [WebhookSink(robot.url)])
    started = time.monotonic()
    try:
        with caplog.at_level(logging.WARNING, logger="consumers.alerts"):
            drain(step, outbox_empty(client, prefix))
    finally:
        step.close()
    assert len(robot.posts) == 3
    assert robot.tickets() == Counter({breach(1).ticket_id: 1})
    assert grew(before, "webhook") == {
        "delivered": 1, "retried": 2, "parked": 0, "duplicates_skipped": 0, "in_doubt": 0,
    }  # fmt: skip
    assert time.monotonic() - started >= 0.1 + 0.2  # the rate-limit backoff, not the ordinary one
    assert "api freq out of limit" in caplog.text


def test_the_same_sla_event_twice_in_the_outbox_is_sent_once_to_every_sink(
    client: redis.Redis, prefix: str, robot: Robot
) -> None:
    channel = f"{prefix}alerts"
    subscriber = client.pubsub()  # type: ignore[no-untyped-call]
    subscriber.subscribe(channel)
    subscriber.get_message(timeout=1.0)  # the subscription confirmation
    before = {sink: metrics(sink) for sink in ("webhook", "redis", "log")}
    event = breach(7)
    add(client, prefix, event, event)
    sinks: list[AlertSink] = [WebhookSink(robot.url), RedisPubSubSink(client, channel), LogSink()]
    step = alerter(client, prefix, sinks)
    try:
        drain(step, outbox_empty(client, prefix))
        add(client, prefix, event)  # and once more, after the first two were acknowledged
        drain(step, outbox_empty(client, prefix))
    finally:
        step.close()
    published = []
    while (message := subscriber.get_message(timeout=0.3)) is not None:
        published.append(json.loads(message["data"]))
    subscriber.close()
    assert robot.tickets() == Counter({event.ticket_id: 1})
    assert [p["event"]["event_id"] for p in published] == [event.event_id]
    for sink in ("webhook", "redis", "log"):
        assert grew(before[sink], sink)["delivered"] == 1
        assert grew(before[sink], sink)["duplicates_skipped"] == 2


def test_a_second_alerter_finishes_what_a_crashed_one_left_without_sending_anything_twice(
    client: redis.Redis, prefix: str, robot: Robot
) -> None:
    events = [breach(n) for n in range(1, 31)]
    add(client, prefix, *events)
    before = metrics("webhook")
    first = alerter(client, prefix, [CrashBefore(WebhookSink(robot.url), at=15)], consumer="a", batch=10)
    try:
        assert first.run_once() == 10  # 1-10 delivered and acknowledged
        with pytest.raises(Crash):
            first.run_once()  # 11-14 delivered, not acknowledged; dies before posting 15
    finally:
        first.close()
    assert robot.tickets() == Counter({e.ticket_id: 1 for e in events[:14]})
    assert pending(client, prefix) == 10

    second = alerter(client, prefix, [WebhookSink(robot.url)], consumer="b", batch=10, claim_idle_s=0.0)
    try:
        drain(second, lambda: client.xlen(outbox_key(prefix)) == 0 and pending(client, prefix) == 0)
    finally:
        second.close()
    assert robot.tickets() == Counter({e.ticket_id: 1 for e in events})
    assert len(robot.posts) == 30
    change = grew(before, "webhook")
    assert change["delivered"] == 30
    assert change["duplicates_skipped"] == 4  # 11-14: marked by the first alerter
    assert change["in_doubt"] == 1  # 15: the first died holding its lease (before posting, as it happens)


def test_two_alerters_share_the_outbox_and_keep_their_claims_while_a_batch_is_slow(
    client: redis.Redis, prefix: str, robot: Robot, caplog: pytest.LogCaptureFixture
) -> None:
    robot.delay_s = 0.1  # a batch of 10 takes about 2 s with two alerters: longer than claim_idle_s
    events = [breach(n) for n in range(1, 41)]
    add(client, prefix, *events)
    before = metrics("webhook")
    stop = threading.Event()
    workers = [
        alerter(
            client, prefix, [WebhookSink(robot.url)], consumer=name, batch=10, claim_idle_s=1.5, stop=stop
        )
        for name in ("a", "b")
    ]
    threads = [threading.Thread(target=worker.run) for worker in workers]
    try:
        with caplog.at_level(logging.INFO, logger="consumers.alerter"):
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + 30
            while client.xlen(outbox_key(prefix)) or pending(client, prefix):
                assert time.monotonic() < deadline
                time.sleep(0.1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
        for worker in workers:
            worker.close()
    assert robot.tickets() == Counter({e.ticket_id: 1 for e in events})
    change = grew(before, "webhook")
    assert (change["delivered"], change["duplicates_skipped"], change["in_doubt"]) == (40, 0, 0)
    assert "took over" not in caplog.text  # the heartbeat kept each batch with its alerter


def test_an_alerter_stopped_while_retrying_finishes_the_alert_after_a_restart_under_its_name(
    client: redis.Redis, prefix: str, robot: Robot
) -> None:
    robot.failing = True
    add(client, prefix, breach(1))
    stop = threading.Event()
    first = alerter(client, prefix, [WebhookSink(robot.url)], consumer="same", stop=stop)
    timer = threading.Timer(0.3, stop.set)
    timer.start()
    try:
        assert first.run_once() == 0  # SIGTERM while waiting to retry: nothing acknowledged
    finally:
        timer.join()
        first.close()
    assert pending(client, prefix) == 1 and robot.posts and not robot.accepted
    robot.failing = False
    again = alerter(client, prefix, [WebhookSink(robot.url)], consumer="same")  # e.g. pid 1 in a container
    try:
        drain(again, lambda: pending(client, prefix) == 0, timeout_s=5)  # long before claim_idle_s
    finally:
        again.close()
    assert robot.tickets() == Counter({breach(1).ticket_id: 1})
    assert client.xlen(outbox_key(prefix)) == 0


def test_a_sink_that_keeps_failing_gets_the_alert_parked_and_delivered_when_it_recovers(
    client: redis.Redis, prefix: str, robot: Robot
) -> None:
    robot.failing = True
    before = {sink: metrics(sink) for sink in ("webhook", "log")}
    first, second = breach(1), breach(2)
    add(client, prefix, first, second)
    policy = RetryPolicy(
        first_delay_s=0.02, max_delay_s=0.05, give_up_after_s=0.3, parked_first_s=0.2, parked_max_s=0.4
    )
    step = alerter(client, prefix, [WebhookSink(robot.url), LogSink()], policy=policy)
    parked = ParkedAlerts(client, prefix)
    try:
        assert step.run_once() == 2  # both acknowledged: the log has them, the webhook parked them
        assert client.xlen(outbox_key(prefix)) == 0 and pending(client, prefix) == 0
        waiting = parked.waiting("webhook")
        assert [p.event.ticket_id for p in waiting] == [first.ticket_id, second.ticket_id]
        assert "HTTP 500" in waiting[0].last_error
        assert grew(before["log"], "log")["delivered"] == 2
        assert not any(second.ticket_id in post for post in robot.posts)  # parked at once: sink is down

        time.sleep(0.3)
        step.run_once()  # a retry of the parked alerts while the sink still fails
        assert parked.count("webhook") == 2
        robot.failing = False
        drain(step, lambda: parked.count("webhook") == 0, timeout_s=10)
    finally:
        step.close()
    assert robot.tickets() == Counter({first.ticket_id: 1, second.ticket_id: 1})
    change = grew(before["webhook"], "webhook")
    assert change["parked"] == 2 and change["delivered"] == 2
    assert client.hlen(parked.alerts_key("webhook")) == 0


def test_an_undecodable_entry_is_dead_lettered_and_the_others_are_delivered(
    client: redis.Redis, prefix: str, robot: Robot
) -> None:
    letters: list[tuple[bytes, str]] = []
    stream = outbox_key(prefix)
    add(client, prefix, breach(1))
    client.xadd(stream, {"event": b"\xff{not json"})
    client.xadd(stream, {"something": "else"})
    client.xadd(stream, {"event": json.dumps({"type": "SlaForgotten", "ticket_id": "ZTC-20261128-0000000F"})})
    add(client, prefix, breach(2))
    step = alerter(
        client, prefix, [WebhookSink(robot.url)], dead_letter=lambda r, why: letters.append((r, why))
    )
    try:
        drain(step, outbox_empty(client, prefix))
    finally:
        step.close()
    assert robot.tickets() == Counter({breach(1).ticket_id: 1, breach(2).ticket_id: 1})
    assert [raw for raw, _ in letters] == [
        b"\xff{not json",
        b'{"something": "else"}',
        b'{"type": "SlaForgotten", "ticket_id": "ZTC-20261128-0000000F"}',
    ]
    assert all("not an SLA event" in reason for _, reason in letters)
    assert "no 'event' field" in letters[1][1]
    assert pending(client, prefix) == 0


def test_run_alerter_delivers_from_the_outbox_until_stopped(
    settings: Settings, client: redis.Redis, robot: Robot
) -> None:
    tag = uuid.uuid4().hex[:6]
    mine = settings.model_copy(
        update={
            "redis_prefix": f"{settings.redis_prefix}{tag}:",
            "group_prefix": f"{settings.group_prefix}{tag}",
            "alert_sinks": "webhook,log",
            "alert_webhook_url": robot.url,
        }
    )
    stop = threading.Event()
    worker = threading.Thread(
        target=run_alerter, args=(mine, sinks_from(mine, client), stop, client, _no_dead_letters)
    )
    worker.start()
    try:
        add(client, mine.redis_prefix, breach(1), breach(2))
        deadline = time.monotonic() + 20
        while len(robot.tickets()) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join(10)
    assert not worker.is_alive()
    assert robot.tickets() == Counter({breach(1).ticket_id: 1, breach(2).ticket_id: 1})
