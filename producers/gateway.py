"""HTTP intake: ``POST /api/tickets`` and the group robot's ``POST /api/robot/callback``.

The edge translates and validates: a channel's JSON becomes a
``TicketSubmitted`` (``build_submission``), and the answer is 202 only once the
submission is durable (in the Redis outbox, then published with ``acks=all``;
if the broker is down, the outbox relay publishes it later). Retries are safe:
the channel message id (or the ``Idempotency-Key`` header) fixes the ticket id;
the outbox admits a channel message once and the recorder remembers which
ticket it became, so a retry on another day still gets the same id and nothing
is published twice. Invalid (422), oversize (413) or unauthenticated (401)
requests never reach the topic.
"""

import logging
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Self

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from producers.idempotency import InMemoryFingerprints, RequestFingerprints, fingerprint
from producers.publisher import TicketPublisher, build_submission
from schemas.attachments import AttachmentRef, AttachmentRefused
from schemas.events import Channel, TicketSubmitted
from schemas.json_limits import JsonLimitError, loads_limited, parse_json_object
from schemas.principals import Principal
from schemas.principals import Scope as KeyScope
from schemas.status_links import StatusLinks

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
ROBOT_NAME = "@营商直通车"
XML_ROUTES = frozenset({"/api/robot/wecom"})
"""API routes whose body is XML (WeCom's callback), not JSON."""


# ---------------------------------------------------------------- body size


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        detail = f"请求体超过 {limit // 1024} KiB / request body larger than {limit} bytes"
        # the rest of the body is never read: the connection cannot carry another request
        super().__init__(413, detail, headers={"Connection": "close"})


def _wants_json(scope: Scope) -> bool:
    """A request whose body the app will parse as JSON (FastAPI also tries JSON without a content type)."""
    if scope.get("method") not in ("POST", "PUT", "PATCH") or scope["path"] in XML_ROUTES:
        return False
    content_type = dict(scope["headers"]).get(b"content-type", b"").lower()
    return not content_type or b"json" in content_type


def _upload(scope: Scope) -> bool:
    """A multipart form: a page's form with files, or an API upload to ``…/attachments``."""
    content_type = dict(scope["headers"]).get(b"content-type", b"").lower()
    return content_type.startswith(b"multipart/form-data") and (
        not scope["path"].startswith("/api/") or scope["path"].endswith("/attachments")
    )


def _api_body(scope: Scope) -> bool:
    """A request to the JSON API that declares some other kind of body (the dashboard's forms are not API)."""
    declared = dict(scope["headers"]).get(b"content-length", b"0")
    has_body = declared != b"0" or b"chunked" in dict(scope["headers"]).get(b"transfer-encoding", b"")
    if scope["path"] in XML_ROUTES:  # WeCom posts XML
        return False
    return scope.get("method") in ("POST", "PUT", "PATCH") and scope["path"].startswith("/api/") and has_body


class BodyLimit:
    """ASGI middleware: 413 for bodies over the limit; 422 for JSON bodies nobody may parse.

    A JSON body is read whole (it is small: the limit bounds it) and checked once
    against the parse limits (size, nesting depth, length of number literals)
    before any handler sees it, so deep or enormous JSON is a clear 422 on every
    route, never a crash or a 500 in a parser.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES, upload_limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        limit = self.upload_limit if _upload(scope) else self.limit
        if not declared.isdigit() or int(declared) > limit:
            error = (
                BodyTooLarge(limit)
                if declared.isdigit()
                else HTTPException(400, "Content-Length 无效 / bad Content-Length")
            )
            await self._answer(scope, receive, send, error.status_code, error.detail, close=True)
            return
        if _wants_json(scope):
            await self._checked_json(scope, receive, send)
            return
        if _api_body(scope) and not _upload(scope):
            detail = "请以 JSON 提交 / the API takes JSON bodies: Content-Type: application/json"
            await self._answer(scope, receive, send, 415, detail, close=True)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited, send)

    async def _checked_json(self, scope: Scope, receive: Receive, send: Send) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = bool(message.get("more_body", False))
            if len(body) > self.limit:
                await self._answer(scope, receive, send, 413, BodyTooLarge(self.limit).detail, close=True)
                return
        if body:
            try:
                loads_limited(body, max_bytes=self.limit)
            except JsonLimitError as exc:
                detail = [_error(("body",), str(exc), "json_invalid")]
                await self._answer(scope, receive, send, 422, detail)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    @staticmethod
    async def _answer(
        scope: Scope, receive: Receive, send: Send, status: int, detail: Any, close: bool = False
    ) -> None:
        headers = {"Connection": "close"} if close else None
        await JSONResponse({"detail": detail}, status_code=status, headers=headers)(scope, receive, send)


async def read_json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object, or 422 saying why not (size and limits were checked by ``BodyLimit``)."""
    try:
        return parse_json_object(await request.body(), max_bytes=MAX_BODY_BYTES)
    except JsonLimitError as exc:
        kind = "object_type" if "object" in str(exc) else "json_invalid"
        raise _unprocessable([_error(("body",), str(exc), kind)]) from None


