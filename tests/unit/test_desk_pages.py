"""The office desk's forms on the ticket page (in memory, through FastAPI's TestClient): merge, close,
extensions and withdrawals recorded as the person signed in; a refusal shows its reason in Chinese
and changes nothing; the page offers only what the viewer's role and the ticket's state allow."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from consumers.accounts import add_account
from producers.department_client import DepartmentClient
from schemas.accounts import offered
from schemas.actions import ACTIONS, ActionSpec
from schemas.feedback import DuplicateMerged, SatisfactionRated, TicketMerged
from schemas.settings import Settings
from schemas.ticket import TicketRecord, TicketStatus
from tests.unit.desk_harness import FEEDBACK, RecordingDesk, route
from tests.unit.factories import NOW
from tests.unit.test_web_pages import PASSWORD, POLICY, Pages, csrf_of, sign_in
from ztc.web_app import web_pages

DUPLICATE = "ZTC-20261127-0000000D"
KEPT = "ZTC-20261127-0000000K"
TRIAGE = "ZTC-20261127-0000000T"
PEOPLE = {
    "zhao": ("dispatcher", None),
    "qian": ("supervisor", None),
    "wangkz": ("clerk", "approval"),
    "wanghead": ("head", "approval"),
    "chen": ("clerk", "construction"),
}


class DeskPages(Pages):
    """``Pages`` whose publisher also sends a merge's note to the ticket kept, as the recorder does."""

    def __init__(self) -> None:
        super().__init__(Settings())
        self.desk = RecordingDesk(self.tickets)

    def client(self) -> DepartmentClient:
        return DepartmentClient(self.tickets, self.desk, FEEDBACK, POLICY.department_codes, self.clock)

    def record(self, ticket_id: str) -> TicketRecord:
        found = self.tickets.get(ticket_id)
        assert found is not None
        return found


@pytest.fixture
def pages() -> DeskPages:
    resources = DeskPages()
    for username, (role, department) in PEOPLE.items():
        fields = {"username": username, "role": role, "department": department}
        add_account(
            resources.accounts(), resources.passwords(), fields, PASSWORD, NOW, POLICY.department_codes
        )
    route(resources.tickets, DUPLICATE)
    route(resources.tickets, KEPT)
    route(resources.tickets, TRIAGE, lead="office")
    return resources


@pytest.fixture
def web(pages: DeskPages) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(web_pages(pages))
    with TestClient(app, follow_redirects=False) as client:
        yield client


def act(web: TestClient, ticket_id: str, path: str, **form: str | list[str]) -> httpx.Response:
    csrf = csrf_of(web, f"/dashboard/tickets/{ticket_id}")
    answer: httpx.Response = web.post(f"/dashboard/tickets/{ticket_id}/{path}", data={"csrf": csrf, **form})
    return answer


def done(web: TestClient, ticket_id: str, path: str, **form: str | list[str]) -> None:
    answer = act(web, ticket_id, path, **form)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"].startswith(f"/dashboard/tickets/{ticket_id}#done-")


def refused(web: TestClient, pages: DeskPages, ticket_id: str, path: str, status: int, **form: str) -> str:
    """Refused with ``status``: the ticket page again with the reason; nothing published or changed."""
    before, published = pages.record(ticket_id), len(pages.desk.published)
    answer = act(web, ticket_id, path, **form)
    assert answer.status_code == status, answer.text
    assert len(pages.desk.published) == published and pages.record(ticket_id) == before
    found = re.search(r'id="refused">([^<]*)<', answer.text)
    assert found is not None, answer.text[:300]
    return found.group(1)


def forms(web: TestClient, ticket_id: str) -> set[str]:
    """The actions the ticket page offers (its forms' ``data-action``)."""
    return set(re.findall(r'data-action="([a-z-]+)"', web.get(f"/dashboard/tickets/{ticket_id}").text))


# ---------------------------------------------------------------- merge and close


