"""The in-memory store passes the same contract as the Redis one (tests/integration)."""

from __future__ import annotations

from consumers.inbox_index import InboxIndex, InMemoryInboxIndex
from consumers.read_model import InMemoryReadModel
from consumers.sla_engine import SlaBook
from consumers.ticket_store import InMemoryTicketStore, TicketStore
from schemas.sla import SlaEvent
from tests.unit.batch_contract import BatchContract
from tests.unit.inbox_contract import InboxContract


class TestInMemoryTicketStore(BatchContract, InboxContract):
    def make_store(self, book: SlaBook | None = None) -> TicketStore:
        return InMemoryTicketStore(book=book)

    def inboxes(self, store: TicketStore) -> InboxIndex:
        assert isinstance(store, InMemoryTicketStore)
        return InMemoryInboxIndex(lambda: list(store.tickets.values()))

    def alerts(self, store: TicketStore) -> list[SlaEvent]:
        assert isinstance(store, InMemoryTicketStore)
        return store.alerts

    def forget_read_model(self, store: TicketStore) -> None:
        assert isinstance(store, InMemoryTicketStore)
        store.read_model = InMemoryReadModel()
