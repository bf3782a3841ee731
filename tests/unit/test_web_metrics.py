"""``/metrics`` on the web edge: a token when one is set, else loopback only; reports share one snapshot."""

from __future__ import annotations

import threading
import time

import pytest
from fastapi.testclient import TestClient

from consumers.access import KeyRing
from schemas.settings import Settings
from schemas.ticket import TicketRecord
from ztc.bootstrap import DEFAULT_POLICY, load_checked_policy
from ztc.web_app import SnapshotStore, create_app

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


def test_concurrent_reports_share_one_full_read() -> None:
    reads: list[float] = []

    class Counting(SnapshotStore):
        def ticket_ids(self, *args: object, **kwargs: object) -> list[str]:
            reads.append(time.monotonic())
            time.sleep(0.2)  # a slow full read, as with 55,000 tickets
            return []

        def _load_many(self, ticket_ids: list[str]) -> list[TicketRecord]:
            return []

    store = Counting(client=None, prefix="x:", ttl_s=60)  # type: ignore[arg-type]
    threads = [threading.Thread(target=store.records) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(reads) == 1
    store.records()
    assert len(reads) == 1
