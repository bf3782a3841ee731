"""The in-memory SLA schedule under the shared contract (Redis runs it in tests/integration)."""

from __future__ import annotations

from consumers.sla_engine import SlaBook
from consumers.sla_schedule import InMemorySlaSchedule, SlaSchedule
from consumers.ticket_store import InMemoryTicketStore, TicketStore
from tests.unit.sla_schedule_contract import SlaScheduleContract


class TestInMemorySlaSchedule(SlaScheduleContract):
    def make(self, book: SlaBook) -> tuple[TicketStore, SlaSchedule]:
        self.now = 1000.0
        store = InMemoryTicketStore(book=book, sla_schedule=InMemorySlaSchedule(clock=lambda: self.now))
        return store, store.sla_schedule

    def let_lease_run_out(self, schedule: SlaSchedule) -> None:
        self.now += 1.001
