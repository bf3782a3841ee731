"""People, not shared keys, on the real stack: ``ztc user`` against Redis, and the pages of a real
``ztc api`` driven over HTTP — sign-in, lock-out, logout, disable, CSRF, who sees which ticket, and
the actor of a form's action in the ticket the recorder wrote."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import redis

from consumers.account_store import RedisAccountStore
from consumers.ticket_store import RedisTicketStore
from schemas.policy import load_policy
from schemas.settings import Settings
from schemas.ticket import TicketStatus
from tests.integration.conftest import Services, WaitFor, settings_env, ztc
from tests.integration.web import PASSWORD, Api, add_user, form_token, running_api, sign_in, signed_in
from ztc.bootstrap import DEFAULT_POLICY

pytestmark = pytest.mark.integration

EARTHWORK = {
    "enterprise_name": "康杰药业",
    "street": "李村街道",
    "title": "土石方施工许可证办理求助",
    "text": "我们项目急需办理土石方施工许可证，需要准备的材料繁多，希望帮忙对接梳理审批手续。",
}
PEOPLE = {
    "wang": ("clerk", "approval"),
    "li": ("clerk", "planning"),
    "zhao": ("dispatcher", None),
    "guess-me": ("clerk", "market"),
    "leaving": ("clerk", "approval"),
}


@pytest.fixture(scope="module")
def api(settings: Settings, services: Services) -> Iterator[Api]:
    for username, (role, department) in PEOPLE.items():
        made = add_user(settings, username, role, department)
        assert made.returncode == 0, made.stderr
    with running_api(settings, load_policy(DEFAULT_POLICY).department_codes) as running:
        yield running


@pytest.fixture(scope="module")
def ticket_id(api: Api, wait_for_ticket: WaitFor) -> str:
    with api.client("channel-web_form") as http:
        answer = http.post("/api/tickets", json=EARTHWORK)
    assert answer.status_code == 202, answer.text
    found: str = answer.json()["ticket_id"]
    assert wait_for_ticket(found, 60).lead_department == "approval"
    return found


# ---------------------------------------------------------------- ztc user


def test_ztc_user_manages_accounts_in_redis_with_one_line_errors(settings: Settings) -> None:
    added = add_user(settings, "cli-head", "head", "construction")
    assert added.returncode == 0 and "cli-head" in added.stdout
    again = add_user(settings, "cli-head", "head", "construction")
    no_role = ztc(settings, "user", "add", "nobody")
    short = add_user(settings, "cli-short", "dispatcher", password="short")
    for failed in (again, no_role, short):
        assert failed.returncode == 2 and failed.stderr.count("\n") == 1 and "错误 / error" in failed.stderr
    assert "username taken" in again.stderr and "至少" in short.stderr
    listed = json.loads(ztc(settings, "user", "list", "--json", check=True).stdout)
    head = next(a for a in listed if a["username"] == "cli-head")
    assert (head["role"], head["department"], head["disabled"]) == ("head", "construction", False)
    assert all("password_hash" not in a for a in listed)
    assert "cli-head" in ztc(settings, "user", "disable", "cli-head", check=True).stdout
    changed = subprocess.run(
        [sys.executable, "-m", "ztc", "user", "passwd", "cli-head", "--password-stdin"],
        input="another long secret\n",
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert changed.returncode == 0, changed.stderr
    no_terminal = ztc(settings, "user", "passwd", "cli-head")  # no --password-stdin and no terminal
    assert no_terminal.returncode == 2 and "--password-stdin" in no_terminal.stderr
    store = RedisAccountStore(redis.Redis.from_url(settings.redis), settings.redis_prefix)
    account = store.get("cli-head")
    assert account is not None and account.disabled and account.password_hash.startswith("$argon2id$")


# ---------------------------------------------------------------- signing in


def test_sign_in_wrong_password_and_lock_out(api: Api) -> None:
    with api.client() as browser:
        wrong = sign_in(browser, "guess-me", "not the password")
        assert wrong.status_code == 401 and "用户名或密码错误" in wrong.text
        for _ in range(4):
            last = sign_in(browser, "guess-me", "still not it")
        assert last.status_code == 429 and "登录失败次数过多" in last.text and "15 分钟后再试" in last.text
        locked = sign_in(browser, "guess-me", PASSWORD)
        assert locked.status_code == 429 and "ztc_session" not in browser.cookies
        good = sign_in(browser, "zhao")
        assert good.status_code == 303 and "ztc_session" in browser.cookies
        cookie = next(c for c in good.headers.get_list("set-cookie") if c.startswith("ztc_session="))
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "guess-me" in api.log() and PASSWORD not in api.log()


def test_logout_ends_the_session_for_every_copy_of_the_cookie(api: Api) -> None:
    with signed_in(api, "zhao") as browser:
        cookie = browser.cookies["ztc_session"]
        token = form_token(browser.get("/dashboard").text)
        assert browser.post("/dashboard/logout", data={"csrf": token}).status_code == 303
    with api.client() as copy:
        copy.cookies.set("ztc_session", cookie)
        assert copy.get("/dashboard").status_code == 303


def test_ztc_user_disable_ends_a_live_session_at_once(api: Api, settings: Settings) -> None:
    with signed_in(api, "leaving") as browser:
        assert browser.get("/dashboard").status_code == 200
        ztc(settings, "user", "disable", "leaving", check=True)
        assert browser.get("/dashboard").status_code == 303
        assert sign_in(browser, "leaving").status_code == 403


def test_a_post_without_its_csrf_token_is_403_and_changes_nothing(
    api: Api, ticket_id: str, store: RedisTicketStore
) -> None:
    with signed_in(api, "wang") as browser:
        before = store.get(ticket_id)
        missing = browser.post(f"/dashboard/tickets/{ticket_id}/accept", data={"note": "无令牌"})
        forged = browser.post(f"/dashboard/tickets/{ticket_id}/accept", data={"csrf": "x" * 43})
        logout = browser.post("/dashboard/logout")
        assert (missing.status_code, forged.status_code, logout.status_code) == (403, 403, 403)
        assert browser.get("/dashboard").status_code == 200  # still signed in
    time.sleep(1)
    assert store.get(ticket_id) == before


# ---------------------------------------------------------------- who sees what, who acted


def test_a_clerk_of_another_department_gets_404(api: Api, ticket_id: str) -> None:
    with signed_in(api, "li") as browser:
        other = browser.get(f"/dashboard/tickets/{ticket_id}")
        missing = browser.get("/dashboard/tickets/ZTC-20260101-00000000")
        listing = browser.get("/dashboard/enterprise", params={"q": "康杰药业"})
    assert other.status_code == missing.status_code == 404
    assert EARTHWORK["title"] not in other.text and ticket_id not in listing.text
    with signed_in(api, "zhao") as office:
        assert office.get(f"/dashboard/tickets/{ticket_id}").status_code == 200


def test_no_list_or_search_shows_another_departments_ticket(api: Api, ticket_id: str) -> None:
    """The inbox, its search, the desk and the id box: planning's clerk finds nothing of approval's
    ticket anywhere (404 where a page is another's), while approval's clerk and the office find it."""
    buckets = ("new", "in_progress", "awaiting_enterprise", "co_handling")
    with signed_in(api, "li") as browser:
        answers = [
            browser.get("/work", params={"q": q, "bucket": b})
            for q in ("康杰药业", "土石方")
            for b in buckets
        ]
        answers.append(browser.get("/work", params={"q": ticket_id.lower()}))
        assert all(a.status_code == 200 and ticket_id not in a.text for a in answers)
        assert browser.get("/work", params={"department": "approval"}).status_code == 404
        assert browser.get("/desk").status_code == 404
        by_id = browser.get("/dashboard/ticket", params={"id": ticket_id.lower()}, follow_redirects=True)
        assert by_id.status_code == 404 and EARTHWORK["title"] not in by_id.text
    with signed_in(api, "wang") as browser:
        found = [browser.get("/work", params={"q": "康杰药业", "bucket": b}).text for b in buckets]
        assert any(ticket_id in page for page in found)
        opened = browser.get("/work", params={"q": ticket_id.lower()})
        assert opened.status_code == 303 and opened.headers["location"] == f"/dashboard/tickets/{ticket_id}"
    with signed_in(api, "zhao") as office:
        pages = [
            office.get("/work", params={"department": "approval", "q": "康杰药业", "bucket": b})
            for b in buckets
        ]
        assert any(ticket_id in page.text for page in pages)


def test_the_actor_of_a_form_action_is_the_signed_in_username(
    api: Api, ticket_id: str, store: RedisTicketStore
) -> None:
    with signed_in(api, "wang") as browser:
        page = browser.get(f"/dashboard/tickets/{ticket_id}")
        assert page.status_code == 200 and 'data-action="accept"' in page.text
        token = form_token(page.text)
        done = browser.post(f"/dashboard/tickets/{ticket_id}/accept", data={"csrf": token, "note": "已签收"})
        assert done.status_code == 303, done.text
        assert "已签收" in browser.get(f"/dashboard/tickets/{ticket_id}").text
    record = store.get(ticket_id)
    assert record is not None and record.status is TicketStatus.accepted
    accepted = [h for h in record.history if h.event_type == "TicketAccepted"]
    assert [(h.actor, h.department) for h in accepted] == [("wang", "approval")]
