"""Drills over the in-memory store: what would fire, with names and lateness, and nothing changes."""

from __future__ import annotations

from datetime import datetime, timedelta

from consumers.drill import APPLY_SKEW, apply_refusal, rehearse
from schemas.events import DISTRICT_ZONE
from tests.unit.test_monitor import BOOK, SECOND_RUNG, Setup

DRILL_AT = datetime(2026, 12, 12, 10, 0, tzinfo=DISTRICT_ZONE)


def test_a_drill_lists_every_alert_due_with_names_and_lateness_and_changes_nothing() -> None:
    setup = Setup()
    ticket = setup.route()
    before = (dict(setup.schedule.fire_at), setup.store.get(ticket))
    items = rehearse(setup.schedule, setup.store, BOOK.policy, DRILL_AT)
    assert (dict(setup.schedule.fire_at), setup.store.get(ticket)) == before
    assert setup.publisher.published == []
    lines = [item.line() for item in items]
    assert len(items) == len({item.event.key for item in items}) >= 8  # warnings, breaches, the ladders
    notice = next(item for item in items if item.event.key == f"{ticket}:accept:escalation3:0")
    assert notice.line().startswith(
        f"{ticket}  签收  通报 第3级  区行政审批服务局  时限 11月30日（周一）17:30"
    )
    assert "已超期 9个工作日" in notice.line()
    assert all("approval" not in line for line in lines)
    warning = next(item for item in items if item.event.key == f"{ticket}:accept:warning:0")
    assert warning.late == "" and "已超期" not in warning.line()


def test_a_drill_before_anything_is_due_lists_nothing() -> None:
    setup = Setup()
    setup.route()
    assert rehearse(setup.schedule, setup.store, BOOK.policy, SECOND_RUNG - timedelta(days=30)) == []


def test_apply_is_refused_for_a_moment_in_the_future_beyond_the_skew() -> None:
    clock = DRILL_AT
    assert apply_refusal(clock, clock) is None
    assert apply_refusal(clock - timedelta(days=3), clock) is None  # catching up is fine
    assert apply_refusal(clock + APPLY_SKEW, clock) is None
    refusal = apply_refusal(clock + APPLY_SKEW + timedelta(seconds=1), clock)
    assert refusal is not None and "--apply" in refusal and "\n" not in refusal
