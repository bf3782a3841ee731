"""The supervision dashboard in a real headless Chromium (Debian's), JavaScript off, after the demo
tickets went through the real pipeline: an overdue ticket, the department ranking, an enterprise's file.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from consumers.sla_engine import SlaBook, sla_status
from consumers.ticket_store import RedisTicketStore
from producers.demo import DEMO_TICKETS
from producers.department_client import DepartmentClient
from producers.publisher import TicketPublisher, build_submission
from schemas.events import TicketSubmitted, now_in_district
from schemas.feedback import DepartmentAction, RatedBy, Rating
from schemas.settings import Settings
from schemas.ticket import TicketRecord, TicketStatus
from tests.integration.conftest import Services
from tests.integration.web import Api, running_api
from ztc.bootstrap import DEFAULT_POLICY, load_checked_policy

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's chromium is not installed at /usr/bin/chromium (`make test` adds it)",
    ),
]


@pytest.fixture(scope="module")
def store(settings: Settings) -> RedisTicketStore:
    return RedisTicketStore(redis.Redis.from_url(settings.redis), settings.redis_prefix)


@pytest.fixture(scope="module")
def api(settings: Settings, pipeline: Services) -> Iterator[Api]:
    policy = load_checked_policy(settings.policy_path or DEFAULT_POLICY)
    with running_api(settings, policy.department_codes) as running:
        yield running


def wait_for(
    store: RedisTicketStore, ticket_id: str, ok: Callable[[TicketRecord], bool] = bool, timeout_s: float = 60
) -> TicketRecord:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        record = store.get(ticket_id)
        if record is not None and ok(record):
            return record
        time.sleep(0.2)
    raise AssertionError(f"{ticket_id}: not as expected within {timeout_s}s: {store.get(ticket_id)}")


def overdue_and_supervised(book: SlaBook) -> Callable[[TicketRecord], bool]:
    """Past its accept deadline (by the one SLA rule) and escalated by the monitor to 督办 (level 2)."""

    def ok(record: TicketRecord) -> bool:
        return (
            record.sla is not None
            and any(s.overdue for s in sla_status(record, book, now_in_district()))
            and record.sla.escalation_level >= 2
        )

    return ok


@pytest.fixture(scope="module")
def demo(settings: Settings, pipeline: Services, store: RedisTicketStore) -> dict[str, TicketSubmitted]:
    """The demo tickets through the real pipeline; the earthwork ticket handled in time and rated."""
    publisher = TicketPublisher(settings.kafka_bootstrap, settings.topics.submitted)
    try:
        submissions = {f["channel_message_id"]: build_submission(f, now_in_district()) for f in DEMO_TICKETS}
        publisher.publish_many(list(submissions.values()))
        for submission in submissions.values():
            wait_for(store, submission.ticket_id)
        earthwork = submissions["demo-kangjie-earthwork"].ticket_id
        policy = load_checked_policy(settings.policy_path) if settings.policy_path else None
        assert policy is not None
        client = DepartmentClient(
            store, publisher, settings.topics.feedback, policy.department_codes, now_in_district
        )
        steps: list[Callable[[], DepartmentAction]] = [
            lambda: client.accept(earthwork, "approval", "王科长"),
            lambda: client.resolve(
                earthwork, "approval", "王科长", "土石方施工许可证已核发", "协办意见已电话确认"
            ),
            lambda: client.rate(earthwork, RatedBy.enterprise, "苏超", Rating.satisfied),
        ]
        for step in steps:
            assert client.wait_recorded(step(), 30) is not None
    finally:
        publisher.close()
    late = submissions["demo-huiyu-licence"].ticket_id
    record = wait_for(store, late, overdue_and_supervised(SlaBook(policy)))
    assert record.status is TicketStatus.routed
    return submissions


def test_dashboard_shows_overdue_tickets_ranking_and_an_enterprise_file(
    api: Api, demo: dict[str, TicketSubmitted], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    late = demo["demo-huiyu-licence"]
    earthwork = demo["demo-kangjie-earthwork"]
    outside: list[str] = []
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_FLAGS,
            java_script_enabled=False,
            viewport={"width": 1320, "height": 900},
            locale="zh-CN",
        )
        try:
            page = browser.new_page()
            page.on("request", lambda r: None if r.url.startswith(api.base_url) else outside.append(r.url))
            page.goto(f"{api.base_url}/dashboard")
            assert "/dashboard/login" in page.url
            page.fill("input[name=key]", api.keys["dept-office"])
            page.click("form[action='/dashboard/login'] button[type=submit]")
            page.wait_for_url(f"{api.base_url}/dashboard")

            overdue = page.locator("#overdue")
            assert late.ticket_id in overdue.inner_text()
            assert "督办" in overdue.inner_text() and "兴城路街道" in overdue.inner_text()
            assert earthwork.ticket_id not in overdue.inner_text()
            ranking = page.locator("#ranking tbody tr")
            first = ranking.first.inner_text()
            assert "区行政审批服务局" in first and "100.0%" in first
            assert page.locator("#volume svg rect").count() >= 2
            page.screenshot(path=str(shots / "dashboard.png"), full_page=True)

            page.fill("form[action='/dashboard/enterprise'] input[name=q]", "康杰药业")
            page.press("form[action='/dashboard/enterprise'] input[name=q]", "Enter")
            page.wait_for_url("**/dashboard/enterprise?q=*")
            assert "一企一档" in page.inner_text("h1")
            assert earthwork.ticket_id in page.inner_text("table")
            page.screenshot(path=str(shots / "enterprise.png"), full_page=True)

            page.click(f"text={earthwork.ticket_id}")
            page.wait_for_url(f"**/dashboard/tickets/{earthwork.ticket_id}")
            timeline = page.inner_text("ol.timeline")
            assert "王科长" in timeline and "TicketResolved" in timeline
            page.screenshot(path=str(shots / "ticket.png"), full_page=True)
        finally:
            browser.close()
    assert outside == []
    keep = Path("test-output")
    if keep.is_dir():  # `mkdir test-output` to keep the screenshots after the run
        shutil.copytree(shots, keep / "dashboard", dirs_exist_ok=True)
