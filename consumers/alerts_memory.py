"""In-memory delivery ledger and parked alerts, for unit tests of the couriers and sinks.

They behave as ``DeliveryLedger`` and ``ParkedAlerts`` do in Redis (the same
contract tests run against both, see ``tests/unit/alert_ledger_contract.py``),
without the expiry of keys after 30 days. With them a courier never uses a
sink's own marking transaction (``MarkingSink``): it sends, then marks.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from consumers.alerts import Claim, ParkedAlert


@dataclass
class InMemoryLedger:
    sent: set[tuple[str, str]] = field(default_factory=set)
    """(sink, event id) delivered"""
    leases: dict[tuple[str, str], tuple[float, str]] = field(default_factory=dict)
    """(sink, event id) → (lease deadline, owner)"""

    def claim(self, sink: str, event_id: str, owner: str, now: float, lease_s: float) -> Claim:
        key = (sink, event_id)
        if key in self.sent:
            return Claim.sent
        state = Claim.free
        held = self.leases.get(key)
        if held is not None and held[1] != owner:
            if held[0] > now:
                return Claim.busy
            state = Claim.stale
        self.leases[key] = (now + lease_s, owner)
        return state

    def release(self, sink: str, event_id: str, owner: str) -> None:
        held = self.leases.get((sink, event_id))
        if held is not None and held[1] == owner:
            del self.leases[(sink, event_id)]

    def mark(self, sink: str, event_id: str) -> None:
        self.sent.add((sink, event_id))
        self.leases.pop((sink, event_id), None)

    def is_sent(self, sink: str, event_id: str) -> bool:
        return (sink, event_id) in self.sent


@dataclass
class InMemoryParkedAlerts:
    alerts: dict[tuple[str, str], ParkedAlert] = field(default_factory=dict)
    """(sink, event id) → the parked alert"""
    retry_at: dict[tuple[str, str], float] = field(default_factory=dict)

    def park(self, alert: ParkedAlert, retry_at: float) -> None:
        key = (alert.sink, alert.event.event_id)
        self.alerts[key] = replace(alert, retry_at=None)
        self.retry_at[key] = retry_at

    def _scheduled(self, sink: str) -> list[tuple[float, str]]:
        return sorted((at, event_id) for (s, event_id), at in self.retry_at.items() if s == sink)

    def due(self, sink: str, now: float, limit: int = 50) -> list[str]:
        return [event_id for at, event_id in self._scheduled(sink) if at <= now][:limit]

    def take(self, sink: str, event_id: str, now: float, lease_until: float) -> ParkedAlert | None:
        key = (sink, event_id)
        at = self.retry_at.get(key)
        if at is None or at > now:
            return None
        self.retry_at[key] = lease_until
        alert = self.alerts.get(key)
        if alert is None:
            del self.retry_at[key]
        return alert

    def remove(self, sink: str, event_id: str) -> None:
        self.retry_at.pop((sink, event_id), None)
        self.alerts.pop((sink, event_id), None)

    def count(self, sink: str) -> int:
        return len(self._scheduled(sink))

    def waiting(self, sink: str, limit: int = 100) -> list[ParkedAlert]:
        out = []
        for at, event_id in self._scheduled(sink)[:limit]:
            alert = self.alerts.get((sink, event_id))
            if alert is not None:
                out.append(replace(alert, retry_at=at))
        return out
