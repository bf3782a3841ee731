"""One contract for every TicketStore: the in-memory fake and Redis must behave alike."""

from __future__ import annotations

from datetime import timedelta

from consumers.sla_engine import SlaBook, alert_event
from consumers.ticket_store import RecordStatus, TicketStore
from schemas.events import TicketRouted
from schemas.sla import SlaEvent
from schemas.ticket import InboxBucket
from tests.unit.factories import NOW, submission
from ztc.bootstrap import DEFAULT_POLICY, load_checked_policy


def routed(
    ticket_id: str, lead: str = "approval", co: tuple[str, ...] = (), minutes: int = 0, **fields: object
) -> TicketRouted:
    sub = submission(ticket_id=ticket_id, channel_message_id=ticket_id, **fields)  # type: ignore[arg-type]
    return TicketRouted(
        ticket_id=ticket_id,
        occurred_at=NOW + timedelta(minutes=minutes),
        submission=sub,
        category="admin_licence",
        confidence=0.8,
        lead_department=lead,
        co_departments=co,
        priority="normal",
        policy_version="t",
        key_project="粤浦科创中心" if ticket_id.endswith("P") else None,
    )


class TicketStoreContract:
    def make_store(self, book: SlaBook | None = None) -> TicketStore:
        raise NotImplementedError

    def alerts(self, store: TicketStore) -> list[SlaEvent]:
        """The store's alert outbox: every applied SLA event, in order."""
        raise NotImplementedError

    def test_records_and_reads_back(self) -> None:
        store = self.make_store()
        outcome = store.record(routed("T1", co=("street-licun",)))
        assert outcome.status is RecordStatus.applied
        record = store.get("T1")
        assert record is not None and record.co_departments == ("street-licun",)
        assert store.get("nope") is None

    def test_same_event_twice_is_recorded_once(self) -> None:
        store = self.make_store()
        event = routed("T2")
        store.record(event)
        again = store.record(event)
        assert again.status is RecordStatus.duplicate
        record = store.get("T2")
        assert record is not None and len(record.history) == 1

    def test_inbox_is_oldest_first_for_lead_and_co(self) -> None:
        store = self.make_store()
        store.record(routed("T4", lead="approval", minutes=5))
        store.record(routed("T3", lead="planning", co=("approval",), minutes=1))
        assert [r.ticket_id for r in store.inbox("approval", InboxBucket.new)] == ["T3", "T4"]
        assert [r.ticket_id for r in store.inbox("planning", InboxBucket.new)] == ["T3"]
        assert store.inbox("approval", InboxBucket.in_progress) == []

    def test_enterprise_file_by_name_or_code_and_project(self) -> None:
        store = self.make_store()
        code = "91370213MA3C0XXX1Y"
        store.record(routed("T5", enterprise_name="惠昱电子", credit_code=code))
        store.record(routed("T6P", enterprise_name="惠昱电子", minutes=3))
        store.record(routed("T7", enterprise_name="别的公司"))
        assert [r.ticket_id for r in store.enterprise_tickets("惠昱电子")] == ["T5", "T6P"]
        assert [r.ticket_id for r in store.enterprise_tickets(code.lower())] == ["T5"]
        assert [r.ticket_id for r in store.project_tickets("粤浦科创中心")] == ["T6P"]

    def test_a_channel_message_stays_one_ticket_even_under_another_id(self) -> None:
        store = self.make_store()
        first = routed("T8")
        store.record(first)
        other_day = first.model_copy(
            update={
                "ticket_id": "T8-later",
                "event_id": "e-later",
                "submission": first.submission.model_copy(update={"ticket_id": "T8-later"}),
            }
        )
        outcome = store.record(other_day)
        assert outcome.status is RecordStatus.duplicate
        assert outcome.record is not None and outcome.record.ticket_id == "T8"
        assert store.get("T8-later") is None
        assert store.ticket_for_message(first.submission.dedupe_key) == "T8"
        assert store.ticket_for_message("wechat_group:never-sent") is None

    def test_a_repeated_routing_of_a_known_ticket_is_a_duplicate(self) -> None:
        store = self.make_store()
        store.record(routed("T11", lead="approval"))
        again = routed("T11", lead="planning", minutes=30).model_copy(update={"event_id": "e-again"})
        assert store.record(again).status is RecordStatus.duplicate
        record = store.get("T11")
        assert record is not None and record.lead_department == "approval" and len(record.history) == 1

    def test_an_applied_sla_event_enters_the_alert_outbox_exactly_once(self) -> None:
        book = SlaBook(load_checked_policy(DEFAULT_POLICY))
        store = self.make_store(book)
        store.record(routed("T10"))
        record = store.get("T10")
        assert record is not None
        alert = min(book.schedule(record), key=lambda a: a.fire_at)
        event = alert_event(alert, book, alert.fire_at)
        assert store.record(event).status is RecordStatus.applied
        republished = alert_event(alert, book, alert.fire_at + timedelta(minutes=2))
        assert store.record(republished).status is RecordStatus.duplicate
        assert [e.event_id for e in self.alerts(store)] == [event.event_id]
