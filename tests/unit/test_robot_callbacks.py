"""DingTalk's and WeCom's own robot callbacks, in their real formats and signed as they sign them.

The routes run in the real web app over the in-memory outbox and publisher: a
good signature publishes one ticket whose street the group names; a bad one is
401 and publishes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from consumers.access import KeyRing, write_demo_keys
from producers.wecom_crypto import WeComCryptoError, decrypt, encrypt, signature
from schemas.events import TicketSubmitted
from schemas.settings import Settings
from tests.unit.test_gateway_intake import POLICY, Edge
from ztc.web_app import create_app

APP_SECRET = "Mk3qvFZ8d1P0s9Xo7nYtB2rW4eLcHa6uJgQ5iVxNbTyS0pRz"
WECOM_TOKEN = "ztcRobotToken2026"
WECOM_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"  # 43 characters, as WeCom's console shows them
CORP_ID = "ww1234567890abcdef"


def dingtalk_payload(
    text: str = " 我们的营业执照变更一直没办下来，能帮忙问问吗", msg_id: str = "msgRn3Xh"
) -> dict[str, Any]:
    """What a DingTalk outgoing robot posts (its own @-mention already cut from the content)."""
    return {
        "conversationId": "cidQx8d9fK0bZ3Ww2sJmQ==",
        "atUsers": [{"dingtalkId": "$:LWCP_v1:$robot"}],
        "chatbotUserId": "$:LWCP_v1:$robot",
        "msgId": msg_id,
        "senderNick": "惠昱电子 张经理",
        "isAdmin": False,
        "sessionWebhookExpiredTime": 1796000000000,
        "createAt": 1795990000000,
        "conversationType": "2",
        "senderId": "$:LWCP_v1:$sender",
        "conversationTitle": "兴城路街道企业服务群",
        "isInAtList": True,
        "sessionWebhook": "https://oapi.dingtalk.com/robot/sendBySession?session=abc",
        "text": {"content": text},
        "msgtype": "text",
    }


def dingtalk_headers(secret: str, timestamp_ms: int) -> dict[str, str]:
    """As DingTalk signs a callback: base64(HMAC-SHA256(AppSecret, timestamp + "\\n" + AppSecret))."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return {"timestamp": str(timestamp_ms), "sign": base64.b64encode(digest).decode()}


@pytest.fixture()
def robots(tmp_path: Path) -> Iterator[tuple[TestClient, Edge]]:
    edge = Edge()
    keys = tmp_path / "keys.toml"
    write_demo_keys(keys, POLICY.department_codes)
    settings = Settings(
        redis_url="redis://127.0.0.1:1/0", bootstrap_servers="127.0.0.1:1", data_dir=tmp_path,
        dingtalk_app_secret=APP_SECRET, wecom_token=WECOM_TOKEN, wecom_aes_key=WECOM_KEY,
        wecom_receive_id=CORP_ID,
    )  # fmt: skip
    app = create_app(settings, POLICY, KeyRing(keys), lambda: edge.now, intake=edge.intake)
    with TestClient(app) as client:
        yield client, edge


def published(edge: Edge) -> list[TicketSubmitted]:
    return [TicketSubmitted.model_validate_json(sent.value) for sent in edge.wire.published]


def now_ms(edge: Edge) -> int:
    return int(edge.now.timestamp() * 1000)


# ---------------------------------------------------------------- DingTalk


