"""The enterprise status page over HTTP (FastAPI's TestClient, in-memory store and client): progress in
plain Chinese, supply and rate through the signed link as the enterprise, nothing of other tickets;
an altered or expired link is 404 and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from consumers.dashboard import make_templates
from consumers.status_page import ENTERPRISE_ACTOR, StatusPages, status_router
from consumers.ticket_store import InMemoryTicketStore
from producers.department_client import DepartmentClient
from schemas.actions import ACTIONS_BY_NAME
from schemas.feedback import ENTERPRISE, InformationSupplied, SatisfactionRated
from schemas.status_links import StatusLinks
from schemas.ticket import TicketRecord, TicketStatus
from tests.unit.desk_harness import FEEDBACK, RecordingDesk, route
from tests.unit.factories import NOW
from ztc.bootstrap import DEFAULT_POLICY, load_checked_policy

POLICY = load_checked_policy(DEFAULT_POLICY)
TICKET = "ZTC-20261127-0000000E"
OTHER = "ZTC-20261127-0000000F"
LINKS = StatusLinks(bytes(range(32)), 30, "http://testserver")


class Status:
    def __init__(self) -> None:
        self.now = NOW
        self.store = InMemoryTicketStore()
        self.desk = RecordingDesk(self.store)
        self.client = DepartmentClient(self.store, self.desk, FEEDBACK, POLICY.department_codes, self.clock)
        route(self.store, TICKET)
        route(self.store, OTHER, lead="planning", co=())
        pages = StatusPages(
            lambda: self.store,
            lambda: self.client,
            lambda: LINKS,
            make_templates(POLICY),
            self.clock,
            lambda code: d.name if (d := POLICY.department(code)) else code,
        )
        app = FastAPI()
        app.include_router(status_router(pages))
        self.http = TestClient(app, follow_redirects=False)
        self.path = LINKS.link(TICKET, NOW).url.removeprefix("http://testserver")

    def clock(self) -> datetime:
        return self.now

    def act(self, name: str, department: str, **values: str) -> None:
        self.client.perform(ACTIONS_BY_NAME[name], TICKET, "wangkz", values, department)

    def record(self) -> TicketRecord:
        found = self.store.get(TICKET)
        assert found is not None
        return found

    def post(self, what: str, path: str | None = None, **form: str) -> httpx.Response:
        answer: httpx.Response = self.http.post(f"{path or self.path}/{what}", data=form)
        return answer


@pytest.fixture
def status() -> Iterator[Status]:
    yield Status()


def test_the_page_tells_progress_in_plain_chinese_and_nothing_else(status: Status) -> None:
    page = status.http.get(status.path)
    assert page.status_code == 200
    assert "已交由区行政审批服务局办理，等待签收" in page.text and TICKET in page.text
    assert OTHER not in page.text and 'href="/dashboard' not in page.text
    assert 'name="content"' not in page.text and 'name="rating"' not in page.text  # nothing to do yet
    for header, value in (("cache-control", "no-store"), ("referrer-policy", "no-referrer")):
        assert page.headers[header] == value
    status.act("accept", "approval")
    status.act("request_withdrawal", "construction", reason="内部：不涉及本部门")  # internal: not shown
    status.act("progress", "approval", note="已与企业对接材料清单")
    page = status.http.get(status.path).text
    assert "区行政审批服务局正在办理" in page and "区行政审批服务局已签收，开始办理" in page
    assert "办理进展：已与企业对接材料清单" in page and "不涉及本部门" not in page and "退出" not in page


def test_the_enterprise_supplies_what_was_asked_as_itself(status: Status) -> None:
    status.act("accept", "approval")
    status.act("request_info", "approval", question="请补充土方量测算报告")
    page = status.http.get(status.path).text
    assert "需要您补充材料" in page and "请补充土方量测算报告" in page and 'name="content"' in page
    blank = status.post("supply", content="  ")
    assert blank.status_code == 422 and "请填写完整" in blank.text
    done = status.post("supply", content="测算报告已发至经办人邮箱")
    assert done.status_code == 303 and done.headers["location"] == f"{status.path}?done=supply#done"
    supplied = status.desk.events(FEEDBACK)[-1]
    assert isinstance(supplied, InformationSupplied)
    assert (supplied.department, supplied.actor) == (ENTERPRISE, ENTERPRISE_ACTOR)
    record = status.record()
    assert record.status is TicketStatus.in_progress and record.history[-1].actor == "企业状态页"
    published = len(status.desk.published)
    again = status.post("supply", content="再补充一次")
    assert again.status_code == 409 and "未要求企业补充材料" in again.text and "cannot" not in again.text
    assert len(status.desk.published) == published
    assert "您已补充材料：测算报告已发至经办人邮箱" in status.http.get(status.path).text


def test_an_unsatisfied_rating_reopens_and_a_second_one_is_refused(status: Status) -> None:
    status.act("accept", "approval")
    status.act("co_done", "construction", note="已出具意见")
    status.act("resolve", "approval", resolution="土石方施工许可证已核发")
    page = status.http.get(status.path).text
    assert "已办结，请您评价办理结果" in page and "土石方施工许可证已核发" in page and 'name="rating"' in page
    assert status.post("rate", rating="so-so").status_code == 422
    assert 'name="contacted"' in page and 'name="solved"' in page  # 回访's two questions
    done = status.post("rate", rating="unsatisfied", comment="许可证信息有误", contacted="yes", solved="no")
    assert done.status_code == 303
    rated = status.desk.events(FEEDBACK)[-1]
    assert isinstance(rated, SatisfactionRated)
    assert (rated.department, rated.rated_by, rated.actor) == (ENTERPRISE, ENTERPRISE, ENTERPRISE_ACTOR)
    record = status.record()
    assert record.status is TicketStatus.in_progress and record.reopen_count == 1
    assert (record.ratings[-1].contacted, record.ratings[-1].solved) == (True, False)
    assert "已联系企业；问题未解决" in record.history[-1].summary
    page = status.http.get(status.path).text
    assert "评价：不满意，已退回重新办理" in page and 'name="rating"' not in page
    again = status.post("rate", rating="satisfied")
    assert again.status_code == 409 and "尚未办结" in again.text


@pytest.mark.parametrize("what", ["supply", "rate"])
def test_an_altered_or_expired_link_is_404_and_changes_nothing(status: Status, what: str) -> None:
    status.act("accept", "approval")
    status.act("request_info", "approval", question="请补充")
    ticket, expires, signature = status.path.removeprefix("/status/").split(".")
    other = LINKS.link(OTHER, NOW).token.split(".")
    forged = [
        f"/status/{OTHER}.{expires}.{signature}",
        f"/status/{ticket}.{int(expires) + 86400}.{signature}",
        f"/status/{ticket}.{expires}.{other[2]}",
        f"/status/{ticket}",
        f"/status/{TICKET}.{expires}.{'A' * 22}",
    ]
    before = status.record()
    for path in forged:
        page = status.http.get(path)
        assert page.status_code == 404 and "链接无效或已过期" in page.text and TICKET not in page.text
        assert status.post(what, path, content="x", rating="satisfied").status_code == 404
    status.now += timedelta(days=31)
    assert status.http.get(status.path).status_code == 404
    assert status.post(what, content="x", rating="satisfied").status_code == 404
    assert status.desk.published[-1].event.event_type == "InformationRequested" and status.record() == before


def test_a_closed_or_merged_ticket_says_so_without_naming_the_other(status: Status) -> None:
    status.act("merge", "office", into=OTHER, note=f"与 {OTHER} 重复")
    page = status.http.get(status.path).text
    assert "合并办理" in page and OTHER not in page
    other = status.http.get(LINKS.link(OTHER, NOW).url.removeprefix("http://testserver")).text
    assert TICKET not in other  # the kept ticket's page does not name the duplicate either
    spam = StatusLinks(bytes(range(32)), 30, "").link(OTHER, NOW).token
    status.client.perform(ACTIONS_BY_NAME["close_invalid"], OTHER, "zhao", {"kind": "spam", "reason": "广告"})
    assert "不属于受理范围，已关闭" in status.http.get(f"/status/{spam}").text
