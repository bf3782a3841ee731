"""One contract for every AccountStore: the in-memory fake and Redis must behave alike."""

from __future__ import annotations

from datetime import timedelta

import pytest

from consumers.account_store import AccountStore, AccountTaken
from schemas.accounts import PER_ACCOUNT, Account, Failures, Role, open_session
from tests.unit.factories import NOW

HASH = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"


def person(username: str, role: Role = Role.clerk, department: str | None = "approval") -> Account:
    return Account(
        username=username,
        display_name=username.upper(),
        role=role,
        department=department,
        password_hash=HASH,
        created_at=NOW,
        changed_at=NOW,
    )


class AccountStoreContract:
    def make_store(self) -> AccountStore:
        raise NotImplementedError

    def test_accounts_are_added_once_read_back_and_listed_by_name(self) -> None:
        store = self.make_store()
        assert store.get("wangkz") is None and store.accounts() == []
        store.add(person("wangkz"))
        store.add(person("liu", Role.dispatcher, None))
        with pytest.raises(AccountTaken):
            store.add(person("wangkz", Role.head))
        assert store.get("wangkz") == person("wangkz")
        assert [a.username for a in store.accounts()] == ["liu", "wangkz"]

    def test_put_replaces_only_an_existing_account(self) -> None:
        store = self.make_store()
        store.add(person("wangkz"))
        store.put(person("wangkz").model_copy(update={"disabled": True}))
        found = store.get("wangkz")
        assert found is not None and found.disabled
        with pytest.raises(KeyError):
            store.put(person("nobody"))
        assert store.get("nobody") is None

    def test_a_session_is_found_until_it_ends_or_expires(self) -> None:
        store = self.make_store()
        _, session = open_session("wangkz", NOW)
        store.open_session(session)
        assert store.session(session.session_id, NOW + timedelta(hours=1)) == session
        assert store.session(session.session_id, session.expires_at) is None
        assert store.session("0" * 64, NOW) is None
        store.end_session(session.session_id)
        assert store.session(session.session_id, NOW) is None
        store.end_session(session.session_id)  # twice is fine

    def test_ending_a_persons_sessions_ends_all_of_theirs_and_nobody_elses(self) -> None:
        store = self.make_store()
        mine = [open_session("wangkz", NOW)[1] for _ in range(3)]
        theirs = open_session("liu", NOW)[1]
        for session in [*mine, theirs]:
            store.open_session(session)
        store.end_session(mine[0].session_id)
        assert store.end_sessions("wangkz") == 2
        assert all(store.session(s.session_id, NOW) is None for s in mine)
        assert store.session(theirs.session_id, NOW) == theirs
        assert store.end_sessions("wangkz") == 0

    def test_failures_are_counted_per_subject_and_cleared(self) -> None:
        store = self.make_store()
        assert store.failures("account:wangkz") == Failures()
        for i in range(PER_ACCOUNT.limit):
            counted = store.note_failure("account:wangkz", NOW + timedelta(seconds=i), PER_ACCOUNT)
        assert counted.count == PER_ACCOUNT.limit and counted.locked(NOW + timedelta(minutes=1))
        assert store.failures("account:wangkz") == counted
        assert store.failures("address:10.0.0.1") == Failures()
        store.clear_failures("account:wangkz")
        assert store.failures("account:wangkz") == Failures()
