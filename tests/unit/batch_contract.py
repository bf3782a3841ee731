"""The store contract for a poll's batch (``record_many``): in-memory and Redis alike.

A batch must leave the store exactly as recording its events one by one would:
events of one ticket in order, duplicates and refusals with their own outcome,
an event that fails alone, and a batch that loses a race decided again.
"""

from __future__ import annotations

from typing import Any

import pytest

from consumers import ticket_store
from consumers.sla_engine import SlaBook, alert_event
from consumers.ticket_store import Recorded, RecordOutcome, RecordStatus, TicketStore
from schemas.events import Event
from schemas.feedback import TicketAccepted, TicketResolved
from schemas.ticket import InboxBucket, TicketRecord
from tests.unit.store_contract import (
    BOOK,
    FRIDAY_4PM,
    ReadModelContract,
    action,
    at,
    routed_at,
    snapshot,
)

CHECKS = (at(11, 30, 8), at(11, 30, 16), at(12, 1, 8), at(12, 10, 9))


def statuses(results: list[Recorded]) -> list[str]:
    return [r.status.value if isinstance(r, RecordOutcome) else type(r).__name__ for r in results]


class BatchContract(ReadModelContract):
    def one_by_one(self, events: list[Event]) -> TicketStore:
        store = self.make_store(BOOK)
        for event in events:
            store.record(event)
        return store

    def same_as_one_by_one(self, store: TicketStore, events: list[Event], ticket_ids: list[str]) -> None:
        alone = self.one_by_one(events)
        assert [store.get(t) for t in ticket_ids] == [alone.get(t) for t in ticket_ids]
        assert [snapshot(store, now) for now in CHECKS] == [snapshot(alone, now) for now in CHECKS]
        assert [e.event_id for e in self.alerts(store)] == [e.event_id for e in self.alerts(alone)]

    def test_a_batch_with_two_events_of_one_ticket_applies_them_in_order(self) -> None:
        store = self.make_store(BOOK)
        events: list[Event] = [
            routed_at("B1", FRIDAY_4PM),
            action(TicketAccepted, "B1", "approval", at(11, 30, 9)),
            routed_at("B2", FRIDAY_4PM),
            action(TicketResolved, "B1", "approval", at(11, 30, 10), resolution="已办"),
        ]
        results = store.record_many(events)
        assert statuses(results) == ["applied"] * 4
        record = store.get("B1")
        assert record is not None and record.status.value == "resolved"
        assert [h.event_type for h in record.history] == ["TicketRouted", "TicketAccepted", "TicketResolved"]
        last = results[3]
        assert isinstance(last, RecordOutcome) and last.record == record
        assert [r.ticket_id for r in store.inbox("approval", InboxBucket.new)] == ["B2"]
        self.same_as_one_by_one(store, events, ["B1", "B2"])

    def test_a_duplicate_in_a_batch_and_of_an_earlier_batch_is_recorded_once(self) -> None:
        store = self.make_store(BOOK)
        routed = routed_at("B3", FRIDAY_4PM)
        accept = action(TicketAccepted, "B3", "approval", at(11, 30, 9))
        assert statuses(store.record_many([routed, accept, accept])) == ["applied", "applied", "duplicate"]
        assert statuses(store.record_many([accept, routed])) == ["duplicate", "duplicate"]
        record = store.get("B3")
        assert record is not None and len(record.history) == 2
        self.same_as_one_by_one(store, [routed, accept], ["B3"])

    def test_a_sla_alert_twice_in_a_batch_enters_the_alert_outbox_once(self) -> None:
        store = self.make_store(BOOK)
        store.record(routed_at("B4", FRIDAY_4PM))
        record = store.get("B4")
        assert record is not None
        alert = min(BOOK.schedule(record), key=lambda a: a.fire_at)
        first, again = alert_event(alert, BOOK, alert.fire_at), alert_event(alert, BOOK, CHECKS[-1])
        assert statuses(store.record_many([first, again])) == ["applied", "duplicate"]
        assert [e.event_id for e in self.alerts(store)] == [first.event_id]

    def test_a_refused_event_in_a_batch_changes_nothing_and_the_others_apply(self) -> None:
        store = self.make_store(BOOK)
        events: list[Event] = [
            action(TicketAccepted, "B-nope", "approval", at(11, 30, 9)),  # no such ticket
            routed_at("B5", FRIDAY_4PM),
            action(TicketResolved, "B5", "planning", at(11, 30, 9), resolution="x"),  # not the lead
            action(TicketAccepted, "B5", "approval", at(11, 30, 10)),
        ]
        results = store.record_many(events)
        assert statuses(results) == ["refused", "applied", "refused", "applied"]
        assert store.get("B-nope") is None
        self.same_as_one_by_one(store, [events[1], events[3]], ["B5"])

    def test_an_event_that_fails_fails_alone(self, monkeypatch: pytest.MonkeyPatch) -> None:
        store = self.make_store(BOOK)
        events: list[Event] = [routed_at("B6", FRIDAY_4PM), routed_at("B7", FRIDAY_4PM)]
        real = ticket_store._transition

        def poisoned(old: TicketRecord | None, event: Event, book: SlaBook | None) -> Any:
            if event.ticket_id == "B6":
                raise ValueError("a bug in the engine")
            return real(old, event, book)

        monkeypatch.setattr(ticket_store, "_transition", poisoned)
        results = store.record_many(events)
        monkeypatch.undo()
        assert statuses(results) == ["ValueError", "applied"]
        assert store.get("B6") is None
        self.same_as_one_by_one(store, events[1:], ["B6", "B7"])

    def test_one_channel_message_in_a_batch_under_two_ids_is_one_ticket(self) -> None:
        store = self.make_store(BOOK)
        first = routed_at("B8", FRIDAY_4PM)
        other = first.model_copy(
            update={
                "ticket_id": "B8-later",
                "event_id": "e-b8-later",
                "submission": first.submission.model_copy(update={"ticket_id": "B8-later"}),
            }
        )
        results = store.record_many([first, other])
        assert statuses(results) == ["applied", "duplicate"]
        assert isinstance(results[1], RecordOutcome) and results[1].record is not None
        assert results[1].record.ticket_id == "B8"
        assert store.get("B8-later") is None and store.ticket_for_message(first.submission.dedupe_key) == "B8"

    def test_two_writers_racing_for_one_channel_message_make_one_ticket(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        store = self.make_store(BOOK)
        first = routed_at("B11", FRIDAY_4PM)
        other = first.model_copy(
            update={
                "ticket_id": "B11-later",
                "event_id": "e-b11-later",
                "submission": first.submission.model_copy(update={"ticket_id": "B11-later"}),
            }
        )
        real = ticket_store._transition
        raced = False

        def racing(old: TicketRecord | None, event: Event, book: SlaBook | None) -> Any:
            nonlocal raced
            if not raced:  # another writer records the message's first ticket between our read and write
                raced = True
                assert store.record(first).status is RecordStatus.applied
            return real(old, event, book)

        monkeypatch.setattr(ticket_store, "_transition", racing)
        fresh = routed_at("B12", FRIDAY_4PM)
        results = store.record_many([other, fresh])
        monkeypatch.undo()
        assert statuses(results) == ["duplicate", "applied"]
        assert isinstance(results[0], RecordOutcome) and results[0].record is not None
        assert results[0].record.ticket_id == "B11"
        assert (
            store.get("B11-later") is None and store.ticket_for_message(first.submission.dedupe_key) == "B11"
        )
        self.same_as_one_by_one(store, [first, fresh], ["B11", "B11-later", "B12"])

    def test_two_writers_racing_on_one_ticket_both_count_once(self, monkeypatch: pytest.MonkeyPatch) -> None:
        store = self.make_store(BOOK)
        first = routed_at("B9", FRIDAY_4PM, "土石方施工许可证办理，李村街道")
        store.record(first)
        co = first.co_departments[0]
        lead_accepts = action(TicketAccepted, "B9", "approval", at(11, 30, 9))
        ours: list[Event] = [action(TicketAccepted, "B9", co, at(11, 30, 10)), routed_at("B10", FRIDAY_4PM)]
        real = ticket_store._transition
        raced = False

        def racing(old: TicketRecord | None, event: Event, book: SlaBook | None) -> Any:
            nonlocal raced
            if not raced:  # another writer records the lead's accept between our read and our write
                raced = True
                assert store.record(lead_accepts).status is RecordStatus.applied
            return real(old, event, book)

        monkeypatch.setattr(ticket_store, "_transition", racing)
        assert statuses(store.record_many(ours)) == ["applied", "applied"]
        monkeypatch.undo()
        record = store.get("B9")
        assert record is not None and record.has_applied(lead_accepts.event_id)
        assert [h.event_type for h in record.history] == ["TicketRouted", "TicketAccepted", "TicketAccepted"]
        self.same_as_one_by_one(store, [first, lead_accepts, *ours], ["B9", "B10"])
        before = [snapshot(store, now) for now in CHECKS]
        store.rebuild_read_model()
        assert [snapshot(store, now) for now in CHECKS] == before