def _error(loc: tuple[str | int, ...], msg: str, kind: str) -> dict[str, Any]:
    return {"loc": list(loc), "msg": msg, "type": kind}


_REUSED_KEY = _error(
    ("header", "Idempotency-Key"),
    "该幂等键已用于内容不同的请求，请换一个新键 / this Idempotency-Key was used with a different request "
    "body; a new request needs a new key",
    "idempotency_key_reused",
)


def _unprocessable(errors: list[dict[str, Any]]) -> HTTPException:
    return HTTPException(status_code=422, detail=errors)


def _verified(
    verify: Callable[[Iterable[AttachmentRef]], object] | None, refs: Iterable[AttachmentRef]
) -> None:
    if verify is None:
        raise _unprocessable(
            [_error(("body", "attachments"), "attachments are not accepted here", "attachments")]
        )
    try:
        verify(refs)
    except AttachmentRefused as exc:
        raise _unprocessable([_error(("body", "attachments"), str(exc), "attachments")]) from None


# ---------------------------------------------------------------- models


class TicketIn(BaseModel):
    """诉求：渠道提交的工单字段 / a ticket as a channel submits it (ids and times are ZTC's)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "channel_message_id": "web-20261128-0001",
                    "enterprise_name": "康杰药业",
                    "contact": "苏超 138****0000",
                    "street": "李村街道",
                    "project_name": "康杰药业项目",
                    "title": "土石方施工许可证办理求助",
                    "text": "项目急需办理土石方施工许可证，材料繁多，希望帮忙对接梳理审批手续。",
                }
            ]
        },
    )

    channel: Channel | None = Field(
        default=None, description="渠道；须与密钥所属渠道一致 / must match the key"
    )
    channel_message_id: str | None = Field(
        default=None, description="渠道消息号，重试时保持不变 / your message id: the same on retries"
    )
    enterprise_name: str | None = Field(default=None, description="企业名称 / enterprise name")
    credit_code: str | None = Field(default=None, description="统一社会信用代码 / unified social credit code")
    contact: str | None = Field(default=None, description="联系人 / contact")
    street: str | None = Field(default=None, description="所在街道 / street, e.g. 兴城路街道")
    project_name: str | None = Field(default=None, description="项目名称 / project name")
    title: str | None = Field(
        default=None, description="标题；缺省取诉求前 30 字 / title (default: start of text)"
    )
    text: str = Field(description="诉求内容 / the request")
    attachments: list[AttachmentRef] = Field(
        default_factory=list,
        description="附件：先 POST /api/attachments 上传，再列出其返回值 / files uploaded first, as answered",
    )


class SubmissionReceipt(BaseModel):
    ticket_id: str = Field(examples=["ZTC-20261128-1C2D3E4F"])
    duplicate: bool = Field(description="重复提交，返回已有工单号 / a retry: the existing ticket id")
    message: str = Field(examples=["已受理 / accepted"])
    status_url: str | None = Field(
        default=None,
        description="企业查看进度、补充材料、评价的链接（无需账号，勿转发）/ the enterprise's status page: "
        "progress, supplying information, rating; no account needed, whoever holds it may use it",
        examples=[
            "https://ztc.example.gov.cn/status/ZTC-20261128-1C2D3E4F.1803456000.q7Xb2mD0c4T1kLw9pZs3aA"
        ],
    )
    status_expires_at: AwareDatetime | None = Field(
        default=None, description="链接有效期至 / the link's expiry"
    )


class RobotCallback(BaseModel):
    """群机器人消息回调 / a group-chat robot's message callback."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "msg_id": "wx-msg-7730001",
                    "group": "李村街道企业服务群",
                    "sender": "康杰药业 苏超",
                    "text": "@营商直通车 项目急需办理土石方施工许可证，希望帮忙梳理审批手续",
                }
            ]
        },
    )

    msg_id: str = Field(min_length=1, max_length=200, description="消息号 / message id")
    group: str = Field(default="", max_length=200, description="群名 / group")
    sender: str = Field(default="", max_length=200, description="发送人 / sender")
    text: str = Field(max_length=6000, description="消息内容 / message text")


