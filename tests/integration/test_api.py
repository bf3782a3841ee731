"""The web edge as a real process (``ztc api``) on the embedded stack, driven by a real HTTP client.

Intake (202, idempotent retries, 401/413/422 that never reach the topic), the
department API (accept, 404 for others' tickets, 409 refusals, office
dispatch), the group robot, key rotation without restart, OpenAPI, metrics
and the dashboard's pages.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator

import pytest

from consumers.access import entry_for, keys_toml, new_key, parse_keys
from consumers.ticket_store import RedisTicketStore
from consumers.topic_reader import read_topic
from schemas.policy import load_policy
from schemas.principals import Scope
from schemas.settings import Settings
from schemas.ticket import TicketStatus
from tests.integration.conftest import Services, WaitFor, ztc
from tests.integration.web import Api, add_user, form_token, running_api, signed_in
from ztc.bootstrap import DEFAULT_POLICY

pytestmark = pytest.mark.integration

KEYS_ENV = "ZTC_API_KEYS"


@pytest.fixture(scope="module")
def api(settings: Settings, services: Services) -> Iterator[Api]:
    with running_api(settings, load_policy(DEFAULT_POLICY).department_codes) as running:
        yield running


def wait_for_status(store: RedisTicketStore, ticket_id: str, status: TicketStatus) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        record = store.get(ticket_id)
        if record is not None and record.status is status:
            return
        time.sleep(0.1)
    raise AssertionError(f"{ticket_id} never became {status}: {store.get(ticket_id)}")


def submitted_values(settings: Settings) -> list[str]:
    return [m.value.decode() for m in read_topic(settings.kafka_bootstrap, settings.topics.submitted)]


EARTHWORK = {
    "enterprise_name": "康杰药业",
    "street": "李村街道",
    "title": "土石方施工许可证办理求助",
    "text": "我们项目急需办理土石方施工许可证，需要准备的材料繁多，希望帮忙对接梳理审批手续。",
}


def submit(api: Api, wait_for_ticket: WaitFor, **extra: str) -> str:
    with api.client("channel-web_form") as http:
        answer = http.post("/api/tickets", json={**EARTHWORK, **extra})
    assert answer.status_code == 202, answer.text
    ticket_id: str = answer.json()["ticket_id"]
    wait_for_ticket(ticket_id, 60)
    return ticket_id


# ---------------------------------------------------------------- intake


def test_a_submitted_ticket_is_accepted_routed_and_recorded(api: Api, wait_for_ticket: WaitFor) -> None:
    with api.client("channel-web_form") as http:
        answer = http.post("/api/tickets", json={**EARTHWORK, "channel_message_id": "web-1"})
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["ticket_id"].startswith("ZTC-") and body["duplicate"] is False
    record = wait_for_ticket(body["ticket_id"], 60)
    assert record.lead_department == "approval"
    assert record.submission.channel.value == "web_form"
    assert record.submission.channel_message_id == "web-1"


def test_a_retry_with_the_same_idempotency_key_is_one_ticket(
    api: Api, settings: Settings, services: Services, wait_for_ticket: WaitFor
) -> None:
    headers = {"Idempotency-Key": f"retry-{uuid.uuid4().hex}"}
    with api.client("channel-web_form") as http:
        first = http.post("/api/tickets", json=EARTHWORK, headers=headers)
        again = http.post("/api/tickets", json=EARTHWORK, headers=headers)
        changed = http.post("/api/tickets", json={**EARTHWORK, "text": "另一件事"}, headers=headers)
    assert (first.status_code, again.status_code, changed.status_code) == (202, 200, 422)
    assert changed.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]  # kept in Redis
    ticket_id = first.json()["ticket_id"]
    same = {"duplicate": True, "message": again.json()["message"]}
    assert again.json() == {**first.json(), **same}  # the same status link too, made the same day
    record = wait_for_ticket(ticket_id, 60)
    published = [v for v in submitted_values(settings) if headers["Idempotency-Key"] in v]
    assert len(published) == 1  # the retry was answered from the outbox, not published again
    routed = [
        m for m in read_topic(settings.kafka_bootstrap, settings.topics.routed) if m.key == ticket_id.encode()
    ]
    assert len(routed) == 1
    assert record.submission.channel_message_id == headers["Idempotency-Key"]


def test_bad_requests_are_refused_and_never_reach_the_topic(api: Api, settings: Settings) -> None:
    marker = f"MARKER-{uuid.uuid4().hex}"
    wrong_key = new_key()
    with api.client() as anonymous:
        missing = anonymous.post("/api/tickets", json={"text": marker})
        unknown = anonymous.post("/api/tickets", json={"text": marker}, headers={"X-API-Key": wrong_key})
    with api.client("channel-web_form") as http:
        too_big = http.post("/api/tickets", json={"text": marker + "字" * 70_000})
        chunks = (part.encode() for part in ['{"text": "', marker, "x" * 70_000, '"}'])
        too_big_chunked = http.post(
            "/api/tickets", content=chunks, headers={"Content-Type": "application/json"}
        )
        invalid = http.post(
            "/api/tickets",
            json={"title": marker, "credit_code": "not-a-code", "ticket_id": "ZTC-1", "text": "  "},
        )
        not_json = http.post(
            "/api/tickets", content=b"{" + marker.encode(), headers={"Content-Type": "text/plain"}
        )
    with api.client("dept-approval") as department:
        wrong_scope = department.post("/api/tickets", json={"text": marker})

    assert (missing.status_code, unknown.status_code) == (401, 401)
    assert wrong_key not in unknown.text
    assert (too_big.status_code, too_big_chunked.status_code) == (413, 413)
    assert invalid.status_code == 422
    fields = {tuple(e["loc"]) for e in invalid.json()["detail"]}
    assert {("body", "credit_code"), ("body", "ticket_id"), ("body", "text")} <= fields
    assert not_json.status_code == 415  # the API takes JSON only
    assert wrong_scope.status_code == 403
    assert not any(marker in value for value in submitted_values(settings))
    log = api.log()
    assert "401 POST /api/tickets" in log
    assert wrong_key not in log and all(key not in log for key in api.keys.values())


# ---------------------------------------------------------------- department API


def test_a_department_accepts_its_ticket_and_sees_it_in_its_inbox(
    api: Api, store: RedisTicketStore, wait_for_ticket: WaitFor
) -> None:
    ticket_id = submit(api, wait_for_ticket)
    with api.client("dept-approval") as approval:
        assert approval.get(f"/api/tickets/{ticket_id}").json()["lead_department"] == "approval"
        accepted = approval.post(
            f"/api/tickets/{ticket_id}/accept", json={"actor": "王科长", "note": "已签收"}
        )
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["event_type"] == "TicketAccepted"
        wait_for_status(store, ticket_id, TicketStatus.accepted)
        inbox = approval.get("/api/inbox").json()
        assert ticket_id in [t["ticket_id"] for t in inbox["in_progress"]]
        refused = approval.post(
            f"/api/tickets/{ticket_id}/resolve", json={"actor": "王科长", "resolution": "已核发"}
        )
        assert refused.status_code == 409
        assert "协办" in refused.json()["detail"] or "co-department" in refused.json()["detail"]
        invalid = approval.post(f"/api/tickets/{ticket_id}/progress", json={"actor": "王科长"})
        assert invalid.status_code == 422


def test_another_department_gets_404_for_a_ticket_it_is_not_on(api: Api, wait_for_ticket: WaitFor) -> None:
    ticket_id = submit(api, wait_for_ticket)
    with api.client("dept-planning") as planning:
        read = planning.get(f"/api/tickets/{ticket_id}")
        act = planning.post(f"/api/tickets/{ticket_id}/accept", json={"actor": "李科长"})
        nonexistent = planning.get("/api/tickets/ZTC-20260101-00000000")
        other_inbox = planning.get("/api/inbox", params={"department": "approval"})
        dispatch = planning.post(
            f"/api/tickets/{ticket_id}/dispatch", json={"actor": "李科长", "lead": "planning"}
        )
    assert (read.status_code, act.status_code) == (404, 404)
    assert read.json() == nonexistent.json()
    assert (other_inbox.status_code, dispatch.status_code) == (403, 403)


def test_the_office_sees_everything_and_dispatches_a_triage_ticket(
    api: Api, store: RedisTicketStore, wait_for_ticket: WaitFor
) -> None:
    with api.client("channel-web_form") as http:
        answer = http.post("/api/tickets", json={"title": "有问题想反映", "text": "有问题想反映，请联系我。"})
    ticket_id = answer.json()["ticket_id"]
    assert wait_for_ticket(ticket_id, 60).status is TicketStatus.triage
    with api.client("dept-office") as office:
        assert ticket_id in [t["ticket_id"] for t in office.get("/api/inbox").json()["new"]]
        assert office.get("/api/inbox", params={"department": "approval"}).status_code == 200
        dispatched = office.post(
            f"/api/tickets/{ticket_id}/dispatch",
            json={"actor": "派单台", "lead": "approval", "co": ["planning"], "note": "人工派单"},
        )
        assert dispatched.status_code == 200, dispatched.text
    wait_for_status(store, ticket_id, TicketStatus.routed)
    record = store.get(ticket_id)
    assert record is not None and (record.lead_department, record.co_departments) == (
        "approval",
        ("planning",),
    )
    with api.client("dept-planning") as planning:
        assert planning.get(f"/api/tickets/{ticket_id}").status_code == 200


# ---------------------------------------------------------------- robot, rotation, spec, metrics, dashboard


def test_the_group_robot_turns_mentions_into_tickets(api: Api, wait_for_ticket: WaitFor) -> None:
    message = {
        "msg_id": f"wx-{uuid.uuid4().hex}",
        "group": "李村街道企业服务群",
        "sender": "康杰药业 苏超",
        "text": "@营商直通车 我们项目急需办理土石方施工许可证，希望帮忙梳理审批手续",
    }
    with api.client("channel-wechat_group") as robot:
        reply = robot.post("/api/robot/callback", json=message)
        retry = robot.post("/api/robot/callback", json=message)
        chatter = robot.post("/api/robot/callback", json={**message, "msg_id": "wx-x", "text": "大家好"})
    with api.client("channel-web_form") as other_channel:
        wrong_channel = other_channel.post("/api/robot/callback", json=message)
    assert reply.status_code == 200 and reply.json()["msgtype"] == "text"
    content = reply.json()["text"]["content"]
    assert content.startswith("已受理，工单号 ZTC-")
    ticket_id = content.split("工单号 ")[1].split("。")[0]
    assert ticket_id in retry.json()["text"]["content"]
    assert "@营商直通车" in chatter.json()["text"]["content"]
    assert wrong_channel.status_code == 403
    record = wait_for_ticket(ticket_id, 60)
    assert record.submission.channel.value == "wechat_group"
    assert record.submission.contact == "康杰药业 苏超"


def test_keys_rotate_without_restart(api: Api) -> None:
    fresh = new_key()
    entries = parse_keys(api.keys_file.read_bytes(), ".toml").keys
    rotated = [e for e in entries if e.name != "dept-construction"]
    rotated.append(entry_for(fresh, "dept-construction", Scope.department, department="construction"))
    staging = api.keys_file.with_suffix(".new")
    staging.write_text(keys_toml(rotated), encoding="utf-8")
    os.replace(staging, api.keys_file)
    with api.client() as http:
        assert http.get("/api/inbox", headers={"X-API-Key": fresh}).status_code == 200
        old = api.keys["dept-construction"]
        assert http.get("/api/inbox", headers={"X-API-Key": old}).status_code == 401


def test_openapi_is_served_documented_and_exported(api: Api, settings: Settings) -> None:
    target = settings.data_dir / "openapi.json"
    ztc(settings, "api", "spec", str(target), check=True)
    spec = json.loads(target.read_text("utf-8"))
    with api.client() as http:
        assert http.get("/openapi.json").json()["paths"].keys() == spec["paths"].keys()
        docs = http.get("/docs")
    assert "/api/tickets" in spec["paths"] and "/api/robot/callback" in spec["paths"]
    assert spec["components"]["schemas"]["TicketIn"]["examples"][0]["enterprise_name"] == "康杰药业"
    assert docs.status_code == 200 and "提交诉求" in docs.text and "cdn" not in docs.text.lower()


def test_metrics_count_open_tickets_per_department(api: Api, wait_for_ticket: WaitFor) -> None:
    submit(api, wait_for_ticket)
    with api.client() as http:
        text = http.get("/metrics").text
    assert 'ztc_open_tickets{department="approval"}' in text
    assert "ztc_http_requests_total" in text and "ztc_overdue_tickets" in text


def test_the_dashboard_needs_a_personal_sign_in_and_shows_files(
    api: Api, settings: Settings, wait_for_ticket: WaitFor
) -> None:
    ticket_id = submit(api, wait_for_ticket)
    assert add_user(settings, "dashboard-office", "supervisor").returncode == 0
    with api.client() as browser:
        assert browser.get("/dashboard").status_code == 303
        token = form_token(browser.get("/dashboard/login").text)
        office_key = browser.post("/dashboard/login", data={"key": api.keys["dept-office"], "csrf": token})
        assert office_key.status_code == 401  # keys are for machines; people sign in as themselves
    with signed_in(api, "dashboard-office") as browser:
        assert "ztc_session" in browser.cookies
        overview = browser.get("/dashboard")
        enterprise = browser.get("/dashboard/enterprise", params={"q": "康杰药业"})
        timeline = browser.get(f"/dashboard/tickets/{ticket_id}")
        bad_period = browser.get("/dashboard", params={"from": "tomorrow"})
    assert overview.status_code == 200 and "部门排名" in overview.text and "<svg" in overview.text
    assert ticket_id in enterprise.text
    assert "时间线" in timeline.text and "派单" in timeline.text
    assert bad_period.status_code == 400
