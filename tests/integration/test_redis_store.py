"""The Redis ticket store against a real Redis server, under the shared contract."""

from __future__ import annotations

import uuid

import pytest
import redis

from consumers.ticket_store import RedisTicketStore, TicketStore
from deploy.embedded import EmbeddedStack
from tests.unit.store_contract import TicketStoreContract

pytestmark = pytest.mark.integration


class TestRedisTicketStore(TicketStoreContract):
    @pytest.fixture(autouse=True)
    def _redis(self, stack: EmbeddedStack) -> None:
        self.client = redis.Redis(port=stack.redis_port)

    def make_store(self) -> TicketStore:
        return RedisTicketStore(self.client, prefix=f"c{uuid.uuid4().hex[:8]}:")
