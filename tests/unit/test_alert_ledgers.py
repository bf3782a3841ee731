"""The in-memory ledger and parked alerts under the shared contract (Redis runs it in tests/integration)."""

from __future__ import annotations

from consumers.alerts import Ledger, Parking
from consumers.alerts_memory import InMemoryLedger, InMemoryParkedAlerts
from tests.unit.alert_ledger_contract import LedgerContract, ParkingContract


class TestInMemoryLedger(LedgerContract):
    def make_ledger(self) -> Ledger:
        return InMemoryLedger()


class TestInMemoryParkedAlerts(ParkingContract):
    def make_parking(self) -> Parking:
        return InMemoryParkedAlerts()
