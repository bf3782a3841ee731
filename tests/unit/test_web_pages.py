"""The pages people sign in to, through FastAPI's TestClient on in-memory stores: cookies, CSRF,
lock-out, who sees which ticket, action forms recorded as the account, and the admin page."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute

from consumers.account_store import InMemoryAccountStore
from consumers.accounts import Passwords, SignIn, add_account
from consumers.attachment_pages import Attachments
from consumers.attachment_store import MemoryAttachmentStore
from consumers.inbox_index import InMemoryInboxIndex
from consumers.ticket_store import InMemoryTicketStore
from producers.department_client import DepartmentClient
from producers.publisher import InMemoryPublisher
from schemas.attachments import AttachmentRules
from schemas.events import Event, TicketRouted
from schemas.feedback import TicketAccepted, TicketDispatched
from schemas.settings import Settings
from tests.unit.factories import NOW, submission
from ztc.bootstrap import DEFAULT_POLICY, load_checked_policy
from ztc.web_app import web_pages

POLICY = load_checked_policy(DEFAULT_POLICY)
CODES = POLICY.department_codes
PASSWORD = "correct horse battery"
TICKET = "ZTC-20261127-00000001"
TRIAGE = "ZTC-20261127-00000002"
PEOPLE = {
    "wangkz": ("clerk", "approval"),
    "li": ("clerk", "planning"),
    "zhao": ("dispatcher", None),
    "root": ("admin", None),
}


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


class Recording(InMemoryPublisher):
    """Publishes and records at once: the recorder's part, for pages that wait for it."""

    def __init__(self, store: InMemoryTicketStore) -> None:
        super().__init__()
        self.store = store

    def publish_event(self, topic: str, event: Event, timeout_s: float = 10.0) -> None:
        super().publish_event(topic, event, timeout_s)
        self.store.record(event)


class Pages:
    """``PageResources`` in memory."""

    def __init__(self, settings: Settings) -> None:
        self.settings, self.policy, self.clock = settings, POLICY, Clock()
        self.tickets = InMemoryTicketStore()
        self.publisher = Recording(self.tickets)
        self._accounts = InMemoryAccountStore()
        self._passwords = Passwords.cheap()
        self._sign_in = SignIn(self._accounts, self._passwords)
        self.attachment_store = MemoryAttachmentStore()
        self.attachments = Attachments(lambda: self.attachment_store, AttachmentRules())

    def store(self) -> InMemoryTicketStore:
        return self.tickets

    def inboxes(self) -> InMemoryInboxIndex:
        return InMemoryInboxIndex(lambda: list(self.tickets.tickets.values()))

    def client(self) -> DepartmentClient:
        return DepartmentClient(self.tickets, self.publisher, "feedback", POLICY.department_codes, self.clock)

    def accounts(self) -> InMemoryAccountStore:
        return self._accounts

    def passwords(self) -> Passwords:
        return self._passwords

    def sign_in(self) -> SignIn:
        return self._sign_in


@pytest.fixture
def pages() -> Pages:
    resources = Pages(Settings())
    for username, (role, department) in PEOPLE.items():
        fields = {"username": username, "role": role, "department": department}
        add_account(
            resources.accounts(), resources.passwords(), fields, PASSWORD, NOW, POLICY.department_codes
        )
    for ticket_id, lead, co in ((TICKET, "approval", ("construction",)), (TRIAGE, "office", ())):
        resources.tickets.record(
            TicketRouted(
                ticket_id=ticket_id,
                occurred_at=NOW,
                submission=submission(ticket_id=ticket_id, channel_message_id=ticket_id),
                category="admin_licence",
                confidence=0.9 if lead != "office" else 0.2,
                lead_department=lead,
                co_departments=co,
                priority="normal",
                manual_triage=lead == "office",
                policy_version="t",
            )
        )
    return resources


@pytest.fixture
def web(pages: Pages) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(web_pages(pages))
    with TestClient(app, follow_redirects=False) as client:
        yield client


def login_token(client: TestClient) -> str:
    page = client.get("/dashboard/login")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD, **extra: str) -> httpx.Response:
    form = {"username": username, "password": password, "csrf": login_token(client), **extra}
    answer: httpx.Response = client.post("/dashboard/login", data=form)
    return answer


