"""``/admin/users``: the administrator's page of accounts — list, add, disable and enable.

Only an administrator may open it (others get 403, signed-out browsers the
sign-in page). Adding generates the first password and shows it once on the
page that answers, for the administrator to hand over; only its argon2 hash is
stored. Disabling ends the person's sessions at once. Every form carries the
session's CSRF token (``consumers.web_sessions``).
"""

import logging
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from consumers.account_store import AccountStore
from consumers.accounts import AccountError, Passwords, Viewer, add_account, set_disabled
from consumers.web_sessions import Posted, WebSessions
from schemas.accounts import Role
from schemas.feedback import OFFICE

log = logging.getLogger(__name__)

ADMIN_ONLY = "仅系统管理员可管理账号 / only an administrator manages accounts"
NOT_YOURSELF = "不能停用自己的账号 / you cannot disable your own account"


def generated_password() -> str:
    """A first password to hand over: 16 URL-safe characters (~96 bits)."""
    return secrets.token_urlsafe(12)


class AdminPages:
    """The page and its three forms; every handler answers 403 to anyone but an administrator."""

    def __init__(
        self,
        accounts: Callable[[], AccountStore],
        passwords: Callable[[], Passwords],
        templates: Jinja2Templates,
        departments: tuple[str, ...],
        clock: Callable[[], datetime],
    ) -> None:
        self.accounts = accounts
        self.passwords = passwords
        self.templates = templates
        self.departments = tuple(code for code in departments if code != OFFICE)
        self.clock = clock

    def listing(self, request: Request, viewer: Viewer, status: int = 200, **context: Any) -> HTMLResponse:
        shown = {
            "now": self.clock(),
            "viewer": viewer,
            "accounts": self.accounts().accounts(),
            "roles": list(Role),
            "departments": self.departments,
            **context,
        }
        page = self.templates.TemplateResponse(request, "admin_users.html", shown, status_code=status)
        page.headers["Cache-Control"] = "no-store"  # it may show a first password
        return page

    def refused(self, request: Request, viewer: Viewer) -> HTMLResponse:
        shown = {"now": self.clock(), "viewer": viewer, "message": ADMIN_ONLY}
        return self.templates.TemplateResponse(request, "refused.html", shown, status_code=403)

    def add(self, request: Request, posted: Posted) -> Response:
        viewer = posted.viewer
        if viewer.account.role is not Role.admin:
            return self.refused(request, viewer)
        password = generated_password()
        fields = {k: posted.fields.get(k) for k in ("username", "display_name", "role", "department")}
        if fields["role"] not in (Role.clerk, Role.head):
            fields["department"] = None
        try:
            account = add_account(
                self.accounts(), self.passwords(), fields, password, self.clock(), self.departments
            )
        except AccountError as exc:
            return self.listing(request, viewer, 422, error=str(exc), form=fields)
        log.info("%s added account %s", viewer.account.username, account.username)
        return self.listing(request, viewer, 201, added=account, password=password)

    def toggle(self, request: Request, posted: Posted, username: str, disabled: bool) -> Response:
        viewer = posted.viewer
        if viewer.account.role is not Role.admin:
            return self.refused(request, viewer)
        if username == viewer.account.username:
            return self.listing(
                request, viewer, 422, error="不能停用自己的账号 / you cannot disable yourself"
            )
        try:
            set_disabled(self.accounts(), username, disabled, self.clock())
        except AccountError as exc:
            return self.listing(request, viewer, 404, error=str(exc))
        done = "disabled" if disabled else "enabled"
        log.info("%s %s account %s", viewer.account.username, done, username)
        return RedirectResponse("/admin/users", status_code=303)


def admin_router(pages: AdminPages, sessions: WebSessions) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    Form = Annotated[Posted, Depends(sessions.posted)]

    @router.get("/admin/users", response_model=None)
    def users(request: Request) -> Response:
        viewer = sessions.viewer(request)
        if viewer is None:
            return sessions.login_redirect(request)
        if viewer.account.role is not Role.admin:
            return pages.refused(request, viewer)
        return pages.listing(request, viewer)

    @router.post("/admin/users", response_model=None)
    def add(request: Request, posted: Form) -> Response:
        return pages.add(request, posted)

    @router.post("/admin/users/{username}/disable", response_model=None)
    def disable(request: Request, username: str, posted: Form) -> Response:
        return pages.toggle(request, posted, username, disabled=True)

    @router.post("/admin/users/{username}/enable", response_model=None)
    def enable(request: Request, username: str, posted: Form) -> Response:
        return pages.toggle(request, posted, username, disabled=False)

    return router
