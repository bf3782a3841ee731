"""Supervision dashboard (督办看板): server-rendered pages, readable without JavaScript.

Figures come from the read model the recorder keeps next to the tickets, through
``consumers.views`` (a page never reads every ticket); this module renders
Jinja2 templates with an inline SVG chart for the person signed in
(``consumers.web_sessions``). Office people see every ticket; department people
only their department's (another's ticket is 404, as in the API) and its own
overdue groups; an administrator manages accounts and reads no tickets.
Every free text a template shows goes through the ``personal`` filter: phone and
ID-card numbers masked, unless the policy's ``[privacy]`` lets the reader's
role on the ticket see them (on lists: the office's role, else masked).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context

from consumers import views
from consumers.accounts import Viewer
from consumers.enterprise_files import enterprise_file
from consumers.supervision import DailyCounts, parse_period
from consumers.ticket_store import TicketStore
from consumers.web_sessions import WebSessions
from schemas.accounts import Role, allowed_now, sees_ticket
from schemas.actions import ACTIONS, ActionSpec
from schemas.attachments import attachments_of
from schemas.events import DISTRICT_ZONE
from schemas.labels import event_label, readable_summary, tier_label
from schemas.policy import PrivacyRole, RoutingPolicy
from schemas.privacy import mask_personal, reader_roles, shows_personal_data
from schemas.ticket import TicketRecord

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442")
"""Okabe–Ito colours, told apart also with colour-blindness; categories beyond them are 其他."""
OTHERS_COLOUR = "#8c8c8c"
OTHERS = "其他 others"


# ---------------------------------------------------------------- presentation helpers (pure)


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: tuple[Bar, ...]
    x_labels: tuple[tuple[float, str], ...]
    y_ticks: tuple[tuple[float, int], ...]
    legend: tuple[tuple[str, str], ...]
    plot_bottom: float
    plot_left: float


def bar_chart(daily: DailyCounts, names: dict[str, str], width: int = 760, height: int = 260) -> Chart:
    """Stacked bars, one per day, one colour per category: geometry for an inline SVG."""
    left, right, top, bottom = 36.0, 8.0, 10.0, height - 28.0
    peak = max((daily.total(d) for d in daily.days), default=0) or 1
    step = (width - left - right) / max(len(daily.days), 1)
    daily = fold_rare_categories(daily, len(PALETTE))
    colour = {c: PALETTE[i] if i < len(PALETTE) else OTHERS_COLOUR for i, c in enumerate(daily.categories)}
    bars: list[Bar] = []
    for i, day in enumerate(daily.days):
        y = bottom
        for category in daily.categories:
            count = daily.counts.get((day, category), 0)
            if count:
                h = (bottom - top) * count / peak
                y -= h
                label = f"{day.isoformat()} {names.get(category, category)}: {count}"
                bars.append(Bar(left + i * step + step * 0.1, y, step * 0.8, h, colour[category], label))
    every = max(1, len(daily.days) // 10)
    x_labels = tuple(
        (left + i * step + step / 2, d.strftime("%m-%d")) for i, d in enumerate(daily.days) if i % every == 0
    )
    tick_step = max(1, -(-peak // 4))
    y_ticks = tuple((bottom - (bottom - top) * v / peak, v) for v in range(0, peak + 1, tick_step))
    legend = tuple((names.get(c, c), colour[c]) for c in daily.categories)
    return Chart(width, height, tuple(bars), x_labels, y_ticks, legend, bottom, left)


def fold_rare_categories(daily: DailyCounts, keep: int) -> DailyCounts:
    """At most ``keep`` categories (the most frequent, as ``daily`` orders them) and 其他 for the rest,
    so every colour on the chart stands for one thing."""
    if len(daily.categories) <= keep:
        return daily
    kept = set(daily.categories[:keep])
    counts: dict[tuple[date, str], int] = {}
    for (day, category), n in daily.counts.items():
        key = (day, category if category in kept else OTHERS)
        counts[key] = counts.get(key, 0) + n
    return DailyCounts(daily.days, (*daily.categories[:keep], OTHERS), counts)


def duration(value: timedelta | None) -> str:
    """A short Chinese duration: 2天3小时, 4小时5分, 38秒."""
    if value is None:
        return "—"
    seconds = int(abs(value.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}天{hours}小时"
    if hours:
        return f"{hours}小时{minutes}分"
    return f"{minutes}分{secs}秒" if minutes else f"{secs}秒"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def local(moment: datetime | None) -> str:
    return "—" if moment is None else moment.astimezone(DISTRICT_ZONE).strftime("%Y-%m-%d %H:%M")


def personal_filter(policy: RoutingPolicy) -> Callable[..., Any]:
    """The ``personal`` Jinja filter: text unmasked only if the page's ``unmask`` says so (a ticket page
    sets it from the reader's roles on the ticket), else as the office may read it."""
    office = shows_personal_data(policy.privacy, (PrivacyRole.office,))

    @pass_context
    def personal(context: Context, value: Any) -> Any:
        unmask = context.get("unmask")
        if (office if unmask is None else unmask) or not isinstance(value, str):
            return value
        return mask_personal(value)

    return personal


