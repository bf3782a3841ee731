"""Signing in to the web pages: the sign-in form, sessions as cookies, and the CSRF check of every form.

A person signs in with username and password (``consumers.accounts.SignIn``);
the browser gets an HttpOnly, SameSite=Lax cookie holding a random token, and
the server keeps the session under the token's hash, so logging out or
disabling the account ends it at once. The cookie is ``Secure`` when the
request came over TLS (``https``, also as a trusted proxy reports it with
``X-Forwarded-Proto``) or when ``ZTC_SECURE_COOKIES`` says so.

Every state-changing form carries its session's synchronizer token in the
field ``csrf``: a handler takes ``WebSessions.posted`` as a dependency, which
answers 403 to a POST without the right token (and without a session). The
sign-in form itself, which has no session yet, is protected by a short-lived
double-submit cookie. API keys (``X-API-Key``) are unaffected: the JSON API
never reads these cookies.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from consumers.accounts import SignedIn, SignIn, Viewer
from schemas.accounts import SESSION_HOURS, Role, csrf_matches, new_token

log = logging.getLogger(__name__)

COOKIE = "ztc_session"
LOGIN_COOKIE = "ztc_signin"
LOGIN_PATH = "/dashboard/login"
PAGES = ("/dashboard", "/admin", "/work", "/desk")
"""Where a sign-in may send the browser next (never another site)."""
MAX_FORM_BYTES = 64 * 1024
MAX_UPLOAD_FILES = 10
FORM_EXPIRED = "表单已失效，请刷新页面后重试 / form expired or forged: reload the page and retry"


def home(role: Role) -> str:
    return "/admin/users" if role is Role.admin else "/dashboard"


def safe_next(target: str | None, role: Role | None = None) -> str:
    """``target`` if it is one of our pages, else the person's home page."""
    fallback = home(role) if role is not None else "/dashboard"
    if not target or not target.startswith(PAGES) or "//" in target or "\\" in target:
        return fallback
    return target


def client_address(request: Request) -> str:
    """The client's address (a trusted proxy's ``X-Forwarded-For`` applied by uvicorn)."""
    return request.client.host if request.client else "-"


@dataclass(frozen=True)
class Posted:
    """A form posted by a signed-in person, its CSRF token checked."""

    viewer: Viewer
    fields: dict[str, str]
    lists: dict[str, list[str]]
    files: tuple[tuple[str, bytes], ...] = ()
    """``(name as given, bytes)`` of each file of a multipart form's ``attachment`` fields."""


class WebSessions:
    def __init__(
        self, sign_in: Callable[[], SignIn], clock: Callable[[], datetime], always_secure: bool = False
    ) -> None:
        self.sign_in = sign_in
        self.clock = clock
        self.always_secure = always_secure

    def secure(self, request: Request) -> bool:
        return self.always_secure or request.url.scheme == "https"

    def viewer(self, request: Request) -> Viewer | None:
        return self.sign_in().viewer(request.cookies.get(COOKIE), self.clock())

    def login_redirect(self, request: Request) -> Response:
        target = quote(str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""))
        return RedirectResponse(f"{LOGIN_PATH}?next={target}", status_code=303)

    async def posted(self, request: Request) -> Posted:
        """The dependency of every form handler: the viewer and the fields, or 403."""
        lists, files = await form_with_files(request)
        viewer = self.viewer(request)
        given = (lists.get("csrf") or [""])[0]
        if viewer is None or not csrf_matches(viewer.session.csrf, given):
            log.warning(
                "403 %s %s from %s: %s",
                request.method,
                request.url.path,
                client_address(request),
                "no session" if viewer is None else "missing or wrong CSRF token",
            )
            raise HTTPException(
                403, "表单已失效，请刷新页面后重试 / form expired or forged: reload and retry"
            )
        return Posted(viewer, {k: v[0] for k, v in lists.items()}, lists, files)

    def start(self, response: Response, request: Request, signed_in: SignedIn) -> None:
        response.set_cookie(
            COOKIE,
            signed_in.token,
            max_age=SESSION_HOURS * 3600,
            httponly=True,
            samesite="lax",
            secure=self.secure(request),
            path="/",
        )
        response.delete_cookie(LOGIN_COOKIE, path=LOGIN_PATH)

    def end(self, response: Response, request: Request) -> None:
        self.sign_in().sign_out(request.cookies.get(COOKIE))
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax", secure=self.secure(request))


async def form_lists(request: Request) -> dict[str, list[str]]:
    """An urlencoded form body as lists of values (a body past 64 KiB is refused)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise HTTPException(413, "表单过大 / form too large")
    return parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)


async def form_with_files(request: Request) -> tuple[dict[str, list[str]], tuple[tuple[str, bytes], ...]]:
    """A form's fields, and the files of its ``attachment`` fields when it is multipart (the body's
    size is bounded by the web edge's upload limit; which files are accepted is the caller's check)."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        return await form_lists(request), ()
    form = await request.form(max_files=MAX_UPLOAD_FILES, max_fields=200)
    lists: dict[str, list[str]] = {}
    files: list[tuple[str, bytes]] = []
    for key, value in form.multi_items():
        if isinstance(value, str):
            lists.setdefault(key, []).append(value)
        elif key == "attachment" and (value.filename or value.size):
            files.append((value.filename or "", await value.read()))
    await form.close()
    return lists, tuple(files)


# ---------------------------------------------------------------- sign-in and sign-out pages


def sign_in_router(sessions: WebSessions, templates: Jinja2Templates) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def form(request: Request, target: str, status: int = 200, **context: Any) -> HTMLResponse:
        token = new_token()
        response = templates.TemplateResponse(
            request,
            "login.html",
            {"now": sessions.clock(), "next": target, "login_csrf": token, **context},
            status_code=status,
        )
        response.set_cookie(
            LOGIN_COOKIE,
            token,
            max_age=3600,
            httponly=True,
            samesite="strict",
            secure=sessions.secure(request),
            path=LOGIN_PATH,
        )
        return response

    @router.get(LOGIN_PATH, response_class=HTMLResponse)
    def login_form(request: Request, next: str = "") -> HTMLResponse:
        return form(request, safe_next(next))

    @router.post(LOGIN_PATH, response_model=None)
    async def login(request: Request) -> Response:
        lists = await form_lists(request)
        fields = {k: v[0] for k, v in lists.items()}
        target = fields.get("next", "")
        if not csrf_matches(request.cookies.get(LOGIN_COOKIE), fields.get("csrf")):
            log.warning("403 sign-in form without its token from %s", client_address(request))
            return form(request, safe_next(target), 403, error="表单已失效，请重新登录 / form expired, retry")
        outcome = sessions.sign_in().attempt(
            fields.get("username", ""), fields.get("password", ""), client_address(request), sessions.clock()
        )
        if not isinstance(outcome, SignedIn):
            refused = form(request, safe_next(target), outcome.status, error=outcome.message)
            if outcome.retry_after_s is not None:
                refused.headers["Retry-After"] = str(outcome.retry_after_s)
            return refused
        sessions.sign_in().sign_out(request.cookies.get(COOKIE))  # never keep a session from before
        response = RedirectResponse(safe_next(target, outcome.account.role), status_code=303)
        sessions.start(response, request, outcome)
        return response

    @router.post("/dashboard/logout", response_model=None)
    async def logout(request: Request) -> Response:
        await sessions.posted(request)
        response = RedirectResponse(LOGIN_PATH, status_code=303)
        sessions.end(response, request)
        return response

    return router
