"""People, not shared keys: personal accounts, their roles, sessions and the rules of signing in.

A contract and pure rules, like the rest of ``schemas``: what an account is
(``Account``, with its ``Role`` and, for department people, its department),
what a signed-in session holds (``Session``, with its CSRF token), how failed
sign-ins lock an account or a client address out (``after_failure`` with
``now`` passed in), and what a role may see and try (``sees_ticket``,
``may_try``). Hashing passwords, storing accounts and serving the pages are
adapters in ``consumers``; nothing here touches Redis, argon2 or FastAPI.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from schemas.actions import DEPARTMENT_ROLES, ActionSpec, Who
from schemas.feedback import OFFICE, DepartmentCode
from schemas.principals import Principal, Scope
from schemas.ticket import TicketRecord
from schemas.ticket_state import refusal

USERNAME_PATTERN = r"^[a-z][a-z0-9._-]{1,31}$"
"""Lower-case ASCII login names (no look-alike letters); the name shown is ``display_name``."""
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 256
"""Longer input is refused before hashing: argon2 of megabytes would be a cheap denial of service."""
SESSION_HOURS = 8


class Role(StrEnum):
    """What a person does in the loop; department roles belong to one department."""

    dispatcher = "dispatcher"
    supervisor = "supervisor"
    clerk = "clerk"
    head = "head"
    admin = "admin"

    @property
    def label(self) -> str:
        return {
            "dispatcher": "办公室派单员 office dispatcher",
            "supervisor": "办公室督办 office supervisor",
            "clerk": "部门经办人 department clerk",
            "head": "部门负责人 department head",
            "admin": "系统管理员 administrator",
        }[self.value]

    @property
    def of_department(self) -> bool:
        return self in (Role.clerk, Role.head)

    @property
    def of_office(self) -> bool:
        return self in (Role.dispatcher, Role.supervisor)


class Account(BaseModel):
    """One person's account as stored: never the password, only its argon2 hash."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    username: str = Field(pattern=USERNAME_PATTERN)
    display_name: str = Field(min_length=1, max_length=40)
    role: Role
    department: DepartmentCode | None = Field(
        default=None, description="the department of a clerk or head; none for other roles"
    )
    password_hash: str = Field(min_length=20, repr=False)
    disabled: bool = False
    created_at: AwareDatetime
    changed_at: AwareDatetime

    @model_validator(mode="after")
    def _department_goes_with_role(self) -> Account:
        if self.role.of_department != (self.department is not None):
            raise ValueError("a clerk or head belongs to one department; other roles to none")
        if self.department == OFFICE:
            raise ValueError("office people are dispatchers or supervisors, not a department's clerk")
        return self

    @property
    def acting_department(self) -> str | None:
        """The ``department`` of the events this person causes: their own, the office's, or none."""
        if self.role.of_office:
            return OFFICE
        return self.department

    def principal(self) -> Principal | None:
        """What the department API's rules see: a department (the office for office people), or
        ``None`` for an administrator, who manages accounts and reads no tickets."""
        department = self.acting_department
        if department is None:
            return None
        return Principal(self.username, Scope.department, department=department)


def password_problem(password: str) -> str | None:
    """Why a new password is refused (Chinese and English), or ``None``."""
    if len(password) < MIN_PASSWORD_CHARS:
        return f"密码至少 {MIN_PASSWORD_CHARS} 个字符 / at least {MIN_PASSWORD_CHARS} characters"
    if len(password) > MAX_PASSWORD_CHARS:
        return f"密码最多 {MAX_PASSWORD_CHARS} 个字符 / at most {MAX_PASSWORD_CHARS} characters"
    if password.strip() != password or not password.isprintable():
        return (
            "密码不能以空白开头或结尾，不能含控制字符 / no leading or trailing blanks, no control characters"
        )
    return None


# ---------------------------------------------------------------- sessions and CSRF


def new_token() -> str:
    return secrets.token_urlsafe(32)


def session_id(token: str) -> str:
    """The key a session is stored under: the cookie's hash, so a copy of the store opens nothing."""
    return hashlib.sha256(token.encode()).hexdigest()


class Session(BaseModel):
    """A signed-in browser, stored server-side: ending it (logout, disable) takes effect at once."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    session_id: str = Field(pattern=r"^[0-9a-f]{64}$")
    username: str = Field(pattern=USERNAME_PATTERN)
    csrf: str = Field(min_length=32, repr=False, description="the synchronizer token of its forms")
    created_at: AwareDatetime
    expires_at: AwareDatetime

    def live(self, now: datetime) -> bool:
        return now < self.expires_at


def open_session(username: str, now: datetime, hours: int = SESSION_HOURS) -> tuple[str, Session]:
    """A fresh cookie token and the session stored for it (with its own CSRF token)."""
    token = new_token()
    session = Session(
        session_id=session_id(token),
        username=username,
        csrf=new_token(),
        created_at=now,
        expires_at=now + timedelta(hours=hours),
    )
    return token, session


def csrf_matches(expected: str | None, given: str | None) -> bool:
    """The form's token is the session's (constant time); a missing one never matches."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


