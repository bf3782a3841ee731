"""Chinese names for the codes ZTC keeps, for every page and CLI line a person reads.

Pure. The codes stay in events, JSON and the API (machines compare them); people read these.
Enums carry their own ``label`` (``Priority``, ``Channel``, ``BounceReason``, ``SlaStage`` ...);
here are the ones that need a table or the policy: event kinds, SLA tiers and time limits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache

from schemas.events import Event, Priority
from schemas.sla import SlaPolicy
from schemas.time_limits import TargetUnit, parse_target

_UNITS = {
    TargetUnit.WORKING_DAYS: "个工作日",
    TargetUnit.HOURS: "小时",
    TargetUnit.BUSINESS_HOURS: "个工作小时",
    TargetUnit.MINUTES: "分钟",
    TargetUnit.SECONDS: "秒",
}


def _loaded_event_labels() -> dict[str, str]:
    """Labels of the event classes imported so far (the ``Event`` class tree; nothing is imported)."""
    labels: dict[str, str] = {}
    todo: list[type] = [Event]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if "event_type" in vars(cls):
            labels[str(vars(cls)["event_type"])] = str(getattr(cls, "label", vars(cls)["event_type"]))
    return labels


@cache
def _every_event_label() -> dict[str, str]:
    from schemas.catalog import event_types  # imports every event module: only for a kind not yet seen

    return {cls.event_type: str(getattr(cls, "label", cls.event_type)) for cls in event_types()}


def event_label(event_type: str) -> str:
    """``派单`` for ``TicketRouted``; an unknown kind is shown as it is."""
    found = _loaded_event_labels().get(event_type)
    return found if found is not None else _every_event_label().get(event_type, event_type)


def tier_label(sla: SlaPolicy, name: str) -> str:
    """``一般`` for the ``ordinary`` tier (the policy's label; the name if it has none)."""
    tier = sla.tier(name)
    return tier.label if tier is not None and tier.label else name


def target_label(text: str) -> str:
    """``7个工作日`` for ``7 working days``, ``2小时`` for ``2 hours``; unreadable text as it is."""
    try:
        target = parse_target(text)
    except ValueError:
        return text
    return f"{target.amount}{_UNITS[target.unit]}"


_DEPARTMENTS_AFTER = re.compile(
    r"(主办 |协办 |转 |退回主办 |建议转 |同意 )([a-z][a-z0-9-]*(?:[、,][a-z][a-z0-9-]*)*)(?![A-Za-z0-9_-])"
)
_CATEGORY_AFTER = re.compile(r"(类别 )([a-z][a-z0-9_]*)(?![A-Za-z0-9_-])")
_PRIORITY_AFTER = re.compile(r"(置信度 [0-9.]+，优先级 )(normal|high|urgent)(?![A-Za-z0-9_-])")
_TARGET_AFTER = re.compile(r"(延期 )(\d+ (?:working days?|business hours?|hours?|minutes?|seconds?))")


def readable_summary(text: str, departments: Mapping[str, str], categories: Mapping[str, str]) -> str:
    """A history line with the codes the state machine wrote (``主办 approval``, ``类别 licence``,
    ``优先级 normal``, ``延期 5 working days``) in Chinese. Only those template positions are
    touched: what people wrote in a note stays as written."""

    def named(match: re.Match[str]) -> str:
        codes = re.split(r"[、,]", match.group(2))
        return match.group(1) + "、".join(departments.get(code, code) for code in codes)

    text = _DEPARTMENTS_AFTER.sub(named, text)
    text = _CATEGORY_AFTER.sub(lambda m: m.group(1) + categories.get(m.group(2), m.group(2)), text)
    text = _PRIORITY_AFTER.sub(lambda m: m.group(1) + Priority(m.group(2)).label, text)
    return _TARGET_AFTER.sub(lambda m: m.group(1) + target_label(m.group(2)), text)
