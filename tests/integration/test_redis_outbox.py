"""The Redis outbox against a real Redis server, under the shared contract."""

from __future__ import annotations

import uuid

import pytest
import redis

from deploy.embedded import EmbeddedStack
from producers.outbox import RedisOutbox
from schemas.outbox import Outbox, message_claim, message_key
from tests.unit.factories import NOW, submission
from tests.unit.outbox_contract import TOPIC, OutboxContract

pytestmark = pytest.mark.integration


class TestRedisOutbox(OutboxContract):
    @pytest.fixture(autouse=True)
    def _redis(self, stack: EmbeddedStack) -> None:
        self.client = redis.Redis.from_url(stack.redis_url)
        self.prefix = f"o{uuid.uuid4().hex[:8]}:"

    def make_outbox(self) -> Outbox:
        return RedisOutbox(self.client, self.prefix, first_retry_s=self.first_retry_s)

    def mark_recorded(self, outbox: Outbox, dedupe_key: str, ticket_id: str) -> None:
        self.client.hset(*message_claim(self.prefix, dedupe_key), ticket_id)

    def test_a_message_recorded_by_an_older_recorder_is_not_admitted_again(self) -> None:
        outbox = self.make_outbox()
        first = submission(ticket_id="ZTC-20261127-DDDDDDDD", channel_message_id="m-9")
        self.client.set(message_key(self.prefix, first.dedupe_key), first.ticket_id)  # one key per message
        again = submission(ticket_id="ZTC-20261201-EEEEEEEE", channel_message_id="m-9")
        assert outbox.admit_submission(again, TOPIC, NOW) == (first.ticket_id, False)
        assert outbox.pending() == 0