def routes(found: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """Every route, also inside included routers (FastAPI keeps those as lazy branches)."""
    for route in found:
        if isinstance(route, APIRoute):
            yield route
        elif (inner := getattr(route, "original_router", None)) is not None:
            yield from routes(inner.routes)


def csrf_of(client: TestClient, path: str = "/dashboard") -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert found is not None
    return found.group(1)


# ---------------------------------------------------------------- signing in and out


def test_signing_in_sets_an_httponly_samesite_session_cookie(web: TestClient) -> None:
    assert web.get("/dashboard").headers["location"].startswith("/dashboard/login?next=")
    answer = sign_in(web, "zhao", next="/dashboard/tickets/X")
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/tickets/X"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("ztc_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    page = web.get("/dashboard")
    assert page.status_code == 200 and "zhao" in page.text and "部门排名" in page.text


def test_over_https_the_cookie_is_secure(pages: Pages) -> None:
    app = FastAPI()
    app.include_router(web_pages(pages))
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        answer = sign_in(client, "zhao")
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("ztc_session="))
    assert "Secure" in cookie


def test_a_setting_makes_the_cookies_secure_behind_a_proxy_that_does_not_say_https(pages: Pages) -> None:
    pages.settings = Settings(secure_cookies=True)
    app = FastAPI()
    app.include_router(web_pages(pages))
    with TestClient(app, follow_redirects=False) as client:
        form = client.get("/dashboard/login")  # over plain http here, so the browser would not send it back
    assert "Secure" in form.headers["set-cookie"] and "SameSite=strict" in form.headers["set-cookie"]


def test_next_never_leaves_our_pages(web: TestClient) -> None:
    for target in ("//evil.example/x", "https://evil.example/", "/dashboard//evil.example"):
        assert sign_in(web, "zhao", next=target).headers["location"] == "/dashboard"
    assert sign_in(web, "root").headers["location"] == "/admin/users"


def test_a_wrong_password_is_refused_in_chinese_and_five_lock_the_account(
    web: TestClient, pages: Pages
) -> None:
    wrong = sign_in(web, "wangkz", "not the password")
    assert wrong.status_code == 401 and "用户名或密码错误" in wrong.text
    assert "ztc_session" not in web.cookies
    for _ in range(4):
        last = sign_in(web, "wangkz", "not the password")
    assert last.status_code == 429 and "登录失败次数过多，请 15 分钟后再试" in last.text
    assert last.headers["retry-after"] == str(15 * 60 + 1)
    assert sign_in(web, "wangkz").status_code == 429  # the right password too, while locked
    pages.clock.now += timedelta(minutes=15)
    assert sign_in(web, "wangkz").status_code == 303


def test_the_sign_in_form_without_its_token_is_403(web: TestClient) -> None:
    login_token(web)
    refused = web.post("/dashboard/login", data={"username": "zhao", "password": PASSWORD})
    assert refused.status_code == 403 and "ztc_session" not in web.cookies


def test_logout_ends_the_session_on_the_server(web: TestClient) -> None:
    sign_in(web, "zhao")
    stolen = web.cookies["ztc_session"]
    assert web.post("/dashboard/logout", data={"csrf": csrf_of(web)}).status_code == 303
    web.cookies.set("ztc_session", stolen)  # a copy of the cookie kept elsewhere opens nothing
    assert web.get("/dashboard").status_code == 303


def test_a_disabled_accounts_session_is_refused_at_once(web: TestClient, pages: Pages) -> None:
    sign_in(web, "wangkz")
    assert web.get(f"/dashboard/tickets/{TICKET}").status_code == 200
    account = pages.accounts().get("wangkz")
    assert account is not None
    pages.accounts().put(account.model_copy(update={"disabled": True}))  # even without ending sessions
    assert web.get(f"/dashboard/tickets/{TICKET}").status_code == 303


