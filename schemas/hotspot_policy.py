"""The policy's ``[hotspots]`` section: how requests are grouped, how hot is hot, what the alert says.

The formulas are in ``schemas.hotspots``; the README's "Hot spots" explains them. ``ztc policy
check`` refuses an ``alert_template`` naming a field ``TEMPLATE_FIELDS`` does not list.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_COMMON_WORDS = (
    "工业园", "产业园", "园区", "企业", "公司", "我们", "我司", "本公司", "协调", "相关部门", "部门",
    "尽快", "希望", "问题", "影响", "生产", "没有", "已经", "解决", "处理", "反映", "麻烦", "帮忙",
    "请问", "请", "的", "了",
)  # fmt: skip
"""Words nearly every request says; they tell no two problems apart."""

TEMPLATE_FIELDS: dict[str, str] = {
    "street": "街道名称",
    "category": "类别名称",
    "sample": "热点中最早一件诉求的标题",
    "enterprises": "涉及企业数",
    "tickets": "诉求件数",
    "heat": "热度",
    "departments": "涉及部门名称，顿号分隔",
    "suggestion": "建议：合并重复诉求 / 召开联合会商",
    "merges": "建议合并的重复诉求，如 ZTC-…→ZTC-…（无则为“无”）",
    "link": "热点页面链接",
}
"""Every field ``alert_template`` may use (``ztc policy check`` refuses others)."""


class HotspotPolicy(BaseModel):
    """``[hotspots]``: how near-duplicate requests are grouped, how hot a group is, when it is reported."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    ngram: int = Field(default=2, ge=1, le=5, description="character n-grams of length 1..ngram")
    similarity: float = Field(default=0.3, gt=0, le=1, description="to join a group, same category")
    cross_category_similarity: float = Field(
        default=0.45, gt=0, le=1.01, description="to join a group of another category (above 1: never)"
    )
    common_words: tuple[str, ...] = DEFAULT_COMMON_WORDS
    window_days: float = Field(default=7, gt=0, description="a group closes this long after its last request")
    half_life_hours: float = Field(default=48, gt=0, description="an enterprise's weight halves this often")
    threshold: float = Field(default=6.0, gt=0, description="heat at which a group is a hot spot")
    min_enterprises: int = Field(default=3, ge=1, description="distinct enterprises a hot spot needs")
    department_weight: float = Field(default=0.5, ge=0, description="per department involved beyond one")
    overdue_weight: float = Field(default=1.0, ge=0, description="per overdue ticket")
    bounced_weight: float = Field(default=1.0, ge=0, description="per bounced ticket")
    unsatisfied_weight: float = Field(default=1.0, ge=0, description="per ticket rated unsatisfied")
    meeting_min_departments: int = Field(
        default=2, ge=1, description="departments involved from which a joint meeting (联合会商) is suggested"
    )
    max_groups: int = Field(default=500, ge=1, description="groups kept per street; the stalest go first")
    max_members: int = Field(
        default=200, ge=2, description="requests a group keeps: its first and latest (the rest are counted)"
    )
    max_text_chars: int = Field(default=300, ge=20, description="of each request's text kept to compare")
    alert_template: str = Field(
        default=(
            "【热点预警】{street}「{sample}」\n{enterprises} 家企业、{tickets} 件诉求，热度 {heat}"
            "（涉及部门：{departments}）\n建议：{suggestion}\n{link}"
        ),
        min_length=1,
    )

    @property
    def window(self) -> timedelta:
        return timedelta(days=self.window_days)

    @property
    def half_life(self) -> timedelta:
        return timedelta(hours=self.half_life_hours)


def hotspot_policy_problems(policy: HotspotPolicy) -> Iterator[tuple[str, str]]:
    """(path, message) for every problem of the ``[hotspots]`` section the model alone does not catch."""
    try:
        parts = list(string.Formatter().parse(policy.alert_template))
    except ValueError as exc:
        yield "hotspots.alert_template", f"模板格式错误 bad template: {exc}"
        return
    for _, field, spec, conversion in parts:
        if field is not None and (field not in TEMPLATE_FIELDS or spec or conversion):
            known = ", ".join(TEMPLATE_FIELDS)
            yield "hotspots.alert_template", f"未知字段 unknown field {{{field}}} (known: {known})"
