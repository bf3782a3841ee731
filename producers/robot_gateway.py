"""The group robots' own callbacks: DingTalk's outgoing robot and WeCom's group robot, signed by them.

- ``POST /api/robot/dingtalk``: DingTalk's outgoing-robot JSON (``msgtype``,
  ``text.content``, ``msgId``, ``senderNick``, ``conversationTitle``,
  ``sessionWebhook`` ...), with headers ``timestamp`` and ``sign`` =
  base64(HMAC-SHA256(AppSecret, timestamp + "\\n" + AppSecret)); the answer is a
  robot text message DingTalk posts into the group.
- ``GET /api/robot/wecom``: WeCom's URL check (``echostr``), answered with its plaintext.
- ``POST /api/robot/wecom``: WeCom's encrypted callback (XML ``<Encrypt>``, or JSON
  ``{"encrypt": ...}``) with ``msg_signature``, ``timestamp``, ``nonce`` in the
  query; the decrypted message (XML or JSON: ``MsgId``, ``ChatId``, ``From``,
  ``Text.Content``) becomes a ticket and the answer is the encrypted reply.

No API key: the platform's signature is the credential. A bad or missing
signature is ``401`` and nothing is published; a platform whose secrets are not
set is ``404``. The group a message came from names the street by the policy
(``street_of_group``): 兴城路街道企业服务群 → 兴城路街道.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from xml.etree import ElementTree

from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from producers.gateway import Intake, RobotReply, read_json_object, robot_text
from producers.wecom_crypto import WeComCryptoError, check_signature, decrypt, encrypt, signature
from schemas.events import Channel
from schemas.policy import RoutingPolicy, street_of_group
from schemas.robot_signatures import dingtalk_callback_problem

log = logging.getLogger(__name__)

MAX_XML_BYTES = 64 * 1024
Param = Annotated[str, Query(min_length=1, max_length=4096)]
"""A WeCom query parameter (msg_signature, timestamp, nonce, echostr)."""
HELP = "您好，请在@机器人后写明遇到的问题，我们会尽快派单办理。"


@dataclass(frozen=True)
class RobotSecrets:
    """The platforms' secrets (settings); a platform without its secret is not served."""

    dingtalk_app_secret: str | None = None
    wecom_token: str | None = None
    wecom_aes_key: str | None = None
    wecom_receive_id: str | None = None


@dataclass(frozen=True)
class GroupMessage:
    """What ZTC needs of one group message, whatever the platform."""

    platform: str
    msg_id: str
    group: str
    sender: str
    text: str


def dingtalk_message(body: dict[str, Any]) -> GroupMessage:
    """DingTalk's outgoing-robot JSON; the robot's own @-mention is already cut from ``text.content``."""
    text = body.get("text") if isinstance(body.get("text"), dict) else {}
    msg_id = str(body.get("msgId") or "").strip()
    if body.get("msgtype") != "text" or not msg_id:
        raise ValueError("只处理文字消息 only text messages with a msgId")
    return GroupMessage(
        platform="dingtalk",
        msg_id=msg_id,
        group=str(body.get("conversationTitle") or ""),
        sender=str(body.get("senderNick") or ""),
        text=str((text or {}).get("content") or ""),
    )


def _xml_text(root: ElementTree.Element, path: str) -> str:
    found = root.find(path)
    return (found.text or "").strip() if found is not None else ""


