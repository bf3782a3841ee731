"""The hot-spot state in the real Redis: signals raise heat, a group is reported once, merges count once."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis

from consumers.hotspot_views import recent_hotspots
from schemas.feedback import TicketBounced
from schemas.hotspot_events import HotspotKeys
from schemas.hotspots import HotspotRequest
from schemas.settings import Settings
from streams.hotspot_store import RedisHotspotStore
from tests.unit.factories import NOW
from ztc.bootstrap import DEFAULT_POLICY, load_checked_policy

pytestmark = pytest.mark.integration

TEXT = "振华路被施工围挡封住，货车进不来"


def request(n: int, enterprise: str, minutes: int = 0) -> HotspotRequest:
    return HotspotRequest(
        ticket_id=f"T{n}",
        enterprise=enterprise,
        street="street-loushan",
        category="transport",
        text=TEXT,
        at=NOW + timedelta(minutes=minutes),
        departments=("transport", "street-loushan"),
    )


def bounce(ticket: str, event_id: str) -> TicketBounced:
    return TicketBounced(
        event_id=event_id,
        ticket_id=ticket,
        occurred_at=NOW,
        actor="王科长",
        department="transport",
        reason="not_our_remit",
        note="道路围挡归城管",
    )


@pytest.fixture()
def store(settings: Settings) -> RedisHotspotStore:
    default = load_checked_policy(DEFAULT_POLICY)
    # two enterprises (2.0) + a second department (0.5) stay below 3; one bounced ticket (+1) crosses it
    hotspots = default.hotspots.model_copy(update={"threshold": 3.0, "min_enterprises": 2})
    client = redis.Redis.from_url(settings.redis)
    prefix = f"{settings.redis_prefix}{id(hotspots)}:"
    return RedisHotspotStore(client, prefix, default.model_copy(update={"hotspots": hotspots}))


def test_a_bounce_makes_the_group_hot_once_and_redelivery_changes_nothing(store: RedisHotspotStore) -> None:
    now = NOW + timedelta(minutes=5)
    assert store.apply([request(1, "甲"), request(2, "乙", 1)], [], now) == []
    (report,) = store.apply([], [("T1", bounce("T1", "b1"))], now)
    assert report.bounced == 1 and report.suggestion == "joint_meeting"
    assert [p.hotspot_id for p in store.pending()] == [report.hotspot_id]
    assert store.apply([request(1, "甲"), request(2, "乙", 1)], [("T1", bounce("T1", "b1"))], now) == []
    assert store.client.xlen(store.alert_outbox) == 1
    store.published([report.hotspot_id])
    assert store.pending() == []
    (shown,) = recent_hotspots(store.client, store.keys.prefix)
    assert shown.hotspot_id == report.hotspot_id and shown.heat == report.heat


def test_a_signal_before_its_ticket_counts_when_the_ticket_arrives(store: RedisHotspotStore) -> None:
    now = NOW + timedelta(minutes=5)
    assert store.apply([], [("T2", bounce("T2", "b9"))], now) == []  # the bounce is read before the routing
    (report,) = store.apply([request(1, "甲"), request(2, "乙", 1)], [], now)
    assert report.bounced == 1 and {t.ticket_id for t in report.tickets} == {"T1", "T2"}
    keys = HotspotKeys(store.keys.prefix)
    assert store.client.hlen(keys.street("street-loushan")) == 1
