"""One contract for every SlaSchedule: the in-memory fake and Redis must behave alike.

Each adapter comes with the ticket store that keeps it (the recorder writes
both in one transaction), so the contract covers what the monitor relies on:
a recorded ticket's alerts are scheduled at their fire times, a recorded alert
or an accepted stage leaves the schedule, due alerts come earliest first, and
a lease keeps a second monitor off an alert until it runs out.
"""

from __future__ import annotations

from datetime import timedelta

from consumers.sla_engine import SlaBook, alert_event
from consumers.sla_schedule import SlaSchedule
from consumers.ticket_store import RecordStatus, TicketStore
from schemas.feedback import TicketAccepted
from schemas.sla import SlaStage
from tests.unit.factories import NOW
from tests.unit.store_contract import BOOK, action, routed_at

FAR = NOW + timedelta(days=365)


class SlaScheduleContract:
    def make(self, book: SlaBook) -> tuple[TicketStore, SlaSchedule]:
        """A ticket store with ``book`` and the schedule it keeps."""
        raise NotImplementedError

    def let_lease_run_out(self, schedule: SlaSchedule) -> None:
        """Whatever it takes for a lease of 1 s to expire."""
        raise NotImplementedError

    def test_a_recorded_ticket_has_every_alert_scheduled_at_its_fire_time(self) -> None:
        store, schedule = self.make(BOOK)
        store.record(routed_at("S1", NOW))
        record = store.get("S1")
        assert record is not None
        alerts = sorted(BOOK.schedule(record), key=lambda a: (a.fire_at, a.key))
        assert len(alerts) >= 4
        assert schedule.due(FAR, 1000) == [a.key for a in alerts]
        first = alerts[0]
        assert schedule.due(first.fire_at - timedelta(seconds=1), 1000) == []
        assert schedule.due(first.fire_at, 1000) == [a.key for a in alerts if a.fire_at <= first.fire_at]

    def test_a_recorded_alert_leaves_the_schedule_and_the_others_stay(self) -> None:
        store, schedule = self.make(BOOK)
        store.record(routed_at("S2", NOW))
        record = store.get("S2")
        assert record is not None
        first, *rest = sorted(BOOK.schedule(record), key=lambda a: (a.fire_at, a.key))
        assert store.record(alert_event(first, BOOK, first.fire_at)).status is RecordStatus.applied
        assert first.key not in schedule.due(FAR, 1000)
        assert set(schedule.due(FAR, 1000)) == {a.key for a in rest}

    def test_accepting_takes_the_accept_stage_off_the_schedule(self) -> None:
        store, schedule = self.make(BOOK)
        store.record(routed_at("S3", NOW))
        accepted = action(TicketAccepted, "S3", "approval", NOW + timedelta(minutes=5))
        assert store.record(accepted).status is RecordStatus.applied
        left = schedule.due(FAR, 1000)
        assert left and not any(f":{SlaStage.accept.value}:" in key for key in left)

    def test_due_is_earliest_first_and_limited(self) -> None:
        _, schedule = self.make(BOOK)
        schedule.move("X:b", NOW + timedelta(seconds=1))
        schedule.move("X:c", NOW + timedelta(seconds=2))
        schedule.move("X:a", NOW + timedelta(seconds=3))
        assert schedule.due(NOW, 10) == []
        assert schedule.due(NOW + timedelta(seconds=2), 10) == ["X:b", "X:c"]
        assert schedule.due(FAR, 2) == ["X:b", "X:c"]
        schedule.move("X:a", NOW)  # a deadline moved earlier
        assert schedule.due(FAR, 10) == ["X:a", "X:b", "X:c"]

    def test_remove_forgets_and_postpone_never_brings_a_removed_alert_back(self) -> None:
        _, schedule = self.make(BOOK)
        schedule.move("Y:kept", NOW)
        schedule.move("Y:gone", NOW)
        schedule.remove("Y:gone")
        schedule.remove("Y:never-there")
        schedule.postpone("Y:gone", NOW + timedelta(seconds=30))
        schedule.postpone("Y:kept", NOW + timedelta(seconds=30))
        assert schedule.due(NOW + timedelta(seconds=29), 10) == []
        assert schedule.due(NOW + timedelta(seconds=30), 10) == ["Y:kept"]

    def test_a_lease_keeps_every_other_claim_off_until_it_runs_out(self) -> None:
        _, schedule = self.make(BOOK)
        assert schedule.claim("Z:1", "monitor-a", 1)
        assert not schedule.claim("Z:1", "monitor-b", 1)
        assert not schedule.claim("Z:1", "monitor-a", 1)
        assert schedule.claim("Z:2", "monitor-b", 1)  # leases are per alert
        self.let_lease_run_out(schedule)
        assert schedule.claim("Z:1", "monitor-b", 1)
