"""Views: ``ztc overdue``'s list and ``ztc ticket show``'s time limits follow the one SLA rule."""

from __future__ import annotations

from datetime import datetime

from consumers import views
from consumers.sla_engine import SlaBook, SlaState
from consumers.ticket_store import InMemoryTicketStore
from schemas.events import DISTRICT_ZONE
from schemas.feedback import TicketAccepted
from schemas.sla import SlaStage
from tests.unit.store_contract import FRIDAY_4PM, action, routed_at
from ztc import render
from ztc.bootstrap import DEFAULT_POLICY, load_checked_policy

POLICY = load_checked_policy(DEFAULT_POLICY)
BOOK = SlaBook(POLICY)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=DISTRICT_ZONE)


def test_overdue_items_put_overdue_first_then_by_deadline_and_filter_by_department() -> None:
    store = InMemoryTicketStore(book=BOOK)
    store.record(routed_at("V1", at(26, 9)))  # due Friday 17:30
    store.record(routed_at("V2", FRIDAY_4PM))  # due Monday 17:30, at risk from 15:42
    store.record(routed_at("V3", at(30, 9), "有问题想反映"))  # triage, due Tuesday 17:30: the office's
    items = views.overdue_items(store, at(30, 17))
    assert [(s.ticket_id, s.stage, s.state) for s in items] == [
        ("V1", SlaStage.accept, SlaState.overdue),
        ("V2", SlaStage.accept, SlaState.at_risk),
    ]
    assert items[0].late_seconds == (3 * 24 - 0.5) * 3600 and items[0].department == "approval"
    tuesday = datetime(2026, 12, 1, 16, 30, tzinfo=DISTRICT_ZONE)
    assert [(s.ticket_id, s.state) for s in views.overdue_items(store, tuesday, "office")] == [
        ("V3", SlaState.at_risk)
    ]
    assert views.overdue_items(store, at(27, 9)) == []


def test_ticket_show_gives_each_open_stage_its_state_by_the_rule() -> None:
    store = InMemoryTicketStore(book=BOOK)
    store.record(routed_at("V4", FRIDAY_4PM, "土石方施工许可证办理，李村街道"))
    record = store.get("V4")
    assert record is not None
    co = record.co_departments[0]
    store.record(action(TicketAccepted, "V4", co, at(30, 9)))
    record = store.get("V4")
    assert record is not None
    monday_8 = "\n".join(render.sla_lines(record, POLICY, at(30, 8)))
    assert "签收 正常 on_track" in monday_8 and "办结 正常 on_track" in monday_8
    monday_4pm = "\n".join(render.sla_lines(record, POLICY, at(30, 16)))
    assert "签收 临期 at_risk" in monday_4pm
    tuesday = "\n".join(render.sla_lines(record, POLICY, at(30, 18, 30)))
    assert "签收 超期 overdue 1小时0分" in tuesday
    shown = views.ticket_sla(record, BOOK, at(30, 16))
    working = {row.department: seconds for row, seconds in shown.working}
    assert working[record.lead_department] == (1.5 + 3.5 + 2.5) * 3600  # Fri 16:00–17:30, Mon 8:30–16:00
    assert working[co] == working[record.lead_department]  # accepted, not done: its clock still runs