def wecom_message(plain: str) -> GroupMessage:
    """A decrypted WeCom group-robot message: XML (``<MsgId>``, ``<ChatId>``, ``<From><Name>``,
    ``<Text><Content>``) or JSON (``msgid``, ``chatid``, ``from.name``, ``text.content``)."""
    if plain.lstrip().startswith("{"):
        data = json.loads(plain)
        sender = data.get("from") or {}
        fields = (
            str(data.get("msgid") or ""), str(data.get("chatid") or ""),
            str(sender.get("name") or sender.get("userid") or ""),
            str((data.get("text") or {}).get("content") or ""), str(data.get("msgtype") or ""),
        )  # fmt: skip
    else:
        root = ElementTree.fromstring(plain)
        sender_name = _xml_text(root, "From/Name") or _xml_text(root, "From/UserId")
        fields = (
            _xml_text(root, "MsgId"), _xml_text(root, "ChatId"), sender_name,
            _xml_text(root, "Text/Content"), _xml_text(root, "MsgType"),
        )  # fmt: skip
    msg_id, chat, sender_name, content, kind = fields
    if kind != "text" or not msg_id:
        raise ValueError("只处理文字消息 only text messages with a MsgId")
    words = content.strip().split(maxsplit=1)
    if words and words[0].startswith("@"):  # "@RobotName 问题": the robot's own mention
        content = words[1] if len(words) > 1 else ""
    return GroupMessage("wecom", msg_id, chat, sender_name, content)


def submission_fields(message: GroupMessage, policy: RoutingPolicy) -> dict[str, Any] | None:
    """The intake fields of a group message (None: nothing asked); the group names the street."""
    text = robot_text(message.text) if message.text.strip().startswith("@") else message.text.strip()
    if not text:
        return None
    fields: dict[str, Any] = {
        "text": text,
        "title": text.splitlines()[0][:30],
        "contact": message.sender or None,
    }
    street = group_street(policy, message.group)
    if street is not None:
        fields["street"] = street
    return fields


def group_street(policy: RoutingPolicy, group: str) -> str | None:
    """The street a chat group belongs to, as a ticket names it (兴城路街道企业服务群 → 兴城路街道)."""
    office = street_of_group(policy, group)
    if office is None:
        return None
    return office.street_names[0] if office.street_names else office.name


def wecom_reply(secrets: RobotSecrets, content: str, nonce: str, now_s: int) -> str:
    """The encrypted XML answer WeCom posts into the group (``now_s``: its timestamp, epoch seconds)."""
    assert secrets.wecom_token and secrets.wecom_aes_key
    plain = f"<xml><MsgType>text</MsgType><Text><Content><![CDATA[{content}]]></Content></Text></xml>"
    encrypted = encrypt(secrets.wecom_aes_key, plain, secrets.wecom_receive_id or "")
    stamp = str(now_s)
    sign = signature(secrets.wecom_token, stamp, nonce, encrypted)
    return (
        f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt><MsgSignature><![CDATA[{sign}]]></MsgSignature>"
        f"<TimeStamp>{stamp}</TimeStamp><Nonce><![CDATA[{nonce}]]></Nonce></xml>"
    )


def _encrypted_of(body: bytes) -> str:
    """The ``Encrypt`` of WeCom's XML (or JSON ``encrypt``); XML with a DTD is refused (entity bombs)."""
    text = body.decode(errors="replace").strip()
    if "<!" in text.replace("<![CDATA[", ""):
        raise ValueError("XML declarations are not accepted")
    if text.startswith("{"):
        return str(json.loads(text).get("encrypt") or "")
    return _xml_text(ElementTree.fromstring(text), "Encrypt")


