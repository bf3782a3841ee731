"""The department inbox (``/work``) and the office's desk (``/desk``): lists people work from.

``/work`` shows one department's tickets by bucket (new, in progress, awaiting
the enterprise, co-handling), each with its deadline and the working time left
(or by how much it is late), most urgent first; filters for overdue, category,
priority and routing day, a search (a ticket id in any case opens it; other
words are looked for in the enterprise's name, credit code, title and text),
and pages of ``PAGE_SIZE``. Department people see their own department's
inbox; office people any department's, the office's own (the triage queue) by
default. Every list is read from the sorted inbox indexes
(``consumers.inbox_index``): a page costs the same with 100 tickets or 100,000.

``/desk`` is the office's triage queue with the router's suggestion and why,
and every department's bucket sizes; the office's decisions (dispatch, merge,
close, …) are the forms of each ticket's page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from consumers.accounts import Viewer
from consumers.dashboard import local
from consumers.inbox_index import InboxIndex, InboxPage, InboxQuery, inbox_page
from consumers.list_export import XLSX_TYPE, download_headers, workbook_bytes
from consumers.sla_engine import SlaBook, in_business_time, sla_status
from consumers.ticket_store import TicketStore
from consumers.web_sessions import WebSessions
from schemas.accounts import Role, sees_ticket
from schemas.business_calendar import business_seconds_between
from schemas.events import DISTRICT_ZONE, Priority
from schemas.feedback import OFFICE
from schemas.policy import RoutingPolicy
from schemas.privacy import mask_personal
from schemas.sla import SlaStage
from schemas.ticket import InboxBucket, TicketRecord
from schemas.ticket_ids import canonical_ticket_id
from schemas.ticket_state import inbox_deadline

EXPORT_LIMIT = 5_000
"""At most this many rows in one exported file."""
EXPORT_WALK = 20_000
"""At most this many index entries looked at for one export with a filter the index does not hold."""
EXPORT_HEADERS = (
    "工单号 Ticket",
    "标题 Title",
    "企业 Enterprise",
    "统一社会信用代码 Credit code",
    "类别 Category",
    "优先级 Priority",
    "角色 Role",
    "状态 Status",
    "受理时间 Routed",
    "期限 Due",
    "剩余时间 Time left",
)
QUERY_FIELDS = ("department", "bucket", "order", "overdue", "category", "priority", "from", "to", "q")


def countdown(seconds: int) -> str:
    """Working time as people read a countdown: 3小时05分, 42分 (no days: working days differ)."""
    hours, rest = divmod(abs(seconds), 3600)
    return f"{hours}小时{rest // 60:02d}分" if hours else f"{rest // 60}分"


@dataclass(frozen=True)
class Row:
    """One ticket of a list, as the page shows it for one department."""

    record: TicketRecord
    deadline: datetime
    overdue: bool
    working_left: str
    """the working time left, or by how much the deadline was missed"""
    role: str


def time_between(record: TicketRecord, deadline: datetime, a: datetime, b: datetime, book: SlaBook) -> int:
    """Seconds from ``a`` to ``b`` as the deadline's stage counts them: working time for a target in
    working days or hours, the wall clock for one in hours or minutes."""
    clock = record.sla
    if clock is not None:
        stage = SlaStage.accept if deadline == clock.accept_due_at else SlaStage.resolve
        if not in_business_time(clock, stage, book):
            return int((b - a).total_seconds())
    return business_seconds_between(a, b, book.calendar)


def row_for(record: TicketRecord, department: str, book: SlaBook, now: datetime) -> Row:
    deadline = inbox_deadline(record, department)
    late = now > deadline
    a, b = (deadline, now) if late else (now, deadline)
    left = countdown(time_between(record, deadline, a, b, book))
    assignment = record.current_assignment(department)
    role = assignment.role.label if assignment is not None else "—"
    return Row(record, deadline, late, f"超期 {left}" if late else f"剩 {left}", role)


def _day(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise HTTPException(400, f"日期格式无效 not a date: {text!r} (e.g. 2026-11-28)") from None


def parse_query(params: dict[str, str]) -> InboxQuery:
    """The page's query string as an ``InboxQuery`` (400 with the reason for a bad value)."""
    try:
        bucket = InboxBucket(params.get("bucket") or InboxBucket.new.value)
        priority = Priority(params["priority"]) if params.get("priority") else None
        start = int(params.get("start") or 0)
    except ValueError as exc:
        raise HTTPException(400, f"参数无效 invalid parameter: {exc}") from None
    return InboxQuery(
        bucket=bucket,
        latest_first=params.get("order") == "latest",
        overdue=params.get("overdue") == "1",
        category=params.get("category") or None,
        priority=priority,
        routed_from=_day(params.get("from")),
        routed_to=_day(params.get("to")),
        words=(params.get("q") or "").strip(),
        start=max(0, start),
    )


