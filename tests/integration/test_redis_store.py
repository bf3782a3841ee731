"""The Redis ticket store against a real Redis server, under the shared contract."""

from __future__ import annotations

import uuid

import pytest
import redis

from consumers.sla_engine import SlaBook
from consumers.ticket_store import RedisTicketStore, TicketStore
from deploy.embedded import EmbeddedStack
from schemas.sla import SLA_EVENT_ADAPTER, SlaEvent
from tests.unit.store_contract import ReadModelContract

pytestmark = pytest.mark.integration


class TestRedisTicketStore(ReadModelContract):
    @pytest.fixture(autouse=True)
    def _redis(self, stack: EmbeddedStack) -> None:
        self.client = redis.Redis.from_url(stack.redis_url)

    def make_store(self, book: SlaBook | None = None) -> TicketStore:
        return RedisTicketStore(self.client, prefix=f"c{uuid.uuid4().hex[:8]}:", book=book)

    def alerts(self, store: TicketStore) -> list[SlaEvent]:
        assert isinstance(store, RedisTicketStore)
        entries: list[tuple[bytes, dict[bytes, bytes]]] = self.client.xrange(store.alerts_key)  # type: ignore[assignment]
        return [SLA_EVENT_ADAPTER.validate_json(fields[b"event"]) for _, fields in entries]

    def forget_read_model(self, store: TicketStore) -> None:
        assert isinstance(store, RedisTicketStore)
        stale = list(self.client.scan_iter(match=f"{store.prefix}rm:*"))
        if stale:
            self.client.delete(*stale)