def make_templates(policy: RoutingPolicy) -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES))
    env = templates.env
    levels = {0: "未升级", **{level.level: level.label for level in policy.sla.escalation}}
    departments = {d.code: d.name for d in policy.departments}
    categories = {c.code: c.name for c in policy.categories}
    env.filters.update(
        duration=duration,
        percent=percent,
        local=local,
        personal=personal_filter(policy),
        readable=lambda summary: readable_summary(summary, departments, categories),
    )
    env.globals.update(
        tier_label=lambda name: tier_label(policy.sla, name),
        event_label=event_label,
        dept=lambda code: d.name if (d := policy.department(code)) else code,
        category=lambda code: c.name if (c := policy.category(code)) else code,
        level_label=lambda level: levels.get(level, f"{level}级"),
        key_projects=[p.name for p in policy.key_projects],
        department_codes=policy.department_codes,
        attached=lambda entry: attachments_of(entry.details),
        attachment_rules=None,
    )
    return templates


# ---------------------------------------------------------------- routes


def unmasked_for(viewer: Viewer, record: TicketRecord, policy: RoutingPolicy) -> bool:
    department = viewer.account.acting_department or ""
    roles = reader_roles(record, department, is_office=viewer.account.role.of_office)
    return shows_personal_data(policy.privacy, roles)


class TicketPage:
    """The ticket page for one viewer, with the action forms their role and the ticket's state allow
    (also after a refusal): a form the server would refuse whatever is typed is not shown."""

    def __init__(
        self, templates: Jinja2Templates, policy: RoutingPolicy, clock: Callable[[], datetime]
    ) -> None:
        self.templates = templates
        self.policy = policy
        self.clock = clock
        self.actions: tuple[ActionSpec, ...] = tuple(a for a in ACTIONS if a.http_path is not None)

    def render(
        self,
        request: Request,
        viewer: Viewer,
        ticket_id: str,
        record: TicketRecord | None,
        status: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        if record is None or not sees_ticket(viewer.account, record):
            record, status = None, 404  # never say that another department's ticket exists
        forms = allowed_now(viewer.account, record, self.actions) if record is not None else []
        shown = {
            "now": self.clock(),
            "viewer": viewer,
            "record": record,
            "ticket_id": ticket_id,
            "forms": forms,
            "unmask": record is not None and unmasked_for(viewer, record, self.policy),
            **context,
        }
        return self.templates.TemplateResponse(request, "ticket.html", shown, status_code=status)


def as_of(text: str | None, viewer: Viewer, clock_now: datetime) -> datetime:
    """The moment the overview is judged at: ``?now=ISO`` for the office's people (drills), else the clock.

    The same question ``ztc overdue --now ISO`` answers, from the same read model; a department's
    people get 403 (their page always shows the present)."""
    if text is None:
        return clock_now
    if not viewer.account.role.of_office:
        raise HTTPException(403, "仅区政府办公室可按指定时刻查看 / only the office may view another moment")
    try:
        moment = datetime.fromisoformat(text.strip().replace(" ", "+"))
    except ValueError:
        example = "2026-12-12T10:00+08:00"
        raise HTTPException(400, f"时刻格式无效 not an ISO time: {text!r} (e.g. {example})") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=DISTRICT_ZONE)


