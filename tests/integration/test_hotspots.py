"""Hot spots on the embedded stack: 40 requests through the real router and the hot-spot worker.

12 of them, from 9 enterprises, describe the same blocked road at one industrial park in
different words; the 28 others are about other things (some in the same park). Exactly
one hot spot is reported, listing those tickets, and it is reported once across a
``kill -9`` of the worker followed by every routed message of the road delivered again.
"""

from __future__ import annotations

import csv
import json
import signal
import time
from datetime import timedelta
from pathlib import Path
from typing import cast

import pytest
import redis
from kafka import KafkaProducer

from consumers.hotspot_views import recent_hotspots
from consumers.topic_reader import read_topic
from producers.publisher import TicketPublisher
from schemas.events import DeadLettered, TicketRouted, TicketSubmitted, now_in_district
from schemas.hotspot_events import ALERT_EVENT_ADAPTER, HotSpotDetected
from schemas.outbox import alert_outbox_key
from schemas.settings import Settings
from tests.integration.conftest import Services, ztc

pytestmark = pytest.mark.integration

REQUESTS = Path(__file__).parents[1] / "unit" / "data" / "hotspot_requests.csv"


def submissions() -> list[TicketSubmitted]:
    """The 40 requests of the CSV, a minute apart, ending now, all from enterprises of 楼山街道."""
    with REQUESTS.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    start = now_in_district() - timedelta(minutes=len(rows))
    out = []
    for i, row in enumerate(rows):
        at = start + timedelta(minutes=i)
        out.append(
            TicketSubmitted(
                ticket_id="-",
                occurred_at=at,
                channel="wechat_group",
                channel_message_id=f"{row['group']}-{i:02d}",
                enterprise_name=row["enterprise"],
                street="楼山街道",
                title=row["title"],
                text=row["text"],
                submitted_at=at,
            )
        )
    return out


def wait_until(condition: object, timeout_s: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not callable(condition) or not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout_s}s")
        time.sleep(0.3)


def routed(settings: Settings) -> list[tuple[bytes, TicketRouted]]:
    """The routings on the topic (the poison this test adds left out)."""
    found = read_topic(settings.kafka_bootstrap, settings.topics.routed)
    return [(m.value, TicketRouted.model_validate_json(m.value)) for m in found if b"submission" in m.value]


def reported(settings: Settings) -> list[HotSpotDetected]:
    found = read_topic(settings.kafka_bootstrap, settings.topics.hotspots)
    return [HotSpotDetected.model_validate_json(m.value) for m in found]


def hotspot_alerts(client: redis.Redis, settings: Settings) -> list[HotSpotDetected]:
    stream = alert_outbox_key(settings.redis_prefix)
    entries = cast(list[tuple[bytes, dict[bytes, bytes]]], client.xrange(stream))
    events = [ALERT_EVENT_ADAPTER.validate_json(fields[b"event"]) for _, fields in entries]
    return [e for e in events if isinstance(e, HotSpotDetected)]


def seen_in_log(services: Services, name: str) -> int:
    """How many messages the worker says it has read (its latest ``hotspots: read`` line)."""
    lines = [line for line in services.log(name).splitlines() if "hotspots: read" in line]
    return int(lines[-1].split("; ")[-1].split(" seen")[0]) if lines else 0


def test_one_blocked_road_from_nine_enterprises_is_one_hot_spot_reported_once_across_a_restart(
    settings: Settings, tmp_path: Path
) -> None:
    client = redis.Redis.from_url(settings.redis)
    services = Services(settings, tmp_path)
    services.start("router")
    try:
        publisher = TicketPublisher(settings.kafka_bootstrap, settings.topics.submitted)
        try:
            publisher.publish_many(submissions())
        finally:
            publisher.close()
        wait_until(lambda: len(routed(settings)) == 40, what="40 routed")
        road = {r.ticket_id for _, r in routed(settings) if r.submission.channel_message_id[:5] == "road-"}
        assert len(road) == 12

        poison = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
        poison.send(settings.topics.routed, b"{not json")
        poison.send(settings.topics.routed, b'{"type": "TicketRouted", "ticket_id": "x"}')
        poison.flush()

        services.start("hotspots")
        wait_until(lambda: seen_in_log(services, "hotspots") >= 42, what="the worker read every message")
        wait_until(lambda: len(reported(settings)) >= 1, what="a hot spot on tickets.hotspots")

        (spot,) = recent_hotspots(client, settings.redis_prefix)
        assert {t.ticket_id for t in spot.tickets} == road
        assert spot.enterprise_count == 9 and spot.street == "street-loushan"
        assert spot.suggestion == "joint_meeting"  # transport, the street office and the triage desk involved
        assert len(spot.merge_suggestions) == 3  # three enterprises wrote twice
        listed = json.loads(ztc(settings, "hotspots", "list", "--json", check=True).stdout)
        assert [len(h["tickets"]) for h in listed] == [12] and listed[0]["hotspot_id"] == spot.hotspot_id
        (event,) = reported(settings)
        assert event.hotspot_id == spot.hotspot_id and {t.ticket_id for t in event.tickets} <= road
        assert [a.event_id for a in hotspot_alerts(client, settings)] == [event.event_id]
        letters = read_topic(settings.kafka_bootstrap, settings.topics.deadletter)
        stages = [DeadLettered.model_validate_json(m.value) for m in letters]
        assert sorted((d.stage, d.source_topic) for d in stages) == [("hotspots", settings.topics.routed)] * 2

        # kill -9 the worker, deliver every routed road message again, start a new one
        services.stop("hotspots", signal.SIGKILL)
        again = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
        for raw, decision in routed(settings):
            if decision.ticket_id in road:
                again.send(settings.topics.routed, raw, key=decision.ticket_id.encode())
        again.flush()
        services.start("hotspots", alias="hotspots-again")
        wait_until(lambda: seen_in_log(services, "hotspots-again") >= 12, what="the redelivered read")
        time.sleep(1.0)  # a report would be published in the same batch; give a late one a moment

        assert [e.hotspot_id for e in reported(settings)] == [spot.hotspot_id]
        assert len(hotspot_alerts(client, settings)) == 1
        (after,) = recent_hotspots(client, settings.redis_prefix)
        assert {t.ticket_id for t in after.tickets} == road
    finally:
        services.stop_all()