class RobotCallbacks:
    """What the robot routes do, platform by platform: check the signature, read, submit, answer."""

    def __init__(self, intake: Intake, policy: RoutingPolicy, secrets: Callable[[], RobotSecrets]) -> None:
        self.intake = intake
        self.policy = policy
        self.secrets = secrets

    async def submit(self, message: GroupMessage) -> str:
        """The answer to post into the group: the ticket's number, or how to ask."""
        fields = submission_fields(message, self.policy)
        if fields is None:
            return HELP
        channel = Channel.wechat_group.value
        submission = self.intake.validate(fields, channel, f"{message.platform}:{message.msg_id}")
        receipt = await run_in_threadpool(self.intake.submit, submission)
        ticket_id = receipt.submission.ticket_id
        log.info("ticket %s from %s group %r", ticket_id, message.platform, message.group)
        return f"已受理，工单号 {ticket_id}。我们将尽快派单办理，请留意回复。"

    async def dingtalk(self, request: Request, timestamp: str | None, sign: str | None) -> RobotReply:
        secret = self.secrets().dingtalk_app_secret
        if not secret:
            raise HTTPException(404, "未配置钉钉机器人 / ZTC_DINGTALK_APP_SECRET is not set")
        problem = dingtalk_callback_problem(secret, timestamp, sign, self.intake.clock())
        if problem is not None:
            log.warning("DingTalk callback refused: %s", problem)
            raise HTTPException(401, f"钉钉签名无效 / not signed by DingTalk: {problem}")
        try:
            message = dingtalk_message(await read_json_object(request))
        except ValueError as exc:
            return RobotReply.say(f"暂不支持此消息 {exc}")
        return RobotReply.say(await self.submit(message))

    def wecom_secrets(self) -> RobotSecrets:
        found = self.secrets()
        if not found.wecom_token or not found.wecom_aes_key:
            raise HTTPException(404, "未配置企业微信机器人 / ZTC_WECOM_TOKEN, ZTC_WECOM_AES_KEY are not set")
        return found

    def opened(self, encrypted: str, stamp: str, nonce: str, msg_signature: str) -> str:
        """The plaintext of a message WeCom signed, else 401."""
        found = self.wecom_secrets()
        try:
            assert found.wecom_token and found.wecom_aes_key
            check_signature(found.wecom_token, stamp, nonce, encrypted, msg_signature)
            return decrypt(found.wecom_aes_key, encrypted, found.wecom_receive_id)
        except WeComCryptoError as exc:
            log.warning("WeCom callback refused: %s", exc)
            raise HTTPException(401, f"企业微信签名无效 / not from WeCom: {exc}") from None

    async def wecom(self, body: bytes, stamp: str, nonce: str, msg_signature: str) -> Response:
        found = self.wecom_secrets()
        try:
            encrypted = _encrypted_of(body[:MAX_XML_BYTES])
        except (ValueError, ElementTree.ParseError):
            raise HTTPException(401, "企业微信消息无法解析 / not a WeCom callback") from None
        plain = self.opened(encrypted, stamp, nonce, msg_signature)
        try:
            message = wecom_message(plain)
        except (ValueError, ElementTree.ParseError) as exc:
            answer = f"暂不支持此消息 {exc}"
        else:
            answer = await self.submit(message)
        now_s = int(self.intake.clock().timestamp())
        return Response(wecom_reply(found, answer, nonce, now_s), media_type="application/xml")


def robot_router(intake: Intake, policy: RoutingPolicy, secrets: Callable[[], RobotSecrets]) -> APIRouter:
    router = APIRouter(tags=["intake 受理"])
    robots = RobotCallbacks(intake, policy, secrets)

    @router.post("/api/robot/dingtalk", response_model=RobotReply, summary="钉钉机器人回调 / DingTalk robot")
    async def dingtalk(
        request: Request,
        timestamp: Annotated[str | None, Header(max_length=20)] = None,
        sign: Annotated[str | None, Header(max_length=100)] = None,
    ) -> RobotReply:
        return await robots.dingtalk(request, timestamp, sign)

    @router.get("/api/robot/wecom", response_class=PlainTextResponse, summary="企业微信回调校验 / WeCom URL")
    def wecom_check(msg_signature: Param, timestamp: Param, nonce: Param, echostr: Param) -> str:
        return robots.opened(echostr, timestamp, nonce, msg_signature)

    @router.post("/api/robot/wecom", summary="企业微信机器人回调 / WeCom robot")
    async def wecom(request: Request, msg_signature: Param, timestamp: Param, nonce: Param) -> Response:
        return await robots.wecom(await request.body(), timestamp, nonce, msg_signature)

    return router
