"""Department assessment on hand-worked examples: 基本满意 x 0.9, exclusions, minimum sample,
grading by kind, red and black lists, and each round charged to the department that held it.

The counter-level tests write the read model's day counters by hand (what the recorder would
keep); the last test drives real events through the in-memory store, so the counters are the
ones ``read_model.counters_of`` derives from the assignments.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from consumers import read_model as rm
from consumers.assessment import NOT_RANKED, assess
from consumers.ticket_store import InMemoryTicketStore, RecordStatus
from schemas.callback_rates import CallbackKind
from schemas.events import DISTRICT_ZONE, Event, Priority, TicketRouted
from schemas.feedback import (
    Answer,
    BounceReason,
    DepartmentAction,
    RatedBy,
    Rating,
    SatisfactionRated,
    TicketAccepted,
    TicketBounced,
    TicketResolved,
)
from schemas.ticket import TicketRecord
from tests.unit.factories import submission
from ztc.bootstrap import DEFAULT_POLICY, load_checked_policy

POLICY = load_checked_policy(DEFAULT_POLICY)
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=DISTRICT_ZONE)
HOUR = timedelta(hours=1)


def callbacks(
    department: str,
    n: int,
    *,
    contacted: int,
    solved: int,
    satisfied: int,
    basically: int,
    kind: CallbackKind | None = None,
) -> dict[str, int]:
    kind = kind or CallbackKind()
    values = {
        "callbacks": n,
        "contacted": contacted,
        "resolved": solved,
        "satisfied": satisfied,
        "basically_satisfied": basically,
    }
    return {rm.department_field(department, rm.callback_field(kind, m)): v for m, v in values.items()}


def test_the_three_rates_and_the_composite_on_a_hand_worked_month() -> None:
    # market: 10 valid callbacks — 6 满意, 3 基本满意, 1 不满意; contacted 9, solved 8.
    # 响应率 9/10 = 0.9; 解决率 8/10 = 0.8; 满意率 (6 + 0.9 x 3) / 10 = 0.87;
    # 综合 0.1 x 0.9 + 0.5 x 0.8 + 0.4 x 0.87 = 0.09 + 0.40 + 0.348 = 0.838.
    # Left out: 2 final answers certified by the office (all unsatisfied, not solved), and
    # 1 callback on a ticket later closed as a duplicate.
    day = callbacks("market", 10, contacted=9, solved=8, satisfied=6, basically=3)
    final = CallbackKind(rated_by=RatedBy.office, final_answer=True)
    day |= callbacks("market", 2, contacted=2, solved=0, satisfied=0, basically=0, kind=final)
    closed = CallbackKind(excluded=True)
    day |= callbacks("market", 1, contacted=0, solved=0, satisfied=0, basically=0, kind=closed)
    market = assess([day], POLICY).of("market")
    assert market is not None
    rates = market.callbacks
    assert rates.valid == 10
    assert rates.response == pytest.approx(0.9)
    assert rates.resolution == pytest.approx(0.8)
    assert rates.satisfaction == pytest.approx(0.87)
    assert rates.composite == pytest.approx(0.838)

    keep_final = POLICY.model_copy(
        update={"rates": POLICY.rates.model_copy(update={"exclude_final_answers": False})}
    )
    kept = assess([day], keep_final).of("market")
    assert kept is not None
    # 12 valid: 11 contacted, 8 solved, (6 + 2.7) / 12 satisfied
    assert kept.callbacks.valid == 12
    assert kept.callbacks.satisfaction == pytest.approx(8.7 / 12)
    assert kept.callbacks.composite == pytest.approx(0.1 * 11 / 12 + 0.5 * 8 / 12 + 0.4 * 8.7 / 12)


def test_callbacks_the_policy_does_not_accept_leave_the_rates() -> None:
    day = callbacks("market", 5, contacted=5, solved=5, satisfied=5, basically=0)
    by_office = CallbackKind(rated_by=RatedBy.office)
    day |= callbacks("market", 5, contacted=0, solved=0, satisfied=0, basically=0, kind=by_office)
    own_only = POLICY.model_copy(
        update={"rates": POLICY.rates.model_copy(update={"valid_raters": (RatedBy.enterprise,)})}
    )
    assert assess([day], POLICY).district.composite == pytest.approx(0.5)
    assert assess([day], own_only).district.composite == pytest.approx(1.0)


def test_a_department_below_the_minimum_sample_is_listed_not_ranked() -> None:
    # approval: 4 perfect callbacks (composite 1.0) — one short of min_tickets = 5.
    # market: 5 callbacks, composite 0.1 + 0.5 x 0.8 + 0.4 x 0.9 x ... worked below.
    day = callbacks("approval", 4, contacted=4, solved=4, satisfied=4, basically=0)
    # market: contacted 5/5, solved 4/5, satisfaction (4 + 0.9) / 5 = 0.98
    # → 0.1 + 0.5 x 0.8 + 0.4 x 0.98 = 0.892
    day |= callbacks("market", 5, contacted=5, solved=4, satisfied=4, basically=1)
    day |= callbacks("office", 9, contacted=9, solved=9, satisfied=9, basically=0)
    [bureaus] = assess([day], POLICY).grades
    assert [(m.department, m.rank) for m in bureaus.ranked] == [("market", 1)]
    assert bureaus.ranked[0].composite == pytest.approx(0.892)
    reasons = {m.department: m.unranked_reason for m in bureaus.unranked}
    assert reasons["office"] == NOT_RANKED
    assert reasons["approval"] is not None and "5" in reasons["approval"]


def test_streets_and_bureaus_are_graded_apart_with_red_and_black_lists() -> None:
    day: dict[str, int] = {}
    # Bureaus: 5 callbacks each, all contacted and satisfied; solved 5, 4, 3, 2, 1 of 5.
    for solved, code in zip(
        (5, 4, 3, 2, 1), ("market", "approval", "planning", "hrss", "health"), strict=True
    ):
        day |= callbacks(code, 5, contacted=5, solved=solved, satisfied=5, basically=0)
    # Streets: two of them, one ranked ahead of the other.
    day |= callbacks("street-zhenhualu", 6, contacted=6, solved=6, satisfied=6, basically=0)
    day |= callbacks("street-yongqinglu", 6, contacted=6, solved=3, satisfied=0, basically=6)
    bureaus, streets = assess([day], POLICY).grades
    assert bureaus.name == "bureau" and streets.name == "street"
    assert [m.department for m in bureaus.ranked] == ["market", "approval", "planning", "hrss", "health"]
    assert [m.department for m in bureaus.red] == ["market", "approval", "planning"]
    assert [m.department for m in bureaus.black] == ["health", "hrss"]  # worst first, never also red
    assert [m.department for m in streets.red] == ["street-zhenhualu"]
    assert [m.department for m in streets.black] == ["street-yongqinglu"]
    # yongqinglu: 0.1 + 0.5 x 0.5 + 0.4 x 0.9 = 0.71
    assert streets.black[0].composite == pytest.approx(0.71)

    one_table = POLICY.model_copy(
        update={"ranking": POLICY.ranking.model_copy(update={"grade_by_kind": False})}
    )
    [everyone] = assess([day], one_table).grades
    assert everyone.name == "all" and len(everyone.ranked) == 7


# ---------------------------------------------------------------- round by round, from events


def _record(store: InMemoryTicketStore, event: Event) -> TicketRecord:
    outcome = store.record(event)
    assert outcome.status is RecordStatus.applied, outcome.reason
    assert outcome.record is not None
    return outcome.record


def _routed(lead: str, at: datetime, answering: TicketRecord | None = None) -> TicketRouted:
    ticket_id = "ZTC-20261102-0000000A"
    return TicketRouted(
        reroute_request_id=answering.reroute_request_id if answering is not None else None,
        ticket_id=ticket_id,
        occurred_at=at,
        submission=submission(ticket_id=ticket_id, channel_message_id="m-1", enterprise_name="康杰药业"),
        category="licence",
        confidence=0.9,
        lead_department=lead,
        co_departments=(),
        priority=Priority.normal,
        policy_version="test",
    )


def test_each_round_is_charged_to_the_department_that_held_it() -> None:
    """Round 0: approval resolves, the enterprise is unsatisfied (not solved) → redo by approval.
    Round 1: approval bounces it; planning takes it over, resolves; the enterprise is satisfied.
    The current lead is planning, but round 0's callback, redo and bounce stay approval's."""
    store = InMemoryTicketStore()
    tid = "ZTC-20261102-0000000A"

    def act(kind: type[DepartmentAction], at: datetime, department: str, **fields: Any) -> TicketRecord:
        event = kind(ticket_id=tid, occurred_at=at, department=department, actor="t", **fields)
        return _record(store, event)

    _record(store, _routed("approval", T0))
    act(TicketAccepted, T0 + HOUR, "approval")
    act(TicketResolved, T0 + 2 * HOUR, "approval", resolution="已答复")
    act(
        SatisfactionRated,
        T0 + 3 * HOUR,
        "enterprise",
        rating=Rating.unsatisfied,
        rated_by=RatedBy.enterprise,
        contacted=Answer.yes,
        solved=Answer.no,
    )
    bounced = act(TicketBounced, T0 + 4 * HOUR, "approval", reason=BounceReason.not_our_remit, note="属规划")
    _record(store, _routed("planning", T0 + 5 * HOUR, answering=bounced))
    act(TicketAccepted, T0 + 6 * HOUR, "planning")
    act(TicketResolved, T0 + 7 * HOUR, "planning", resolution="已办结")
    last = act(
        SatisfactionRated,
        T0 + 8 * HOUR,
        "enterprise",
        rating=Rating.basically_satisfied,
        rated_by=RatedBy.enterprise,
    )
    assert last.lead_department == "planning"

    relaxed = POLICY.model_copy(update={"ranking": POLICY.ranking.model_copy(update={"min_tickets": 1})})
    shown = assess(store.reports.day_counts([T0.date()]).values(), relaxed)
    approval, planning = shown.of("approval"), shown.of("planning")
    assert approval is not None and planning is not None
    # approval: 1 callback, contacted, not solved, unsatisfied → 0.1 x 1 + 0 + 0 = 0.1
    assert (approval.callbacks.valid, approval.callbacks.resolved) == (1, 0)
    assert approval.composite == pytest.approx(0.1)
    assert (approval.bounced, approval.rounds_done, approval.redone) == (1, 1, 1)
    assert approval.bounce_rate == 1.0 and approval.redo_rate == 1.0
    # planning: 1 callback, unasked questions → contacted, solved (基本满意 closes): 0.1 + 0.5 + 0.4 x 0.9
    assert planning.composite == pytest.approx(0.96)
    assert (planning.bounced, planning.rounds_done, planning.redone) == (0, 1, 0)
    assert [m.department for m in shown.grades[0].ranked] == ["planning", "approval"]