# ---------------------------------------------------------------- lock-out


@dataclass(frozen=True)
class LockoutRule:
    """``limit`` failures within ``window`` lock for ``lock``; attempts while locked are not counted."""

    limit: int
    window: timedelta = timedelta(minutes=15)
    lock: timedelta = timedelta(minutes=15)

    @property
    def keep_for(self) -> timedelta:
        """How long a counter matters at most (its storage's time to live)."""
        return self.window + self.lock


PER_ACCOUNT = LockoutRule(limit=5)
PER_ADDRESS = LockoutRule(limit=20)
"""Higher than per account: an office behind one NAT address shares this counter."""


class Failures(BaseModel):
    """Failed sign-ins of one account or client address."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    count: int = Field(default=0, ge=0)
    first_at: AwareDatetime | None = None
    locked_until: AwareDatetime | None = None

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until


def after_failure(failures: Failures, now: datetime, rule: LockoutRule) -> Failures:
    """The counter after one more failure at ``now``."""
    if failures.locked(now):
        return failures
    fresh = (
        failures.first_at is None
        or now - failures.first_at >= rule.window
        or failures.locked_until is not None  # a lock that ran out starts a new count
    )
    count = 1 if fresh else failures.count + 1
    first_at = now if fresh else failures.first_at
    locked_until = now + rule.lock if count >= rule.limit else None
    return Failures(count=count, first_at=first_at, locked_until=locked_until)


def wait_message(until: datetime, now: datetime) -> str:
    """The Chinese (and English) sentence a locked-out person reads."""
    minutes = max(1, -(-int((until - now).total_seconds()) // 60))
    return f"登录失败次数过多，请 {minutes} 分钟后再试 / too many failed sign-ins, try again in {minutes} min"


# ---------------------------------------------------------------- what a role sees and tries


def involved(record: TicketRecord, department: str) -> bool:
    """The department is or was lead or co-department of the ticket."""
    return department in record.departments or any(a.department == department for a in record.assignments)


def sees_ticket(account: Account, record: TicketRecord) -> bool:
    """Office people see every ticket; department people those of their department; admins none."""
    if account.role.of_office:
        return True
    return account.department is not None and involved(record, account.department)


EXTRA_ROLE: dict[str, Role] = {
    "extend": Role.head,
    "approve-extension": Role.supervisor,
    "reject-extension": Role.supervisor,
}
"""Actions only one role of its side may try: a department's head asks for more time (延期申请须
部门负责人), the office's supervisor grants or rejects it. Every other action is open to the whole side."""


def may_try(account: Account, spec: ActionSpec) -> bool:
    """Whether the web offers and accepts ``spec`` from this person (the ticket's state still decides)."""
    if account.disabled or account.role is Role.admin:
        return False
    needed = EXTRA_ROLE.get(spec.verb)
    if needed is not None and account.role is not needed:
        return False
    if account.role.of_office:
        return Who.office in spec.who
    return bool(DEPARTMENT_ROLES & set(spec.who))


def _holds(record: TicketRecord, department: str, who: Who) -> bool:
    if who is Who.lead:
        return record.lead_department == department
    if who is Who.co:
        return department in record.co_departments
    return who is Who.involved and involved(record, department)


def offered(account: Account, record: TicketRecord, specs: tuple[ActionSpec, ...]) -> list[ActionSpec]:
    """The actions a page offers this person on this ticket, by role and by their department's part
    in it (lead, co); whether the ticket's state allows one is its transition's to say."""
    department = account.acting_department
    if department is None or not sees_ticket(account, record):
        return []
    return [
        spec
        for spec in specs
        if may_try(account, spec)
        and (account.role.of_office or any(_holds(record, department, who) for who in spec.who))
    ]


def allowed_now(account: Account, record: TicketRecord, specs: tuple[ActionSpec, ...]) -> list[ActionSpec]:
    """The forms a ticket page shows: ``offered`` by role, less those the ticket's state refuses
    whatever is filled in (each transition's guard, the check the server runs first)."""
    department = account.acting_department
    if department is None:
        return []
    return [
        spec for spec in offered(account, record, specs) if refusal(record, spec.event, department) is None
    ]
