"""The office's view of hot spots (热点): read from what the hot-spot worker keeps in Redis.

The worker (``streams.hotspot_store``) keeps every hot spot as it stands now — the
``HotSpotDetected`` it reported, refreshed as more requests join — in a hash, and
their detection times in a sorted set; this reads the newest first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import cast

import redis
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from consumers.web_sessions import WebSessions
from schemas.accounts import Role
from schemas.hotspot_events import HotSpotDetected, HotspotKeys

log = logging.getLogger(__name__)


def recent_hotspots(client: redis.Redis, prefix: str, limit: int = 50) -> list[HotSpotDetected]:
    """The newest ``limit`` hot spots, newest first (an entry that cannot be read is logged and left out)."""
    keys = HotspotKeys(prefix)
    ids = cast(list[bytes], client.zrevrange(keys.index, 0, max(limit, 1) - 1))
    if not ids:
        return []
    found: list[HotSpotDetected] = []
    for ident, raw in zip(ids, client.hmget(keys.view, ids), strict=True):
        if raw is None:
            continue
        try:
            found.append(HotSpotDetected.model_validate_json(raw))
        except ValidationError:
            log.exception("hot spot %r cannot be read", ident)
    return found


def hotspot_router(
    read: Callable[[], list[HotSpotDetected]],
    sessions: WebSessions,
    templates: Jinja2Templates,
    clock: Callable[[], datetime],
) -> APIRouter:
    """``/dashboard/hotspots``: the office sees every hot spot, a department those it is involved in."""
    router = APIRouter(include_in_schema=False)

    @router.get("/dashboard/hotspots", response_model=None)
    def hotspots(request: Request) -> Response:
        viewer = sessions.viewer(request)
        if viewer is None:
            return sessions.login_redirect(request)
        if viewer.account.role is Role.admin:
            return RedirectResponse("/admin/users", status_code=303)
        spots = read()
        if not viewer.account.role.of_office:
            spots = [s for s in spots if viewer.account.department in s.departments]
        shown = {"now": clock(), "viewer": viewer, "spots": spots, "unmask": None}
        return templates.TemplateResponse(request, "hotspots.html", shown)

    return router
