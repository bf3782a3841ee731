"""SLA on the embedded stack with second-scale targets: warnings, breaches, escalation, alerts."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest
import redis
from kafka import KafkaConsumer, TopicPartition

from consumers.ticket_store import RedisTicketStore
from deploy.embedded import EmbeddedStack
from producers.department_client import DepartmentClient
from producers.publisher import TicketPublisher, build_submission
from schemas.events import now_in_district
from schemas.settings import Settings
from schemas.ticket import TicketRecord
from tests.integration.conftest import (
    Services,
    WaitFor,
    default_policy_text,
    escalation_ladder,
    stack_settings,
    ztc,
)
from ztc.bootstrap import DEFAULT_POLICY, load_checked_policy

pytestmark = pytest.mark.integration

FAST_SLA = """
[sla]
hold_outside_working_hours = false
warning_share = 0.5
default_tier = "fast"
rules = []

[[sla.tiers]]
name = "fast"
accept = "6 seconds"
resolve = "12 seconds"
""" + escalation_ladder("2 seconds", "4 seconds")


class RobotReceiver(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, object]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        RobotReceiver.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'{"errcode":0,"errmsg":"ok"}')

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def webhook() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), RobotReceiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/cgi-bin/webhook/send?key=test"
    server.shutdown()


@pytest.fixture(scope="module")
def settings(stack: EmbeddedStack, tmp_path_factory: pytest.TempPathFactory, webhook: str) -> Settings:
    return stack_settings(
        stack,
        tmp_path_factory.mktemp("sla"),
        default_policy_text() + FAST_SLA,
        alert_sinks="log,webhook,redis",
        alert_webhook_url=webhook,
        monitor_interval_s=0.3,
    )


def sla_keys(record: TicketRecord) -> list[str]:
    return [str(h.details["key"]) for h in record.history if h.event_type.startswith("Sla")]


def test_untouched_ticket_climbs_the_ladder_once_and_a_handled_one_stays_quiet(
    settings: Settings, store: RedisTicketStore, wait_for_ticket: WaitFor
) -> None:
    services = Services(settings, settings.data_dir)
    for name in ("router", "recorder", "alerter"):
        services.start(name)
    services.start("monitor", "monitor-a")
    services.start("monitor", "monitor-b")
    pubsub = redis.Redis.from_url(settings.redis).pubsub()  # type: ignore[no-untyped-call]
    pubsub.subscribe(settings.alert_channel)
    publisher = TicketPublisher(settings.kafka_bootstrap, settings.topics.submitted)
    try:
        now = now_in_district()
        untouched = build_submission({"text": "我们想办理食品经营许可证", "channel": "hotline"}, now)
        handled = build_submission({"text": "食品经营许可证延续怎么办理", "channel": "hotline"}, now)
        publisher.publish_many([untouched, handled])
        wait_for_ticket(untouched.ticket_id, 30)
        wait_for_ticket(handled.ticket_id, 30)
        codes = load_checked_policy(settings.policy_path or DEFAULT_POLICY).department_codes
        client = DepartmentClient(store, publisher, settings.topics.feedback, codes, now_in_district)
        assert client.wait_recorded(client.accept(handled.ticket_id, "approval", "王"), 10)
        assert client.wait_recorded(client.resolve(handled.ticket_id, "approval", "王", "已办结"), 10)

        time.sleep(4)
        services.stop("monitor-a", signal.SIGKILL)  # mid-run: accept warning done, breach imminent
        time.sleep(1)
        services.start("monitor", "monitor-a")

        expected = {
            f"{untouched.ticket_id}:{stage}:{kind}:0"
            for stage in ("accept", "resolve")
            for kind in ("warning", "breach", "escalation1", "escalation2", "escalation3")
        }
        deadline = time.monotonic() + 45
        while set(sla_keys(store.get(untouched.ticket_id) or _never())) != expected:
            assert time.monotonic() < deadline, sla_keys(store.get(untouched.ticket_id) or _never())
            time.sleep(0.5)
        time.sleep(2)  # anything doubled would arrive now

        record = store.get(untouched.ticket_id) or _never()
        keys = sla_keys(record)
        assert len(keys) == len(set(keys)) == 10
        assert record.sla is not None and record.sla.escalation_level == 3
        assert set(record.sla.breached) == {"accept", "resolve"}
        quiet = store.get(handled.ticket_id) or _never()
        assert sla_keys(quiet) == [] and quiet.status.value == "resolved"
        assert int(store.client.hget(store.breach_counts_key, "approval") or 0) == 2

        overdue = json.loads(ztc(settings, "overdue", "--json", check=True).stdout)
        assert {(o["ticket_id"], o["stage"]) for o in overdue} == {
            (untouched.ticket_id, "accept"),
            (untouched.ticket_id, "resolve"),
        }
        assert all(o["overdue"] and o["escalation_level"] == 3 for o in overdue)
        shown = ztc(settings, "ticket", "show", untouched.ticket_id, check=True).stdout
        assert "通报" in shown and "超期" in shown

        deadline = time.monotonic() + 20
        while len([m for m in RobotReceiver.received if untouched.ticket_id in str(m)]) < 10:
            assert time.monotonic() < deadline, RobotReceiver.received
            time.sleep(0.3)
        message = next(m for m in RobotReceiver.received if "【超期】" in str(m))
        assert message["msgtype"] == "text" and untouched.ticket_id in message["text"]["content"]  # type: ignore[index]
        assert not any(handled.ticket_id in str(m) for m in RobotReceiver.received)
        published = [pubsub.get_message(timeout=1) for _ in range(15)]
        assert any(
            m and m["type"] == "message" and untouched.ticket_id.encode() in m["data"] for m in published
        )
    finally:
        publisher.close()
        services.stop_all()


def redis_snapshot(settings: Settings) -> tuple[dict[bytes, bytes | None], set[bytes]]:
    """Every lasting key of this installation with its DUMP (type and value, byte for byte), and the
    keys that expire by themselves (leases left by the earlier test: they may vanish, never appear)."""
    client = redis.Redis.from_url(settings.redis)
    try:
        keys = sorted(client.scan_iter(match=f"{settings.redis_prefix}*", count=1000))
        expiring = {key for key in keys if client.ttl(key) >= 0}
        lasting = [key for key in keys if key not in expiring]
        return dict(zip(lasting, [client.dump(key) for key in lasting], strict=True)), expiring
    finally:
        client.close()


def unchanged(before: tuple[dict[bytes, bytes | None], set[bytes]], settings: Settings) -> bool:
    lasting, expiring = redis_snapshot(settings)
    return lasting == before[0] and expiring <= before[1]


def sla_topic_end(settings: Settings) -> int:
    """How many records the SLA topic holds (sum of end offsets)."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    try:
        partitions = [
            TopicPartition(settings.topics.sla, p)
            for p in consumer.partitions_for_topic(settings.topics.sla) or ()
        ]
        return sum(consumer.end_offsets(partitions).values())
    finally:
        consumer.close()


