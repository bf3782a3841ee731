"""The policy's ``[alerts]`` section: what a robot message says per alert kind, and whom it @-mentions.

A template is a Python format string over the fields in ``TEMPLATE_FIELDS``
(``{title}``, ``{lead}``, ``{late}``, ...); ``ztc policy check`` refuses a
template naming any other field, so a typo fails before the first alert. The
people to @-mention are listed per department: mobile numbers (DingTalk
``atMobiles``, WeCom ``mentioned_mobile_list``) and user ids per platform
(DingTalk ``atUserIds``, WeCom ``mentioned_list``).
"""

from __future__ import annotations

import string
from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict, Field

TEMPLATE_FIELDS: dict[str, str] = {
    "kind": "提醒种类，如 临期预警 / 超期 / 督办",
    "ticket_id": "工单号",
    "title": "工单标题",
    "enterprise": "企业名称（未填为“未填写企业”）",
    "stage": "环节：签收 / 办结",
    "department": "应办部门名称（时限所属部门）",
    "lead": "主办部门名称",
    "co": "协办部门名称，顿号分隔（无则为“无”）",
    "notify": "被提醒的单位名称（督办、通报为区政府办公室）",
    "ask": "请谁做什么：请区政府办公室督促某局办理；提醒部门本身时为 请某局尽快办理",
    "due": "时限，如 12月3日（周四）17:30",
    "late": "超期多久，按工作时间计，如 2个工作日3小时",
    "remaining": "距时限还有多久（临期预警），如 1小时45分钟",
    "level": "督办级别数字",
    "level_label": "督办级别名称，如 催办 / 督办 / 通报",
    "link": "工单页面链接",
    "mentions": "@ 的人（按平台写成 @手机号 或 @userid）",
}
"""Every field a template may use, with what it holds (shown by ``ztc policy check`` on a typo)."""


def _default_warning() -> str:
    return (
        "【临期预警】{title}\n企业：{enterprise}\n工单：{ticket_id}\n"
        "{stage}时限 {due}，还剩 {remaining}，请{department}抓紧办理。\n{link}\n{mentions}"
    )


def _default_breached() -> str:
    return (
        "【超期】{title}\n企业：{enterprise}\n工单：{ticket_id}\n"
        "{stage}时限 {due} 已过，已超期 {late}。主办：{lead}；协办：{co}。\n{link}\n{mentions}"
    )


def _default_escalated() -> str:
    return (
        "【{level_label}·第{level}级】{title}\n企业：{enterprise}\n工单：{ticket_id}\n"
        "{stage}时限 {due}，已超期 {late}。{ask}。\n{link}\n{mentions}"
    )


class AlertTemplates(BaseModel):
    """``[alerts.templates]``: one template per alert kind (warning, breach, escalation)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    warning: str = Field(default_factory=_default_warning, min_length=1)
    breached: str = Field(default_factory=_default_breached, min_length=1)
    escalated: str = Field(default_factory=_default_escalated, min_length=1)


class AlertContacts(BaseModel):
    """``[[alerts.contacts]]``: the people of one department a robot message @-mentions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    department: str = Field(description="department code")
    mobiles: tuple[str, ...] = Field(default=(), description="mobile numbers (DingTalk and WeCom)")
    dingtalk_user_ids: tuple[str, ...] = ()
    wecom_user_ids: tuple[str, ...] = ()


class AlertPolicy(BaseModel):
    """``[alerts]``: templates, and whom to @-mention per department."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    templates: AlertTemplates = Field(default_factory=AlertTemplates)
    contacts: tuple[AlertContacts, ...] = ()
    mention_lead_on_escalation: bool = Field(
        default=True,
        description="an escalation to the office also @-mentions the late department's people",
    )

    def contacts_of(self, department: str) -> AlertContacts | None:
        return next((c for c in self.contacts if c.department == department), None)


def template_problems(name: str, template: str) -> Iterator[str]:
    """What is wrong with one template: an unknown field, a bad brace, a conversion or format spec."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        yield f"{name}: 模板格式错误 bad template: {exc}"
        return
    for _, field, spec, conversion in parts:
        if field is None:
            continue
        if field not in TEMPLATE_FIELDS:
            known = ", ".join(TEMPLATE_FIELDS)
            yield f"{name}: 未知字段 unknown field {{{field}}} (known: {known})"
        elif spec or conversion:
            yield f"{name}: 字段 {{{field}}} 不能带格式 takes no format spec or conversion"


def alert_policy_problems(alerts: AlertPolicy, departments: frozenset[str]) -> Iterator[tuple[str, str]]:
    """(path, message) for every problem of the ``[alerts]`` section."""
    for kind in ("warning", "breached", "escalated"):
        for message in template_problems(kind, getattr(alerts.templates, kind)):
            yield f"alerts.templates.{kind}", message
    seen: set[str] = set()
    for i, contact in enumerate(alerts.contacts):
        if contact.department not in departments:
            yield f"alerts.contacts[{i}].department", f"unknown department {contact.department!r}"
        if contact.department in seen:
            yield f"alerts.contacts[{i}].department", f"department {contact.department!r} listed twice"
        seen.add(contact.department)
        for mobile in contact.mobiles:
            if not (mobile.isdigit() and 5 <= len(mobile) <= 15):
                yield f"alerts.contacts[{i}].mobiles", f"not a mobile number: {mobile!r}"
