"""The supervision dashboard in a real headless Chromium (Debian's), JavaScript off, after the demo
tickets went through the real pipeline: an office supervisor signs in with a personal account and sees
an overdue ticket, the department ranking, an enterprise's file; a clerk signs in, is refused another
department's ticket, accepts one of theirs with a click, and the recorded ticket names the clerk.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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
from tests.integration.web import PASSWORD, Api, add_user, running_api
from ztc.bootstrap import DEFAULT_POLICY, load_checked_policy, status_links

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
    for username, role, department in (
        ("duban", "supervisor", None),
        ("clerk-approval", "clerk", "approval"),
        ("clerk-planning", "clerk", "planning"),
    ):
        assert add_user(settings, username, role, department).returncode == 0
    with running_api(settings, policy.department_codes) as running:
        yield running


def browser_context(playwright: Any, profile: Path) -> Any:
    return playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=str(CHROMIUM),
        args=CHROMIUM_FLAGS,
        java_script_enabled=False,
        viewport={"width": 1320, "height": 900},
        locale="zh-CN",
    )


def sign_in(page: Any, api: Api, username: str, target: str = "/dashboard") -> None:
    page.goto(f"{api.base_url}{target}")
    assert "/dashboard/login" in page.url
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/dashboard/login'] button[type=submit]")
    page.wait_for_url(f"{api.base_url}{target}")


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
        browser = browser_context(playwright, tmp_path / "profile")
        try:
            page = browser.new_page()
            page.on("request", lambda r: None if r.url.startswith(api.base_url) else outside.append(r.url))
            sign_in(page, api, "duban")

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
            assert "王科长" in timeline and "办结" in timeline and "TicketResolved" not in timeline
            page.screenshot(path=str(shots / "ticket.png"), full_page=True)
        finally:
            browser.close()
    assert outside == []
    keep_screenshots(shots, "dashboard")


def test_a_clerk_signs_in_and_accepts_a_ticket_recorded_as_their_account(
    api: Api, settings: Settings, store: RedisTicketStore, demo: dict[str, TicketSubmitted], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    fresh = publish_demo_ticket(settings, "e2e-clerk-accepts")
    assert wait_for(store, fresh.ticket_id).lead_department == "approval"
    elsewhere = demo["demo-kangjie-earthwork"].ticket_id
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with sync_playwright() as playwright:
        browser = browser_context(playwright, tmp_path / "profile")
        try:
            page = browser.new_page()
            sign_in(page, api, "clerk-planning", f"/dashboard/tickets/{fresh.ticket_id}")
            assert "工单不存在" in page.inner_text("h1")  # another department's ticket: 404, no details
            page.goto(f"{api.base_url}/dashboard/logout")  # GET does nothing: only the form signs out
            page.goto(f"{api.base_url}/dashboard")
            page.click("form[action='/dashboard/logout'] button[type=submit]")
            page.wait_for_url("**/dashboard/login")

            sign_in(page, api, "clerk-approval", f"/dashboard/tickets/{fresh.ticket_id}")
            assert "clerk-approval" in page.inner_text("header")
            page.click("#actions details:has(form[data-action=accept]) summary")
            page.fill("form[data-action=accept] textarea[name=note]", "已签收，今日联系企业")
            page.screenshot(path=str(shots / "ticket-accept.png"), full_page=True)
            page.click("form[data-action=accept] button[type=submit]")
            page.wait_for_url(f"**/dashboard/tickets/{fresh.ticket_id}*")
            assert "已签收" in page.inner_text("h1")
            assert "clerk-approval" in page.inner_text("ol.timeline")
            page.goto(f"{api.base_url}/dashboard/tickets/{elsewhere}")
            assert "王科长" in page.inner_text("ol.timeline")  # approval led it: visible
        finally:
            browser.close()
    record = wait_for(store, fresh.ticket_id, lambda r: r.status is TicketStatus.accepted)
    accepted = [h for h in record.history if h.event_type == "TicketAccepted"]
    assert [(h.actor, h.department) for h in accepted] == [("clerk-approval", "approval")]
    keep_screenshots(shots, "dashboard")


def test_the_office_prints_the_monthly_supervision_report(
    api: Api, demo: dict[str, TicketSubmitted], tmp_path: Path
) -> None:
    """督办通报: headline figures, the ranking with the 12345 rates, the overdue ticket with its 督办
    level, the hot-spot section; the print layout hides the page's tools."""
    from playwright.sync_api import sync_playwright

    late = demo["demo-huiyu-licence"]
    shots = tmp_path / "screenshots"
    shots.mkdir()
    outside: list[str] = []
    with sync_playwright() as playwright:
        browser = browser_context(playwright, tmp_path / "profile")
        try:
            page = browser.new_page()
            page.on("request", lambda r: None if r.url.startswith(api.base_url) else outside.append(r.url))
            sign_in(page, api, "duban")
            page.click("#report-link")
            page.wait_for_url("**/dashboard/report?kind=monthly")
            assert "营商效能督办通报（月报）" in page.inner_text("#report-title")
            headline = page.inner_text("#headline")
            assert "综合得分" in headline and "较上期" in headline
            first = page.locator("#ranking table.ranking tbody tr").first.inner_text()
            assert "区行政审批服务局" in first and "100.0%" in first
            overdue = page.inner_text("#overdue")
            assert late.ticket_id in overdue and "督办" in overdue
            assert "热点诉求" in page.inner_text("#hot-spots")  # the worker's hot spots, or 本期没有热点
            assert page.locator("#download-xlsx").get_attribute("href").startswith("/dashboard/report.xlsx")
            shoot(page, shots, "report")
            page.set_viewport_size({"width": 1366, "height": 900})
            page.emulate_media(media="print")
            assert not page.locator("nav.tools").is_visible()
            page.screenshot(path=str(shots / "report-print.png"), full_page=True)
        finally:
            browser.close()
    assert outside == []
    keep_screenshots(shots, "report")