def test_a_dispatcher_merges_a_duplicate_as_himself(web: TestClient, pages: DeskPages) -> None:
    sign_in(web, "zhao")
    done(web, DUPLICATE, "merge", into=KEPT.lower(), note="同一项目重复反映", actor="冒名")
    merged, note = pages.desk.events(FEEDBACK)
    assert isinstance(merged, TicketMerged) and (merged.actor, merged.department) == ("zhao", "office")
    assert isinstance(note, DuplicateMerged) and note.ticket_id == KEPT and note.actor == "zhao"
    duplicate = pages.record(DUPLICATE)
    assert duplicate.closure is not None and duplicate.closure.merged_into == KEPT
    page = web.get(f"/dashboard/tickets/{DUPLICATE}").text
    assert "已关闭（重复工单）" in page and f'href="/dashboard/tickets/{KEPT}"' in page
    kept = web.get(f"/dashboard/tickets/{KEPT}").text
    assert f"重复工单 {DUPLICATE} 已并入本工单" in kept and f'href="/dashboard/tickets/{DUPLICATE}"' in kept


def test_a_refused_merge_or_close_shows_why_in_chinese(web: TestClient, pages: DeskPages) -> None:
    sign_in(web, "zhao")
    assert "不存在" in refused(web, pages, DUPLICATE, "merge", 409, into="ZTC-20261127-99999999")
    assert "不能合并到本工单自身" in refused(web, pages, DUPLICATE, "merge", 409, into=DUPLICATE)
    assert "Field required" in refused(web, pages, DUPLICATE, "close", 422, kind="spam")
    sign_in(web, "wangkz")
    assert "您的角色不能关闭无效工单" in refused(web, pages, DUPLICATE, "close", 403, kind="spam", reason="x")


def test_the_office_closes_a_triage_ticket_as_spam(web: TestClient, pages: DeskPages) -> None:
    sign_in(web, "zhao")
    done(web, TRIAGE, "close", kind="spam", reason="推销广告")
    record = pages.record(TRIAGE)
    assert record.status is TicketStatus.closed and record.excluded_from_rates
    assert record.history[-1].actor == "zhao"
    page = web.get(f"/dashboard/tickets/{TRIAGE}").text
    assert "已关闭（骚扰或垃圾信息）" in page and "不计入三率" in page


# ---------------------------------------------------------------- extensions and withdrawals


def test_a_head_asks_for_time_and_only_a_supervisor_decides(web: TestClient, pages: DeskPages) -> None:
    sign_in(web, "wangkz")
    done(web, DUPLICATE, "accept")
    assert "您的角色不能延期申请" in refused(
        web, pages, DUPLICATE, "extend", 403, extension="3 working days", reason="x"
    )
    sign_in(web, "wanghead")
    done(web, DUPLICATE, "extend", extension="3 working days", reason="需检测报告")
    sign_in(web, "zhao")
    assert "您的角色不能不予延期" in refused(web, pages, DUPLICATE, "reject-extension", 403, reason="x")
    sign_in(web, "qian")
    done(web, DUPLICATE, "reject-extension", reason="期限内可办结")
    record = pages.record(DUPLICATE)
    assert record.pending_extension is None and record.history[-1].actor == "qian"
    assert "没有待批的延期申请" in refused(web, pages, DUPLICATE, "approve-extension", 409)


def test_a_co_department_asks_to_withdraw_and_the_office_lets_it_go(
    web: TestClient, pages: DeskPages
) -> None:
    sign_in(web, "chen")
    done(web, DUPLICATE, "withdraw", reason="不涉及本部门职责")
    assert pages.record(DUPLICATE).pending_withdrawals == ("construction",)
    assert "等待审批" in refused(web, pages, DUPLICATE, "withdraw", 409, reason="再次申请")
    sign_in(web, "zhao")
    page = web.get(f"/dashboard/tickets/{DUPLICATE}").text
    assert "申请退出协办" in page and "construction" in page
    done(web, DUPLICATE, "approve-withdrawal", withdrawing="construction", note="同意")
    record = pages.record(DUPLICATE)
    assert record.co_departments == () and record.history[-1].actor == "zhao"