def dashboard_router(
    store: Callable[[], TicketStore],
    policy: RoutingPolicy,
    clock: Callable[[], datetime],
    sessions: WebSessions,
    templates: Jinja2Templates,
) -> APIRouter:
    router = APIRouter(tags=["dashboard 督办看板"], include_in_schema=False)
    category_names = {c.code: c.name for c in policy.categories}
    tickets = TicketPage(templates, policy, clock)

    def page(request: Request, name: str, viewer: Viewer, status: int = 200, **context: Any) -> HTMLResponse:
        shown = {"now": clock(), "viewer": viewer, **context}
        return templates.TemplateResponse(request, name, shown, status_code=status)

    def reader(request: Request) -> Viewer | Response:
        """The person signed in who reads tickets; else a redirect (to sign in, or an admin home)."""
        viewer = sessions.viewer(request)
        if viewer is None:
            return sessions.login_redirect(request)
        if viewer.account.role is Role.admin:
            return RedirectResponse("/admin/users", status_code=303)
        return viewer

    def own(viewer: Viewer, records: list[TicketRecord]) -> list[TicketRecord]:
        return [r for r in records if sees_ticket(viewer.account, r)]

    @router.get("/", include_in_schema=False)
    def root() -> Response:
        return RedirectResponse("/dashboard", status_code=303)

    @router.get("/dashboard", response_model=None)
    def overview(request: Request) -> Response:
        if not isinstance(viewer := reader(request), Viewer):
            return viewer
        params = request.query_params
        now = as_of(params.get("now") or None, viewer, clock())
        try:
            period = parse_period(
                params.get("from") or None, params.get("to") or None, now.astimezone(DISTRICT_ZONE).date()
            )
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        shown = views.overview(store(), period, now, policy=policy)
        department = None if viewer.account.role.of_office else viewer.account.department
        return page(
            request,
            "overview.html",
            viewer,
            period=period,
            overdue=[g for g in shown.overdue if department in (None, g.department)],
            at_risk=[g for g in shown.at_risk if department in (None, g.department)],
            ranking=shown.ranking,
            assessment=shown.assessment,
            overdue_tickets=shown.overdue_tickets(department),
            open_tickets=shown.open_tickets(department),
            rates=policy.rates,
            min_tickets=policy.ranking.min_tickets,
            chart=bar_chart(shown.daily, category_names),
            unmask=None if department is None else False,
            now=now,
            drill=params.get("now") is not None,
        )

    @router.get("/dashboard/tickets/{ticket_id}", response_model=None)
    def ticket(request: Request, ticket_id: str) -> Response:
        if not isinstance(viewer := reader(request), Viewer):
            return viewer
        return tickets.render(request, viewer, ticket_id, store().get(ticket_id.strip()))

    @router.get("/dashboard/ticket", response_model=None)
    def ticket_search(request: Request, id: str = "") -> Response:
        return RedirectResponse(f"/dashboard/tickets/{quote(id.strip())}", status_code=303)

    @router.get("/dashboard/enterprise", response_model=None)
    def enterprise(request: Request, q: str = "") -> Response:
        if not isinstance(viewer := reader(request), Viewer):
            return viewer
        found = enterprise_file(store(), q) if q.strip() else None
        records = own(viewer, found.records) if found else []
        names = sorted({r.submission.enterprise_name for r in records if r.submission.enterprise_name})
        key = any(r.key_enterprise for r in records)
        masked = None if viewer.account.role.of_office else False
        return page(
            request,
            "enterprise.html",
            viewer,
            q=q,
            records=records,
            key_enterprise=key,
            unmask=masked,
            names=names,
        )

    @router.get("/dashboard/project", response_model=None)
    def project(request: Request, q: str = "") -> Response:
        if not isinstance(viewer := reader(request), Viewer):
            return viewer
        records = own(viewer, store().project_tickets(q.strip())) if q.strip() else []
        masked = None if viewer.account.role.of_office else False
        return page(request, "project.html", viewer, q=q, records=records, unmask=masked)

    return router
