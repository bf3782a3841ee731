"""Hot-spot grouping and heat on hand-worked examples and real-looking Chinese requests."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from schemas.hotspots import (
    HotspotGroup,
    HotspotPolicy,
    HotspotRequest,
    TicketSignals,
    add_request,
    heat,
    is_hot,
    repeats,
    settle_street,
    shingles,
    similarity,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=SHANGHAI)


def _request(
    n: int,
    text: str,
    enterprise: str,
    hours: float = 0,
    street: str = "城关街道",
    category: str = "infrastructure",
    departments: tuple[str, ...] = ("transport",),
) -> HotspotRequest:
    return HotspotRequest(
        ticket_id=f"t{n}",
        enterprise=enterprise,
        street=street,
        category=category,
        text=text,
        at=T0 + timedelta(hours=hours),
        departments=departments,
    )


def _group_all(requests: list[HotspotRequest], policy: HotspotPolicy) -> list[HotspotGroup]:
    groups: list[HotspotGroup] = []
    for request in requests:
        groups = add_request(groups, request, policy)
    return groups


# ---------------------------------------------------------------- similarity by hand


def test_common_words_and_punctuation_are_cut_out_before_the_ngrams() -> None:
    # "园区东路，停电！" → NFKC → "园区东路,停电!" → 园区 cut → "东路" and "停电" (no n-gram spans a cut)
    assert shingles("园区东路，停电！", 2, ("园区",)) == {"东路", "停电"}
    assert shingles("园区东路，停电！", 1, ("园区",)) == {"东", "路", "停", "电"}
    assert shingles("ＡＢ", 1) == {"a", "b"}  # full-width folded for comparison only


def test_similarity_is_the_mean_overlap_of_1_and_2_grams() -> None:
    # 1-grams {东,路,停,电} vs {东,路,停,水}: 3/4; 2-grams {东路,路停,停电} vs {东路,路停,停水}: 2/3
    assert similarity("东路停电", "东路停水", 2) == pytest.approx((3 / 4 + 2 / 3) / 2)
    # overlap divides by the smaller set: a short text inside a long one scores 1
    assert similarity("东路停电", "今天东路停电了", 2) == pytest.approx(1.0)


# ---------------------------------------------------------------- grouping


def test_near_duplicates_group_and_others_do_not() -> None:
    policy = HotspotPolicy()
    groups = _group_all(
        [
            _request(1, "工业园区东路段频繁停电，影响企业正常生产，请尽快处理。", "甲公司"),
            _request(2, "园区东路一带经常停电，企业生产受影响，希望尽快解决", "乙公司", 2),
            _request(3, "申请办理食品经营许可证，材料已提交一个月未审批。", "丙公司", 3),
            _request(4, "工业园区东路停电频繁 影响生产！", "丁公司", 5),
        ],
        policy,
    )
    assert sorted(sorted(g.ticket_ids) for g in groups) == [["t1", "t2", "t4"], ["t3"]]


def test_a_request_resembling_two_groups_joins_them_whatever_the_order() -> None:
    # A and B share little; C resembles both. Single linkage: one group in any order, named by the oldest.
    a = _request(1, "振华路被施工围挡封住，货车进不来", "甲", 0)
    b = _request(2, "员工上下班绕行很远，班车停在路边", "乙", 1)
    c = _request(3, "振华路围挡封路，货车进不来，员工上下班绕行很远", "丙", 2)
    policy = HotspotPolicy()
    assert similarity(a.text, b.text, 2) < policy.similarity
    for order in ([a, b, c], [c, b, a], [b, c, a]):
        (group,) = _group_all(order, policy)
        assert group.group_id == "t1" and group.ticket_ids == ("t1", "t2", "t3")


def test_same_text_in_another_street_is_another_group() -> None:
    text = "工业园区东路段频繁停电，影响企业正常生产"
    groups = _group_all(
        [_request(1, text, "甲"), _request(2, text, "乙", street="新区街道")], HotspotPolicy()
    )
    assert len(groups) == 2


def test_another_category_must_resemble_more() -> None:
    first = _request(1, "东路段频繁停电影响生产", "甲")
    other = _request(2, "东路段经常停电", "乙", 1, category="coordination")
    score = similarity(first.text, other.text, 2)
    assert HotspotPolicy().similarity <= score
    assert len(_group_all([first, other], HotspotPolicy(cross_category_similarity=score + 0.01))) == 2
    assert len(_group_all([first, other], HotspotPolicy(cross_category_similarity=score))) == 1
    assert len(_group_all([first, other], HotspotPolicy(cross_category_similarity=1.01))) == 2


def test_a_redelivered_request_changes_nothing() -> None:
    request = _request(1, "园区东路频繁停电影响生产", "甲")
    groups = _group_all([request, request, request], HotspotPolicy())
    assert [g.ticket_ids for g in groups] == [("t1",)]


def test_groups_leave_the_window() -> None:
    policy = HotspotPolicy(window_days=1)
    text = "园区东路频繁停电影响生产"
    groups = _group_all([_request(1, text, "甲"), _request(2, text, "乙", 48)], policy)
    assert [g.ticket_ids for g in groups] == [("t2",)]


def test_the_stalest_groups_go_first_past_max_groups() -> None:
    texts = ["营业执照变更", "排污许可证延续", "不动产登记进度", "稳岗补贴发放"]
    groups = _group_all(
        [_request(i, t, f"e{i}", i) for i, t in enumerate(texts)], HotspotPolicy(max_groups=2)
    )
    assert sorted(g.group_id for g in groups) == ["t2", "t3"]


# ---------------------------------------------------------------- heat by hand


def test_heat_counts_distinct_enterprises_with_decay() -> None:
    policy = HotspotPolicy(half_life_hours=10)
    text = "园区东路频繁停电影响生产"
    (group,) = _group_all(
        [_request(1, text, "甲"), _request(2, text, "甲", 10), _request(3, text, "乙", 10)], policy
    )
    # 甲 counted once, at its latest request; at T0+20h both are 10h old -> 0.5 + 0.5
    value = heat(group, policy, T0 + timedelta(hours=20))
    assert value.total == pytest.approx(1.0) and value.enterprise_count == 2


def test_heat_weighs_departments_overdue_bounced_unsatisfied_and_skips_merged_tickets() -> None:
    policy = HotspotPolicy(half_life_hours=10)
    text = "振华路被施工围挡封住货车进不来"
    (group,) = _group_all(
        [
            _request(1, text, "甲", 0, departments=("transport", "street-loushan")),
            _request(2, text, "乙", 10, departments=("office", "street-loushan")),
            _request(3, text, "丙", 10, departments=("transport", "street-loushan")),
            _request(4, text, "丙", 12, departments=("urban",)),  # merged into t3 below: counts nowhere
        ],
        policy,
    )
    signals = {
        "t1": TicketSignals(overdue=True),
        "t2": TicketSignals(bounces=frozenset({"b1", "b2"})),  # two bounces of one ticket: one bounced ticket
        "t4": TicketSignals(unsatisfied=True, overdue=True, merged_into="t3"),
    }
    value = heat(group, policy, T0 + timedelta(hours=20), signals)
    # enterprises 甲 0.25 (20h old) + 乙 0.5 + 丙 0.5 (t4 merged: its 12h is not 丙's latest) = 1.25
    # departments transport, street-loushan, office = 3 -> 0.5 x 2 = 1.0; overdue 1; bounced 1; unsatisfied 0
    assert value.enterprises == pytest.approx(1.25)
    assert value.departments == ("transport", "street-loushan", "office")
    assert (value.overdue, value.bounced, value.unsatisfied) == (1, 1, 0)
    assert value.total == pytest.approx(1.25 + 1.0 + 1 + 1)
    assert is_hot(value, policy.model_copy(update={"threshold": 4.25})) is True
    assert is_hot(value, policy.model_copy(update={"threshold": 4.25, "min_enterprises": 4})) is False
    assert is_hot(value, policy.model_copy(update={"threshold": 4.26})) is False


def test_repeats_of_one_enterprise_are_suggested_for_merging_into_its_first() -> None:
    text = "振华路被施工围挡封住货车进不来"
    (group,) = _group_all(
        [
            _request(1, text, "甲"),
            _request(2, text, "乙", 1),
            _request(3, text, "甲", 2),
            _request(4, text, "甲", 3),
        ],
        HotspotPolicy(),
    )
    assert repeats(group) == [("t3", "t1"), ("t4", "t1")]
    assert repeats(group, {"t3": TicketSignals(merged_into="t1")}) == [("t4", "t1")]


def test_a_group_is_detected_once() -> None:
    policy = HotspotPolicy(threshold=2.5, min_enterprises=3, department_weight=0)
    text = "振华路被施工围挡封住货车进不来"
    batch = [_request(i, text, f"企业{i}", i) for i in range(3)]
    now = T0 + timedelta(hours=3)
    first = settle_street([], batch, {}, policy, now)
    assert [g.group_id for g in first.detected] == ["t0"] and first.detected[0].detected_at == now
    again = settle_street(first.groups, [*batch, _request(9, text, "企业9", 3)], {}, policy, now)
    assert again.detected == [] and [len(g.requests) for g in again.hot] == [4]


def test_a_big_group_keeps_its_first_and_latest_requests_and_counts_the_rest() -> None:
    text = "振华路被施工围挡封住货车进不来"
    (group,) = _group_all([_request(i, text, f"企业{i}", i) for i in range(6)], HotspotPolicy(max_members=3))
    assert group.ticket_ids == ("t0", "t4", "t5") and group.more == 3 and group.size == 6
