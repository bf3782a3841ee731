"""One contract for every TicketStore: the in-memory fake and Redis must behave alike."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from consumers import ticket_store, views
from consumers.enterprise_files import enterprise_file
from consumers.sla_engine import SlaBook, SlaState, alert_event, deadline_status, sla_status
from consumers.ticket_store import RecordStatus, TicketStore
from schemas.events import DISTRICT_ZONE, Event, TicketRouted
from schemas.feedback import (
    BounceReason,
    InformationRequested,
    InformationSupplied,
    RatedBy,
    Rating,
    SatisfactionRated,
    TicketAccepted,
    TicketBounced,
    TicketResolved,
)
from schemas.sla import SlaEvent, SlaStage
from schemas.ticket import InboxBucket, TicketRecord
from streams.routing import route_ticket
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

    def test_enterprise_file_by_a_part_of_the_name(self) -> None:
        store = self.make_store()
        store.record(routed("E1", enterprise_name="青岛海德精密机械有限公司"))
        store.record(routed("E2", enterprise_name="海德精密[分厂]*", minutes=2))
        store.record(routed("E3", enterprise_name="惠昱电子"))
        found = enterprise_file(store, "海德精密")
        assert found.names == ("海德精密[分厂]*", "青岛海德精密机械有限公司")
        assert [r.ticket_id for r in found.records] == ["E1", "E2"]
        assert [r.ticket_id for r in enterprise_file(store, "[分厂]*").records] == ["E2"]  # no glob
        assert enterprise_file(store, "ＨＤ精密").records == []
        assert [r.ticket_id for r in enterprise_file(store, "惠昱电子").records] == ["E3"]
        assert enterprise_file(store, "德").records == []  # one character names no enterprise

    def test_ticket_ids_are_found_in_any_case(self) -> None:
        store = self.make_store()
        store.record(routed("ZTC-20261128-1C2D3E4FAB12"))
        found = store.get(" ztc-20261128-1c2d3e4fab12 ")
        assert found is not None and found.ticket_id == "ZTC-20261128-1C2D3E4FAB12"

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


# ---------------------------------------------------------------- the read model

BOOK = SlaBook(load_checked_policy(DEFAULT_POLICY))
FRIDAY_4PM = datetime(2026, 11, 27, 16, 0, tzinfo=DISTRICT_ZONE)
DAYS = tuple(date(2026, 11, 20) + timedelta(days=i) for i in range(45))


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=DISTRICT_ZONE)


def routed_at(ticket_id: str, when: datetime, text: str = "我们想办理食品经营许可证") -> TicketRouted:
    sub = submission(
        text, ticket_id=ticket_id, channel_message_id=ticket_id, occurred_at=when, submitted_at=when
    )
    return route_ticket(sub, BOOK.policy, when, event_id=f"routed-{ticket_id}")


def action(kind: type[Any], ticket_id: str, department: str, when: datetime, **fields: Any) -> Event:
    event: Event = kind(ticket_id=ticket_id, occurred_at=when, department=department, actor="张", **fields)
    return event


def alerts_until(store: TicketStore, ticket_id: str, now: datetime) -> None:
    """Record, as the monitor would, every SLA alert of the ticket due by ``now``."""
    while True:
        record = store.get(ticket_id)
        due = [a for a in BOOK.schedule(record) if a.fire_at <= now] if record is not None else []
        if not due:
            return
        first = min(due, key=lambda a: (a.fire_at, a.kind != "breach", a.level))
        assert store.record(alert_event(first, BOOK, first.fire_at)).status is RecordStatus.applied


def snapshot(store: TicketStore, now: datetime) -> dict[str, Any]:
    """Everything the read model answers at ``now``."""
    reports = store.reports
    groups = reports.groups()
    overdue, at_risk = reports.stages(groups, now)
    return {
        "open": reports.open_counts(),
        "groups": groups,
        "counts": reports.stage_counts(groups, now),
        "overdue_tickets": reports.overdue_tickets(sorted({g[0] for g in groups}), now),
        "overdue": overdue,
        "at_risk": at_risk,
        "days": reports.day_counts(DAYS),
    }


def life_of_a_ticket(ticket_id: str) -> list[Event]:
    """Routed Friday 16:00, accepted late, paused, resolved, rated unsatisfied, resolved again, closed."""
    unsatisfied = {"rating": Rating.unsatisfied, "rated_by": RatedBy.enterprise}
    satisfied = {"rating": Rating.satisfied, "rated_by": RatedBy.enterprise}
    return [
        action(TicketAccepted, ticket_id, "approval", at(12, 1, 9)),
        action(InformationRequested, ticket_id, "approval", at(12, 1, 10), question="请补充材料"),
        action(InformationSupplied, ticket_id, "enterprise", at(12, 2, 10), content="已补充"),
        action(TicketResolved, ticket_id, "approval", at(12, 3, 10), resolution="已办"),
        action(SatisfactionRated, ticket_id, "enterprise", at(12, 3, 15), **unsatisfied),
        action(TicketResolved, ticket_id, "approval", at(12, 4, 10), resolution="再办"),
        action(SatisfactionRated, ticket_id, "enterprise", at(12, 4, 15), **satisfied),
    ]


def gauges_by_rule(records: list[TicketRecord], now: datetime) -> dict[str, tuple[int, int]]:
    """Open tickets and tickets with an overdue stage per lead department, by ``sla_status`` itself."""
    out: dict[str, tuple[int, int]] = {}
    for record in records:
        if record.status.value in ("resolved", "closed"):
            continue
        opened, late = out.get(record.lead_department, (0, 0))
        overdue = any(s.overdue for s in sla_status(record, BOOK, now))
        out[record.lead_department] = (opened + 1, late + overdue)
    return out


class ReadModelContract(TicketStoreContract):
    """The store contract plus its read model (``consumers.read_model``)."""

    def forget_read_model(self, store: TicketStore) -> None:
        """Drop the store's read model, as if its tickets were recorded before it existed."""
        raise NotImplementedError

    def test_the_read_model_follows_every_change_and_equals_a_rebuild(self) -> None:
        store = self.make_store(BOOK)
        store.record(routed_at("RM1", FRIDAY_4PM))
        checks = [at(11, 30, 8), at(11, 30, 16), at(12, 1, 8), at(12, 10, 9)]
        assert store.reports.open_counts() == {"approval": 1}
        alerts_until(store, "RM1", at(11, 30, 17, 31))
        for event in life_of_a_ticket("RM1"):
            assert store.record(event).status is RecordStatus.applied, event
            before = [snapshot(store, now) for now in checks]
            store.rebuild_read_model()
            assert [snapshot(store, now) for now in checks] == before, type(event).__name__
        assert store.reports.open_counts() == {}
        days = store.reports.day_counts(DAYS)
        assert days[date(2026, 11, 27)]["c|admin_licence"] == 1
        assert days[date(2026, 11, 30)]["d|approval|response_due"] == 1  # missed at the breach, Monday 17:30
        assert "d|approval|response_met" not in days[date(2026, 11, 30)]
        assert days[date(2026, 12, 3)]["d|approval|unsatisfied"] == 1
        assert days[date(2026, 12, 4)]["d|approval|satisfied"] == 1
        resolved = sum(d.get("d|approval|resolution_met", 0) for d in days.values())
        assert resolved == 2  # both rounds by their deadlines

    def test_duplicates_and_refusals_change_no_count(self) -> None:
        store = self.make_store(BOOK)
        events = [routed_at("RM2", FRIDAY_4PM), *life_of_a_ticket("RM2")[:3]]
        for event in events:
            store.record(event)
        alerts_until(store, "RM2", at(12, 1, 9))
        before = snapshot(store, at(12, 1, 12))
        record = store.get("RM2")
        assert record is not None and record.sla is not None
        for event in events:
            assert store.record(event).status is RecordStatus.duplicate
        refused = [
            action(TicketAccepted, "RM2", "approval", at(12, 2, 11)),  # already accepted
            action(TicketResolved, "RM2", "planning", at(12, 2, 11), resolution="x"),  # not the lead
            action(TicketAccepted, "RM-unknown", "approval", at(12, 2, 11)),  # no such ticket
        ]
        for event in refused:
            assert store.record(event).status is RecordStatus.refused
        assert snapshot(store, at(12, 1, 12)) == before

    def test_a_write_that_loses_a_race_is_retried_and_counts_once(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        store = self.make_store(BOOK)
        first = routed_at("RM3", FRIDAY_4PM, "土石方施工许可证办理，李村街道")
        store.record(first)
        co = first.co_departments[0]
        lead_accepts = action(TicketAccepted, "RM3", "approval", at(11, 30, 9))
        calls = 0
        real = ticket_store._transition

        def racing(old: TicketRecord | None, event: Event, book: SlaBook | None) -> Any:
            nonlocal calls
            calls += 1
            if calls == 1:  # another writer records the lead's accept between our read and our write
                assert store.record(lead_accepts).status is RecordStatus.applied
            return real(old, event, book)

        monkeypatch.setattr(ticket_store, "_transition", racing)
        assert store.record(action(TicketAccepted, "RM3", co, at(11, 30, 10))).status is RecordStatus.applied
        assert calls == 3  # ours, the other writer's, ours again on the record it changed
        monkeypatch.undo()
        record = store.get("RM3")
        assert record is not None and record.has_applied(lead_accepts.event_id)
        days = store.reports.day_counts(DAYS)[date(2026, 11, 30)]
        assert days[f"d|{co}|response_n"] == 1 and days["d|approval|response_n"] == 1
        assert days["d|approval|response_due"] == days["d|approval|response_met"] == 1
        before = snapshot(store, at(11, 30, 12))
        store.rebuild_read_model()
        assert snapshot(store, at(11, 30, 12)) == before

    def test_friday_4pm_and_rerouting_answer_alike_in_overdue_dashboard_and_gauges(self) -> None:
        """ztc overdue's data, the dashboard's data and the /metrics gauges all follow sla_status."""
        store = self.make_store(BOOK)
        store.record(routed_at("RM-FRI", FRIDAY_4PM))
        store.record(routed_at("RM-BOUNCED", at(11, 20, 9)))  # deadlines long past when it bounces
        store.record(
            action(
                TicketBounced,
                "RM-BOUNCED",
                "approval",
                at(12, 1, 9),
                reason=BounceReason.not_our_remit,
                note="x",
            )
        )
        store.record(routed_at("RM-TRIAGE", at(11, 27, 9), "有问题想反映"))
        ids = ["RM-FRI", "RM-BOUNCED", "RM-TRIAGE"]
        moments = [at(11, 30, 8), at(11, 30, 15, 50), at(11, 30, 17, 31), at(12, 31, 9)]
        seen = {}
        for now in moments:
            alerts_until(store, "RM-FRI", now)
            records = store.get_many(ids)
            rule = {(s.ticket_id, s.stage, s.state) for r in records for s in deadline_status(r, BOOK, now)}
            cli = {(s.ticket_id, s.stage, s.state) for s in views.overdue_items(store, now)}
            overdue, at_risk = views.sla_alerts(store, now)
            board = {
                (a.record.ticket_id, a.status.stage, a.status.state)
                for g in overdue + at_risk
                for a in g.alerts
            }
            totals = sum(g.total for g in overdue + at_risk)
            assert cli == rule and board == rule and totals == len(rule), now
            assert views.gauges(store, now) == gauges_by_rule(records, now), now
            seen[now] = rule
        assert (
            seen[at(11, 30, 8)] == set()
        )  # Friday's: on track by business time (was "at risk" on the dashboard)
        assert ("RM-FRI", SlaStage.accept, SlaState.at_risk) in seen[at(11, 30, 15, 50)]
        assert ("RM-FRI", SlaStage.accept, SlaState.overdue) in seen[at(11, 30, 17, 31)]
        bounced = [item for rule in seen.values() for item in rule if item[0] == "RM-BOUNCED"]
        assert bounced == []  # re-routing: no clock runs (was overdue on the dashboard only)
        assert ("RM-TRIAGE", SlaStage.accept, SlaState.overdue) in seen[at(12, 31, 9)]  # the office's

    def test_the_at_risk_list_is_the_first_of_a_window_far_bigger_than_its_limit(self) -> None:
        """Tickets routed all through Monday share Tuesday 17:30 as their accept deadline and are warned
        from 14:30 to 16:24; Tuesday's are due Wednesday. At Tuesday 15:00 the at-risk reach holds them
        all, and the stages not yet warned sort before the warned ones (same deadline, smaller ids):
        the listing must still be the first ``limit`` at risk by deadline, and the count every one."""
        store = self.make_store(BOOK)
        routings = [at(11, 30, 8, 30), at(11, 30, 9), at(11, 30, 9, 30), at(11, 30, 10), at(11, 30, 10, 30)]
        routings += [at(11, 30, 11), at(11, 30, 14), at(11, 30, 15), at(11, 30, 16), at(11, 30, 17)]
        routings += [at(12, 1, 9), at(12, 1, 11)]
        ids = [f"RK{90 - i:02d}" for i in range(len(routings))]  # routed later: a smaller id
        for ticket_id, when in zip(ids, routings, strict=True):
            store.record(routed_at(ticket_id, when))
        store.record(routed_at("RK99", at(11, 30, 8, 30), "土石方施工许可证办理，李村街道"))  # a street too
        now = at(12, 1, 15)
        records = store.get_many([*ids, "RK99"])
        expected: dict[tuple[str, int], list[tuple[str, SlaStage, datetime]]] = {}
        for status in sorted(
            (s for r in records for s in deadline_status(r, BOOK, now) if s.state is SlaState.at_risk),
            key=lambda s: (s.due_at, s.ticket_id, s.stage.value),
        ):
            group = (status.department, status.escalation_level)
            expected.setdefault(group, []).append((status.ticket_id, status.stage, status.due_at))
        first_at_risk = expected[("approval", 0)][0]
        waiting = [
            w
            for r in records
            for w in BOOK.windows(r)
            if w.warn_at > now and (w.due_at, w.ticket_id) < (first_at_risk[2], first_at_risk[0])
        ]
        assert len(waiting) >= 3 and len(expected[("approval", 0)]) > 5  # the case this test is about

        reports = store.reports
        groups = reports.groups()
        assert {g: c.at_risk for g, c in reports.stage_counts(groups, now).items() if c.at_risk} == {
            g: len(items) for g, items in expected.items()
        }
        for limit in (None, 0, 1, 3, 5, 100):
            _, at_risk = reports.stages(groups, now, limit)
            listed = {g: [(s.ticket_id, s.stage, s.due_at) for s in at_risk[g]] for g in groups}
            assert listed == {g: expected.get(g, [])[:limit] for g in groups}, limit
        _, board = views.sla_alerts(store, now, limit=3)
        assert {(g.department, g.escalation_level): g.total for g in board} == {
            g: len(items) for g, items in expected.items()
        }
        assert {
            (g.department, g.escalation_level): [(a.record.ticket_id, a.status.stage) for a in g.alerts]
            for g in board
        } == {g: [(t, s) for t, s, _ in items[:3]] for g, items in expected.items()}

    def test_a_rebuild_counts_tickets_recorded_before_the_read_model(self) -> None:
        store = self.make_store(BOOK)
        store.record(routed_at("RM4", FRIDAY_4PM))
        for event in life_of_a_ticket("RM4")[:4]:
            store.record(event)
        store.record(routed_at("RM5", at(12, 1, 9)))
        now = at(12, 10, 9)
        expected = snapshot(store, now)
        self.forget_read_model(store)
        assert store.reports.groups() == [] and store.reports.day_counts(DAYS) == {}
        assert store.rebuild_read_model() == 2
        assert snapshot(store, now) == expected
        assert expected["overdue"][("approval", 0)][0].ticket_id == "RM5"
