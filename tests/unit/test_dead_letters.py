"""The in-memory dead-letter store passes the same contract as the Redis one (tests/integration)."""

from __future__ import annotations

from consumers.dead_letters import DeadLetterStore, InMemoryDeadLetterStore
from tests.unit.dead_letter_contract import DeadLetterStoreContract


class TestInMemoryDeadLetterStore(DeadLetterStoreContract):
    def make_store(self) -> DeadLetterStore:
        return InMemoryDeadLetterStore()
