"""The Redis delivery ledger and parked alerts under the shared contract."""

from __future__ import annotations

import uuid

import pytest
import redis

from consumers.alerts import DeliveryLedger, Ledger, ParkedAlerts, Parking
from deploy.embedded import EmbeddedStack
from tests.unit.alert_ledger_contract import LedgerContract, ParkingContract

pytestmark = pytest.mark.integration


@pytest.fixture()
def client(stack: EmbeddedStack) -> redis.Redis:
    return redis.Redis.from_url(stack.redis_url)


class TestDeliveryLedger(LedgerContract):
    @pytest.fixture(autouse=True)
    def _redis(self, client: redis.Redis) -> None:
        self.client = client

    def make_ledger(self) -> Ledger:
        return DeliveryLedger(self.client, f"l{uuid.uuid4().hex[:8]}:")


class TestParkedAlerts(ParkingContract):
    @pytest.fixture(autouse=True)
    def _redis(self, client: redis.Redis) -> None:
        self.client = client

    def make_parking(self) -> Parking:
        return ParkedAlerts(self.client, f"p{uuid.uuid4().hex[:8]}:")
