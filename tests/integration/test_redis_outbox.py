"""The Redis outbox against a real Redis server, under the shared contract."""

from __future__ import annotations

import uuid

import pytest
import redis

from deploy.embedded import EmbeddedStack
from producers.outbox import RedisOutbox
from schemas.outbox import Outbox, message_key
from tests.unit.outbox_contract import OutboxContract

pytestmark = pytest.mark.integration


class TestRedisOutbox(OutboxContract):
    @pytest.fixture(autouse=True)
    def _redis(self, stack: EmbeddedStack) -> None:
        self.client = redis.Redis.from_url(stack.redis_url)
        self.prefix = f"o{uuid.uuid4().hex[:8]}:"

    def make_outbox(self) -> Outbox:
        return RedisOutbox(self.client, self.prefix, first_retry_s=self.first_retry_s)

    def mark_recorded(self, outbox: Outbox, dedupe_key: str, ticket_id: str) -> None:
        self.client.set(message_key(self.prefix, dedupe_key), ticket_id)