class RobotText(BaseModel):
    content: str


class RobotReply(BaseModel):
    """机器人回复 / the robot-message answer."""

    msgtype: str = "text"
    text: RobotText

    @classmethod
    def say(cls, content: str) -> Self:
        return cls(text=RobotText(content=content))


def body_schemas() -> dict[str, Any]:
    """JSON Schemas of the bodies read by hand (for size limits), for the OpenAPI components."""
    out: dict[str, Any] = {}
    for model in (TicketIn, RobotCallback):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        out.update(schema.pop("$defs", {}))
        out[model.__name__] = schema
    return out


# ---------------------------------------------------------------- intake


@dataclass(frozen=True)
class Receipt:
    submission: TicketSubmitted
    duplicate: bool


class Intake:
    """Validate, admit once per channel message (durably, in the outbox), publish."""

    def __init__(
        self,
        publisher: Callable[[], TicketPublisher],
        clock: Callable[[], datetime],
        fingerprints: RequestFingerprints | None = None,
    ) -> None:
        self.publisher = publisher
        self.clock = clock
        self.fingerprints = fingerprints or InMemoryFingerprints()
        """what the first request under each Idempotency-Key said (``producers.idempotency``)"""

    def validate(self, body: dict[str, Any], channel: str, idempotency_key: str | None) -> TicketSubmitted:
        """A submission from the body, or 422 listing every field error."""
        errors: list[dict[str, Any]] = []
        try:
            TicketIn.model_validate(body)
        except ValidationError as exc:
            errors += [_error(("body", *e["loc"]), e["msg"], e["type"]) for e in exc.errors()]
        if body.get("channel") not in (None, channel):
            errors.append(_error(("body", "channel"), f"this key submits for channel {channel!r}", "channel"))
        fields = {k: v for k, v in body.items() if k in TicketIn.model_fields}
        fields["channel"] = channel
        if idempotency_key is not None and not idempotency_key.strip():
            errors.append(
                _error(("header", "Idempotency-Key"), "空白的幂等键 / the Idempotency-Key is blank", "blank")
            )
        elif idempotency_key is not None:
            fields["channel_message_id"] = idempotency_key
            if not errors and self.fingerprints.remember(channel, idempotency_key, fingerprint(body)) != (
                fingerprint(body)
            ):
                errors.append(_REUSED_KEY)
        try:
            submission = build_submission(fields, self.clock())
        except ValidationError as exc:
            seen = {tuple(e["loc"]) for e in errors}
            for e in exc.errors():
                loc = ("body", *e["loc"])
                if loc not in seen:
                    errors.append(_error(loc, e["msg"], e["type"]))
        if errors:
            raise _unprocessable(errors)
        return submission

    def submit(self, submission: TicketSubmitted) -> Receipt:
        """Admit and publish once per channel message; a retry gets the first ticket id back.

        The answer comes once the submission is durable in the outbox; the broker
        normally has it too, and if not, the relay publishes it later."""
        admission = self.publisher().publish(submission)
        if admission.ticket_id != submission.ticket_id:
            submission = submission.model_copy(update={"ticket_id": admission.ticket_id})
        return Receipt(submission, duplicate=not admission.new)


# ---------------------------------------------------------------- routes


def _require_channel(principal: Principal, channel: str | None = None) -> str:
    if principal.scope is not KeyScope.channel or principal.channel is None:
        raise HTTPException(403, "此密钥不能提交工单 / this key cannot submit tickets")
    if channel is not None and principal.channel != channel:
        raise HTTPException(403, f"此密钥不属于渠道 {channel} / this key is not for channel {channel}")
    return principal.channel


