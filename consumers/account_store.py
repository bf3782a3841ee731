"""Where accounts, sessions and failed-sign-in counters live: a small port, in memory and in Redis.

``AccountStore`` is the port the sign-in service, the pages and ``ztc user``
use. ``InMemoryAccountStore`` is for unit tests and passes the same contract
(``tests/unit/account_contract.py``) as ``RedisAccountStore``, which keeps,
under the settings' Redis prefix:

- ``{prefix}account:{username}``: the account as JSON; ``{prefix}accounts``: the set of usernames;
- ``{prefix}session:{sha256 of the cookie}``: a session as JSON, expiring with it;
  ``{prefix}sessions:{username}``: that person's session ids, so disabling ends them all at once;
- ``{prefix}signin-failures:{subject}``: a failure counter as JSON, expiring when it no longer matters.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

import redis

from schemas.accounts import Account, Failures, LockoutRule, Session, after_failure


class AccountTaken(ValueError):
    """An account with this username exists already."""


class AccountStore(Protocol):
    def get(self, username: str) -> Account | None: ...

    def add(self, account: Account) -> None:
        """Store a new account; AccountTaken if the username is in use."""

    def put(self, account: Account) -> None:
        """Replace an existing account (disable, enable, new password)."""

    def accounts(self) -> list[Account]:
        """Every account, by username."""

    def open_session(self, session: Session) -> None: ...

    def session(self, session_id: str, now: datetime) -> Session | None:
        """The live session stored under ``session_id``; ``None`` if unknown, ended or expired."""

    def end_session(self, session_id: str) -> None: ...

    def end_sessions(self, username: str) -> int:
        """End every session of ``username``; how many were live."""

    def failures(self, subject: str) -> Failures: ...

    def note_failure(self, subject: str, now: datetime, rule: LockoutRule) -> Failures:
        """Count one failed sign-in of ``subject`` (atomically) and return the new counter."""

    def clear_failures(self, subject: str) -> None: ...


class InMemoryAccountStore:
    def __init__(self) -> None:
        self._accounts: dict[str, Account] = {}
        self._sessions: dict[str, Session] = {}
        self._failures: dict[str, Failures] = {}
        self._lock = threading.Lock()

    def get(self, username: str) -> Account | None:
        return self._accounts.get(username)

    def add(self, account: Account) -> None:
        with self._lock:
            if account.username in self._accounts:
                raise AccountTaken(account.username)
            self._accounts[account.username] = account

    def put(self, account: Account) -> None:
        if account.username not in self._accounts:
            raise KeyError(account.username)
        self._accounts[account.username] = account

    def accounts(self) -> list[Account]:
        return [self._accounts[name] for name in sorted(self._accounts)]

    def open_session(self, session: Session) -> None:
        self._sessions[session.session_id] = session

    def session(self, session_id: str, now: datetime) -> Session | None:
        found = self._sessions.get(session_id)
        return found if found is not None and found.live(now) else None

    def end_session(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    def end_sessions(self, username: str) -> int:
        ended = [k for k, s in self._sessions.items() if s.username == username]
        for key in ended:
            del self._sessions[key]
        return len(ended)

    def failures(self, subject: str) -> Failures:
        return self._failures.get(subject, Failures())

    def note_failure(self, subject: str, now: datetime, rule: LockoutRule) -> Failures:
        with self._lock:
            counted = after_failure(self.failures(subject), now, rule)
            self._failures[subject] = counted
            return counted

    def clear_failures(self, subject: str) -> None:
        self._failures.pop(subject, None)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _seconds(delta_s: float) -> int:
    return max(1, int(delta_s + 0.999))


class RedisAccountStore:
    def __init__(self, client: redis.Redis, prefix: str = "ztc:") -> None:
        self.client = client
        self.prefix = prefix

    def _account_key(self, username: str) -> str:
        return f"{self.prefix}account:{username}"

    def _session_key(self, session_id: str) -> str:
        return f"{self.prefix}session:{session_id}"

    def _sessions_of(self, username: str) -> str:
        return f"{self.prefix}sessions:{username}"

    def _failures_key(self, subject: str) -> str:
        return f"{self.prefix}signin-failures:{subject}"

    def get(self, username: str) -> Account | None:
        raw = self.client.get(self._account_key(username))
        return Account.model_validate_json(raw) if raw is not None else None

    def add(self, account: Account) -> None:
        if not self.client.set(self._account_key(account.username), account.model_dump_json(), nx=True):
            raise AccountTaken(account.username)
        self.client.sadd(f"{self.prefix}accounts", account.username)

    def put(self, account: Account) -> None:
        if not self.client.set(self._account_key(account.username), account.model_dump_json(), xx=True):
            raise KeyError(account.username)

    def accounts(self) -> list[Account]:
        names = sorted(_text(n) for n in self.client.smembers(f"{self.prefix}accounts"))
        if not names:
            return []
        raws = self.client.mget([self._account_key(n) for n in names])
        return [Account.model_validate_json(raw) for raw in raws if raw is not None]

    def open_session(self, session: Session) -> None:
        ttl = _seconds((session.expires_at - session.created_at).total_seconds())
        pipe = self.client.pipeline()
        pipe.set(self._session_key(session.session_id), session.model_dump_json(), ex=ttl)
        pipe.sadd(self._sessions_of(session.username), session.session_id)
        pipe.expire(self._sessions_of(session.username), ttl)  # sessions are alike: the newest ends last
        pipe.execute()

    def session(self, session_id: str, now: datetime) -> Session | None:
        raw = self.client.get(self._session_key(session_id))
        if raw is None:
            return None
        found = Session.model_validate_json(raw)
        return found if found.live(now) else None

    def end_session(self, session_id: str) -> None:
        key = self._session_key(session_id)
        raw = self.client.getdel(key)
        if raw is not None:
            found = Session.model_validate_json(raw)
            self.client.srem(self._sessions_of(found.username), session_id)

    def end_sessions(self, username: str) -> int:
        index = self._sessions_of(username)
        ids = [_text(i) for i in self.client.smembers(index)]
        pipe = self.client.pipeline()
        for found in ids:
            pipe.delete(self._session_key(found))
        pipe.delete(index)
        deleted: list[int] = pipe.execute()
        return sum(deleted[:-1])

    def failures(self, subject: str) -> Failures:
        raw = self.client.get(self._failures_key(subject))
        return Failures.model_validate_json(raw) if raw is not None else Failures()

    def note_failure(self, subject: str, now: datetime, rule: LockoutRule) -> Failures:
        key = self._failures_key(subject)
        counted: list[Failures] = []

        def count(pipe: redis.client.Pipeline) -> None:
            raw = pipe.get(key)
            before = Failures.model_validate_json(raw) if raw is not None else Failures()
            counted[:] = [after_failure(before, now, rule)]
            pipe.multi()
            pipe.set(key, counted[0].model_dump_json(), ex=_seconds(rule.keep_for.total_seconds()))

        self.client.transaction(count, key)
        return counted[0]

    def clear_failures(self, subject: str) -> None:
        self.client.delete(self._failures_key(subject))


StoreFactory = Callable[[], AccountStore]