def link(path: str, params: dict[str, str], **changes: Any) -> str:
    """``path`` with the page's filters and ``changes`` (a blank value drops the field)."""
    kept = {k: params[k] for k in QUERY_FIELDS if params.get(k)}
    kept.update({k: str(v) for k, v in changes.items()})
    shown = {k: v for k, v in kept.items() if v not in ("", "None")}
    return f"{path}?{urlencode(shown)}" if shown else path


class WorkPages:
    """The two list pages for the person signed in."""

    def __init__(
        self,
        store: Callable[[], TicketStore],
        inboxes: Callable[[], InboxIndex],
        policy: RoutingPolicy,
        clock: Callable[[], datetime],
        templates: Jinja2Templates,
    ) -> None:
        self.store = store
        self.inboxes = inboxes
        self.policy = policy
        self.book = SlaBook(policy)
        self.clock = clock
        self.templates = templates
        self.choices: dict[str, Any] = {
            "buckets": list(InboxBucket),
            "priorities": list(Priority),
            "categories": [(c.code, c.name) for c in policy.categories],
            "departments": [(d.code, d.name) for d in policy.departments],
        }

    def department_of(self, viewer: Viewer, asked: str | None) -> str:
        """The inbox shown: a department person's own; for the office, the one asked for (its own by
        default). Another department's inbox asked by a department person is 404, like its tickets."""
        own = viewer.account.department
        if viewer.account.role.of_office:
            wanted = asked or OFFICE
            if wanted != OFFICE and wanted not in self.policy.department_codes:
                raise HTTPException(404, "没有这个部门 / no such department")
            return wanted
        if own is None or (asked and asked != own):
            raise HTTPException(404, "没有这个收件箱 / no such inbox")
        return own

    def page(self, department: str, query: InboxQuery) -> InboxPage:
        store = self.store()
        return inbox_page(self.inboxes(), store.get_many, department, query, self.clock())

    def rows(self, viewer: Viewer, department: str, page: InboxPage) -> list[Row]:
        now = self.clock()
        return [
            row_for(r, department, self.book, now) for r in page.records if sees_ticket(viewer.account, r)
        ]

    def opened(self, viewer: Viewer, words: str) -> str | None:
        """The ticket page to open when the search is a ticket id the viewer may see."""
        if not words or " " in words or words[:4].upper() != "ZTC-":
            return None
        record = self.store().get(canonical_ticket_id(words))
        if record is None or not sees_ticket(viewer.account, record):
            return None  # another department's ticket is not found, exactly like a missing one
        return f"/dashboard/tickets/{quote(record.ticket_id)}"

    def everything(self, viewer: Viewer, department: str, query: InboxQuery) -> list[Row]:
        """Every ticket of the list (filters kept, from its first page), up to ``EXPORT_LIMIT``; a
        filter the index does not hold looks at no more than ``EXPORT_WALK`` entries."""
        rows: list[Row] = []
        query = replace(query, start=0, size=500)
        looked = 0
        while len(rows) < EXPORT_LIMIT and looked < EXPORT_WALK:
            found = self.page(department, query)
            rows += self.rows(viewer, department, found)
            looked += found.examined
            if found.next_start is None:
                break
            query = query.at(found.next_start)
        return rows[:EXPORT_LIMIT]

    def render(self, request: Request, name: str, viewer: Viewer, **context: Any) -> HTMLResponse:
        shown = {"now": self.clock(), "viewer": viewer, "unmask": False, **self.choices, **context}
        return self.templates.TemplateResponse(request, name, shown)


def signed_reader(sessions: WebSessions, request: Request) -> Viewer | Response:
    """The person signed in who reads tickets; else a redirect (to sign in, or an admin's home)."""
    viewer = sessions.viewer(request)
    if viewer is None:
        return sessions.login_redirect(request)
    if viewer.account.role is Role.admin:
        return RedirectResponse("/admin/users", status_code=303)
    return viewer