def test_a_signed_dingtalk_message_becomes_a_ticket_of_the_groups_street(
    robots: tuple[TestClient, Edge],
) -> None:
    client, edge = robots
    answer = client.post(
        "/api/robot/dingtalk", json=dingtalk_payload(), headers=dingtalk_headers(APP_SECRET, now_ms(edge))
    )
    assert answer.status_code == 200, answer.text
    [ticket] = published(edge)
    assert answer.json() == {
        "msgtype": "text",
        "text": {"content": f"已受理，工单号 {ticket.ticket_id}。我们将尽快派单办理，请留意回复。"},
    }
    assert ticket.street == "兴城路街道"  # from 兴城路街道企业服务群
    # NFKC or not (whether stored text keeps its full-width comma is another change's business)
    assert unicodedata.normalize("NFKC", ticket.text) == unicodedata.normalize(
        "NFKC", "我们的营业执照变更一直没办下来，能帮忙问问吗"
    )
    assert ticket.contact == "惠昱电子 张经理" and ticket.channel_message_id == "dingtalk:msgRn3Xh"
    again = client.post(
        "/api/robot/dingtalk", json=dingtalk_payload(), headers=dingtalk_headers(APP_SECRET, now_ms(edge))
    )
    assert again.status_code == 200 and ticket.ticket_id in again.json()["text"]["content"]
    assert len(published(edge)) == 1  # DingTalk retried: the same ticket, published once


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"timestamp": "1795990000000"},
        "another secret",
        "two hours ago",
        "tampered",
    ],
)
def test_a_dingtalk_callback_without_dingtalks_signature_is_401_and_publishes_nothing(
    robots: tuple[TestClient, Edge], headers: dict[str, str] | str
) -> None:
    client, edge = robots
    if headers == "another secret":
        headers = dingtalk_headers("not-the-app-secret", now_ms(edge))
    elif headers == "two hours ago":
        headers = dingtalk_headers(APP_SECRET, now_ms(edge) - 2 * 3600 * 1000)
    elif headers == "tampered":
        headers = dingtalk_headers(APP_SECRET, now_ms(edge))
        headers["timestamp"] = str(now_ms(edge) + 1)
    assert isinstance(headers, dict)
    answer = client.post("/api/robot/dingtalk", json=dingtalk_payload(), headers=headers)
    assert answer.status_code == 401, answer.text
    assert published(edge) == []


def test_a_dingtalk_message_with_nothing_asked_gets_help_and_publishes_nothing(
    robots: tuple[TestClient, Edge],
) -> None:
    client, edge = robots
    answer = client.post(
        "/api/robot/dingtalk",
        json=dingtalk_payload(text="  "),
        headers=dingtalk_headers(APP_SECRET, now_ms(edge)),
    )
    assert answer.status_code == 200 and "写明遇到的问题" in answer.json()["text"]["content"]
    assert published(edge) == []


def test_without_the_app_secret_the_dingtalk_route_is_not_served(tmp_path: Path) -> None:
    edge = Edge()
    keys = tmp_path / "keys.toml"
    write_demo_keys(keys, POLICY.department_codes)
    settings = Settings(redis_url="redis://127.0.0.1:1/0", bootstrap_servers="127.0.0.1:1", data_dir=tmp_path)
    with TestClient(
        create_app(settings, POLICY, KeyRing(keys), lambda: edge.now, intake=edge.intake)
    ) as client:
        answer = client.post("/api/robot/dingtalk", json=dingtalk_payload(), headers=dingtalk_headers("", 1))
    assert answer.status_code == 404 and published(edge) == []


# ---------------------------------------------------------------- WeCom


def wecom_plain(
    content: str = "@营商直通车 厂房的排污许可证申请一直没有回复",
    chat: str = "wrkSFfCgAALFgnrSsWU38puiv4yvExuw",
) -> str:
    return (
        "<xml><WebhookUrl><![CDATA[https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc]]></WebhookUrl>"
        f"<ChatId><![CDATA[{chat}]]></ChatId><ChatType>group</ChatType>"
        "<From><UserId>zhangsan</UserId><Name><![CDATA[张三]]></Name><Alias><![CDATA[zs]]></Alias></From>"
        f"<MsgType>text</MsgType><Text><Content><![CDATA[{content}]]></Content></Text>"
        "<MsgId>wecom-msg-0001</MsgId></xml>"
    )


def wecom_post(client: TestClient, plain: str, token: str = WECOM_TOKEN, key: str = WECOM_KEY) -> Any:
    encrypted = encrypt(key, plain, CORP_ID)
    stamp, nonce = "1795990000", "n0nce42"
    body = (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    )
    query = {"msg_signature": signature(token, stamp, nonce, encrypted), "timestamp": stamp, "nonce": nonce}
    return client.post("/api/robot/wecom", params=query, content=body, headers={"Content-Type": "text/xml"})


def test_the_wecom_aes_scheme_round_trips_and_refuses_another_key_or_receiver() -> None:
    encrypted = encrypt(WECOM_KEY, "你好 hello", CORP_ID, random16=b"0123456789abcdef")
    assert decrypt(WECOM_KEY, encrypted, CORP_ID) == "你好 hello"
    with pytest.raises(WeComCryptoError):
        decrypt(WECOM_KEY, encrypted, "another-corp")
    with pytest.raises(WeComCryptoError):
        decrypt("A" * 43, encrypted)
    known = hashlib.sha1("".join(sorted(["t", "1", "n", "e"])).encode()).hexdigest()
    assert signature("t", "1", "n", "e") == known


