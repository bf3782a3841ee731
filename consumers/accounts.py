"""Accounts at work: argon2 password hashes, signing in with lock-out, and account changes.

``Passwords`` wraps argon2-cffi (argon2id, its RFC 9106 defaults; tests pass
cheaper costs). ``SignIn`` checks a username and password against an
``AccountStore``, counting failures per account and per client address
(``schemas.accounts.PER_ACCOUNT``, ``PER_ADDRESS``), and turns a session
cookie back into the person it belongs to, refusing it the moment the session
is ended or the account disabled. ``add_account``, ``set_disabled`` and
``set_password`` are what ``ztc user`` and the admin page call: each validates,
stores, and ends the person's sessions where that is the point.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from consumers.account_store import AccountStore, AccountTaken
from schemas.accounts import (
    MAX_PASSWORD_CHARS,
    PER_ACCOUNT,
    PER_ADDRESS,
    Account,
    LockoutRule,
    Role,
    Session,
    open_session,
    password_problem,
    session_id,
    wait_message,
)
from schemas.feedback import OFFICE

log = logging.getLogger(__name__)


class AccountError(ValueError):
    """A refused account change, said in one line (Chinese / English)."""


class Passwords:
    """argon2id hashes; the defaults are argon2-cffi's (RFC 9106's second recommendation)."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher()

    @classmethod
    def cheap(cls) -> Passwords:
        """Fast, weak parameters: for tests only."""
        return cls(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, stored: str, password: str) -> bool:
        try:
            return self.hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return self.hasher.check_needs_rehash(stored)

    @cached_property
    def decoy(self) -> str:
        """A hash to verify against when the username is unknown, so timing does not tell."""
        return self.hash("decoy password, never anyone's")


# ---------------------------------------------------------------- signing in


@dataclass(frozen=True)
class SignedIn:
    account: Account
    token: str
    """The cookie's value; the store keeps only its hash."""
    session: Session


@dataclass(frozen=True)
class Refused:
    message: str
    status: int
    retry_after_s: int | None = None


@dataclass(frozen=True)
class Viewer:
    """The person behind a request's session cookie."""

    account: Account
    session: Session


WRONG = "用户名或密码错误 / wrong username or password"
DISABLED = "账号已停用，请联系系统管理员 / this account is disabled; ask the administrator"


def normal_username(username: str) -> str:
    return username.strip().lower()


class SignIn:
    def __init__(
        self,
        store: AccountStore,
        passwords: Passwords,
        per_account: LockoutRule = PER_ACCOUNT,
        per_address: LockoutRule = PER_ADDRESS,
    ) -> None:
        self.store = store
        self.passwords = passwords
        self.rules = {"account": per_account, "address": per_address}

    def _subjects(self, username: str, address: str) -> dict[str, str]:
        return {"account": f"account:{username}", "address": f"address:{address}"}

    def attempt(self, username: str, password: str, address: str, now: datetime) -> SignedIn | Refused:
        """Sign in, or say why not; while locked out, the password is not even checked."""
        username = normal_username(username)
        subjects = self._subjects(username, address)
        locks = [f.locked_until for s in subjects.values() if (f := self.store.failures(s)).locked(now)]
        if locks:
            until = max(u for u in locks if u is not None)
            return Refused(wait_message(until, now), 429, int((until - now).total_seconds()) + 1)
        account = self.store.get(username)
        good = len(password) <= MAX_PASSWORD_CHARS and self.passwords.verify(
            account.password_hash if account is not None else self.passwords.decoy, password
        )
        if account is None or not good:
            counted = {k: self.store.note_failure(s, now, self.rules[k]) for k, s in subjects.items()}
            log.warning("sign-in refused for %r from %s: wrong username or password", username, address)
            if any(c.locked(now) for c in counted.values()):
                until = max(c.locked_until for c in counted.values() if c.locked_until is not None)
                return Refused(wait_message(until, now), 429, int((until - now).total_seconds()) + 1)
            return Refused(WRONG, 401)
        if account.disabled:
            return Refused(DISABLED, 403)
        self.store.clear_failures(subjects["account"])
        if self.passwords.needs_rehash(account.password_hash):
            account = account.model_copy(update={"password_hash": self.passwords.hash(password)})
            self.store.put(account)
        token, session = open_session(account.username, now)
        self.store.open_session(session)
        log.info("%s signed in from %s", account.username, address)
        return SignedIn(account, token, session)

    def viewer(self, token: str | None, now: datetime) -> Viewer | None:
        """The live session of this cookie and its account, unless ended, expired or disabled."""
        if not token or len(token) > 200:
            return None
        session = self.store.session(session_id(token), now)
        if session is None:
            return None
        account = self.store.get(session.username)
        if account is None or account.disabled:
            self.store.end_session(session.session_id)
            return None
        return Viewer(account, session)

    def sign_out(self, token: str | None) -> None:
        if token:
            self.store.end_session(session_id(token))


