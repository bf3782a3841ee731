"""Robot messages a person can act on: names, title, enterprise, deadline, lateness, link, @-mentions.

Rendering is pure (the policy's templates over the ticket, ``now`` passed in);
the DingTalk signed webhook is received by a loopback HTTP server that checks
the signature the way DingTalk does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from consumers.alert_text import (
    AlertDescriber,
    dingtalk_message,
    duration_text,
    render_alert,
    wecom_markdown,
)
from consumers.alerts import WebhookSink, webhook_platform
from schemas.alert_policy import AlertContacts, AlertPolicy, AlertTemplates
from schemas.events import DISTRICT_ZONE, Priority, TicketRouted
from schemas.policy import RoutingPolicy, load_policy, policy_problems, street_of_group
from schemas.robot_signatures import dingtalk_callback_problem, dingtalk_sign, dingtalk_signed_url
from schemas.sla import SlaBreached, SlaEscalated, SlaStage, SlaWarning
from schemas.ticket import TicketRecord
from schemas.ticket_state import apply
from tests.unit.factories import submission
from tests.unit.loopback_http import serving_posts

ROOT = Path(__file__).parents[2]
TICKET = "ZTC-20261127-00000001"
ROUTED = datetime(2026, 11, 27, 10, 0, tzinfo=DISTRICT_ZONE)  # a Friday
DUE = datetime(2026, 12, 1, 17, 30, tzinfo=DISTRICT_ZONE)  # Tuesday, end of the working day
LINK_BASE = "https://ztc.example.gov.cn"


def policy() -> RoutingPolicy:
    shipped = load_policy(ROOT / "deploy/policy/default.toml")
    contacts = (
        AlertContacts(department="hrss", mobiles=("13800000001",), dingtalk_user_ids=("wangkz",),
                      wecom_user_ids=("WangKeZhang",)),
        AlertContacts(department="office", mobiles=("13900000002",), wecom_user_ids=("ZhaoDuBan",)),
    )  # fmt: skip
    return shipped.model_copy(update={"alerts": AlertPolicy(contacts=contacts)})


def record() -> TicketRecord:
    sub = submission(
        text="稳岗补贴申请三个月没有回复，请帮忙催一下，联系电话13812345678",
        title="稳岗补贴迟迟未到账 13812345678",
        enterprise_name="青岛海德精密机械有限公司",
    )
    routed = TicketRouted(
        ticket_id=sub.ticket_id, occurred_at=ROUTED, submission=sub, category="employment",
        confidence=0.9, lead_department="hrss", co_departments=("finance",),
        priority=Priority.normal, policy_version="test",
    )  # fmt: skip
    return apply(None, routed)


def escalation(level: int = 2, notify: str = "office") -> SlaEscalated:
    return SlaEscalated(
        ticket_id=TICKET, occurred_at=DUE + timedelta(days=1), department="hrss", due_at=DUE,
        stage=SlaStage.resolve, key=f"{TICKET}:resolve:escalation{level}:0", level=level,
        level_name="supervision", level_label="督办", notify=notify,
    )  # fmt: skip


# ---------------------------------------------------------------- rendering


def test_an_escalation_names_departments_ticket_enterprise_lateness_link_and_people() -> None:
    now = datetime(2026, 12, 3, 10, 0, tzinfo=DISTRICT_ZONE)  # Thursday: 1 working day 1.5 hours late
    alert = render_alert(escalation(), record(), policy(), LINK_BASE, now)
    text = alert.text("text")
    assert text.splitlines()[0] == "【督办·第2级】稳岗补贴迟迟未到账 138****5678"  # phone masked in the group
    assert "企业：青岛海德精密机械有限公司" in text
    assert f"工单：{TICKET}" in text
    assert "办结时限 12月1日（周二）17:30，已超期 1个工作日1小时" in text
    assert "请区政府办公室督促区人力资源和社会保障局办理" in text
    assert f"{LINK_BASE}/dashboard/tickets/{TICKET}" in text
    assert "hrss" not in text and "office" not in text  # no codes
    # the office is told and the late department's people are @-ed too
    assert alert.mentions.mobiles == ("13900000002", "13800000001")
    assert alert.text("dingtalk").endswith("@13900000002 @13800000001 @wangkz")
    assert alert.text("wecom").endswith("<@ZhaoDuBan> <@WangKeZhang>")


def test_a_reminder_to_the_department_does_not_ask_it_to_supervise_itself() -> None:
    now = DUE + timedelta(minutes=1)
    alert = render_alert(escalation(level=1, notify="department"), record(), policy(), LINK_BASE, now)
    assert "请区人力资源和社会保障局督促区人力资源和社会保障局" not in alert.text()
    assert alert.mentions.mobiles == ("13800000001",)


def test_a_warning_says_how_much_working_time_is_left() -> None:
    warning = SlaWarning(
        ticket_id=TICKET, occurred_at=DUE - timedelta(hours=2), department="hrss", due_at=DUE,
        stage=SlaStage.accept, key=f"{TICKET}:accept:warning:0", share=0.8,
    )  # fmt: skip
    text = render_alert(warning, record(), policy(), LINK_BASE, warning.occurred_at).text()
    assert text.startswith("【临期预警】稳岗补贴迟迟未到账")
    assert "签收时限 12月1日（周二）17:30，还剩 2小时，请区人力资源和社会保障局抓紧办理" in text


def test_a_breach_whose_ticket_cannot_be_read_still_says_what_it_knows() -> None:
    breach = SlaBreached(
        ticket_id=TICKET, occurred_at=DUE, department="hrss", due_at=DUE,
        stage=SlaStage.resolve, key=f"{TICKET}:resolve:breach:0",
    )  # fmt: skip
    describe = AlertDescriber(lambda _: None, policy(), LINK_BASE)
    text = describe(breach).text()
    assert "企业：未填写企业" in text and "主办：区人力资源和社会保障局" in text and "不足1分钟" in text


def test_templates_come_from_the_policy_and_a_typo_fails_the_policy_check() -> None:
    custom = AlertPolicy(templates=AlertTemplates(breached="{kind}|{lead}|{co}|{due}"))
    shipped = policy().model_copy(update={"alerts": custom})
    breach = SlaBreached(
        ticket_id=TICKET, occurred_at=DUE, department="hrss", due_at=DUE,
        stage=SlaStage.resolve, key=f"{TICKET}:resolve:breach:0",
    )  # fmt: skip
    assert render_alert(breach, record(), shipped, LINK_BASE, DUE).text() == (
        "超期|区人力资源和社会保障局|区财政局|12月1日（周二）17:30"
    )
    raw = shipped.model_dump(mode="json")
    raw["alerts"]["templates"]["breached"] = "{titel} {late:>10}"
    raw["alerts"]["contacts"] = [{"department": "nobody", "mobiles": ["12ab"]}]
    problems = [str(p) for p in policy_problems(raw)]
    assert any("unknown field {titel}" in p for p in problems)
    assert any("{late}" in p and "takes no format spec" in p for p in problems)
    assert any("alerts.contacts[0].department: unknown department 'nobody'" in p for p in problems)
    assert any("not a mobile number: '12ab'" in p for p in problems)


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "不足1分钟"),
        (59, "不足1分钟"),
        (6300, "1小时45分钟"),
        (27000, "1个工作日"),
        (27000 + 5400, "1个工作日1小时"),
    ],
)
def test_lateness_is_said_in_working_days_and_hours(seconds: int, words: str) -> None:
    assert duration_text(seconds, 27000) == words  # 7.5 working hours a day


# ---------------------------------------------------------------- the platforms' messages


def test_the_wecom_message_is_markdown_with_userid_mentions() -> None:
    alert = render_alert(escalation(), record(), policy(), LINK_BASE, DUE + timedelta(days=2))
    message = wecom_markdown(alert)
    assert set(message) == {"msgtype", "markdown"} and message["msgtype"] == "markdown"
    content = message["markdown"]["content"]  # type: ignore[index]
    assert content.startswith("**【督办·第2级】稳岗补贴迟迟未到账")
    assert content.endswith("<@ZhaoDuBan> <@WangKeZhang>")
    assert len(content.encode()) <= 4096  # WeCom's markdown limit


def test_the_dingtalk_message_is_markdown_with_at_mobiles_and_user_ids() -> None:
    alert = render_alert(escalation(), record(), policy(), LINK_BASE, DUE + timedelta(days=2))
    message = dingtalk_message(alert)
    assert message["msgtype"] == "markdown"
    assert message["at"] == {
        "atMobiles": ["13900000002", "13800000001"],
        "atUserIds": ["wangkz"],
        "isAtAll": False,
    }
    markdown: dict[str, str] = message["markdown"]  # type: ignore[assignment]
    assert markdown["title"] == alert.headline
    assert markdown["text"].startswith("#### 【督办·第2级】")


@pytest.mark.parametrize(
    ("url", "platform"),
    [
        ("https://oapi.dingtalk.com/robot/send?access_token=x", "dingtalk"),
        ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", "wecom"),
        ("https://hooks.example.org/ztc", "text"),
    ],
)
def test_the_robot_is_told_by_the_webhook_host(url: str, platform: str) -> None:
    assert webhook_platform(url) == platform
    assert webhook_platform(url, "wecom") == "wecom"


# ---------------------------------------------------------------- DingTalk's signature


def _dingtalk_reference_sign(secret: str, timestamp: str) -> str:
    """As DingTalk's documentation computes it (Python sample): HmacSHA256, base64; URL-encoded in the URL."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class DingTalk:
    """A loopback DingTalk: keeps each POST's query and JSON, answers errcode 0 only to a good signature."""

    def __init__(self, secret: str, clock: datetime) -> None:
        self.secret = secret
        self.clock = clock
        self.posts: list[tuple[dict[str, list[str]], dict[str, Any]]] = []

    def verdict(self, query: dict[str, list[str]]) -> bytes:
        timestamp, sign = query.get("timestamp", [""])[0], query.get("sign", [""])[0]
        now_ms = int(self.clock.timestamp() * 1000)
        good = (
            timestamp.isdigit()
            and abs(now_ms - int(timestamp)) <= 3600_000
            and sign == _dingtalk_reference_sign(self.secret, timestamp)
        )
        return b'{"errcode":0,"errmsg":"ok"}' if good else b'{"errcode":310000,"errmsg":"sign not match"}'


