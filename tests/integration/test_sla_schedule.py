"""The Redis SLA schedule (``{prefix}sla:due`` and its leases) under the shared contract."""

from __future__ import annotations

import time
import uuid

import pytest
import redis

from consumers.sla_engine import SlaBook
from consumers.sla_schedule import SlaSchedule
from consumers.ticket_store import RedisTicketStore, TicketStore
from deploy.embedded import EmbeddedStack
from tests.unit.sla_schedule_contract import SlaScheduleContract

pytestmark = pytest.mark.integration


class TestRedisSlaSchedule(SlaScheduleContract):
    @pytest.fixture(autouse=True)
    def _redis(self, stack: EmbeddedStack) -> None:
        self.client = redis.Redis.from_url(stack.redis_url)

    def make(self, book: SlaBook) -> tuple[TicketStore, SlaSchedule]:
        store = RedisTicketStore(self.client, prefix=f"q{uuid.uuid4().hex[:8]}:", book=book)
        return store, store.sla_schedule

    def let_lease_run_out(self, schedule: SlaSchedule) -> None:
        time.sleep(1.1)  # Redis expires the SET EX key itself
