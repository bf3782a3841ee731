"""One contract for every SlaSchedule: the in-memory fake and Redis must behave alike.

Each adapter comes with the ticket store that keeps it (the recorder writes
both in one transaction), so the contract covers what the monitor relies on:
a recorded ticket has one entry, due at its next alert; a recorded alert or an
accepted stage moves it on to what is still to come; due entries come earliest
first; ``settle`` hands a decision the due tickets' current state and writes
its moves back — deciding again if the recorder changed one of them meanwhile;
legacy per-alert members come out as they are; a lease keeps a second
monitor off an alert until it runs out, and many are claimed in one go; a
failed send's entry is put back where it fell due unless the recorder moved it
meanwhile, and only its owner's leases end; ``next_due`` is the earliest entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from consumers.sla_engine import SlaBook, alert_event
from consumers.sla_schedule import PutBack, SlaSchedule, Tickets
from consumers.ticket_store import RecordStatus, TicketStore
from schemas.feedback import TicketAccepted
from schemas.sla import SlaStage
from schemas.ticket import TicketRecord
from tests.unit.factories import NOW
from tests.unit.store_contract import BOOK, action, routed_at

FAR = NOW + timedelta(days=365)
SECOND = timedelta(seconds=1)


@dataclass
class Moves:
    """A decision as ``settle`` writes it back, and what it was shown."""

    reschedule: dict[str, datetime] = field(default_factory=dict)
    drop: list[str] = field(default_factory=list)
    shown: list[tuple[list[str], dict[str, TicketRecord | None]]] = field(default_factory=list)


def due_at(schedule: SlaSchedule, ticket_id: str, at: datetime) -> bool:
    return ticket_id in schedule.due(at, 1000)


def comes_due_at(schedule: SlaSchedule, ticket_id: str, at: datetime) -> bool:
    """The entry is due at ``at`` and not a second before."""
    return not due_at(schedule, ticket_id, at - SECOND) and due_at(schedule, ticket_id, at)


class SlaScheduleContract:
    def make(self, book: SlaBook) -> tuple[TicketStore, SlaSchedule]:
        """A ticket store with ``book`` and the schedule it keeps."""
        raise NotImplementedError

    def let_lease_run_out(self, schedule: SlaSchedule) -> None:
        """Whatever it takes for a lease of 1 s to expire."""
        raise NotImplementedError

    def test_a_recorded_ticket_has_one_entry_due_at_its_first_alert(self) -> None:
        store, schedule = self.make(BOOK)
        store.record(routed_at("S1", NOW))
        record = store.get("S1")
        assert record is not None
        alerts = sorted(BOOK.schedule(record), key=lambda a: (a.fire_at, a.key))
        assert len(alerts) >= 4
        assert schedule.due(FAR, 1000) == ["S1"]
        assert comes_due_at(schedule, "S1", alerts[0].fire_at)

    def test_a_recorded_alert_moves_the_entry_to_the_next_one(self) -> None:
        store, schedule = self.make(BOOK)
        store.record(routed_at("S2", NOW))
        record = store.get("S2")
        assert record is not None
        first, *rest = sorted(BOOK.schedule(record), key=lambda a: (a.fire_at, a.key))
        assert store.record(alert_event(first, BOOK, first.fire_at)).status is RecordStatus.applied
        assert schedule.due(FAR, 1000) == ["S2"]
        assert comes_due_at(schedule, "S2", min(a.fire_at for a in rest))

    def test_accepting_moves_the_entry_past_the_accept_stage(self) -> None:
        store, schedule = self.make(BOOK)
        store.record(routed_at("S3", NOW))
        accepted = action(TicketAccepted, "S3", "approval", NOW + timedelta(minutes=5))
        assert store.record(accepted).status is RecordStatus.applied
        record = store.get("S3")
        assert record is not None
        left = BOOK.schedule(record)
        assert left and all(a.stage is not SlaStage.accept for a in left)
        assert comes_due_at(schedule, "S3", min(a.fire_at for a in left))

    def test_due_is_earliest_first_and_limited(self) -> None:
        _, schedule = self.make(BOOK)
        schedule.reschedule("XB", NOW + timedelta(seconds=1))
        schedule.reschedule("XC", NOW + timedelta(seconds=2))
        schedule.reschedule("XA", NOW + timedelta(seconds=3))
        assert schedule.due(NOW, 10) == []
        assert schedule.due(NOW + timedelta(seconds=2), 10) == ["XB", "XC"]
        assert schedule.due(FAR, 2) == ["XB", "XC"]
        schedule.reschedule("XA", NOW)  # one entry per ticket: it moves, it is not added again
        assert schedule.due(FAR, 10) == ["XA", "XB", "XC"]

    def test_drop_forgets_and_legacy_members_come_out_as_they_are(self) -> None:
        _, schedule = self.make(BOOK)
        schedule.reschedule("YK", NOW)
        schedule.reschedule("YG", NOW)
        schedule.reschedule("YL:accept:warning:0", NOW + SECOND)  # as written before one entry per ticket
        schedule.drop("YG")
        schedule.drop("never-there")
        assert schedule.due(FAR, 10) == ["YK", "YL:accept:warning:0"]

    def test_settle_shows_the_due_tickets_and_writes_the_moves_back(self) -> None:
        store, schedule = self.make(BOOK)
        store.record(routed_at("S4", NOW))
        schedule.reschedule("GONE", NOW)  # an entry whose ticket is not stored
        schedule.reschedule("LATER", FAR - SECOND)  # due, but beyond the limit

        def decide(due: list[str], tickets: Tickets) -> Moves:
            moves = Moves(shown=[(due, {t: tickets.get(t) for t in due})])
            moves.reschedule = {"S4": FAR}
            moves.drop = ["GONE"]
            return moves

        moves = schedule.settle(FAR - SECOND, 2, decide)
        assert moves is not None
        [(due, shown)] = moves.shown
        assert due == ["GONE", "S4"]
        assert shown["GONE"] is None and shown["S4"] == store.get("S4")
        assert schedule.due(FAR - SECOND, 10) == ["LATER"]
        assert comes_due_at(schedule, "S4", FAR)
        nothing = schedule.settle(NOW - timedelta(days=1), 10, decide)
        assert nothing is not None and nothing.shown == [([], {})]

    def test_settle_decides_again_when_the_recorder_changed_a_due_ticket_meanwhile(self) -> None:
        store, schedule = self.make(BOOK)
        store.record(routed_at("S6", NOW))
        record = store.get("S6")
        assert record is not None
        first = min(BOOK.schedule(record), key=lambda a: a.fire_at)
        seen: list[TicketRecord | None] = []

        def decide(due: list[str], tickets: Tickets) -> Moves:
            seen.append(tickets.get("S6"))
            if len(seen) == 1:  # the recorder writes between the read and the write
                store.record(alert_event(first, BOOK, first.fire_at))
            return Moves(reschedule={"S6": FAR})

        assert schedule.settle(first.fire_at, 10, decide) is not None
        assert len(seen) == 2 and seen[0] == record and seen[1] == store.get("S6") != record
        assert comes_due_at(schedule, "S6", FAR)

    def test_a_lease_keeps_every_other_claim_off_until_it_runs_out(self) -> None:
        _, schedule = self.make(BOOK)
        assert schedule.claim("Z:1", "monitor-a", 1)
        assert not schedule.claim("Z:1", "monitor-b", 1)
        assert not schedule.claim("Z:1", "monitor-a", 1)
        assert schedule.claim("Z:2", "monitor-b", 1)  # leases are per alert
        self.let_lease_run_out(schedule)
        assert schedule.claim("Z:1", "monitor-b", 1)

    def test_claim_all_answers_per_alert_in_order(self) -> None:
        _, schedule = self.make(BOOK)
        assert schedule.claim_all([], "monitor-a", 1) == []
        assert schedule.claim("Y:2", "monitor-b", 30)
        assert schedule.claim_all(["Y:1", "Y:2", "Y:3"], "monitor-a", 30) == [True, False, True]
        assert schedule.claim_all(["Y:1", "Y:3"], "monitor-b", 30) == [False, False]

    def test_put_back_returns_an_entry_still_where_settle_moved_it_and_ends_only_its_owners_leases(
        self,
    ) -> None:
        _, schedule = self.make(BOOK)
        pushed, fell_due = NOW + timedelta(seconds=30), NOW - timedelta(minutes=5)
        for ticket_id in ("PA", "PB"):
            schedule.reschedule(ticket_id, pushed)
        schedule.reschedule("PB", NOW + timedelta(hours=2))  # the recorder moved it meanwhile
        assert schedule.claim_all(["PA:1", "PB:1", "PC:1"], "monitor-a", 30) == [True, True, True]
        assert schedule.claim("PD:1", "monitor-b", 30)
        back = {t: PutBack(pushed, fell_due) for t in ("PA", "PB", "PGONE")}
        schedule.put_back(back, ["PA:1", "PB:1", "PD:1"], "monitor-a")
        assert schedule.due(NOW, 10) == ["PA"]  # back where it fell due; PGONE not made up
        assert comes_due_at(schedule, "PA", fell_due) and comes_due_at(
            schedule, "PB", NOW + timedelta(hours=2)
        )
        assert schedule.claim_all(["PA:1", "PB:1", "PC:1", "PD:1"], "monitor-c", 30) == [
            True,
            True,
            False,
            False,
        ]

    def test_next_due_is_the_earliest_entry_or_none(self) -> None:
        _, schedule = self.make(BOOK)
        assert schedule.next_due() is None
        schedule.reschedule("NB", NOW + timedelta(seconds=90))
        schedule.reschedule("NA", NOW + timedelta(seconds=30.25))
        assert schedule.next_due() == NOW + timedelta(seconds=30.25)
        schedule.drop("NA")
        assert schedule.next_due() == NOW + timedelta(seconds=90)
