"""The in-memory account store under the shared contract (Redis runs it in tests/integration)."""

from __future__ import annotations

from consumers.account_store import AccountStore, InMemoryAccountStore
from tests.unit.account_contract import AccountStoreContract


class TestInMemoryAccountStore(AccountStoreContract):
    def make_store(self) -> AccountStore:
        return InMemoryAccountStore()