def work_router(pages: WorkPages, sessions: WebSessions) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    policy = pages.policy

    def reader(request: Request) -> Viewer | Response:
        return signed_reader(sessions, request)

    @router.get("/work", response_model=None)
    def work(request: Request) -> Response:
        if not isinstance(viewer := reader(request), Viewer):
            return viewer
        params = dict(request.query_params)
        department = pages.department_of(viewer, params.get("department") or None)
        query = parse_query(params)
        if (target := pages.opened(viewer, query.words)) is not None:
            return RedirectResponse(target, status_code=303)
        found = pages.page(department, query)
        return pages.render(
            request,
            "work.html",
            viewer,
            department=department,
            counts=pages.inboxes().counts([department])[department],
            query=query,
            page=found,
            rows=pages.rows(viewer, department, found),
            params=params,
            link=lambda **changes: link("/work", params, **changes),
            export=link("/work.xlsx", {**params, "department": department}, start=""),
        )

    @router.get("/desk", response_model=None)
    def desk(request: Request) -> Response:
        if not isinstance(viewer := reader(request), Viewer):
            return viewer
        if not viewer.account.role.of_office:
            raise HTTPException(404, "仅区政府办公室可见 / the office's page")
        params = dict(request.query_params)
        query = parse_query({**params, "bucket": InboxBucket.new.value})
        found = pages.page(OFFICE, query)
        counts = pages.inboxes().counts(policy.department_codes)
        return pages.render(
            request,
            "desk.html",
            viewer,
            page=found,
            rows=pages.rows(viewer, OFFICE, found),
            params=params,
            link=lambda **changes: link("/desk", params, **changes),
            export=link("/work.xlsx", {**params, "department": OFFICE, "bucket": "new"}, start=""),
            suggested=lambda code: c.lead if (c := policy.category(code)) else None,
            departments=[(d.code, d.name, counts[d.code]) for d in policy.departments],
        )

    return router


def export_cells(row: Row, category: Callable[[str], str]) -> list[str]:
    """One exported row, as the list page shows it (personal numbers masked)."""
    r = row.record
    s = r.submission
    return [
        r.ticket_id,
        mask_personal(s.title),
        mask_personal(s.enterprise_name or ""),
        s.credit_code or "",
        category(r.category),
        r.priority.label,
        row.role,
        r.status_label,
        local(r.routed_at),
        local(row.deadline),
        row.working_left,
    ]


def export_router(pages: WorkPages, sessions: WebSessions) -> APIRouter:
    """``/work.xlsx``: the list ``/work`` shows with the same query, every page of it, as Excel."""
    router = APIRouter(include_in_schema=False)
    names = {c.code: c.name for c in pages.policy.categories}

    @router.get("/work.xlsx", response_model=None)
    def export(request: Request) -> Response:
        if not isinstance(viewer := signed_reader(sessions, request), Viewer):
            return viewer
        params = dict(request.query_params)
        department = pages.department_of(viewer, params.get("department") or None)
        query = parse_query(params)
        rows = pages.everything(viewer, department, query)
        cells = [export_cells(row, lambda code: names.get(code, code)) for row in rows]
        day = pages.clock().astimezone(DISTRICT_ZONE).strftime("%Y%m%d")
        body = workbook_bytes(f"{department} {query.bucket.value}", EXPORT_HEADERS, cells)
        filename = f"收件箱-{department}-{query.bucket.value}-{day}.xlsx"
        return Response(body, media_type=XLSX_TYPE, headers=download_headers(filename))

    return router


@dataclass(frozen=True)
class LateStage:
    """An overdue stage on the 督办单: what, its deadline, by how much working time it is late."""

    stage: SlaStage
    due_at: datetime
    late_by: str


def late_stages(record: TicketRecord, book: SlaBook, now: datetime) -> list[LateStage]:
    return [
        LateStage(s.stage, s.due_at, countdown(time_between(record, s.due_at, s.due_at, now, book)))
        for s in sla_status(record, book, now)
        if s.overdue
    ]


def notice_router(pages: WorkPages, sessions: WebSessions) -> APIRouter:
    """``/dashboard/tickets/{id}/notice``: the printable 督办单 (supervision notice) of a ticket."""
    router = APIRouter(include_in_schema=False)

    @router.get("/dashboard/tickets/{ticket_id}/notice", response_model=None)
    def notice(request: Request, ticket_id: str) -> Response:
        if not isinstance(viewer := signed_reader(sessions, request), Viewer):
            return viewer
        record = pages.store().get(ticket_id)
        if record is None or not sees_ticket(viewer.account, record):
            raise HTTPException(404, "工单不存在 / no such ticket")
        late = late_stages(record, pages.book, pages.clock())
        return pages.render(request, "notice.html", viewer, record=record, late=late)

    return router
