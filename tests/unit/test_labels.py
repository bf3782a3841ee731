"""Every code shown to people has a Chinese name; history lines are readable without the policy's codes."""

from __future__ import annotations

import pytest

from schemas.catalog import event_types
from schemas.events import Channel, Priority
from schemas.feedback import BounceReason
from schemas.labels import event_label, readable_summary, target_label, tier_label
from schemas.sla import SlaPolicy, SlaStage

DEPARTMENTS = {"approval": "区行政审批服务局", "planning": "区自然资源局", "street-licun": "李村街道办事处"}
CATEGORIES = {"licence": "证照办理"}


def _has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


@pytest.mark.parametrize("event", event_types(), ids=lambda e: e.event_type)
def test_every_event_kind_has_a_chinese_label(event: type) -> None:
    assert _has_chinese(event_label(event.event_type))  # type: ignore[attr-defined]


def test_every_enum_shown_to_people_has_a_chinese_label() -> None:
    for enum in (Priority, Channel, BounceReason, SlaStage):
        assert all(_has_chinese(member.label) for member in enum), enum


def test_tiers_and_time_limits_in_chinese() -> None:
    sla = SlaPolicy()
    assert [tier_label(sla, t.name) for t in sla.tiers] == ["紧急", "一般", "复杂", "咨询"]
    assert tier_label(sla, "unknown-tier") == "unknown-tier"
    assert target_label("7 working days") == "7个工作日" and target_label("1 working day") == "1个工作日"
    assert target_label("2 hours") == "2小时" and target_label("4 business hours") == "4个工作小时"
    assert target_label("soon") == "soon"


def test_history_lines_name_departments_categories_priorities_and_limits() -> None:
    line = "派单：主办 approval，协办 planning、street-licun；类别 licence，置信度 0.90，优先级 normal"
    assert readable_summary(line, DEPARTMENTS, CATEGORIES) == (
        "派单：主办 区行政审批服务局，协办 区自然资源局、李村街道办事处；"
        "类别 证照办理，置信度 0.90，优先级 一般"
    )
    assert (
        readable_summary("申请延期 5 working days：材料多", DEPARTMENTS, CATEGORIES)
        == "申请延期 5个工作日：材料多"
    )
    assert readable_summary("重办：未解决（退回主办 approval，第 1 次）", DEPARTMENTS, CATEGORIES) == (
        "重办：未解决（退回主办 区行政审批服务局，第 1 次）"
    )


def test_what_people_wrote_in_a_note_is_left_alone() -> None:
    note = "进展：approval 和 planning 的同事都来了，优先级 high 的说法不对"
    assert readable_summary(note, DEPARTMENTS, CATEGORIES) == note
