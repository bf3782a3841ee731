"""Personal data masking: what is masked, what must never be, and who sees numbers unmasked."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI, Header
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from consumers.dashboard import make_templates
from consumers.department_api import department_router
from consumers.ticket_store import InMemoryTicketStore
from producers.department_client import DepartmentClient
from schemas.events import DeadLettered, Priority, TicketRouted
from schemas.feedback import TicketBounced
from schemas.policy import PrivacyPolicy, PrivacyRole, RoutingPolicy, load_policy
from schemas.principals import Principal, Scope
from schemas.privacy import (
    mask_personal,
    mask_record,
    mask_submission,
    reader_roles,
    record_for,
    shows_personal_data,
)
from schemas.ticket import InboxBucket, TicketRecord
from tests.unit.factories import NOW, submission
from ztc import render
from ztc.cli import build_parser

DEFAULT_POLICY = Path(__file__).parents[2] / "deploy" / "policy" / "default.toml"
PHONE = "13800138000"
ID_CARD = "370202198501011239"  # check digit right
TEXT = f"土石方施工许可证办理遇到困难，联系人苏超，手机{PHONE}，法人身份证{ID_CARD}，办公电话0532-88886666。"


# ---------------------------------------------------------------- mask_personal


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (f"联系人苏超，电话{PHONE}，请尽快回电", "联系人苏超，电话138****8000，请尽快回电"),
        ("企业联系人：李庆涛 139-0532-1234（微信同号）", "企业联系人：李庆涛 139****1234（微信同号）"),
        ("手机 +86 186 1234 5678 随时可联系", "手机 +86 186****5678 随时可联系"),
        ("(+86)15012345678", "(+86)150****5678"),
        ("请致电8613800138000转人工", "请致电86138****8000转人工"),
        (f"号码{PHONE}。另一个13900139000", "号码138****8000。另一个139****9000"),
        ("Tel:17712345678", "Tel:177****5678"),
        ("办公室电话0532-88886666转801", "办公室电话0532-****6666转801"),
        ("座机（0532）88886666，传真0532 8888666", "座机（0532）****6666，传真0532 ***8666"),
        ("北京分公司010-62345678", "北京分公司010-****5678"),
        (f"法人代表身份证号{ID_CARD}，已核验", "法人代表身份证号370202********1239，已核验"),
        ("身份证：11010520000229001X", "身份证：110105********001X"),
        ("身份证370202198501011234（末位校验不对也遮挡）", "身份证370202********1234（末位校验不对也遮挡）"),
    ],
)
def test_personal_numbers_are_masked(text: str, masked: str) -> None:
    assert mask_personal(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "统一社会信用代码91370213MA3C4D5E6Q，企业名称康杰药业",
        "信用代码913702198501011005（全数字，校验位正确）",
        "工单 ZTC-20261128-1C2D3E4F 已转办",
        "请于2026-11-28 09:30前签收，20261128号文件",
        "2026年11月28日召开联席会议",
        "项目总投资13800000000元，一期13900000000.50元",
        "贷款¥15012345678，约合RMB 15012345678",
        "厂房面积18000多平方米，用地约13800000000平方",
        "事件编号3f2a13800138000b9c1d2e3f4a5b6c7d",
        "订单号123456789012345678901",
        "营业执照注册号370213600012345",
        "已经是遮挡过的138****8000和370202********1239",
        "电话12345678901 不是手机号",
        "邮编266100，门牌号0532号",
    ],
)
def test_lookalikes_are_left_alone(text: str) -> None:
    assert mask_personal(text) == text


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789-+ ()（）X元号年月日电话手机身份证", max_size=60))
def test_masking_is_idempotent_and_keeps_other_text(text: str) -> None:
    once = mask_personal(text)
    assert mask_personal(once) == once
    assert len(once) == len(text)


def test_mask_submission_masks_free_text_and_keeps_codes() -> None:
    original = submission(
        text=TEXT,
        title=f"办证求助 {PHONE}",
        contact=f"苏超 {PHONE}",
        enterprise_name="苏超个体户（13800138000）",
        credit_code="91370213MA3C4D5E6Q",
        channel_message_id=f"wx-{PHONE}",
    )
    masked = mask_submission(original)
    assert masked.contact == "苏超 138****8000" and masked.title == "办证求助 138****8000"
    assert PHONE not in masked.text and ID_CARD not in masked.text and "0532-****6666" in masked.text
    assert masked.enterprise_name == "苏超个体户(138****8000)"  # NFKC made the brackets ASCII
    assert masked.credit_code == original.credit_code
    assert (masked.ticket_id, masked.channel_message_id) == (original.ticket_id, original.channel_message_id)


# ---------------------------------------------------------------- records and roles


def routed_record(store: InMemoryTicketStore | None = None) -> TicketRecord:
    sub = submission(text=TEXT, title=f"土石方施工许可 {PHONE}", contact=f"苏超 {PHONE}")
    event = TicketRouted(
        ticket_id=sub.ticket_id,
        occurred_at=NOW,
        submission=sub,
        category="licence",
        confidence=0.9,
        lead_department="approval",
        co_departments=("construction",),
        priority=Priority.normal,
        policy_version="test",
    )
    store = store if store is not None else InMemoryTicketStore()
    store.record(event)
    bounce = TicketBounced(
        ticket_id=sub.ticket_id,
        occurred_at=NOW,
        department="construction",
        actor="李科长",
        reason="not_our_remit",
        note=f"请主办联系{PHONE}",
    )
    store.record(bounce)
    record = store.get(sub.ticket_id)
    assert record is not None
    return record


def test_mask_record_masks_submission_history_and_bounces() -> None:
    record = routed_record()
    masked = mask_record(record)
    dumped = masked.model_dump_json()
    assert PHONE not in dumped and ID_CARD not in dumped
    assert masked.submission.contact == "苏超 138****8000"
    assert any("138****8000" in entry.summary for entry in masked.history)
    assert record.submission.contact == f"苏超 {PHONE}"  # the original is untouched


def test_by_default_only_the_lead_sees_numbers() -> None:
    record = routed_record()
    privacy = PrivacyPolicy()
    assert reader_roles(record, "approval") == {PrivacyRole.lead}
    assert reader_roles(record, "office", is_office=True) == {PrivacyRole.office}
    assert shows_personal_data(privacy, reader_roles(record, "approval"))
    assert not shows_personal_data(privacy, (PrivacyRole.co,))
    assert not shows_personal_data(privacy, (PrivacyRole.office,))
    assert not shows_personal_data(privacy, (PrivacyRole.operator,))
    assert record_for(record, privacy, (PrivacyRole.lead,)) is record
    assert PHONE not in record_for(record, privacy, (PrivacyRole.office,)).model_dump_json()


def test_the_policy_file_has_a_privacy_section() -> None:
    policy = load_policy(DEFAULT_POLICY)
    assert policy.privacy.unmasked_roles == (PrivacyRole.lead,)
    raw = policy.model_dump(mode="json")
    raw["privacy"] = {"unmasked_roles": ["lead", "office"]}
    assert RoutingPolicy.model_validate(raw).privacy.unmasked_roles == (PrivacyRole.lead, PrivacyRole.office)
    raw["privacy"] = {"unmasked_roles": ["everyone"]}
    with pytest.raises(ValidationError, match="unmasked_roles"):
        RoutingPolicy.model_validate(raw)


# ---------------------------------------------------------------- where people read tickets


def test_cli_views_are_masked_unless_unmasked() -> None:
    record = routed_record()
    shown = render.ticket_text(record, None)
    assert PHONE not in shown and ID_CARD not in shown and "138****8000" in shown
    assert PHONE in render.ticket_text(record, None, unmask=True)
    assert PHONE not in str(render.ticket_json(record)) and PHONE in str(
        render.ticket_json(record, unmask=True)
    )
    inbox = render.inbox_text("approval", {InboxBucket.new: [record]}, None)
    assert "土石方施工许可 138****8000" in inbox


def test_operator_unmasks_with_the_flag_or_the_policy() -> None:
    policy = load_policy(DEFAULT_POLICY)
    assert not render.operator_unmasks(policy) and render.operator_unmasks(policy, unmask=True)
    allowed = policy.model_copy(update={"privacy": PrivacyPolicy(unmasked_roles=(PrivacyRole.operator,))})
    assert render.operator_unmasks(allowed)


def test_ticket_show_has_an_unmask_flag() -> None:
    parser = build_parser()
    assert parser.parse_args(["ticket", "show", "ZTC-1", "--unmask"]).unmask is True
    assert parser.parse_args(["ticket", "show", "ZTC-1"]).unmask is False


def test_an_older_dead_letter_is_masked_when_shown() -> None:
    letter = DeadLettered(
        occurred_at=NOW,
        source_topic="t",
        stage="validate",
        reason=f"bad {PHONE}",
        original_b64="",
        original_preview=f'{{"contact": "{PHONE}"}}',
    )
    shown = render.deadletter_text(letter)
    assert PHONE not in shown and shown.count("138****8000") == 2


def no_client() -> DepartmentClient:
    raise AssertionError("reads need no client")


def api(store: InMemoryTicketStore, privacy: PrivacyPolicy | None = None) -> TestClient:
    def principal(x_department: str = Header()) -> Principal:
        return Principal(name=x_department, scope=Scope.department, department=x_department)

    app = FastAPI()
    app.include_router(department_router(lambda: store, no_client, principal, privacy))
    return TestClient(app)


def test_the_department_api_unmasks_for_the_lead_only() -> None:
    store = InMemoryTicketStore()
    record = routed_record(store)
    client = api(store)
    path = f"/api/tickets/{record.ticket_id}"
    assert PHONE in client.get(path, headers={"x-department": "approval"}).text
    for reader in ("construction", "office"):
        answer = client.get(path, headers={"x-department": reader})
        assert answer.status_code == 200 and PHONE not in answer.text and "138****8000" in answer.text
    lead_inbox = client.get("/api/inbox", headers={"x-department": "approval"}).json()
    assert lead_inbox["new"][0]["title"] == f"土石方施工许可 {PHONE}"
    office_view = client.get("/api/inbox?department=approval", headers={"x-department": "office"}).json()
    assert office_view["new"][0]["title"] == "土石方施工许可 138****8000"


def test_the_department_api_follows_the_policy() -> None:
    store = InMemoryTicketStore()
    record = routed_record(store)
    client = api(store, PrivacyPolicy(unmasked_roles=(PrivacyRole.office,)))
    path = f"/api/tickets/{record.ticket_id}"
    assert PHONE in client.get(path, headers={"x-department": "office"}).text
    assert PHONE not in client.get(path, headers={"x-department": "approval"}).text


def test_the_dashboard_masks_for_the_office_by_default() -> None:
    policy = load_policy(DEFAULT_POLICY)
    record = routed_record()
    page = make_templates(policy).env.get_template("ticket.html")
    html = page.render(record=record, ticket_id=record.ticket_id, now=NOW, user="office")
    assert PHONE not in html and ID_CARD not in html and "138****8000" in html
    allowed = policy.model_copy(update={"privacy": PrivacyPolicy(unmasked_roles=(PrivacyRole.office,))})
    assert PHONE in make_templates(allowed).env.get_template("ticket.html").render(
        record=record, ticket_id=record.ticket_id, now=NOW
    )
    unmasked = make_templates(policy).env.get_template("ticket.html")
    assert PHONE in unmasked.render(record=record, ticket_id=record.ticket_id, now=NOW, unmask=True)
    table = make_templates(policy).env.get_template("enterprise.html")
    listing = table.render(records=[record], q="康杰", now=NOW, user="office", key_enterprise=False)
    assert PHONE not in listing and "138****8000" in listing
