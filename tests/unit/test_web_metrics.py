"""``/metrics`` on the web edge: a token when one is set, else loopback only; gauges from the read model."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from consumers.access import KeyRing
from consumers.metrics import TicketGauges, exposition
from schemas.settings import Settings
from ztc.bootstrap import DEFAULT_POLICY, load_checked_policy
from ztc.web_app import create_app

POLICY = load_checked_policy(DEFAULT_POLICY)
TOKEN = "s3cret-token-for-scrapers"


def client(settings: Settings, host: str) -> TestClient:
    # Redis is never reached: the gauges report nothing when it does not answer
    unreachable = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    app = create_app(unreachable, POLICY, KeyRing(None))
    return TestClient(app, client=(host, 50000))


@pytest.mark.parametrize(("host", "status"), [("127.0.0.1", 200), ("10.1.2.3", 401)])
def test_without_a_token_only_loopback_may_scrape(host: str, status: int) -> None:
    assert client(Settings(), host).get("/metrics").status_code == status


def test_with_a_token_only_its_bearer_may_scrape_from_anywhere() -> None:
    http = client(Settings(metrics_token=TOKEN), "10.1.2.3")
    assert http.get("/metrics").status_code == 401
    assert http.get("/metrics", headers={"Authorization": "Bearer wrong-token-xxxxxxxxxx"}).status_code == 401
    answer = http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200 and "ztc_open_tickets" in answer.text


def test_gauges_show_what_the_read_model_answers() -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TicketGauges(lambda: {"approval": (3, 1), "planning": (2, 0)}))
    text = exposition(registry)[0].decode()
    assert 'ztc_open_tickets{department="approval"} 3.0' in text
    assert 'ztc_overdue_tickets{department="approval"} 1.0' in text
    assert 'ztc_overdue_tickets{department="planning"} 0.0' in text