def robot_text(text: str) -> str | None:
    """The request in a message addressed to the robot ("@营商直通车 ..."), else None."""
    message = unicodedata.normalize("NFKC", text).strip()
    name = unicodedata.normalize("NFKC", ROBOT_NAME)
    if not message.startswith(name):
        return None
    return message[len(name) :].lstrip(" :：,，").strip()


def gateway_router(
    intake: Intake,
    principal: Callable[..., Principal],
    links: Callable[[], StatusLinks] | None = None,
    street_of_group: Callable[[str], str | None] | None = None,
    verify_attachments: Callable[[Iterable[AttachmentRef]], object] | None = None,
) -> APIRouter:
    """The intake routes; ``links``: the enterprise status links a receipt carries (none without);
    ``street_of_group``: the street a chat group belongs to (by the policy);
    ``verify_attachments``: checks the files a submission lists were uploaded (none accepted without)."""
    router = APIRouter(tags=["intake 受理"])
    Who = Annotated[Principal, Depends(principal)]
    problems: dict[int | str, dict[str, Any]] = {
        401: {"description": "缺少或无效的 API 密钥 / missing or unknown key"},
        413: {"description": "请求体过大 / body too large"},
        422: {"description": "字段校验失败，列出全部错误 / every field error"},
    }

    @router.post(
        "/api/tickets",
        status_code=202,
        response_model=SubmissionReceipt,
        summary="提交诉求 / submit a ticket",
        response_description="已受理，已写入消息队列 / accepted: the broker has the ticket",
        responses={200: {"model": SubmissionReceipt, "description": "重复提交 / a retry"}, **problems},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TicketIn"}}},
            }
        },
    )
    async def submit_ticket(
        request: Request,
        who: Who,
        idempotency_key: Annotated[
            str | None, Header(max_length=200, description="幂等键：重试时保持不变 / the same on retries")
        ] = None,
    ) -> JSONResponse:
        channel = _require_channel(who)
        body = await read_json_object(request)
        submission = intake.validate(body, channel, idempotency_key)
        if submission.attachments:
            await run_in_threadpool(_verified, verify_attachments, submission.attachments)
        receipt = await run_in_threadpool(intake.submit, submission)
        log.info(
            "ticket %s from %s (%s)", submission.ticket_id, who.name, "retry" if receipt.duplicate else "new"
        )
        ticket_id = receipt.submission.ticket_id
        link = links().link(ticket_id, intake.clock()) if links is not None else None
        out = SubmissionReceipt(
            ticket_id=ticket_id,
            duplicate=receipt.duplicate,
            message="已受理（重复提交） / already accepted" if receipt.duplicate else "已受理 / accepted",
            status_url=link.url if link else None,
            status_expires_at=link.expires_at if link else None,
        )
        return JSONResponse(out.model_dump(mode="json"), status_code=200 if receipt.duplicate else 202)

    @router.post(
        "/api/robot/callback",
        response_model=RobotReply,
        summary="群机器人回调 / group robot callback",
        response_description="机器人回复消息 / the robot's reply",
        responses=problems,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RobotCallback"}}},
            }
        },
    )
    async def robot_callback(request: Request, who: Who) -> RobotReply:
        channel = _require_channel(who, Channel.wechat_group.value)
        body = await read_json_object(request)
        try:
            message = RobotCallback.model_validate(body)
        except ValidationError as exc:
            raise _unprocessable(
                [_error(("body", *e["loc"]), e["msg"], e["type"]) for e in exc.errors()]
            ) from None
        text = robot_text(message.text)
        if text is None:
            return RobotReply.say("您好，如需反映诉求，请发送“@营商直通车 + 问题描述”。")
        if not text:
            return RobotReply.say("您好，请在“@营商直通车”后写明遇到的问题，我们会尽快派单办理。")
        fields = {"text": text, "contact": message.sender or None, "title": text.splitlines()[0][:30]}
        street = street_of_group(message.group) if street_of_group is not None else None
        if street:
            fields["street"] = street
        submission = intake.validate(fields, channel, message.msg_id)
        receipt = await run_in_threadpool(intake.submit, submission)
        return RobotReply.say(
            f"已受理，工单号 {receipt.submission.ticket_id}。我们将尽快派单办理，请留意回复。"
        )

    return router
