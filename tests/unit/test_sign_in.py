"""Signing in on the in-memory store: argon2 hashes, lock-out per account and address, disabled
accounts, session ends, account changes and the demo accounts' file."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from consumers.account_store import InMemoryAccountStore
from consumers.accounts import (
    AccountError,
    Passwords,
    Refused,
    SignedIn,
    SignIn,
    add_account,
    ensure_demo_accounts,
    set_disabled,
    set_password,
)
from schemas.accounts import Role
from tests.unit.factories import NOW

PASSWORD = "correct horse battery"
DEPARTMENTS = ("office", "approval", "planning")


def setup() -> tuple[SignIn, InMemoryAccountStore, Passwords]:
    store, passwords = InMemoryAccountStore(), Passwords.cheap()
    fields: dict[str, str | None] = {"username": "WangKZ ", "display_name": "王科长", "role": "clerk"}
    add_account(store, passwords, fields | {"department": "approval"}, PASSWORD, NOW, DEPARTMENTS)
    return SignIn(store, passwords), store, passwords


def test_passwords_are_argon2id_hashes_that_verify_only_the_password() -> None:
    passwords = Passwords.cheap()
    stored = passwords.hash(PASSWORD)
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert passwords.verify(stored, PASSWORD)
    assert not passwords.verify(stored, PASSWORD + "!") and not passwords.verify("not a hash", PASSWORD)
    assert passwords.hash(PASSWORD) != stored  # salted
    assert Passwords().needs_rehash(stored)  # weaker than the production parameters


def test_the_right_password_signs_in_and_opens_a_stored_session() -> None:
    sign_in, _, _ = setup()
    outcome = sign_in.attempt("wangkz", PASSWORD, "10.0.0.1", NOW)
    assert isinstance(outcome, SignedIn) and outcome.account.username == "wangkz"
    viewer = sign_in.viewer(outcome.token, NOW + timedelta(minutes=1))
    assert viewer is not None and viewer.account.username == "wangkz"
    assert sign_in.viewer(outcome.token, NOW + timedelta(hours=9)) is None
    assert sign_in.viewer("forged", NOW) is None and sign_in.viewer(None, NOW) is None


def test_wrong_passwords_and_unknown_names_are_refused_alike() -> None:
    sign_in, _, _ = setup()
    wrong = sign_in.attempt("wangkz", "wrong password", "10.0.0.1", NOW)
    unknown = sign_in.attempt("nobody", PASSWORD, "10.0.0.1", NOW)
    assert isinstance(wrong, Refused) and isinstance(unknown, Refused)
    assert (wrong.status, wrong.message) == (unknown.status, unknown.message) == (401, wrong.message)
    assert "用户名或密码错误" in wrong.message


def test_five_failures_lock_the_account_even_against_the_right_password() -> None:
    sign_in, _, _ = setup()
    outcomes = [sign_in.attempt("wangkz", f"guess {i}", f"10.0.0.{i}", NOW) for i in range(5)]
    assert [o.status for o in outcomes if isinstance(o, Refused)] == [401, 401, 401, 401, 429]
    locked = sign_in.attempt("wangkz", PASSWORD, "10.9.9.9", NOW + timedelta(minutes=1))
    assert isinstance(locked, Refused) and locked.status == 429
    assert "14 分钟后再试" in locked.message and locked.retry_after_s == 14 * 60 + 1
    later = sign_in.attempt("wangkz", PASSWORD, "10.9.9.9", NOW + timedelta(minutes=15))
    assert isinstance(later, SignedIn)


def test_a_success_clears_the_accounts_count() -> None:
    sign_in, store, _ = setup()
    for i in range(4):
        sign_in.attempt("wangkz", f"guess {i}", "10.0.0.1", NOW)
    assert isinstance(sign_in.attempt("wangkz", PASSWORD, "10.0.0.1", NOW), SignedIn)
    assert store.failures("account:wangkz").count == 0
    assert store.failures("address:10.0.0.1").count == 4  # an address is not cleared by one good account


def test_twenty_failures_from_one_address_lock_that_address_for_every_account() -> None:
    sign_in, _, _ = setup()
    for i in range(20):
        sign_in.attempt(f"user{i}", "guess", "10.0.0.7", NOW)
    refused = sign_in.attempt("wangkz", PASSWORD, "10.0.0.7", NOW)
    assert isinstance(refused, Refused) and refused.status == 429
    assert isinstance(sign_in.attempt("wangkz", PASSWORD, "10.0.0.8", NOW), SignedIn)


def test_a_disabled_account_cannot_sign_in_and_its_sessions_end_at_once() -> None:
    sign_in, store, _ = setup()
    outcome = sign_in.attempt("wangkz", PASSWORD, "10.0.0.1", NOW)
    assert isinstance(outcome, SignedIn)
    set_disabled(store, "wangkz", True, NOW)
    assert sign_in.viewer(outcome.token, NOW) is None
    refused = sign_in.attempt("wangkz", PASSWORD, "10.0.0.1", NOW)
    assert isinstance(refused, Refused) and refused.status == 403 and "停用" in refused.message
    set_disabled(store, "wangkz", False, NOW)
    assert sign_in.viewer(outcome.token, NOW) is None  # enabling does not bring old sessions back
    assert isinstance(sign_in.attempt("wangkz", PASSWORD, "10.0.0.1", NOW), SignedIn)


def test_a_new_password_ends_the_sessions_of_the_old_one() -> None:
    sign_in, store, passwords = setup()
    outcome = sign_in.attempt("wangkz", PASSWORD, "10.0.0.1", NOW)
    assert isinstance(outcome, SignedIn)
    set_password(store, passwords, "wangkz", "a brand new secret", NOW)
    assert sign_in.viewer(outcome.token, NOW) is None
    assert isinstance(sign_in.attempt("wangkz", PASSWORD, "10.0.0.1", NOW), Refused)
    assert isinstance(sign_in.attempt("wangkz", "a brand new secret", "10.0.0.1", NOW), SignedIn)
    with pytest.raises(AccountError, match="至少"):
        set_password(store, passwords, "wangkz", "short", NOW)
    with pytest.raises(AccountError, match="no such user"):
        set_password(store, passwords, "nobody", "a brand new secret", NOW)


def test_signing_out_ends_the_session() -> None:
    sign_in, _, _ = setup()
    outcome = sign_in.attempt("wangkz", PASSWORD, "10.0.0.1", NOW)
    assert isinstance(outcome, SignedIn)
    sign_in.sign_out(outcome.token)
    assert sign_in.viewer(outcome.token, NOW) is None


def test_a_hash_with_old_parameters_is_upgraded_at_sign_in() -> None:
    store = InMemoryAccountStore()
    add_account(
        store,
        Passwords.cheap(),
        {"username": "liu", "role": "dispatcher"},
        PASSWORD,
        NOW,
        DEPARTMENTS,
    )
    stronger = Passwords(PasswordHasher(time_cost=2, memory_cost=16, parallelism=1))
    assert isinstance(SignIn(store, stronger).attempt("liu", PASSWORD, "10.0.0.1", NOW), SignedIn)
    upgraded = store.get("liu")
    assert upgraded is not None and "m=16,t=2" in upgraded.password_hash


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"username": "wangkz", "role": "clerk", "department": "approval"}, "username taken"),
        ({"username": "zhang", "role": "clerk", "department": "nowhere"}, "unknown department"),
        ({"username": "zhang", "role": "clerk"}, "department"),
        ({"username": "zhang", "role": "dispatcher", "department": "approval"}, "department"),
        ({"username": "zhang", "role": "king"}, "invalid account"),
        ({"username": "张三", "role": "dispatcher"}, "username"),
    ],
)
def test_account_mistakes_are_one_line(fields: dict[str, str | None], message: str) -> None:
    _, store, passwords = setup()
    with pytest.raises(AccountError, match=message) as caught:
        add_account(store, passwords, fields, PASSWORD, NOW, DEPARTMENTS)
    assert "\n" not in str(caught.value)


def test_demo_accounts_are_made_once_and_their_passwords_kept_owner_only(tmp_path: Path) -> None:
    store, passwords = InMemoryAccountStore(), Passwords.cheap()
    path = tmp_path / "demo-logins.txt"
    names = {"office": "区政府办公室", "approval": "区行政审批服务局", "planning": "区自然资源局"}
    created = ensure_demo_accounts(store, passwords, names, path, NOW)
    assert set(created) == {"dispatcher", "clerk-approval", "clerk-planning", "admin"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text(encoding="utf-8")
    assert all(f"{name}\t{password}\t" in text for name, password in created.items())
    clerk = store.get("clerk-approval")
    assert clerk is not None and clerk.role is Role.clerk and clerk.department == "approval"
    assert ensure_demo_accounts(store, passwords, names, path, NOW) == {}
    assert path.read_text(encoding="utf-8") == text
    sign_in = SignIn(store, passwords)
    assert isinstance(
        sign_in.attempt("clerk-approval", created["clerk-approval"], "127.0.0.1", NOW), SignedIn
    )
