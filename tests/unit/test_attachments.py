"""Attachments: which files are accepted, how events carry them, and who may fetch them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from consumers.attachment_pages import Attachments, api_attachment_router, status_attachment_router
from consumers.attachment_store import MemoryAttachmentStore
from consumers.dashboard import make_templates
from consumers.department_api import department_router
from consumers.status_page import StatusPages, status_router
from consumers.ticket_store import InMemoryTicketStore
from producers.department_client import DepartmentClient
from producers.publisher import InMemoryPublisher
from schemas.actions import ACTIONS_BY_NAME
from schemas.attachments import MB, AttachmentRefused, AttachmentRules, check_file, safe_name
from schemas.feedback import InformationSupplied, TicketResolved
from schemas.ticket import TicketStatus
from tests.unit import test_actions as api_actions
from tests.unit.attachment_store_contract import PDF, key
from tests.unit.factories import NOW
from tests.unit.test_status_page import LINKS
from tests.unit.test_web_pages import POLICY, TICKET, TRIAGE, Pages, csrf_of, pages, sign_in, web

__all__ = ["pages", "web"]  # the fixtures, shared with the page tests
RULES = AttachmentRules()
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100


def test_allowed_types_within_the_limit_are_accepted_as_metadata() -> None:
    ref = check_file("C:\\scans\\..\\土方量测算报告.pdf", PDF, RULES)
    assert (ref.name, ref.content_type, ref.size, ref.sha256) == (
        "土方量测算报告.pdf",
        "application/pdf",
        len(PDF),
        key(PDF),
    )
    assert safe_name("../../etc/passwd\x00.png") == "passwd.png"


@pytest.mark.parametrize(
    ("name", "data", "why"),
    [
        ("virus.exe", b"MZ" + b"\x00" * 10, "类型不允许"),
        ("report.pdf", b"MZ not a pdf", "内容与扩展名 .pdf 不符"),
        ("empty.png", b"", "空文件"),
        ("huge.pdf", b"%PDF-" + b"\x00" * (10 * MB), "超过 10 MB"),
        ("noext", PDF, "类型不允许"),
    ],
)
def test_a_refused_file_says_why_in_chinese_and_english(name: str, data: bytes, why: str) -> None:
    with pytest.raises(AttachmentRefused, match=why) as refused:
        check_file(name, data, RULES)
    assert " / " in str(refused.value)  # 中文 / English


def test_settings_narrow_the_allow_list_and_the_limit() -> None:
    rules = AttachmentRules.parse("pdf, PNG", 0.001)
    assert rules.types == ("pdf", "png")
    with pytest.raises(AttachmentRefused, match="超过"):
        check_file("a.pdf", PDF + b"\x00" * 2000, rules)
    with pytest.raises(ValueError, match="unknown"):
        AttachmentRules.parse("pdf,exe", 1)


def test_an_event_carries_metadata_only_and_nothing_when_there_are_none() -> None:
    ref = check_file("a.pdf", PDF, RULES)
    plain = InformationSupplied(
        ticket_id=TICKET, occurred_at=NOW, department="approval", actor="w", content="已补充"
    )
    assert "attachments" not in plain.model_dump_json()
    carried = plain.model_copy(update={"attachments": (ref,)})
    wire = carried.model_dump_json()
    assert key(PDF) in wire and "%PDF" not in wire and len(wire) < 1000
    assert InformationSupplied.model_validate_json(wire).attachments == (ref,)


# ---------------------------------------------------------------- the ticket page and its downloads


@pytest.fixture
def staff(pages: Pages) -> Iterator[TestClient]:
    app = FastAPI()
    from ztc.web_app import web_pages  # the same pages as tests/unit/test_web_pages.py

    app.include_router(web_pages(pages))
    with TestClient(app, follow_redirects=False) as client:
        yield client


def resolve_with(client: TestClient, name: str, data: bytes) -> int:
    csrf = csrf_of(client, f"/dashboard/tickets/{TICKET}")
    answer = client.post(
        f"/dashboard/tickets/{TICKET}/resolve",
        data={"csrf": csrf, "resolution": "许可证已核发", "override_reason": "协办部门已口头确认"},
        files=[("attachment", (name, data, "application/octet-stream"))],
    )
    status: int = answer.status_code
    return status


def accept(pages: Pages) -> None:
    pages.client().perform(ACTIONS_BY_NAME["accept"], TICKET, "wangkz", {}, "approval")


def test_a_clerk_resolves_with_a_file_that_only_those_who_see_the_ticket_may_fetch(
    staff: TestClient, pages: Pages
) -> None:
    accept(pages)
    sign_in(staff, "wangkz")
    page = staff.get(f"/dashboard/tickets/{TICKET}").text
    assert 'enctype="multipart/form-data"' in page and 'type="file" name="attachment"' in page
    assert resolve_with(staff, "许可证.pdf", PDF) == 303
    event = pages.publisher.events("feedback")[-1]
    assert isinstance(event, TicketResolved) and [a.name for a in event.attachments] == ["许可证.pdf"]
    assert pages.attachment_store.get(key(PDF)) == PDF
    record = pages.tickets.get(TICKET)
    assert record is not None and record.status is TicketStatus.resolved
    url = f"/dashboard/tickets/{TICKET}/attachments/{key(PDF)}"
    assert url in staff.get(f"/dashboard/tickets/{TICKET}").text
    got = staff.get(url)
    assert got.status_code == 200 and got.content == PDF
    assert (
        got.headers["content-type"] == "application/pdf"
        and got.headers["x-content-type-options"] == "nosniff"
    )
    assert got.headers["content-disposition"].startswith("attachment;")
    assert staff.get(f"/dashboard/tickets/{TICKET}/attachments/{key(PNG)}").status_code == 404  # not listed
    assert staff.get(f"/dashboard/tickets/{TRIAGE}/attachments/{key(PDF)}").status_code == 404  # not on it
    staff.cookies.clear()
    sign_in(staff, "li")  # planning: not involved in TICKET
    assert staff.get(url).status_code == 404
    staff.cookies.clear()
    sign_in(staff, "zhao")  # the office sees every ticket
    assert staff.get(url).status_code == 200
    staff.cookies.clear()
    assert staff.get(url).status_code == 303  # not signed in: to the sign-in page


def test_a_refused_file_shows_why_and_nothing_is_published_or_kept(staff: TestClient, pages: Pages) -> None:
    accept(pages)
    published = len(pages.publisher.published)
    sign_in(staff, "wangkz")
    csrf = csrf_of(staff, f"/dashboard/tickets/{TICKET}")
    answer = staff.post(
        f"/dashboard/tickets/{TICKET}/resolve",
        data={"csrf": csrf, "resolution": "已办结", "override_reason": "x"},
        files=[("attachment", ("setup.exe", b"MZ\x90\x00", "application/octet-stream"))],
    )
    assert answer.status_code == 422 and "类型不允许" in answer.text and "not allowed" in answer.text
    assert len(pages.publisher.published) == published and pages.attachment_store.kept == {}
    no_token = staff.post(
        f"/dashboard/tickets/{TICKET}/resolve",
        data={"resolution": "已办结"},
        files=[("attachment", ("a.pdf", PDF, "application/pdf"))],
    )
    assert no_token.status_code == 403 and pages.attachment_store.kept == {}


def test_a_refused_action_keeps_none_of_its_files_and_a_taken_one_keeps_them_before_publishing(
    staff: TestClient, pages: Pages
) -> None:
    sign_in(staff, "wangkz")
    assert resolve_with(staff, "许可证.pdf", PDF) == 409  # not accepted yet: the state refuses it
    assert pages.attachment_store.kept == {}
    published = len(pages.publisher.published)
    kept_when_published: list[bool] = []
    original = pages.publisher.publish_event

    def publish(topic: str, event: Any, timeout_s: float = 10.0) -> None:
        kept_when_published.append(pages.attachment_store.has(key(PDF)))
        original(topic, event, timeout_s)

    pages.publisher.publish_event = publish  # type: ignore[method-assign]
    accept(pages)
    assert resolve_with(staff, "许可证.pdf", PDF) == 303
    assert len(pages.publisher.published) == published + 2 and kept_when_published == [False, True]


# ---------------------------------------------------------------- the enterprise through its link


def test_the_enterprise_supplies_a_file_through_its_link_and_only_that_link_serves_it(pages: Pages) -> None:
    attachments = Attachments(lambda: pages.attachment_store, RULES)
    templates = make_templates(POLICY)
    templates.env.globals["attachment_rules"] = RULES
    status_pages = StatusPages(
        pages.store, pages.client, lambda: LINKS, templates, pages.clock, lambda code: code, attachments
    )
    app = FastAPI()
    app.include_router(status_router(status_pages))
    app.include_router(status_attachment_router(attachments, pages.store, status_pages.ticket_id))
    http = TestClient(app, follow_redirects=False)
    path = LINKS.link(TICKET, pages.clock()).url.removeprefix("http://testserver")
    accept(pages)
    pages.client().perform(
        ACTIONS_BY_NAME["request_info"], TICKET, "wangkz", {"question": "请补充图纸"}, "approval"
    )
    assert 'type="file" name="attachment"' in http.get(path).text
    done = http.post(
        f"{path}/supply",
        data={"content": "图纸见附件"},
        files=[("attachment", ("图纸.png", PNG, "image/png"))],
    )
    assert done.status_code == 303, done.text
    event = pages.publisher.events("feedback")[-1]
    assert isinstance(event, InformationSupplied) and event.attachments[0].sha256 == key(PNG)
    url = f"{path}/attachments/{key(PNG)}"
    assert url in http.get(path).text
    got = http.get(url)
    assert got.status_code == 200 and got.content == PNG and got.headers["cache-control"] == "no-store"
    other = LINKS.link(TRIAGE, pages.clock()).url.removeprefix("http://testserver")
    assert http.get(f"{other}/attachments/{key(PNG)}").status_code == 404  # another ticket's link
    assert http.get(f"{path[:-2]}xx/attachments/{key(PNG)}").status_code == 404  # an altered link
    refused = http.post(
        f"{path}/supply",
        data={"content": "再补充"},
        files=[("attachment", ("a.pdf", b"not a pdf", "application/pdf"))],
    )
    assert refused.status_code == 422 and "不符" in refused.text


# ---------------------------------------------------------------- the department API


def department_api() -> tuple[TestClient, InMemoryTicketStore, InMemoryPublisher, MemoryAttachmentStore]:
    store, publisher, kept = InMemoryTicketStore(), InMemoryPublisher(), MemoryAttachmentStore()
    api_actions.routed(store)
    codes = ("office", "approval", "construction", "planning", "market")
    client = DepartmentClient(store, publisher, api_actions.TOPIC, codes, lambda: NOW)
    attachments = Attachments(lambda: kept, RULES)
    app = FastAPI()
    app.include_router(
        department_router(
            lambda: store, lambda: client, api_actions.principal, verify_attachments=attachments.verified
        )
    )
    app.include_router(api_attachment_router(attachments, lambda: store, api_actions.principal))
    return TestClient(app), store, publisher, kept


def test_over_the_api_a_department_uploads_then_lists_the_file_on_its_action() -> None:
    http, store, publisher, kept = department_api()
    ticket, lead, other = api_actions.TICKET, {"X-Department": "approval"}, {"X-Department": "planning"}
    files = [("attachment", ("答复.pdf", PDF, "application/pdf"))]
    assert http.post(f"/api/tickets/{ticket}/attachments", files=files, headers=other).status_code == 404
    assert kept.kept == {}
    refused = http.post(
        f"/api/tickets/{ticket}/attachments", files=[("attachment", ("a.exe", b"MZ", "x"))], headers=lead
    )
    assert refused.status_code == 422 and "类型不允许" in refused.json()["detail"]
    ref = http.post(f"/api/tickets/{ticket}/attachments", files=files, headers=lead).json()
    assert ref == {
        "sha256": key(PDF),
        "name": "答复.pdf",
        "content_type": "application/pdf",
        "size": len(PDF),
    }
    assert (
        http.post(f"/api/tickets/{ticket}/accept", json={"actor": "王科长"}, headers=lead).status_code == 200
    )
    store.record(publisher.events(api_actions.TOPIC)[-1])  # what the recorder does
    lied = {**ref, "name": "答复.png", "content_type": "image/png"}
    body = {"actor": "王科长", "resolution": "已核发", "override_reason": "已确认"}
    wrong = http.post(f"/api/tickets/{ticket}/resolve", json={**body, "attachments": [lied]}, headers=lead)
    assert wrong.status_code == 422 and "不符" in wrong.text
    unknown = {**ref, "sha256": key(b"never uploaded")}
    missing = http.post(
        f"/api/tickets/{ticket}/resolve", json={**body, "attachments": [unknown]}, headers=lead
    )
    assert missing.status_code == 422 and "未上传" in missing.text
    done = http.post(f"/api/tickets/{ticket}/resolve", json={**body, "attachments": [ref]}, headers=lead)
    assert done.status_code == 200, done.text
    event = publisher.events(api_actions.TOPIC)[-1]
    assert isinstance(event, TicketResolved) and event.attachments[0].sha256 == key(PDF)
    url = f"/api/tickets/{ticket}/attachments/{key(PDF)}"
    assert http.get(url, headers=lead).status_code == 404  # not on the ticket until recorded
    store.record(event)
    url = f"/api/tickets/{ticket}/attachments/{key(PDF)}"
    assert http.get(url, headers=lead).content == PDF
    assert http.get(url, headers=other).status_code == 404
    assert http.get(url, headers={"X-Department": "office"}).status_code == 200
    assert kept.get(key(PDF)) == PDF
