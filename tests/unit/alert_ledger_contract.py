"""One contract for the alerter's ledger and parked alerts: the in-memory doubles and Redis alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from consumers.alerts import Claim, Ledger, ParkedAlert, Parking
from schemas.sla import SlaBreached, SlaStage
from tests.unit.factories import NOW

T0 = 1_800_000_000.0


def breach(n: int) -> SlaBreached:
    return SlaBreached(
        ticket_id=f"ZTC-20261127-{n:08d}",
        occurred_at=NOW,
        stage=SlaStage.accept,
        department="approval",
        due_at=NOW - timedelta(hours=1),
        round=0,
        key=f"ZTC-20261127-{n:08d}:accept:breach:0",
    )


def parked(n: int, sink: str = "webhook", attempts: int = 3) -> ParkedAlert:
    return ParkedAlert(sink, breach(n), datetime.fromtimestamp(T0, UTC), attempts, "HTTP 500", retries=1)


class LedgerContract:
    def make_ledger(self) -> Ledger:
        raise NotImplementedError

    def test_a_free_alert_is_claimed_and_its_owner_may_claim_it_again(self) -> None:
        ledger = self.make_ledger()
        assert ledger.claim("webhook", "e1", "a", T0, 30) is Claim.free
        assert ledger.claim("webhook", "e1", "a", T0 + 1, 30) is Claim.free
        assert ledger.claim("redis", "e1", "b", T0, 30) is Claim.free  # per sink

    def test_another_owner_is_busy_until_the_lease_runs_out_then_the_alert_is_in_doubt(self) -> None:
        ledger = self.make_ledger()
        ledger.claim("webhook", "e2", "a", T0, 30)
        assert ledger.claim("webhook", "e2", "b", T0 + 29, 30) is Claim.busy
        assert ledger.claim("webhook", "e2", "b", T0 + 31, 30) is Claim.stale
        assert ledger.claim("webhook", "e2", "a", T0 + 32, 30) is Claim.busy  # b holds it now

    def test_a_marked_alert_is_sent_for_everyone_and_a_release_frees_only_its_owners_lease(self) -> None:
        ledger = self.make_ledger()
        ledger.claim("webhook", "e3", "a", T0, 30)
        ledger.release("webhook", "e3", "b")  # not b's: stays
        assert ledger.claim("webhook", "e3", "b", T0 + 1, 30) is Claim.busy
        ledger.release("webhook", "e3", "a")
        assert ledger.claim("webhook", "e3", "b", T0 + 2, 30) is Claim.free
        assert not ledger.is_sent("webhook", "e3")
        ledger.mark("webhook", "e3")
        assert ledger.is_sent("webhook", "e3") and not ledger.is_sent("log", "e3")
        assert ledger.claim("webhook", "e3", "a", T0 + 3, 30) is Claim.sent
        assert ledger.claim("webhook", "e3", "b", T0 + 3, 30) is Claim.sent


class ParkingContract:
    def make_parking(self) -> Parking:
        raise NotImplementedError

    def test_parked_alerts_come_due_in_retry_order_per_sink(self) -> None:
        parking = self.make_parking()
        first, second, elsewhere = parked(1), parked(2), parked(3, sink="redis")
        parking.park(second, T0 + 20)
        parking.park(first, T0 + 10)
        parking.park(elsewhere, T0)
        assert parking.due("webhook", T0 + 5) == []
        assert parking.due("webhook", T0 + 20) == [first.event.event_id, second.event.event_id]
        assert parking.due("webhook", T0 + 20, limit=1) == [first.event.event_id]
        assert parking.count("webhook") == 2 and parking.count("redis") == 1

    def test_take_leases_a_due_alert_once_and_returns_it_whole(self) -> None:
        parking = self.make_parking()
        alert = parked(4)
        parking.park(alert, T0)
        assert parking.take("webhook", alert.event.event_id, T0 - 1, T0 + 30) is None  # not due yet
        taken = parking.take("webhook", alert.event.event_id, T0, T0 + 30)
        assert taken == alert
        assert parking.take("webhook", alert.event.event_id, T0 + 1, T0 + 30) is None  # leased
        assert parking.due("webhook", T0 + 30) == [alert.event.event_id]
        assert parking.take("webhook", "no-such-event", T0, T0 + 30) is None

    def test_parking_again_replaces_and_remove_forgets(self) -> None:
        parking = self.make_parking()
        alert = parked(5)
        parking.park(alert, T0)
        retried = ParkedAlert(alert.sink, alert.event, alert.parked_at, 4, "errcode 93000", retries=2)
        parking.park(retried, T0 + 60)
        [waiting] = parking.waiting("webhook")
        assert (waiting.attempts, waiting.retries, waiting.last_error) == (4, 2, "errcode 93000")
        assert waiting.retry_at == T0 + 60
        parking.remove("webhook", alert.event.event_id)
        assert parking.count("webhook") == 0 and parking.waiting("webhook") == []
