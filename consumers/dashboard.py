"""Supervision dashboard (督办看板): server-rendered pages, readable without JavaScript.

Figures come from the read model the recorder keeps next to the tickets, through
``consumers.views`` (a page never reads every ticket); this module signs the
office's session cookie and renders Jinja2 templates with an inline SVG chart.
Every free text a template shows goes through the ``personal`` filter: phone and
ID-card numbers masked, unless the policy's ``[privacy]`` lets the office see them.
Only the office's key can sign in; the key is exchanged once for a signed,
HttpOnly session cookie and never stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from consumers import views
from consumers.access import KeyRing
from consumers.supervision import DailyCounts, parse_period
from consumers.ticket_store import TicketStore
from schemas.events import DISTRICT_ZONE
from schemas.policy import PrivacyRole, RoutingPolicy
from schemas.privacy import mask_personal, shows_personal_data

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
COOKIE = "ztc_session"
SESSION_HOURS = 8
PALETTE = ("#1f5fa8", "#d9822b", "#3a8f5c", "#b8423a", "#7a5cad", "#2b9bb0", "#8c6d31", "#6b6b6b")


# ---------------------------------------------------------------- sessions


@dataclass(frozen=True)
class SessionSigner:
    """HMAC-signed session tokens: who signed in and until when; nothing secret inside."""

    secret: bytes

    def _sign(self, payload: bytes) -> str:
        return hmac.new(self.secret, payload, hashlib.sha256).hexdigest()

    def issue(self, name: str, expires: datetime) -> str:
        payload = base64.urlsafe_b64encode(json.dumps({"n": name, "e": expires.timestamp()}).encode())
        return f"{payload.decode()}.{self._sign(payload)}"

    def verify(self, token: str | None, now: datetime) -> str | None:
        if not token or "." not in token:
            return None
        payload, signature = token.rsplit(".", 1)
        if not hmac.compare_digest(self._sign(payload.encode()), signature):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(payload))
        except ValueError:
            return None
        return str(data["n"]) if data.get("e", 0) > now.timestamp() else None


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
    colour = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(daily.categories)}
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


def personal_filter(policy: RoutingPolicy) -> Callable[[Any], Any]:
    """The ``personal`` Jinja filter: text as the office may read it (the dashboard is the office's)."""
    if shows_personal_data(policy.privacy, (PrivacyRole.office,)):
        return lambda value: value
    return lambda value: mask_personal(value) if isinstance(value, str) else value


def make_templates(policy: RoutingPolicy) -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES))
    env = templates.env
    levels = {0: "未升级", **{level.level: level.label for level in policy.sla.escalation}}
    env.filters.update(duration=duration, percent=percent, local=local, personal=personal_filter(policy))
    env.globals.update(
        dept=lambda code: d.name if (d := policy.department(code)) else code,
        category=lambda code: c.name if (c := policy.category(code)) else code,
        level_label=lambda level: levels.get(level, f"{level}级"),
        key_projects=[p.name for p in policy.key_projects],
    )
    return templates


# ---------------------------------------------------------------- routes


def dashboard_router(
    store: Callable[[], TicketStore],
    keys: KeyRing,
    policy: RoutingPolicy,
    clock: Callable[[], datetime],
    signer: SessionSigner,
) -> APIRouter:
    router = APIRouter(tags=["dashboard 督办看板"], include_in_schema=False)
    templates = make_templates(policy)
    category_names = {c.code: c.name for c in policy.categories}

    def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, name, {"now": clock(), **context}, status_code=status)

    def signed_in(request: Request) -> str | None:
        return signer.verify(request.cookies.get(COOKIE), clock())

    def login_redirect(request: Request) -> Response:
        target = quote(str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""))
        return RedirectResponse(f"/dashboard/login?next={target}", status_code=303)

    @router.get("/dashboard/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "/dashboard") -> HTMLResponse:
        return page(request, "login.html", next=next if next.startswith("/dashboard") else "/dashboard")

    @router.post("/dashboard/login", response_model=None)
    async def login(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", errors="replace"))
        key = (form.get("key") or [""])[0].strip()
        target = (form.get("next") or ["/dashboard"])[0]
        target = target if target.startswith("/dashboard") else "/dashboard"
        who = keys.authenticate(key, clock())
        if who is None or not who.is_office:
            log.warning("dashboard sign-in refused (%s)", "not the office's key" if who else "unknown key")
            return page(request, "login.html", status=401, next=target, error=True)
        response = RedirectResponse(target, status_code=303)
        token = signer.issue(who.name, clock() + timedelta(hours=SESSION_HOURS))
        response.set_cookie(COOKIE, token, max_age=SESSION_HOURS * 3600, httponly=True, samesite="strict")
        return response

    @router.post("/dashboard/logout")
    def logout() -> Response:
        response = RedirectResponse("/dashboard/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    @router.get("/", include_in_schema=False)
    def root() -> Response:
        return RedirectResponse("/dashboard", status_code=303)

    @router.get("/dashboard", response_model=None)
    def overview(request: Request) -> Response:
        if (user := signed_in(request)) is None:
            return login_redirect(request)
        now = clock()
        params = request.query_params
        try:
            period = parse_period(
                params.get("from") or None, params.get("to") or None, now.astimezone(DISTRICT_ZONE).date()
            )
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        shown = views.overview(store(), period, now)
        return page(
            request,
            "overview.html",
            user=user,
            period=period,
            overdue=shown.overdue,
            at_risk=shown.at_risk,
            ranking=shown.ranking,
            chart=bar_chart(shown.daily, category_names),
        )

    @router.get("/dashboard/tickets/{ticket_id}", response_model=None)
    def ticket(request: Request, ticket_id: str) -> Response:
        if (user := signed_in(request)) is None:
            return login_redirect(request)
        record = store().get(ticket_id.strip())
        status = 200 if record else 404
        return page(request, "ticket.html", status=status, user=user, record=record, ticket_id=ticket_id)

    @router.get("/dashboard/ticket", response_model=None)
    def ticket_search(request: Request, id: str = "") -> Response:
        return RedirectResponse(f"/dashboard/tickets/{quote(id.strip())}", status_code=303)

    @router.get("/dashboard/enterprise", response_model=None)
    def enterprise(request: Request, q: str = "") -> Response:
        if (user := signed_in(request)) is None:
            return login_redirect(request)
        records = store().enterprise_tickets(q.strip()) if q.strip() else []
        key = any(r.key_enterprise for r in records)
        return page(request, "enterprise.html", user=user, q=q, records=records, key_enterprise=key)

    @router.get("/dashboard/project", response_model=None)
    def project(request: Request, q: str = "") -> Response:
        if (user := signed_in(request)) is None:
            return login_redirect(request)
        records = store().project_tickets(q.strip()) if q.strip() else []
        return page(request, "project.html", user=user, q=q, records=records)

    return router
