"""The office's 热点 page: who sees which hot spot, with its tickets and the suggested merges."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from consumers.accounts import add_account
from schemas.hotspot_events import HotSpotDetected, HotspotKeys, detected
from schemas.hotspots import HotspotGroup, HotspotRequest
from schemas.settings import Settings
from tests.unit import test_web_pages as web_pages_test
from tests.unit.factories import NOW
from ztc.bootstrap import DEFAULT_POLICY, load_checked_policy
from ztc.web_app import web_pages

POLICY = load_checked_policy(DEFAULT_POLICY)


class ViewOnlyRedis:
    """The two reads ``recent_hotspots`` makes, over one hot spot."""

    def __init__(self, spot: HotSpotDetected, prefix: str) -> None:
        self.spot, self.keys = spot, HotspotKeys(prefix)

    def zrevrange(self, key: str, start: int, end: int) -> list[bytes]:
        return [self.spot.hotspot_id.encode()] if key == self.keys.index else []

    def hmget(self, key: str, ids: list[bytes]) -> list[bytes | None]:
        return [self.spot.model_dump_json().encode() if key == self.keys.view else None for _ in ids]


def spot() -> HotSpotDetected:
    text = "振华路被施工围挡封住，货车进不来"
    requests = tuple(
        HotspotRequest(
            ticket_id=f"ZTC-20261127-0000000{i}",
            enterprise=name,
            enterprise_name=name,
            street="street-loushan",
            category="transport",
            title=f"振华路封路 {i}",
            text=text,
            at=NOW,
            departments=("transport", "street-loushan"),
        )
        for i, name in enumerate(["甲公司", "乙公司", "丙公司", "甲公司"], start=3)
    )
    group = HotspotGroup(
        group_id=requests[0].ticket_id,
        street="street-loushan",
        category="transport",
        requests=requests,
        detected_at=NOW,
    )
    return detected(group, POLICY, NOW)


@pytest.fixture
def web() -> Iterator[TestClient]:
    pages = web_pages_test.Pages(Settings())
    for username, (role, department) in web_pages_test.PEOPLE.items():
        fields = {"username": username, "role": role, "department": department}
        add_account(
            pages.accounts(), pages.passwords(), fields, web_pages_test.PASSWORD, NOW, POLICY.department_codes
        )
    pages.tickets.client = ViewOnlyRedis(spot(), Settings().redis_prefix)  # type: ignore[attr-defined]
    app = FastAPI()
    app.include_router(web_pages(pages))
    with TestClient(app, follow_redirects=False) as client:
        yield client


def test_the_office_sees_the_hot_spot_its_tickets_and_the_suggested_merge(web: TestClient) -> None:
    assert web.get("/dashboard/hotspots").status_code == 303  # sign in first
    web_pages_test.sign_in(web, "zhao")
    page = web.get("/dashboard/hotspots").text
    assert "楼山街道办事处" in page and "3 家企业 / 4 件" in page and "联合会商" in page
    assert (
        page.count("/dashboard/tickets/ZTC-20261127-00000003") == 2
    )  # its row, and the merge of 00000006 into it


def test_a_department_sees_only_hot_spots_its_tickets_are_in(web: TestClient) -> None:
    web_pages_test.sign_in(web, "wangkz")  # approval: not involved
    assert "暂无热点" in web.get("/dashboard/hotspots").text