def test_the_wecom_url_check_answers_the_decrypted_echostr(robots: tuple[TestClient, Edge]) -> None:
    client, _ = robots
    echo = encrypt(WECOM_KEY, "8814572393094812", CORP_ID)
    query = {"msg_signature": signature(WECOM_TOKEN, "1795990000", "n1", echo), "timestamp": "1795990000",
             "nonce": "n1", "echostr": echo}  # fmt: skip
    answer = client.get("/api/robot/wecom", params=query)
    assert answer.status_code == 200 and answer.text == "8814572393094812"
    query["msg_signature"] = "0" * 40
    assert client.get("/api/robot/wecom", params=query).status_code == 401


def test_an_encrypted_wecom_message_becomes_a_ticket_and_the_reply_is_encrypted(
    robots: tuple[TestClient, Edge],
) -> None:
    client, edge = robots
    raw = POLICY.model_dump(mode="json")
    assert raw  # the chat id is listed for no street: the ticket has none
    answer = wecom_post(client, wecom_plain())
    assert answer.status_code == 200, answer.text
    [ticket] = published(edge)
    assert ticket.text == "厂房的排污许可证申请一直没有回复" and ticket.contact == "张三"
    assert ticket.channel_message_id == "wecom:wecom-msg-0001" and ticket.street is None
    reply = answer.text
    encrypted = reply.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
    assert ticket.ticket_id in decrypt(WECOM_KEY, encrypted, CORP_ID)


def test_a_wecom_group_listed_for_a_street_names_it(robots: tuple[TestClient, Edge], tmp_path: Path) -> None:
    _, edge = robots
    raw = POLICY.model_dump(mode="json")
    for department in raw["departments"]:
        if department["code"] == "street-licun":
            department["groups"] = ["wrkLiCunQiYeFuWu"]
    listed = type(POLICY).model_validate(raw)
    keys = tmp_path / "k.toml"
    write_demo_keys(keys, POLICY.department_codes)
    settings = Settings(
        redis_url="redis://127.0.0.1:1/0", bootstrap_servers="127.0.0.1:1", data_dir=tmp_path,
        wecom_token=WECOM_TOKEN, wecom_aes_key=WECOM_KEY,
    )  # fmt: skip
    with TestClient(
        create_app(settings, listed, KeyRing(keys), lambda: edge.now, intake=edge.intake)
    ) as client:
        assert wecom_post(client, wecom_plain(chat="wrkLiCunQiYeFuWu")).status_code == 200
    [ticket] = published(edge)
    assert ticket.street == "李村街道"


@pytest.mark.parametrize("wrong", ["token", "key"])
def test_a_wecom_callback_not_signed_or_encrypted_by_wecom_is_401_and_publishes_nothing(
    robots: tuple[TestClient, Edge], wrong: str
) -> None:
    client, edge = robots
    if wrong == "token":
        answer = wecom_post(client, wecom_plain(), token="someone-else")
    else:
        answer = wecom_post(client, wecom_plain(), key="B" * 42 + "A")
    assert answer.status_code == 401, answer.text
    assert published(edge) == []


def test_a_wecom_body_with_a_dtd_is_refused(robots: tuple[TestClient, Edge]) -> None:
    client, edge = robots
    body = '<!DOCTYPE x [<!ENTITY a "aaaa">]><xml><Encrypt>&a;</Encrypt></xml>'
    query = {"msg_signature": "0" * 40, "timestamp": "1", "nonce": "n"}
    answer = client.post("/api/robot/wecom", params=query, content=body, headers={"Content-Type": "text/xml"})
    assert answer.status_code == 401 and published(edge) == []


def test_the_json_form_of_a_wecom_message_is_read_too() -> None:
    from producers.robot_gateway import wecom_message

    message_json = {
        "msgid": "m1",
        "chatid": "c1",
        "from": {"userid": "u1", "name": "李四"},
        "msgtype": "text",
        "text": {"content": "@营商直通车 门头招牌审批"},
    }
    plain = json.dumps(message_json, ensure_ascii=False)
    message = wecom_message(plain)
    assert (message.msg_id, message.group, message.sender, message.text) == (
        "m1",
        "c1",
        "李四",
        "门头招牌审批",
    )
