"""The whole loop in a real headless Chromium (Debian's), JavaScript off, on the real stack (broker,
router, recorder, monitor, ``ztc api``): a clerk finds a ticket in the department inbox (/work),
accepts it and asks the enterprise; the enterprise supplies a file through its status link; the
co-department reports its part done; the clerk resolves; the enterprise rates 不满意 and the ticket
reopens; the office dispatches a triage ticket from its desk (/desk) and merges a duplicate. After
every step the recorded ticket is read back: its state, its history, and the signed-in account as
the actor. Along the way: the inbox search never lists another department's ticket, and /work and
/desk fit a phone's width.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from consumers.ticket_store import RedisTicketStore
from schemas.events import now_in_district
from schemas.settings import Settings
from schemas.ticket import ClosureKind, TicketRecord, TicketStatus
from tests.e2e.test_dashboard_browser import (
    act,
    api,
    browser_context,
    keep_screenshots,
    publish_demo_ticket,
    shoot,
    sign_in,
    store,
    wait_for,
)
from tests.integration.web import Api, add_user
from ztc.bootstrap import status_links

__all__ = ["api", "store"]

pytestmark = pytest.mark.integration

DISPATCHER = "paidan"


def last(record: TicketRecord, event_type: str) -> tuple[str | None, str | None]:
    """(actor, department) of the ticket's latest ``event_type`` entry."""
    found = [h for h in record.history if h.event_type == event_type]
    assert found, f"{record.ticket_id} has no {event_type}: {[h.event_type for h in record.history]}"
    return found[-1].actor, found[-1].department


def co_done_by(department: str) -> Callable[[TicketRecord], bool]:
    """Whether the co-department's part of the ticket is over."""

    def done(record: TicketRecord) -> bool:
        row = record.current_assignment(department)
        return row is not None and not row.active

    return done


def status_link(settings: Settings, api: Api, ticket_id: str, made: datetime | None = None) -> str:
    signed = status_links(settings).link(ticket_id, made or now_in_district()).url
    return api.base_url + "/status/" + signed.split("/status/", 1)[1]


def expired_link(settings: Settings, api: Api, ticket_id: str) -> str:
    """A link made a year ago: past its end (90 days by default)."""
    return status_link(settings, api, ticket_id, now_in_district() - timedelta(days=365))


def open_from_inbox(page: Any, api: Api, ticket_id: str, bucket: str = "new") -> None:
    """The department inbox's bucket lists the ticket; a click opens it."""
    page.goto(f"{api.base_url}/work?bucket={bucket}")
    assert ticket_id in page.inner_text("#inbox")
    page.click(f"#inbox a:text-is('{ticket_id}')")
    page.wait_for_url(f"**/dashboard/tickets/{ticket_id}")


