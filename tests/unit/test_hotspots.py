"""Hot-spot grouping on real-looking Chinese requests."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from schemas.hotspots import HotspotGroup, HotspotPolicy, Request, add_request, heat

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=SHANGHAI)


def _request(n: int, text: str, enterprise: str, hours: float = 0, street: str = "城关街道") -> Request:
    return Request(
        ticket_id=f"t{n}",
        enterprise=enterprise,
        street=street,
        category="infrastructure",
        text=text,
        at=T0 + timedelta(hours=hours),
    )


def _group_all(requests: list[Request], policy: HotspotPolicy) -> list[HotspotGroup]:
    groups: list[HotspotGroup] = []
    for request in requests:
        groups = add_request(groups, request, policy)
    return groups


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
    sizes = sorted(len(g.requests) for g in groups)
    assert sizes == [1, 3]


def test_same_text_in_another_street_is_another_group() -> None:
    text = "工业园区东路段频繁停电，影响企业正常生产"
    groups = _group_all(
        [_request(1, text, "甲"), _request(2, text, "乙", street="新区街道")], HotspotPolicy()
    )
    assert len(groups) == 2


def test_heat_counts_distinct_enterprises_with_decay() -> None:
    policy = HotspotPolicy(half_life=timedelta(hours=10))
    text = "园区东路频繁停电影响生产"
    groups = _group_all(
        [_request(1, text, "甲"), _request(2, text, "甲", 10), _request(3, text, "乙", 10)], policy
    )
    (group,) = groups
    # 甲 counted once at its latest request; at now = T0+20h both are 10h old -> 0.5 + 0.5
    assert heat(group, policy, T0 + timedelta(hours=20)) == pytest.approx(1.0)


def test_groups_leave_the_window() -> None:
    policy = HotspotPolicy(window=timedelta(days=1))
    text = "园区东路频繁停电影响生产"
    groups = _group_all([_request(1, text, "甲"), _request(2, text, "乙", 48)], policy)
    assert [len(g.requests) for g in groups] == [1]
