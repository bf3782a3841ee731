"""The pure rules of accounts: roles and departments, passwords, lock-out arithmetic, CSRF, who sees what."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from consumers.ticket_store import InMemoryTicketStore
from schemas.accounts import (
    PER_ACCOUNT,
    Account,
    Failures,
    LockoutRule,
    Role,
    after_failure,
    csrf_matches,
    may_try,
    offered,
    open_session,
    password_problem,
    sees_ticket,
    session_id,
    wait_message,
)
from schemas.actions import ACTIONS, ACTIONS_BY_NAME
from schemas.events import TicketRouted
from schemas.principals import Scope
from schemas.ticket import TicketRecord
from tests.unit.factories import NOW, submission

HASH = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
WEB = tuple(a for a in ACTIONS if a.path is not None)


def account(
    username: str = "wangkz", role: Role = Role.clerk, department: str | None = "approval"
) -> Account:
    return Account(
        username=username,
        display_name="王科长",
        role=role,
        department=department,
        password_hash=HASH,
        created_at=NOW,
        changed_at=NOW,
    )


def ticket(lead: str = "approval", co: tuple[str, ...] = ("construction",)) -> TicketRecord:
    routed = TicketRouted(
        ticket_id="ZTC-20261127-00000001",
        occurred_at=NOW,
        submission=submission(),
        category="licence",
        confidence=0.9,
        lead_department=lead,
        co_departments=co,
        priority="normal",
        policy_version="t",
    )
    store = InMemoryTicketStore()
    store.record(routed)
    record = store.get(routed.ticket_id)
    assert record is not None
    return record


# ---------------------------------------------------------------- accounts and passwords


def test_department_roles_belong_to_one_department_and_other_roles_to_none() -> None:
    assert account().principal() is not None
    for role, department in [
        (Role.clerk, None),
        (Role.head, None),
        (Role.dispatcher, "approval"),
        (Role.admin, "approval"),
        (Role.clerk, "office"),
    ]:
        with pytest.raises(ValidationError):
            account(role=role, department=department)
    for bad in ("王科长", "A", "x", "wang kz", "-wang"):
        with pytest.raises(ValidationError):
            account(username=bad)


def test_who_an_account_acts_as() -> None:
    clerk = account().principal()
    assert clerk is not None and (clerk.name, clerk.scope, clerk.department) == (
        "wangkz",
        Scope.department,
        "approval",
    )
    office = account("zhao", Role.supervisor, None).principal()
    assert office is not None and office.is_office and office.name == "zhao"
    assert account("root", Role.admin, None).principal() is None
    assert "password_hash" not in repr(account()) and HASH not in repr(account())


@pytest.mark.parametrize(
    ("password", "fine"),
    [
        ("short", False),
        ("ten chars!", True),
        (" leading blank", False),
        ("tab\tinside!", False),
        ("x" * 257, False),
    ],
)
def test_password_problems(password: str, fine: bool) -> None:
    assert (password_problem(password) is None) is fine


# ---------------------------------------------------------------- lock-out


def fail(times: int, rule: LockoutRule = PER_ACCOUNT, every: timedelta = timedelta(seconds=10)) -> Failures:
    failures = Failures()
    for i in range(times):
        failures = after_failure(failures, NOW + i * every, rule)
    return failures


def test_five_failures_within_the_window_lock_for_fifteen_minutes() -> None:
    four = fail(4)
    assert four.count == 4 and not four.locked(NOW + timedelta(minutes=1))
    five = fail(5)
    last = NOW + timedelta(seconds=40)
    assert five.locked_until == last + timedelta(minutes=15)
    assert five.locked(last + timedelta(minutes=14, seconds=59))
    assert not five.locked(last + timedelta(minutes=15))


def test_failures_while_locked_do_not_extend_the_lock() -> None:
    five = fail(5)
    assert after_failure(five, NOW + timedelta(minutes=5), PER_ACCOUNT) == five


def test_a_lock_that_ran_out_starts_a_fresh_count() -> None:
    five = fail(5)
    assert five.locked_until is not None
    later = after_failure(five, five.locked_until + timedelta(seconds=1), PER_ACCOUNT)
    assert later.count == 1 and not later.locked(five.locked_until + timedelta(seconds=2))


def test_failures_spread_wider_than_the_window_never_lock() -> None:
    spread = fail(10, every=timedelta(minutes=4))
    assert spread.locked_until is None and spread.count <= 4


def test_the_wait_message_rounds_up_to_whole_minutes() -> None:
    assert "15 分钟后再试" in wait_message(NOW + timedelta(minutes=14, seconds=1), NOW)
    assert "1 分钟后再试" in wait_message(NOW + timedelta(seconds=3), NOW)


# ---------------------------------------------------------------- sessions and CSRF


def test_a_session_is_stored_under_the_cookies_hash_with_its_own_csrf_token() -> None:
    token, session = open_session("wangkz", NOW)
    assert session.session_id == session_id(token) != token
    assert session.live(NOW + timedelta(hours=7)) and not session.live(NOW + timedelta(hours=8))
    other_token, other = open_session("wangkz", NOW)
    assert other_token != token and other.csrf != session.csrf


def test_csrf_tokens_must_match_exactly() -> None:
    _, session = open_session("wangkz", NOW)
    assert csrf_matches(session.csrf, session.csrf)
    assert not csrf_matches(session.csrf, session.csrf[:-1] + "x")
    assert not csrf_matches(session.csrf, "") and not csrf_matches(session.csrf, None)
    assert not csrf_matches(None, None) and not csrf_matches("", "")


# ---------------------------------------------------------------- who sees and tries what


def test_department_people_see_only_their_departments_tickets() -> None:
    record = ticket()
    assert sees_ticket(account(), record)
    assert sees_ticket(account(department="construction"), record)
    assert not sees_ticket(account(department="planning"), record)
    assert sees_ticket(account("zhao", Role.dispatcher, None), record)
    assert not sees_ticket(account("root", Role.admin, None), record)


def test_roles_and_the_departments_part_decide_the_forms_offered() -> None:
    record = ticket()

    def names(who: Account) -> set[str]:
        return {s.verb for s in offered(who, record, WEB)}

    lead = names(account())
    assert {"accept", "progress", "resolve", "bounce"} <= lead and "co-done" not in lead
    assert "dispatch" not in lead
    co = names(account(department="construction"))
    assert {"accept", "co-done", "bounce"} <= co and "resolve" not in co
    assert names(account(department="planning")) == set()
    office = names(account("zhao", Role.dispatcher, None))
    assert {"dispatch", "convene", "ask"} <= office and "accept" not in office
    assert names(account("root", Role.admin, None)) == set()


def test_extensions_are_asked_by_a_head_and_granted_by_a_supervisor() -> None:
    extend, approve = ACTIONS_BY_NAME["extend"], ACTIONS_BY_NAME["approve_extension"]
    assert may_try(account(role=Role.head), extend) and not may_try(account(), extend)
    reject = ACTIONS_BY_NAME["reject_extension"]
    assert may_try(account("qian", Role.supervisor, None), approve)
    assert may_try(account("qian", Role.supervisor, None), reject)
    assert not may_try(account("zhao", Role.dispatcher, None), approve)
    assert not may_try(account("zhao", Role.dispatcher, None), reject)


def test_a_disabled_account_may_try_nothing() -> None:
    disabled = account().model_copy(update={"disabled": True})
    assert not may_try(disabled, ACTIONS_BY_NAME["accept"])
    assert may_try(account(), ACTIONS_BY_NAME["accept"])