def test_the_whole_loop_in_the_browser_recorded_as_the_people_signed_in(
    api: Api, settings: Settings, store: RedisTicketStore, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    ticket_id = publish_demo_ticket(settings, "e2e-walk").ticket_id
    routed = wait_for(store, ticket_id)
    assert routed.lead_department == "approval" and routed.co_departments, routed.co_departments
    helpers = {co: f"clerk-{co}"[:32] for co in routed.co_departments}
    people = [(name, "clerk", co) for co, name in helpers.items()] + [(DISPATCHER, "dispatcher", None)]
    for username, role, department in people:
        assert add_user(settings, username, role, department).returncode == 0
    triage_id = publish_demo_ticket(settings, "e2e-walk-vague", which=3).ticket_id
    duplicate_id = publish_demo_ticket(settings, "e2e-walk-again").ticket_id
    assert wait_for(store, triage_id).status is TicketStatus.triage
    wait_for(store, duplicate_id)
    link = status_link(settings, api, ticket_id)
    scan = tmp_path / "补充材料-土方量测算报告.pdf"
    scan.write_bytes(b"%PDF-1.4\n" + b"1" * 2048)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with sync_playwright() as playwright:
        clerk = browser_context(playwright, tmp_path / "profile-clerk")
        try:
            page = clerk.new_page()
            sign_in(page, api, "clerk-approval", "/work")
            shoot(page, shots, "work")
            open_from_inbox(page, api, ticket_id)
            act(page, ticket_id, "accept", note="已签收，今日联系企业")
            record = wait_for(store, ticket_id, lambda r: r.status is TicketStatus.accepted)
            assert last(record, "TicketAccepted") == ("clerk-approval", "approval")
            open_from_inbox(page, api, ticket_id, "in_progress")
            act(page, ticket_id, "ask", question="请补充土方量测算报告")
            record = wait_for(store, ticket_id, lambda r: r.status is TicketStatus.awaiting_enterprise)
            assert last(record, "InformationRequested") == ("clerk-approval", "approval")

            public = clerk.new_page()
            public.goto(link)
            public.fill("#supply textarea[name=content]", "测算报告见附件")
            public.set_input_files("#supply input[name=attachment]", str(scan))
            public.click("#supply button[type=submit]")
            public.wait_for_url("**done=supply*")
            record = wait_for(store, ticket_id, lambda r: r.status is TicketStatus.in_progress)
            assert last(record, "InformationSupplied") == ("企业状态页", "enterprise")
            [ref] = record.history[-1].details["attachments"]
            assert ref["name"] == scan.name
            for stale in (expired_link(settings, api, ticket_id), link[:-3] + "AAA"):
                answer = public.goto(stale)
                assert answer is not None and answer.status == 404
                assert "链接无效或已过期" in public.inner_text("body") and "康杰" not in public.inner_text(
                    "body"
                )
        finally:
            clerk.close()

        for co, co_clerk in helpers.items():  # each co-department reports its part done
            helper = browser_context(playwright, tmp_path / f"profile-{co}")
            try:
                page = helper.new_page()
                sign_in(page, api, co_clerk, "/work")
                page.fill("#filters input[name=q]", "康杰药业")
                page.click("#filters button[type=submit]")
                assert ticket_id in page.inner_text("#inbox")  # its own share of the ticket
                open_from_inbox(page, api, ticket_id)
                act(page, ticket_id, "co-done", note="本部门意见已反馈")
                record = wait_for(store, ticket_id, co_done_by(co))
                assert last(record, "CoDepartmentDone") == (co_clerk, co)
            finally:
                helper.close()

        clerk = browser_context(playwright, tmp_path / "profile-clerk")
        try:
            page = clerk.new_page()
            page.goto(f"{api.base_url}/dashboard/tickets/{ticket_id}")
            act(page, ticket_id, "resolve", resolution="土石方施工许可证已核发，测算报告已归档")
            record = wait_for(store, ticket_id, lambda r: r.status is TicketStatus.resolved)
            assert last(record, "TicketResolved") == ("clerk-approval", "approval")

            public = clerk.new_page()
            public.goto(link)
            public.check("#rate input[value=unsatisfied]")
            public.fill("#rate textarea[name=comment]", "许可证还没有拿到")
            public.click("#rate button[type=submit]")
            public.wait_for_url("**done=rate*")
            record = wait_for(store, ticket_id, lambda r: r.reopen_count == 1)
            assert record.status is TicketStatus.in_progress and record.lead_department == "approval"
            assert last(record, "SatisfactionRated") == ("企业状态页", "enterprise")
            page.goto(f"{api.base_url}/work?bucket=in_progress")
            assert ticket_id in page.inner_text("#inbox")  # back in the lead's inbox
        finally:
            clerk.close()

        office = browser_context(playwright, tmp_path / "profile-office")
        try:
            page = office.new_page()
            sign_in(page, api, DISPATCHER, "/desk")
            shoot(page, shots, "desk")
            assert triage_id in page.inner_text("#triage")
            page.click(f"#triage a:text-is('{triage_id}')")
            page.wait_for_url(f"**/dashboard/tickets/{triage_id}")
            act(page, triage_id, "dispatch", choose={"lead": "approval"}, note="经核实属审批事项")
            record = wait_for(store, triage_id, lambda r: r.status is TicketStatus.routed)
            assert record.lead_department == "approval"
            assert last(record, "TicketDispatched") == (DISPATCHER, "office")
            page.goto(f"{api.base_url}/desk")
            assert triage_id not in page.inner_text("#triage")

            page.goto(f"{api.base_url}/dashboard/tickets/{duplicate_id}")
            act(page, duplicate_id, "merge", into=ticket_id, note="同一企业同一事项重复反映")
            record = wait_for(store, duplicate_id, lambda r: r.status is TicketStatus.closed)
            assert record.closure is not None and record.closure.kind is ClosureKind.duplicate
            assert record.closure.merged_into == ticket_id
            assert last(record, "TicketMerged") == (DISPATCHER, "office")
            kept = wait_for(store, ticket_id, lambda r: duplicate_id in r.merged_duplicates)
            assert kept.status is TicketStatus.in_progress
        finally:
            office.close()

        planning = browser_context(playwright, tmp_path / "profile-planning")
        try:
            page = planning.new_page()
            sign_in(page, api, "clerk-planning", "/work")
            for words in ("康杰药业", ticket_id.lower(), triage_id):
                page.goto(f"{api.base_url}/work?q={words}")
                assert "/dashboard/tickets/" not in page.url and ticket_id not in page.inner_text("main")
            page.goto(f"{api.base_url}/dashboard/tickets/{ticket_id}")
            assert "工单不存在" in page.inner_text("h1")
        finally:
            planning.close()
    keep_screenshots(shots, "workbench")
