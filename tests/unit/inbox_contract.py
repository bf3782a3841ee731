"""One contract for the inbox indexes (``consumers.inbox_index``): the in-memory answers and the Redis
sorted sets the recorder keeps must page, order and filter alike, and ``ztc reindex`` must rebuild
exactly what the writes kept."""

from __future__ import annotations

from datetime import datetime, timedelta

from consumers.inbox_index import InboxIndex, InboxQuery, inbox_page
from consumers.sla_engine import SlaBook
from consumers.ticket_store import RecordStatus, TicketStore
from schemas.feedback import TicketAccepted
from schemas.ticket import InboxBucket
from schemas.ticket_state import inbox_deadline
from tests.unit.store_contract import BOOK, FRIDAY_4PM, action, routed_at

COUNT = 25


def _ids(
    store: TicketStore, index: InboxIndex, department: str, query: InboxQuery, now: datetime
) -> list[str]:
    return [r.ticket_id for r in inbox_page(index, store.get_many, department, query, now).records]


class InboxContract:
    def make_store(self, book: SlaBook | None = None) -> TicketStore:
        raise NotImplementedError

    def inboxes(self, store: TicketStore) -> InboxIndex:
        raise NotImplementedError

    def _filled(self) -> tuple[TicketStore, list[str]]:
        store = self.make_store(BOOK)
        ids = [f"IB{n:02d}" for n in range(COUNT)]
        for n, ticket_id in enumerate(reversed(ids)):  # routed latest-id first: order is by deadline
            event = routed_at(ticket_id, FRIDAY_4PM + timedelta(hours=7 * n))
            named = event.submission.model_copy(update={"enterprise_name": f"企业{n % 3}"})
            event = event.model_copy(
                update={
                    "submission": named,
                    "lead_department": "approval",
                    "co_departments": ("planning",),
                    "manual_triage": False,
                }
            )
            assert store.record(event).status is RecordStatus.applied
        return store, ids

    def test_an_inbox_is_read_a_page_at_a_time_most_urgent_first(self) -> None:
        store, ids = self._filled()
        index = self.inboxes(store)
        now = FRIDAY_4PM
        records = store.get_many(ids)
        urgent = [
            r.ticket_id for r in sorted(records, key=lambda r: (inbox_deadline(r, "approval"), r.ticket_id))
        ]
        first = inbox_page(index, store.get_many, "approval", InboxQuery(), now)
        assert (first.total, first.next_start, first.previous_start) == (COUNT, 20, None)
        second = inbox_page(index, store.get_many, "approval", InboxQuery(start=20), now)
        assert (second.next_start, second.previous_start) == (None, 0)
        assert [r.ticket_id for r in (*first.records, *second.records)] == urgent
        latest = _ids(store, index, "approval", InboxQuery(latest_first=True, size=5), now)
        assert latest == urgent[::-1][:5]
        counts = index.counts(["approval", "planning", "market"])
        assert counts["approval"][InboxBucket.new] == counts["planning"][InboxBucket.new] == COUNT
        assert sum(counts["market"].values()) == 0

    def test_overdue_is_a_deadline_range_and_words_walk_the_bucket(self) -> None:
        store, ids = self._filled()
        index = self.inboxes(store)
        records = store.get_many(ids)
        deadlines = sorted(inbox_deadline(r, "approval") for r in records)
        now = deadlines[9] + timedelta(seconds=1)
        expected = sum(1 for d in deadlines if d < now)
        assert 10 <= expected < COUNT  # deadlines at the end of a working day are shared
        late = inbox_page(index, store.get_many, "approval", InboxQuery(overdue=True, size=50), now)
        assert late.total == expected == len(late.records)
        assert all(inbox_deadline(r, "approval") < now for r in late.records)
        in_order = [r.ticket_id for r in late.records]
        latest = inbox_page(
            index, store.get_many, "approval", InboxQuery(overdue=True, latest_first=True), now
        )
        assert [r.ticket_id for r in latest.records] == in_order[::-1] and latest.total == expected
        tail = InboxQuery(overdue=True, latest_first=True, size=4, start=expected - 3)
        assert _ids(store, index, "approval", tail, now) == in_order[2::-1]
        wanted = sorted(r.ticket_id for r in records if r.submission.enterprise_name == "企业1")
        found: list[str] = []
        query = InboxQuery(words="企业1", size=3)
        while True:
            page = inbox_page(index, store.get_many, "approval", query, now)
            assert page.total is None and len(page.records) <= 3
            found += [r.ticket_id for r in page.records]
            if page.next_start is None:
                break
            query = query.at(page.next_start)
        assert sorted(found) == wanted

    def test_accepting_moves_a_ticket_between_buckets_and_a_rebuild_keeps_the_same(self) -> None:
        store, ids = self._filled()
        index = self.inboxes(store)
        now = FRIDAY_4PM
        for department in ("approval", "planning"):
            accepted = action(TicketAccepted, ids[3], department, FRIDAY_4PM + timedelta(days=1))
            assert store.record(accepted).status is RecordStatus.applied
        assert _ids(store, index, "approval", InboxQuery(bucket=InboxBucket.in_progress), now) == [ids[3]]
        assert _ids(store, index, "planning", InboxQuery(bucket=InboxBucket.co_handling), now) == [ids[3]]
        assert ids[3] not in _ids(store, index, "planning", InboxQuery(size=50), now)
        before = {
            (d, b): _ids(store, index, d, InboxQuery(bucket=b, size=50), now)
            for d in ("approval", "planning")
            for b in InboxBucket
        }
        store.rebuild_read_model()
        after = {(d, b): _ids(store, index, d, InboxQuery(bucket=b, size=50), now) for d, b in before}
        assert after == before
