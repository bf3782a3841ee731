"""The Redis dead-letter store against a real Redis server, under the shared contract."""

from __future__ import annotations

import uuid

import pytest
import redis

from consumers.dead_letters import DeadLetterStore, RedisDeadLetterStore
from deploy.embedded import EmbeddedStack
from tests.unit.dead_letter_contract import DeadLetterStoreContract

pytestmark = pytest.mark.integration


class TestRedisDeadLetterStore(DeadLetterStoreContract):
    @pytest.fixture(autouse=True)
    def _redis(self, stack: EmbeddedStack) -> None:
        self.client = redis.Redis.from_url(stack.redis_url)

    def make_store(self) -> DeadLetterStore:
        return RedisDeadLetterStore(self.client, f"d{uuid.uuid4().hex[:8]}:")