def test_the_office_rates_on_the_enterprises_behalf_as_the_office(web: TestClient, pages: DeskPages) -> None:
    sign_in(web, "wangkz")
    done(web, DUPLICATE, "accept")
    done(web, DUPLICATE, "resolve", resolution="已办结", override_reason="协办另行反馈")
    sign_in(web, "zhao")
    done(web, DUPLICATE, "rate", rating="unsatisfied", comment="电话回访", rated_by="enterprise")
    rated = pages.desk.events(FEEDBACK)[-1]
    assert isinstance(rated, SatisfactionRated)
    assert (rated.department, rated.rated_by, rated.actor) == ("office", "office", "zhao")
    assert pages.record(DUPLICATE).status is TicketStatus.in_progress  # unsatisfied: reopened


# ---------------------------------------------------------------- only what the role and the state allow


def test_the_page_offers_only_what_the_role_and_the_state_allow(web: TestClient, pages: DeskPages) -> None:
    sign_in(web, "wangkz")  # a clerk of the lead, ticket routed
    assert forms(web, DUPLICATE) == {"accept", "bounce"}
    done(web, DUPLICATE, "accept")
    assert forms(web, DUPLICATE) == {"progress", "ask", "bounce", "resolve"}
    sign_in(web, "wanghead")
    assert forms(web, DUPLICATE) == {"progress", "ask", "bounce", "resolve", "extend"}
    sign_in(web, "chen")  # the co-department
    assert forms(web, DUPLICATE) == {"accept", "co-done", "bounce", "withdraw"}
    done(web, DUPLICATE, "withdraw", reason="不涉及")
    assert forms(web, DUPLICATE) == {"accept", "co-done", "bounce"}
    sign_in(web, "zhao")
    assert forms(web, DUPLICATE) == {
        "ask",
        "convene",
        "approve-withdrawal",
        "refuse-withdrawal",
        "merge",
        "close",
    }
    page = web.get(f"/dashboard/tickets/{DUPLICATE}").text  # the departments asking, not all of them
    choices = re.search(
        r'action="[^"]+/approve-withdrawal".*?<select name="withdrawing"[^>]*>(.*?)</select>', page, re.S
    )
    assert choices is not None and re.findall(r'value="([^"]*)"', choices.group(1)) == ["", "construction"]
    assert forms(web, TRIAGE) == {"dispatch", "merge", "close"}
    sign_in(web, "qian")
    assert "approve-extension" not in forms(web, DUPLICATE)  # nothing asked yet
    done(web, TRIAGE, "close", kind="invalid", reason="与营商无关")
    assert forms(web, TRIAGE) == set()  # closed unhandled: nothing more to do, not even reopen


def test_every_form_the_page_hides_is_one_the_server_refuses(web: TestClient, pages: DeskPages) -> None:
    """Hidden by the state (not the role): posting it anyway gets 409 with the reason, nothing changes."""
    hidden_in_all = 0
    for username in sorted(PEOPLE):
        sign_in(web, username)
        shown = forms(web, DUPLICATE)
        account = pages.accounts().get(username)
        assert account is not None
        by_role = {spec.verb: spec for spec in offered(account, pages.record(DUPLICATE), ticket_actions())}
        for verb in sorted(set(by_role) - shown):
            spec = by_role[verb]
            form = {f.body_name: sample(f.kind.value, f.choice_values) for f in spec.body_fields}
            reason = refused(web, pages, DUPLICATE, spec.path or "", 409, **form)
            assert " / " in reason and any("\u4e00" <= c <= "\u9fff" for c in reason), reason
            hidden_in_all += 1
    assert hidden_in_all >= 10


def ticket_actions() -> tuple[ActionSpec, ...]:
    return tuple(spec for spec in ACTIONS if spec.path is not None)


def sample(kind: str, choices: list[str]) -> str:
    """A value the field accepts, so only the ticket's state can refuse the form."""
    values = {
        "choice": choices[0] if choices else "",
        "department": "market",
        "departments": "planning",
        "ticket": KEPT,
    }
    return values.get(kind, "3 working days" if kind == "time_limit" else "说明")
