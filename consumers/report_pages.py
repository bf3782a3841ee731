"""The supervision report (督办通报) on the dashboard: a printable page and its ``.xlsx``.

``GET /dashboard/report?kind=weekly|monthly&period=...`` renders ``report.html`` (the
same self-contained page ``ztc report`` writes), ``GET /dashboard/report.xlsx`` the
workbook. Office people only: the report ranks every department and lists every
overdue ticket. ``render_report_html`` is shared with the CLI.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment

from consumers import views
from consumers.accounts import Viewer
from consumers.report import HotSpotSource, SupervisionReport, change_text, figure_text, rate_text
from consumers.report_periods import ReportKind, report_period
from consumers.report_xlsx import report_xlsx_bytes
from consumers.ticket_store import TicketStore
from consumers.web_sessions import WebSessions
from schemas.policy import RoutingPolicy

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def level_labels(policy: RoutingPolicy) -> Callable[[int], str]:
    levels = {0: "未升级", **{level.level: level.label for level in policy.sla.escalation}}
    return lambda level: levels.get(level, f"{level}级")


def department_names(policy: RoutingPolicy) -> dict[str, str]:
    return {d.code: d.name for d in policy.departments}


def report_context(report: SupervisionReport, policy: RoutingPolicy, served: bool) -> dict[str, Any]:
    return {
        "report": report,
        "rates": policy.rates,
        "ranking": policy.ranking,
        "served": served,
        "figure": figure_text,
        "change": change_text,
        "previous": lambda h: rate_text(h.previous) if h.rate else f"{h.previous:.0f}",
        "unmask": False,
    }


def render_report_html(
    env: Environment, report: SupervisionReport, policy: RoutingPolicy, served: bool = False
) -> str:
    """The printable page; ``served``: with the dashboard's period form and download link."""
    return env.get_template("report.html").render(report_context(report, policy, served))


def report_router(
    store: Callable[[], TicketStore],
    policy: RoutingPolicy,
    clock: Callable[[], datetime],
    sessions: WebSessions,
    env: Environment,
    hot_spots: HotSpotSource | None = None,
) -> APIRouter:
    """``hot_spots``: where the report reads hot spots; None until hot-spot detection is connected."""
    router = APIRouter(include_in_schema=False)

    def office_viewer(request: Request) -> Viewer | Response:
        viewer = sessions.viewer(request)
        if viewer is None:
            return sessions.login_redirect(request)
        if not viewer.account.role.of_office:
            raise HTTPException(
                403, "督办通报仅区政府办公室可看 / only the office reads the supervision report"
            )
        return viewer

    def build(request: Request) -> SupervisionReport:
        params = request.query_params
        now = clock()
        try:
            kind = ReportKind(params.get("kind") or ReportKind.monthly.value)
            period = report_period(kind, params.get("period") or None, now)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        spots = hot_spots.hot_spots(period.period) if hot_spots is not None else None
        return views.supervision_report(store(), period, now, policy, spots)

    @router.get("/dashboard/report", response_model=None)
    def report_page(request: Request) -> Response:
        if not isinstance(viewer := office_viewer(request), Viewer):
            return viewer
        return HTMLResponse(render_report_html(env, build(request), policy, served=True))

    @router.get("/dashboard/report.xlsx", response_model=None)
    def report_workbook(request: Request) -> Response:
        if not isinstance(viewer := office_viewer(request), Viewer):
            return viewer
        report = build(request)
        body = report_xlsx_bytes(report, department_names(policy), level_labels(policy))
        name = f"ztc-report-{report.period.kind.value}-{report.period.name}.xlsx"
        headers = {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"}
        return Response(body, media_type=XLSX, headers=headers)

    return router