@pytest.fixture()
def dingtalk() -> Iterator[tuple[DingTalk, str]]:
    robot = DingTalk(
        "SECbd2f7e1a0c9d4e5f60718293a4b5c6d7e8f9", datetime(2026, 12, 3, 10, 0, tzinfo=DISTRICT_ZONE)
    )

    def answer(path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        query = parse_qs(urlsplit(path).query)  # parse_qs undoes the URL encoding of the sign
        robot.posts.append((query, json.loads(body)))
        return 200, robot.verdict(query)

    with serving_posts(answer) as base_url:
        yield robot, f"{base_url}/robot/send?access_token=t0k3n"


def test_a_signed_dingtalk_webhook_carries_a_sign_dingtalk_accepts_and_the_rendered_text(
    dingtalk: tuple[DingTalk, str],
) -> None:
    robot, url = dingtalk
    tickets = {TICKET: record()}
    describe = AlertDescriber(tickets.get, policy(), LINK_BASE)
    sink = WebhookSink(
        url, 2, platform="dingtalk", describe=describe, secret=robot.secret, clock=lambda: robot.clock
    )
    sink.send(escalation())  # raises SinkFailed if the robot answered a non-zero errcode
    [(query, body)] = robot.posts
    assert query["access_token"] == ["t0k3n"]
    assert query["timestamp"] == [str(int(robot.clock.timestamp() * 1000))]
    assert query["sign"] == [_dingtalk_reference_sign(robot.secret, query["timestamp"][0])]
    text = body["markdown"]["text"]
    assert "稳岗补贴迟迟未到账" in text and "青岛海德精密机械有限公司" in text
    assert "请区政府办公室督促区人力资源和社会保障局办理" in text
    assert f"{LINK_BASE}/dashboard/tickets/{TICKET}" in text
    assert body["at"]["atMobiles"] == ["13900000002", "13800000001"]


def test_a_webhook_signed_with_another_secret_is_refused_by_the_robot(dingtalk: tuple[DingTalk, str]) -> None:
    robot, url = dingtalk
    sink = WebhookSink(url, 2, platform="dingtalk", secret="SECwrong", clock=lambda: robot.clock)
    with pytest.raises(Exception, match="robot errcode 310000"):
        sink.send(escalation())


def test_the_signed_url_encodes_the_sign_and_the_callback_check_knows_its_window() -> None:
    moment = datetime(2026, 12, 3, 10, 0, tzinfo=DISTRICT_ZONE)
    url = dingtalk_signed_url("https://oapi.dingtalk.com/robot/send?access_token=x", "SECabc", moment)
    stamp = str(int(moment.timestamp() * 1000))
    sign = dingtalk_sign("SECabc", stamp)
    assert sign == _dingtalk_reference_sign("SECabc", stamp)
    assert url.endswith(
        f"&timestamp={stamp}&sign={sign.replace('+', '%2B').replace('/', '%2F').replace('=', '%3D')}"
    )
    assert dingtalk_callback_problem("SECabc", stamp, sign, moment) is None
    assert dingtalk_callback_problem("SECabc", stamp, sign, moment + timedelta(hours=2)) is not None
    assert dingtalk_callback_problem("SECabc", stamp, "x" + sign[1:], moment) is not None
    assert dingtalk_callback_problem("SECabc", None, sign, moment) is not None


# ---------------------------------------------------------------- groups and streets


@pytest.mark.parametrize(
    ("group", "street"),
    [
        ("兴城路街道企业服务群", "street-xingchenglu"),
        ("李村街道企业服务群", "street-licun"),
        ("区营商环境交流群", None),
        ("", None),
    ],
)
def test_a_group_names_its_street_by_the_policy(group: str, street: str | None) -> None:
    found = street_of_group(policy(), group)
    assert (found.code if found else None) == street


def test_a_group_listed_by_id_belongs_to_its_street_and_only_streets_have_groups() -> None:
    raw = policy().model_dump(mode="json")
    for department in raw["departments"]:
        if department["code"] == "street-jiushui":
            department["groups"] = ["wrkSFfCgAALFgnrSsWU38puiv4yvExuw"]
        if department["code"] == "approval":
            department["groups"] = ["审批群"]
    assert [str(p) for p in policy_problems(raw)] == [
        "departments[1].groups: only street offices have groups"
    ]
    listed = RoutingPolicy.model_validate(raw)
    found = street_of_group(listed, "wrkSFfCgAALFgnrSsWU38puiv4yvExuw")
    assert found is not None and found.code == "street-jiushui"