def test_every_form_route_refuses_a_post_without_the_csrf_token(web: TestClient, pages: Pages) -> None:
    posts = [r.path for r in routes(web_pages(pages).routes) if "POST" in (r.methods or ())]
    assert len(posts) >= 10 and "/admin/users" in posts
    sign_in(web, "root")
    for path in posts:
        if path == "/dashboard/login":
            continue
        url = path.replace("{ticket_id}", TICKET).replace("{username}", "li")
        assert web.post(url, data={"note": "x"}).status_code == 403, path
        assert web.post(url, data={"csrf": "forged" * 8}).status_code == 403, path
    assert web.get("/admin/users").status_code == 200  # still signed in: nothing above logged out
    li = pages.accounts().get("li")
    assert li is not None and not li.disabled


# ---------------------------------------------------------------- who sees what


def test_a_clerk_sees_own_departments_tickets_and_gets_404_for_others(web: TestClient) -> None:
    sign_in(web, "li")
    other = web.get(f"/dashboard/tickets/{TICKET}")
    missing = web.get("/dashboard/tickets/ZTC-20260101-00000000")
    assert other.status_code == missing.status_code == 404
    assert "土石方" not in other.text and TICKET in other.text  # only the id typed, nothing of the ticket
    assert web.get("/dashboard/enterprise", params={"q": "x"}).status_code == 200
    assert web.get("/admin/users").status_code == 403


def test_office_people_see_every_ticket_and_admins_none(web: TestClient) -> None:
    sign_in(web, "zhao")
    assert web.get(f"/dashboard/tickets/{TICKET}").status_code == 200
    sign_in(web, "root")
    assert web.get(f"/dashboard/tickets/{TICKET}").headers["location"] == "/admin/users"


# ---------------------------------------------------------------- actions recorded as the account


def test_a_clerks_accept_is_recorded_with_the_username_as_actor(web: TestClient, pages: Pages) -> None:
    sign_in(web, "wangkz")
    page = web.get(f"/dashboard/tickets/{TICKET}")
    assert 'data-action="accept"' in page.text and 'data-action="dispatch"' not in page.text
    csrf = csrf_of(web, f"/dashboard/tickets/{TICKET}")
    done = web.post(
        f"/dashboard/tickets/{TICKET}/accept", data={"csrf": csrf, "note": "已签收", "actor": "冒名"}
    )
    assert done.status_code == 303, done.text
    [event] = pages.publisher.events("feedback")
    assert isinstance(event, TicketAccepted)
    assert (event.actor, event.department, event.note) == ("wangkz", "approval", "已签收")
    record = pages.tickets.get(TICKET)
    assert record is not None and record.history[-1].actor == "wangkz"


def test_a_refused_action_shows_the_reason_and_changes_nothing(web: TestClient, pages: Pages) -> None:
    sign_in(web, "wangkz")
    csrf = csrf_of(web, f"/dashboard/tickets/{TICKET}")
    refused = web.post(f"/dashboard/tickets/{TICKET}/resolve", data={"csrf": csrf, "resolution": "已办结"})
    assert refused.status_code == 409 and 'id="refused"' in refused.text
    invalid = web.post(f"/dashboard/tickets/{TICKET}/resolve", data={"csrf": csrf})
    assert invalid.status_code == 422
    not_mine = web.post(f"/dashboard/tickets/{TICKET}/dispatch", data={"csrf": csrf, "lead": "planning"})
    assert not_mine.status_code == 403
    assert pages.publisher.published == []


def test_another_departments_clerk_cannot_act_on_the_ticket(web: TestClient, pages: Pages) -> None:
    sign_in(web, "li")
    csrf = csrf_of(web)
    assert web.post(f"/dashboard/tickets/{TICKET}/accept", data={"csrf": csrf}).status_code == 404
    assert pages.publisher.published == []


def test_the_office_dispatches_as_itself(web: TestClient, pages: Pages) -> None:
    sign_in(web, "zhao")
    csrf = csrf_of(web, f"/dashboard/tickets/{TRIAGE}")
    form = {"csrf": csrf, "lead": "planning", "co": ["construction", "market"], "note": "人工派单"}
    answer = web.post(f"/dashboard/tickets/{TRIAGE}/dispatch", data=form)
    assert answer.status_code == 303, answer.text
    [event] = pages.publisher.events("feedback")
    assert isinstance(event, TicketDispatched) and (event.actor, event.department) == ("zhao", "office")
    assert isinstance(event, TicketDispatched)
    assert (event.lead_department, event.co_departments) == ("planning", ("construction", "market"))