# ---------------------------------------------------------------- account changes


def add_account(
    store: AccountStore,
    passwords: Passwords,
    fields: dict[str, str | None],
    password: str,
    now: datetime,
    departments: Iterable[str],
) -> Account:
    """A new account from ``username``, ``display_name``, ``role``, ``department``; AccountError."""
    if (problem := password_problem(password)) is not None:
        raise AccountError(problem)
    department = fields.get("department") or None
    if department is not None and department not in set(departments):
        raise AccountError(f"未知部门 unknown department: {department}")
    username = normal_username(fields.get("username") or "")
    try:
        role = Role(fields.get("role") or "")
        account = Account(
            username=username,
            display_name=(fields.get("display_name") or username).strip(),
            role=role,
            department=department,
            password_hash=passwords.hash(password),
            created_at=now,
            changed_at=now,
        )
    except ValueError as exc:
        raise AccountError(_why(exc)) from None
    try:
        store.add(account)
    except AccountTaken:
        raise AccountError(f"用户名已存在 username taken: {username}") from None
    log.info("account %s added (%s)", username, role.value)
    return account


def _why(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "account"
        return f"账号无效 invalid account: {where}: {first['msg']}"
    return f"账号无效 invalid account: {exc}"


def _existing(store: AccountStore, username: str) -> Account:
    account = store.get(normal_username(username))
    if account is None:
        raise AccountError(f"没有此用户 no such user: {username}")
    return account


def set_disabled(store: AccountStore, username: str, disabled: bool, now: datetime) -> Account:
    """Disable (ending every session at once) or enable an account."""
    account = _existing(store, username).model_copy(update={"disabled": disabled, "changed_at": now})
    store.put(account)
    if disabled:
        ended = store.end_sessions(account.username)
        log.info("account %s disabled; %d session(s) ended", account.username, ended)
    return account


def set_password(
    store: AccountStore, passwords: Passwords, username: str, password: str, now: datetime
) -> Account:
    """A new password; every session of the account ends (whoever knew the old one is out)."""
    if (problem := password_problem(password)) is not None:
        raise AccountError(problem)
    account = _existing(store, username)
    account = account.model_copy(update={"password_hash": passwords.hash(password), "changed_at": now})
    store.put(account)
    store.end_sessions(account.username)
    store.clear_failures(f"account:{account.username}")
    return account


# ---------------------------------------------------------------- demo accounts

DEMO_HEADER = (
    "# ZTC demo sign-ins: username, password, role, department (owner-only file).\n"
    "# Passwords are stored hashed; change one with `ztc user passwd NAME`.\n"
)


def demo_people(departments: dict[str, str]) -> list[dict[str, str | None]]:
    """One office dispatcher, one clerk per department (code → name), one administrator."""
    people: list[dict[str, str | None]] = [
        {"username": "dispatcher", "display_name": "派单员（演示）", "role": "dispatcher", "department": None}
    ]
    for code, name in departments.items():
        if code != OFFICE:
            people.append(
                {
                    "username": f"clerk-{code}",
                    "display_name": f"{name}经办人",
                    "role": "clerk",
                    "department": code,
                }
            )
    people.append(
        {"username": "admin", "display_name": "系统管理员（演示）", "role": "admin", "department": None}
    )
    return people


def ensure_demo_accounts(
    store: AccountStore, passwords: Passwords, departments: dict[str, str], path: Path, now: datetime
) -> dict[str, str]:
    """Create the demo accounts that do not exist yet; their passwords (username → password) are
    returned and merged into ``path`` (mode 0600). Existing accounts keep theirs."""
    created: dict[str, str] = {}
    rows: dict[str, str] = {}
    for person in demo_people(departments):
        username = str(person["username"])
        if store.get(username) is not None:
            continue
        password = secrets.token_urlsafe(12)
        add_account(store, passwords, person, password, now, departments)
        created[username] = password
        rows[username] = "\t".join((username, password, str(person["role"]), person["department"] or "-"))
    if created:
        kept = _demo_rows(path)
        kept.update(rows)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(DEMO_HEADER + "".join(row + "\n" for row in kept.values()))
        os.chmod(path, 0o600)  # also when the file existed with wider permissions
    return created


def _demo_rows(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return {}
    return {line.split("\t", 1)[0]: line for line in lines if line and not line.startswith("#")}
