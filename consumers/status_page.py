"""The enterprise's status page: one ticket's progress in plain Chinese, behind a signed link.

``GET /status/{token}`` — no account: the token (``schemas.status_links``) is the key to
exactly one ticket, checked with the server's secret alone; an altered, forged or expired
link is 404, like a ticket that does not exist. The page tells the enterprise where its
request stands, in words for the public (no internal notes, bounces, withdrawals or other
tickets — a merged duplicate says only that it was merged), and offers what the enterprise
itself may do now, by the same guards the server applies (``schemas.ticket_state.refusal``):

- ``POST /status/{token}/supply`` — supply the information a department asked for;
- ``POST /status/{token}/rate`` — rate a resolution (不满意 reopens it to the same lead).

Both act through the department client like every other action: ``department`` is
``enterprise`` and ``actor`` is ``ENTERPRISE_ACTOR`` ("企业状态页": whoever holds the link; no
person is identified). The forms carry no CSRF token: nothing here rides on a cookie, the
secret link itself is what a forger would need. Responses are never cached and send no
Referer, so the link does not leak to other sites.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from consumers.attachment_pages import Attachments, takes_attachments
from consumers.department_api import PerformerFactory
from consumers.ticket_store import TicketStore
from consumers.web_sessions import form_lists, form_with_files
from schemas.actions import ACTIONS_BY_NAME, ActionError, ActionSpec
from schemas.attachments import AttachmentRef, AttachmentRefused, attachments_of
from schemas.feedback import ENTERPRISE, InformationSupplied, Rating, SatisfactionRated
from schemas.status_links import STATUS_PREFIX, StatusLinks, token_expiry
from schemas.ticket import HistoryEntry, TicketRecord, TicketStatus
from schemas.ticket_state import TransitionRefused, refusal

log = logging.getLogger(__name__)

ENTERPRISE_ACTOR = "企业状态页"
"""The ``actor`` of what the enterprise does through its link (``department`` is ``enterprise``)."""
WAIT_S = 5.0
NO_STORE = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Frame-Options": "DENY",
}
Names = Callable[[str], str]


# ---------------------------------------------------------------- what the enterprise reads (pure)


@dataclass(frozen=True)
class Step:
    at: datetime
    text: str
    attachments: tuple[AttachmentRef, ...] = ()


def _co(names: Names, codes: list[str] | tuple[str, ...]) -> str:
    return f"，{'、'.join(names(c) for c in codes)}协助" if codes else ""


def _routed(entry: HistoryEntry, names: Names) -> str | None:
    lead, co = entry.details.get("lead_department"), entry.details.get("co_departments") or []
    if lead is None or (entry.event_type == "TicketRouted" and entry.summary.startswith("置信度")):
        return "已受理，正在确定办理部门"
    return f"已交由{names(str(lead))}办理{_co(names, co)}"


def _rated(entry: HistoryEntry) -> str:
    rating = Rating(entry.details.get("rating", Rating.satisfied.value))
    again = "，已退回重新办理" if not rating.closes else ""
    return f"评价：{rating.label}{again}"


def _said(entry: HistoryEntry, prefix: str) -> str:
    """The text after ``prefix：`` in a summary (the note, question or resolution as typed)."""
    return entry.summary.split("：", 1)[1] if "：" in entry.summary else entry.summary.removeprefix(prefix)


def _accepted(entry: HistoryEntry, names: Names) -> str | None:
    if entry.summary.startswith("签收（协办）"):
        return None
    return f"{names(entry.department or '')}已签收，开始办理"


def _supplied(entry: HistoryEntry, names: Names) -> str:
    if entry.department == ENTERPRISE:
        return f"您已补充材料：{_said(entry, '企业已补充材料')}"
    return "已登记您补充的材料"


def _bounced(entry: HistoryEntry, names: Names) -> str | None:
    return None if "（退出协办）" in entry.summary else "正在重新确定办理部门"


def _fixed(text: str) -> Callable[[HistoryEntry, Names], str]:
    return lambda entry, names: text


STEP_TEXTS: dict[str, Callable[[HistoryEntry, Names], str | None]] = {
    "TicketRouted": _routed,
    "TicketDispatched": _routed,
    "TicketAccepted": _accepted,
    "ProgressNoted": lambda entry, names: f"办理进展：{_said(entry, '进展')}",
    "InformationRequested": lambda entry, names: (
        f"需要您补充材料：{entry.details.get('question') or _said(entry, '需企业补充材料')}"
    ),
    "InformationSupplied": _supplied,
    "TicketBounced": _bounced,
    "JointMeetingConvened": _fixed("已召开联席会议，多个部门协同办理"),
    "ExtensionApproved": _fixed("办理期限已延长"),
    "TicketResolved": lambda entry, names: f"已办结：{_said(entry, '办结').split('（协办')[0]}",
    "SatisfactionRated": lambda entry, names: _rated(entry),
    "TicketReopened": _fixed("已安排重新办理"),
    "TicketMerged": _fixed("与另一件相同诉求合并办理，本诉求不再单独办理"),
    "TicketClosedInvalid": _fixed("经核实不属于受理范围，已关闭"),
}
"""What the enterprise reads of each kind of history entry; kinds not here are internal (SLA alerts,
co-departments' work, extensions asked, withdrawals, a duplicate merged into this ticket)."""


def step_text(entry: HistoryEntry, names: Names) -> str | None:
    """What one history entry tells the enterprise, or ``None`` for what is internal."""
    text = STEP_TEXTS.get(entry.event_type)
    return text(entry, names) if text is not None else None


@dataclass(frozen=True)
class EnterpriseView:
    """The status page's content for one ticket."""

    headline: str
    steps: tuple[Step, ...]
    question: str | None
    may_supply: bool
    may_rate: bool
    due_at: datetime | None


def _headline(record: TicketRecord, names: Names) -> str:
    lead, status = names(record.lead_department), record.status
    closure = record.closure
    if closure is not None:
        if closure.merged_into is not None:
            return "您的诉求与另一件相同诉求合并办理，请留意办理部门的联系"
        return "经核实，该诉求不属于受理范围，已关闭"
    headlines = {
        TicketStatus.triage: "已受理，正在确定办理部门",
        TicketStatus.rerouting: "正在重新确定办理部门",
        TicketStatus.routed: f"已交由{lead}办理，等待签收",
        TicketStatus.accepted: f"{lead}正在办理",
        TicketStatus.in_progress: f"{lead}正在办理",
        TicketStatus.awaiting_enterprise: "需要您补充材料，补充后继续办理",
        TicketStatus.resolved: "已办结，请您评价办理结果",
        TicketStatus.closed: "已办结并完成评价，感谢您的反馈",
    }
    return headlines[status]


def _question(record: TicketRecord) -> str | None:
    if record.status is not TicketStatus.awaiting_enterprise:
        return None
    asked = [h for h in record.history if h.event_type == "InformationRequested"]
    return step_text(asked[-1], str) if asked else None


def enterprise_view(record: TicketRecord, names: Names) -> EnterpriseView:
    """What the enterprise reads and may do; ``names`` turns a department code into its name."""
    steps = tuple(
        Step(entry.at, text, attachments_of(entry.details))
        for entry in record.history
        if (text := step_text(entry, names)) is not None
    )
    open_ = record.status not in (TicketStatus.resolved, TicketStatus.closed)
    return EnterpriseView(
        headline=_headline(record, names),
        steps=steps,
        question=_question(record),
        may_supply=refusal(record, InformationSupplied, ENTERPRISE) is None,
        may_rate=refusal(record, SatisfactionRated, ENTERPRISE) is None,
        due_at=record.sla.resolve_due_at if record.sla is not None and open_ else None,
    )


# ---------------------------------------------------------------- routes


class StatusPages:
    """The status page and its two forms, over the ticket store and the department client."""

    def __init__(
        self,
        store: Callable[[], TicketStore],
        performer: PerformerFactory,
        links: Callable[[], StatusLinks],
        templates: Jinja2Templates,
        clock: Callable[[], datetime],
        names: Names,
        attachments: Attachments | None = None,
    ) -> None:
        self.names = names
        self.attachments = attachments
        self.store = store
        self.performer = performer
        self.links = links
        self.templates = templates
        self.clock = clock

    def ticket_id(self, token: str) -> str | None:
        return self.links().ticket_of(token, self.clock())

    def render(self, request: Request, status: int = 200, **context: Any) -> HTMLResponse:
        shown = {"now": self.clock(), "unmask": False, **context}
        response = self.templates.TemplateResponse(request, "status.html", shown, status_code=status)
        response.headers.update(NO_STORE)
        return response

    def not_found(self, request: Request) -> HTMLResponse:
        return self.render(request, 404, record=None)

    def page(self, request: Request, token: str, status: int = 200, **context: Any) -> HTMLResponse:
        ticket_id = self.ticket_id(token)
        if ticket_id is None:
            return self.not_found(request)
        record = self.store().get(ticket_id)
        view = enterprise_view(record, self.names) if record is not None else None
        return self.render(
            request,
            status,
            token=token,
            ticket_id=ticket_id,
            record=record,
            view=view,
            expires_at=token_expiry(token),
            **context,
        )

    def act(
        self,
        request: Request,
        token: str,
        spec: ActionSpec,
        values: dict[str, Any],
        files: tuple[tuple[str, bytes], ...] = (),
    ) -> Response:
        ticket_id = self.ticket_id(token)
        if ticket_id is None:
            return self.not_found(request)
        if self.store().get(ticket_id) is None:
            return self.page(request, token, 409, error="诉求正在受理中，请稍后再试")
        client = self.performer()
        try:
            held = None
            if files and self.attachments is not None and takes_attachments(spec.event):
                held = self.attachments.held(files)
                values = {**values, "attachments": held.refs}
            keep = held.keep if held is not None else None  # kept only once the ticket took the action
            event = client.perform(spec, ticket_id, ENTERPRISE_ACTOR, values, ENTERPRISE, before_publish=keep)
        except AttachmentRefused as exc:
            return self.page(request, token, 422, error=str(exc))
        except ValidationError:
            return self.page(
                request, token, 422, error="请填写完整（内容不能为空，也不能过长）/ please fill in the form"
            )
        except (TransitionRefused, ActionError) as exc:
            return self.page(request, token, 409, error=_chinese(str(exc)))
        log.info("%s: %s by the enterprise (status page)", ticket_id, spec.verb)
        client.wait_recorded(event, timeout_s=WAIT_S)
        response = RedirectResponse(f"{STATUS_PREFIX}{token}?done={spec.verb}#done", status_code=303)
        response.headers.update(NO_STORE)
        return response


def _chinese(reason: str) -> str:
    """The Chinese half of a refusal (``TICKET: english / 中文``), which is what the public reads."""
    return reason.rsplit(" / ", 1)[-1] if " / " in reason else reason


def status_router(pages: StatusPages) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    supply, rate = ACTIONS_BY_NAME["supply_info"], ACTIONS_BY_NAME["rate"]

    @router.get(STATUS_PREFIX + "{token}", response_model=None)
    def status(request: Request, token: str, done: str = "") -> Response:
        return pages.page(request, token, done=done)

    @router.post(STATUS_PREFIX + "{token}/supply", response_model=None)
    async def supplied(request: Request, token: str) -> Response:
        lists, files = await form_with_files(request)
        fields = {k: v[0] for k, v in lists.items()}
        values = {"content": fields.get("content", "").strip() or None}
        return await run_in_threadpool(pages.act, request, token, supply, values, files)

    @router.post(STATUS_PREFIX + "{token}/rate", response_model=None)
    async def rated(request: Request, token: str) -> Response:
        fields = {k: v[0] for k, v in (await form_lists(request)).items()}
        values = {
            "rating": fields.get("rating") or None,
            "comment": fields.get("comment", "").strip() or None,
            "contacted": fields.get("contacted") or None,
            "solved": fields.get("solved") or None,
            "rated_by": ENTERPRISE,
        }
        return await run_in_threadpool(pages.act, request, token, rate, values)

    return router