# ---------------------------------------------------------------- the admin page


def test_the_admin_adds_and_disables_accounts(web: TestClient, pages: Pages) -> None:
    other = TestClient(web.app, follow_redirects=False)
    sign_in(other, "li")
    sign_in(web, "root")
    csrf = csrf_of(web, "/admin/users")
    added = web.post(
        "/admin/users",
        data={
            "csrf": csrf,
            "username": "sun",
            "display_name": "孙科员",
            "role": "head",
            "department": "market",
        },
    )
    assert added.status_code == 201 and 'id="added"' in added.text
    password = re.search(r'<code class="secret">([^<]+)</code>', added.text)
    assert password is not None
    account = pages.accounts().get("sun")
    assert (
        account is not None
        and account.department == "market"
        and password.group(1) not in account.password_hash
    )
    taken = web.post("/admin/users", data={"csrf": csrf, "username": "sun", "role": "dispatcher"})
    assert taken.status_code == 422 and "username taken" in taken.text
    assert web.post("/admin/users/li/disable", data={"csrf": csrf}).status_code == 303
    assert other.get("/dashboard").status_code == 303  # li's session ended
    assert web.post("/admin/users/root/disable", data={"csrf": csrf}).status_code == 422
    fresh = TestClient(web.app, follow_redirects=False)
    assert sign_in(fresh, "sun", password.group(1)).status_code == 303


def test_only_an_admin_may_use_the_admin_forms(web: TestClient, pages: Pages) -> None:
    sign_in(web, "zhao")
    csrf = csrf_of(web)
    assert web.post("/admin/users/li/disable", data={"csrf": csrf}).status_code == 403
    assert web.post("/admin/users", data={"csrf": csrf, "username": "x1", "role": "admin"}).status_code == 403
    li = pages.accounts().get("li")
    assert li is not None and not li.disabled and pages.accounts().get("x1") is None


# ---------------------------------------------------------------- drills: the overview as of a moment


def test_the_office_sees_the_overview_as_of_a_drill_moment_as_ztc_overdue_does(
    web: TestClient, pages: Pages
) -> None:
    from consumers import views
    from consumers.sla_engine import SlaBook
    from streams.routing import route_ticket

    pages.tickets = InMemoryTicketStore(book=SlaBook(POLICY))  # a store that keeps the SLA read model
    routed = route_ticket(
        submission(ticket_id="ZTC-20261127-0000000A", channel_message_id="m-a"), POLICY, NOW
    )
    pages.tickets.record(routed)  # stamped with its deadlines, as the router does
    late = routed.ticket_id
    moment = datetime.fromisoformat("2026-12-12T10:00+08:00")
    sign_in(web, "zhao")
    today = web.get("/dashboard")
    assert today.status_code == 200 and "演练" not in today.text
    assert late not in today.text.split('id="overdue"')[1].split("</section>")[0]
    drill = web.get("/dashboard", params={"now": "2026-12-12T10:00+08:00"})
    assert drill.status_code == 200 and "演练" in drill.text
    overdue_section = drill.text.split('id="overdue"')[1].split("</section>")[0]
    expected = {s.ticket_id for s in views.overdue_items(pages.tickets, moment) if s.overdue}
    assert late in expected
    assert all(f">{ticket_id}</a>" in overdue_section for ticket_id in expected)
    assert web.get("/dashboard", params={"now": "yesterday"}).status_code == 400


def test_a_department_may_not_look_at_another_moment(web: TestClient) -> None:
    sign_in(web, "wangkz")
    assert web.get("/dashboard", params={"now": "2026-12-12T10:00+08:00"}).status_code == 403


def test_the_ticket_page_speaks_chinese_for_codes_and_takes_the_id_in_any_case(web: TestClient) -> None:
    sign_in(web, "zhao")
    page = web.get(f"/dashboard/tickets/{TICKET.lower()}")
    assert page.status_code == 200
    timeline = page.text.split('class="event"', 1)[1]
    assert ">派单</span>" in timeline and ">TicketRouted<" not in page.text
    assert "优先级 normal" not in page.text and "主办 approval" not in page.text
    assert "一般" in page.text  # the ordinary tier and the normal priority
