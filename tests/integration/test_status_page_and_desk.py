"""On the real stack (embedded broker and Redis, router, recorder, a real ``ztc api``): the enterprise
follows its ticket through the signed link that ``ztc submit`` prints and the intake API returns,
supplies what was asked and rates; an altered or expired link is 404; the office merges a duplicate
and the recorder notes it on the ticket kept."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest

from consumers.ticket_store import RedisTicketStore
from schemas.events import now_in_district
from schemas.policy import load_policy
from schemas.settings import Settings
from schemas.ticket import TicketRecord, TicketStatus
from tests.integration.conftest import Services, WaitFor, ztc
from tests.integration.web import Api, running_api
from ztc.bootstrap import DEFAULT_POLICY, status_links

pytestmark = pytest.mark.integration

EARTHWORK = {
    "enterprise_name": "康杰药业",
    "street": "李村街道",
    "title": "土石方施工许可证办理求助",
    "text": "我们项目急需办理土石方施工许可证，需要准备的材料繁多，希望帮忙对接梳理审批手续。",
}


@pytest.fixture(scope="module")
def api(settings: Settings, services: Services) -> Iterator[Api]:
    with running_api(settings, load_policy(DEFAULT_POLICY).department_codes) as running:
        yield running


def path_of(url: str) -> str:
    return urlsplit(url).path


def wait_until(store: RedisTicketStore, ticket_id: str, ok: Callable[[TicketRecord], bool]) -> TicketRecord:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        record = store.get(ticket_id)
        if record is not None and ok(record):
            return record
        time.sleep(0.1)
    raise AssertionError(f"{ticket_id} never got there: {store.get(ticket_id)}")


def department(api: Api, key: str, ticket_id: str, path: str, **body: object) -> None:
    with api.client(key) as http:
        answer = http.post(f"/api/tickets/{ticket_id}/{path}?wait_s=15", json={"actor": key, **body})
    assert answer.status_code == 200 and answer.json()["recorded"], answer.text


def submit(api: Api, wait_for_ticket: WaitFor, **extra: str) -> tuple[str, str]:
    with api.client("channel-web_form") as http:
        answer = http.post("/api/tickets", json={**EARTHWORK, **extra})
    assert answer.status_code == 202, answer.text
    body = answer.json()
    wait_for_ticket(body["ticket_id"], 60)
    return body["ticket_id"], path_of(body["status_url"])


def test_ztc_submit_prints_the_id_and_the_link(
    settings: Settings, api: Api, wait_for_ticket: WaitFor
) -> None:
    done = ztc(settings, "submit", "--text", "厂房消防验收一直没有通过，希望协调", check=True)
    ticket_id = done.stdout.strip()  # stdout stays the id alone, for scripts
    [line] = [line for line in done.stderr.splitlines() if "status page" in line]
    assert line.startswith("企业状态页 status page (有效期至 valid until ")
    url = line.rsplit(" ", 1)[-1]
    assert url.startswith(f"http://127.0.0.1:{settings.api_port}/status/{ticket_id}.")
    wait_for_ticket(ticket_id, 60)
    with httpx.Client(base_url=api.base_url) as browser:
        page = browser.get(path_of(url))
    assert page.status_code == 200 and ticket_id in page.text and "办理" in page.text
    assert (settings.status_link_key_path.stat().st_mode & 0o777) == 0o600
    assert url.split(".")[-1] not in api.log()  # the access log keeps no signature


def test_the_enterprise_supplies_and_rates_through_its_link(
    api: Api, store: RedisTicketStore, wait_for_ticket: WaitFor
) -> None:
    ticket_id, link = submit(api, wait_for_ticket)
    department(api, "dept-approval", ticket_id, "accept")
    department(api, "dept-approval", ticket_id, "request-info", question="请补充土方量测算报告")
    with httpx.Client(base_url=api.base_url, follow_redirects=False) as browser:
        page = browser.get(link)
        assert page.status_code == 200 and "请补充土方量测算报告" in page.text
        assert page.headers["cache-control"] == "no-store"
        supplied = browser.post(f"{link}/supply", data={"content": "测算报告已发至经办人邮箱"})
        assert supplied.status_code == 303, supplied.text
        record = wait_until(store, ticket_id, lambda r: r.status is TicketStatus.in_progress)
        last = record.history[-1]
        assert (last.event_type, last.department, last.actor) == (
            "InformationSupplied",
            "enterprise",
            "企业状态页",
        )
        department(
            api,
            "dept-approval",
            ticket_id,
            "resolve",
            resolution="许可证已核发",
            override_reason="协办另行反馈",
        )
        assert 'name="rating"' in browser.get(link).text
        rated = browser.post(f"{link}/rate", data={"rating": "unsatisfied", "comment": "许可证信息有误"})
        assert rated.status_code == 303, rated.text
        record = wait_until(store, ticket_id, lambda r: r.reopen_count == 1)
        assert record.status is TicketStatus.in_progress and record.ratings[-1].rated_by.value == "enterprise"
        again = browser.post(f"{link}/rate", data={"rating": "satisfied"})
        assert again.status_code == 409 and "尚未办结" in again.text
    time.sleep(0.5)
    assert store.get(ticket_id) == record


def test_an_altered_or_expired_link_is_404(
    settings: Settings, api: Api, store: RedisTicketStore, wait_for_ticket: WaitFor
) -> None:
    ticket_id, link = submit(api, wait_for_ticket, title="营业执照变更")
    signature = link.rsplit(".", 1)[-1]
    altered = link[: -len(signature)] + ("A" if signature[0] != "A" else "B") + signature[1:]
    expired = path_of(status_links(settings).link(ticket_id, now_in_district() - timedelta(days=400)).url)
    before = store.get(ticket_id)
    with httpx.Client(base_url=api.base_url) as browser:
        for path in (altered, expired, f"/status/{ticket_id}"):
            page = browser.get(path)
            assert page.status_code == 404 and "链接无效或已过期" in page.text and ticket_id not in page.text
            assert browser.post(f"{path}/rate", data={"rating": "satisfied"}).status_code == 404
        assert browser.get(link).status_code == 200
    assert store.get(ticket_id) == before


def test_the_office_merges_a_duplicate_and_the_recorder_notes_it_on_the_kept_ticket(
    api: Api, store: RedisTicketStore, wait_for_ticket: WaitFor
) -> None:
    kept, _ = submit(api, wait_for_ticket, channel_message_id="merge-kept")
    duplicate, link = submit(api, wait_for_ticket, channel_message_id="merge-duplicate")
    department(api, "dept-office", duplicate, "merge", into=kept.lower(), note="同一项目重复反映")
    closed = store.get(duplicate)
    assert closed is not None and closed.closure is not None and closed.closure.merged_into == kept
    noted = wait_until(store, kept, lambda r: r.merged_duplicates == (duplicate,))
    assert noted.history[-1].actor == "dept-office" and not noted.excluded_from_rates
    with httpx.Client(base_url=api.base_url) as browser:
        page = browser.get(link).text
    assert "合并办理" in page and kept not in page
