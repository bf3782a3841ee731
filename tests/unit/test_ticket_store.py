"""The in-memory store passes the same contract as the Redis one (tests/integration)."""

from __future__ import annotations

from consumers.ticket_store import InMemoryTicketStore, TicketStore
from tests.unit.store_contract import TicketStoreContract


class TestInMemoryTicketStore(TicketStoreContract):
    def make_store(self) -> TicketStore:
        return InMemoryTicketStore()