def test_a_drill_prints_what_would_fire_and_changes_nothing_until_apply(
    settings: Settings, store: RedisTicketStore, wait_for_ticket: WaitFor
) -> None:
    services = Services(settings, settings.data_dir)
    services.start("router")
    services.start("recorder", "recorder-drill")
    try:
        ticket_id = ztc(
            settings, "submit", "--text", "营业执照变更登记一直没办下来", check=True
        ).stdout.strip()
        wait_for_ticket(ticket_id, 30)
    finally:
        services.stop_all()  # nobody writes while the drill is compared
    future = "2099-01-01T09:00:00+08:00"
    before, sla_before = redis_snapshot(settings), sla_topic_end(settings)

    drill = ztc(settings, "monitor", "--once", "--now", future, check=True).stdout
    lead = store.get(ticket_id) or _never()
    lead_name = load_checked_policy(settings.policy_path or DEFAULT_POLICY).department(lead.lead_department)
    assert lead_name is not None
    lines = [line for line in drill.splitlines() if ticket_id in line]
    assert any(
        "办结" in line and "通报 第3级" in line and lead_name.name in line and "已超期" in line
        for line in lines
    )
    assert "nothing recorded or sent" in drill and lead.lead_department + " " not in drill
    assert ztc(settings, "monitor", "--once", "--now", future, check=True).stdout == drill  # again: the same

    assert unchanged(before, settings)  # not a key, not a byte changed
    assert sla_topic_end(settings) == sla_before  # nothing published, so nothing for the alerter
    shown = ztc(settings, "ticket", "show", ticket_id, check=True).stdout
    assert "通报" not in shown
    overdue = json.loads(ztc(settings, "overdue", "--json", "--now", future, check=True).stdout)
    assert {(o["ticket_id"], o["escalation_level"]) for o in overdue if o["ticket_id"] == ticket_id} == {
        (ticket_id, 0)  # overdue at that moment, nothing escalated: as the ticket itself says
    }

    refused = ztc(settings, "monitor", "--once", "--apply", "--now", future)
    assert refused.returncode != 0 and refused.stdout == ""
    assert refused.stderr.startswith("错误 / error:") and len(refused.stderr.strip().splitlines()) == 1
    assert unchanged(before, settings)

    services.start("recorder", "recorder-apply")
    try:
        time.sleep(7)  # the 6-second accept deadline passes: now a real pass has something to emit
        applied = ztc(settings, "monitor", "--once", "--apply", check=True).stdout
        assert f"{ticket_id}:accept:breach:0" in applied
        deadline = time.monotonic() + 20
        while f"{ticket_id}:accept:breach:0" not in sla_keys(store.get(ticket_id) or _never()):
            assert time.monotonic() < deadline, sla_keys(store.get(ticket_id) or _never())
            time.sleep(0.3)
        assert sla_topic_end(settings) > sla_before
    finally:
        services.stop_all()


def _never() -> TicketRecord:
    raise AssertionError("ticket vanished")
