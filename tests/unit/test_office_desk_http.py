"""The office desk and the lead's remaining actions over the department API: merge, close as invalid,
extensions, withdrawals, supply, rate and reopen — each refusal (wrong key, wrong state) answers
with its reason in Chinese and publishes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Header
from fastapi.testclient import TestClient

from consumers.department_api import department_router
from consumers.ticket_store import InMemoryTicketStore
from producers.department_client import DepartmentClient
from schemas.feedback import DuplicateMerged, SatisfactionRated, TicketMerged
from schemas.principals import Principal, Scope
from schemas.ticket import ClosureKind, InboxBucket, TicketRecord, TicketStatus
from tests.unit.desk_harness import FEEDBACK, RecordingDesk, route
from tests.unit.factories import NOW

DUPLICATE = "ZTC-20261127-0000000D"
KEPT = "ZTC-20261127-0000000K"
CODES = ("office", "approval", "construction", "planning", "market")


def principal(x_department: str = Header()) -> Principal:
    return Principal(name=x_department, scope=Scope.department, department=x_department)


class Desk:
    def __init__(self) -> None:
        self.store = InMemoryTicketStore()
        self.publisher = RecordingDesk(self.store)
        client = DepartmentClient(self.store, self.publisher, FEEDBACK, CODES, lambda: NOW)
        app = FastAPI()
        app.include_router(department_router(lambda: self.store, lambda: client, principal))
        self.http = TestClient(app)
        route(self.store, DUPLICATE)
        route(self.store, KEPT)

    def post(self, ticket_id: str, path: str, department: str, **body: Any) -> httpx.Response:
        answer: httpx.Response = self.http.post(
            f"/api/tickets/{ticket_id}/{path}?wait_s=1",
            json={"actor": f"{department}-person", **body},
            headers={"x-department": department},
        )
        return answer

    def ok(self, ticket_id: str, path: str, department: str, **body: Any) -> dict[str, Any]:
        answer = self.post(ticket_id, path, department, **body)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    def record(self, ticket_id: str) -> TicketRecord:
        found = self.store.get(ticket_id)
        assert found is not None
        return found

    def refused(self, ticket_id: str, path: str, department: str, status: int, **body: Any) -> str:
        """Refused with ``status``; nothing published and the ticket unchanged. Its reason."""
        before, published = self.record(ticket_id), len(self.publisher.published)
        answer = self.post(ticket_id, path, department, **body)
        assert answer.status_code == status, answer.text
        assert len(self.publisher.published) == published and self.record(ticket_id) == before
        detail = answer.json()["detail"]
        if status == 422:  # field errors, each with its place in the body
            return str(detail)
        assert any("\u4e00" <= c <= "\u9fff" for c in detail), detail  # the reason, in Chinese
        return str(detail)


@pytest.fixture
def desk() -> Desk:
    return Desk()


def test_the_office_merges_a_duplicate_and_the_kept_ticket_notes_it(desk: Desk) -> None:
    answer = desk.ok(DUPLICATE, "merge", "office", into=KEPT.lower(), note="同一项目重复反映")
    assert (answer["recorded"], answer["status"], answer["label"]) == (True, "closed", "合并重复工单")
    merged, note = desk.publisher.events(FEEDBACK)
    assert isinstance(merged, TicketMerged) and merged.into == KEPT
    assert isinstance(note, DuplicateMerged) and note.actor == "office-person"
    duplicate = desk.record(DUPLICATE)
    assert duplicate.closure is not None and duplicate.closure.merged_into == KEPT
    assert duplicate.excluded_from_rates and desk.store.inbox("approval", InboxBucket.new) == [
        desk.record(KEPT)
    ]
    assert desk.record(KEPT).merged_duplicates == (DUPLICATE,)
    assert desk.publisher.refused == []


def test_a_merge_is_refused_in_chinese_and_changes_nothing(desk: Desk) -> None:
    assert "仅区政府办公室可操作" in desk.refused(DUPLICATE, "merge", "approval", 403, into=KEPT)
    missing = desk.refused(DUPLICATE, "merge", "office", 409, into="ZTC-20261127-99999999")
    assert "工单 ZTC-20261127-99999999 不存在" in missing
    assert "不能合并到本工单自身" in desk.refused(DUPLICATE, "merge", "office", 409, into=DUPLICATE)
    desk.ok(KEPT, "close", "office", kind="spam", reason="广告")
    assert "不能作为保留工单" in desk.refused(DUPLICATE, "merge", "office", 409, into=KEPT)
    assert "不能合并" in desk.refused(KEPT, "merge", "office", 409, into=DUPLICATE)
    desk.refused(DUPLICATE, "merge", "office", 422)  # no ticket to merge into


def test_the_office_closes_spam_once_with_a_reason(desk: Desk) -> None:
    assert "仅区政府办公室可操作" in desk.refused(
        DUPLICATE, "close", "approval", 403, kind="spam", reason="x"
    )
    desk.refused(DUPLICATE, "close", "office", 422, kind="spam")  # the reason is required
    desk.refused(DUPLICATE, "close", "office", 422, kind="rude", reason="x")
    desk.ok(DUPLICATE, "close", "office", kind="spam", reason="推销广告")
    record = desk.record(DUPLICATE)
    assert record.closure is not None and record.closure.kind is ClosureKind.spam
    assert record.status is TicketStatus.closed and record.excluded_from_rates
    assert "不能关闭" in desk.refused(DUPLICATE, "close", "office", 409, kind="invalid", reason="再关")
    assert "不能重办" in desk.refused(DUPLICATE, "reopen", "office", 409, reason="重办")
    assert "无需回访" in desk.refused(DUPLICATE, "rate", "office", 409, rating="satisfied")


def test_extensions_are_asked_over_http_and_rejected_or_approved_by_the_office(desk: Desk) -> None:
    desk.ok(DUPLICATE, "accept", "approval")
    assert "没有待批的延期申请" in desk.refused(DUPLICATE, "reject-extension", "office", 409, reason="不")
    desk.refused(DUPLICATE, "extend", "construction", 409, extension="3 working days", reason="x")
    desk.ok(DUPLICATE, "extend", "approval", extension="3 working days", reason="需检测报告")
    assert desk.record(DUPLICATE).pending_extension == "3 working days"
    assert "仅区政府办公室可操作" in desk.refused(DUPLICATE, "reject-extension", "approval", 403, reason="x")
    desk.ok(DUPLICATE, "reject-extension", "office", reason="期限内可办结")
    assert desk.record(DUPLICATE).pending_extension is None
    desk.ok(DUPLICATE, "extend", "approval", extension="2 working days", reason="仍需检测")
    desk.ok(DUPLICATE, "approve-extension", "office", note="同意")
    assert desk.record(DUPLICATE).history[-1].summary == "批准延期 2 working days：同意"


def test_a_co_departments_withdrawal_is_asked_and_decided_over_http(desk: Desk) -> None:
    assert "仅协办部门可申请退出协办" in desk.refused(DUPLICATE, "withdraw", "approval", 409, reason="x")
    assert desk.post(DUPLICATE, "withdraw", "planning", reason="x").status_code == 404  # not its ticket
    desk.ok(DUPLICATE, "withdraw", "construction", reason="不涉及本部门")
    assert "等待审批" in desk.refused(DUPLICATE, "withdraw", "construction", 409, reason="再申请")
    assert "仅区政府办公室可操作" in desk.refused(DUPLICATE, "approve-withdrawal", "construction", 403)
    desk.ok(DUPLICATE, "refuse-withdrawal", "office", reason="仍需出具意见")
    assert desk.record(DUPLICATE).co_departments == ("construction",)
    assert "没有待审批" in desk.refused(DUPLICATE, "approve-withdrawal", "office", 409)
    desk.ok(DUPLICATE, "withdraw", "construction", reason="确不涉及")
    desk.ok(DUPLICATE, "approve-withdrawal", "office", withdrawing="construction")
    assert desk.record(DUPLICATE).co_departments == ()


def test_supply_rate_and_reopen_have_routes_with_the_same_rules(desk: Desk) -> None:
    assert "不能登记补充材料" in desk.refused(DUPLICATE, "supply-info", "approval", 409, content="x")
    desk.ok(DUPLICATE, "accept", "approval")
    assert "未要求企业补充材料" in desk.refused(DUPLICATE, "supply-info", "approval", 409, content="x")
    desk.ok(DUPLICATE, "request-info", "approval", question="请补充测算报告")
    assert "补充材料须由" in desk.refused(DUPLICATE, "supply-info", "construction", 409, content="x")
    desk.ok(DUPLICATE, "supply-info", "approval", content="企业已现场补交")
    desk.ok(DUPLICATE, "co-done", "construction", note="已出具意见")
    assert "不能重办" in desk.refused(DUPLICATE, "reopen", "office", 409, reason="x")
    desk.ok(DUPLICATE, "resolve", "approval", resolution="已办结")
    assert "仅区政府办公室可操作" in desk.refused(DUPLICATE, "rate", "approval", 403, rating="satisfied")
    desk.refused(
        DUPLICATE, "rate", "office", 422, rating="satisfied", rated_by="enterprise"
    )  # not a body field
    answer = desk.ok(DUPLICATE, "rate", "office", rating="satisfied", comment="电话回访")
    assert answer["status"] == "closed"
    rated = desk.publisher.events(FEEDBACK)[-1]
    assert isinstance(rated, SatisfactionRated) and (rated.department, rated.rated_by) == ("office", "office")
    assert "本轮办结已回访" in desk.refused(DUPLICATE, "rate", "office", 409, rating="satisfied")
    desk.ok(DUPLICATE, "reopen", "office", reason="企业反映仍未解决")
    assert desk.record(DUPLICATE).status is TicketStatus.in_progress