def keep_screenshots(shots: Path, name: str) -> None:
    """Copy the test's screenshots to ``test-output/NAME`` when that folder exists (`mkdir test-output`)."""
    keep = Path("test-output")
    if keep.is_dir():
        shutil.copytree(shots, keep / name, dirs_exist_ok=True)


def publish_demo_ticket(settings: Settings, message_id: str, which: int = 0) -> TicketSubmitted:
    """A demo ticket (the first unless ``which`` says), as a new channel message (a ticket of its own)."""
    fields = {**DEMO_TICKETS[which], "channel_message_id": message_id}
    publisher = TicketPublisher(settings.kafka_bootstrap, settings.topics.submitted)
    try:
        fresh = build_submission(fields, now_in_district())
        publisher.publish_many([fresh])
    finally:
        publisher.close()
    return fresh


def act(page: Any, ticket_id: str, verb: str, choose: dict[str, str] | None = None, **typed: str) -> None:
    """One action form of the ticket page, as a person uses it: open it, fill it in, send it."""
    page.click(f"#actions details:has(form[data-action={verb}]) summary")
    for name, value in (choose or {}).items():
        page.select_option(f"form[data-action={verb}] select[name={name}]", value)
    for name, value in typed.items():
        page.fill(f"form[data-action={verb}] [name={name}]", value)
    page.click(f"form[data-action={verb}] button[type=submit]")
    page.wait_for_load_state()
    landed = page.url.split("#", 1)[0].split("?", 1)[0]  # a refusal stays on the form's address
    assert landed.endswith(f"/dashboard/tickets/{ticket_id}"), f"{verb}: {page.inner_text('main')[:600]}"


def shoot(page: Any, shots: Path, name: str) -> None:
    """Screenshots at a desktop's and a phone's width; the page must not scroll sideways at either."""
    for width in (1366, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(shots / f"{name}-{width}.png"), full_page=True)
        fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert fits, f"{name} scrolls sideways at {width}px"


def test_the_enterprise_supplies_a_file_by_its_link_and_only_the_ticket_s_people_may_fetch_it(
    api: Api, settings: Settings, store: RedisTicketStore, demo: dict[str, TicketSubmitted], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    fresh = publish_demo_ticket(settings, "e2e-attachment")
    ticket_id = wait_for(store, fresh.ticket_id).ticket_id
    signed = status_links(settings).link(ticket_id, now_in_district()).url
    link = api.base_url + "/status/" + signed.split("/status/", 1)[1]
    scan = tmp_path / "补充材料-土方量测算报告.pdf"
    scan.write_bytes(b"%PDF-1.4\n" + b"0" * 4096)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    print(f"screenshots: {shots}")
    with sync_playwright() as playwright:
        browser = browser_context(playwright, tmp_path / "profile")
        try:
            page = browser.new_page()
            sign_in(page, api, "clerk-approval", f"/dashboard/tickets/{ticket_id}")
            act(page, ticket_id, "accept", note="已签收")
            act(page, ticket_id, "ask", question="请补充测算报告")
            wait_for(store, ticket_id, lambda r: r.status is TicketStatus.awaiting_enterprise)

            public = browser.new_page()
            public.goto(link)
            public.fill("#supply textarea[name=content]", "测算报告见附件")
            public.set_input_files("#supply input[name=attachment]", str(scan))
            public.click("#supply button[type=submit]")
            public.wait_for_url("**done=supply*")
            assert scan.name in public.inner_text("ol.timeline")
            shoot(public, shots, "status")
            record = wait_for(store, ticket_id, lambda r: r.status is TicketStatus.in_progress)
            supplied = record.history[-1]
            assert (supplied.event_type, supplied.actor) == ("InformationSupplied", "企业状态页")
            [ref] = supplied.details["attachments"]
            path = f"/attachments/{ref['sha256']}"
            assert public.request.get(link + path).body() == scan.read_bytes()
            assert public.request.get(link[:-2] + "xx" + path).status == 404  # an altered link

            page.reload()
            assert scan.name in page.inner_text("ol.timeline")
            staff_url = f"{api.base_url}/dashboard/tickets/{ticket_id}{path}"
            assert page.request.get(staff_url).body() == scan.read_bytes()
            shoot(page, shots, "ticket")
        finally:
            browser.close()
        other = browser_context(playwright, tmp_path / "profile-planning")
        try:
            page = other.new_page()
            page.goto(f"{api.base_url}/dashboard/login")
            shoot(page, shots, "login")
            sign_in(page, api, "clerk-planning")
            shoot(page, shots, "dashboard")
            assert page.request.get(staff_url).status == 404  # another department's ticket
        finally:
            other.close()
    keep_screenshots(shots, "attachments")
