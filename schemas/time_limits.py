"""Time limits as people write them: ``"7 working days"``, ``"7 个工作日"``, ``"2h"``.

The grammar of a time limit (an SLA tier's accept / resolve target, an
extension a lead asks for) is a contract every side shares: the pure ticket
state machine and the department client refuse an extension it cannot read,
and the SLA rules (``schemas.sla_rules``) count with what it parses (the counting
itself, working days and business hours, lives in ``schemas.business_calendar``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class TargetUnit(StrEnum):
    """Units an SLA target can be expressed in."""

    WORKING_DAYS = "working_days"
    HOURS = "hours"
    BUSINESS_HOURS = "business_hours"
    MINUTES = "minutes"
    SECONDS = "seconds"


_ENGLISH = {
    TargetUnit.WORKING_DAYS: ("working day", "working days"),
    TargetUnit.HOURS: ("hour", "hours"),
    TargetUnit.BUSINESS_HOURS: ("business hour", "business hours"),
    TargetUnit.MINUTES: ("minute", "minutes"),
    TargetUnit.SECONDS: ("second", "seconds"),
}


@dataclass(frozen=True, slots=True)
class SlaTarget:
    """A time limit: a positive whole ``amount`` of ``unit``."""

    amount: int
    unit: TargetUnit

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise ValueError(f"SLA amount must be an integer, got {self.amount!r}")
        if self.amount <= 0:
            raise ValueError(f"SLA amount must be positive, got {self.amount}")
        object.__setattr__(self, "unit", TargetUnit(self.unit))

    def __str__(self) -> str:
        singular, plural = _ENGLISH[self.unit]
        return f"{self.amount} {singular if self.amount == 1 else plural}"

    @property
    def is_business(self) -> bool:
        """True when the target is counted on the business calendar."""
        return self.unit in (TargetUnit.WORKING_DAYS, TargetUnit.BUSINESS_HOURS)


_UNIT_ALIASES: dict[str, TargetUnit] = {
    alias: unit
    for unit, aliases in {
        TargetUnit.WORKING_DAYS: (
            "working day", "working days", "workday", "workdays", "business day",
            "business days", "wd", "工作日", "个工作日",
        ),
        TargetUnit.HOURS: ("hour", "hours", "h", "hr", "hrs", "小时", "个小时"),
        TargetUnit.BUSINESS_HOURS: (
            "business hour", "business hours", "working hour", "working hours", "bh",
            "工作小时", "个工作小时",
        ),
        TargetUnit.MINUTES: ("minute", "minutes", "min", "mins", "m", "分钟"),
        TargetUnit.SECONDS: ("second", "seconds", "sec", "secs", "s", "秒"),
    }.items()
    for alias in aliases
}  # fmt: skip
_TARGET_RE = re.compile(r"^\s*(\d+)\s*(.*?)\s*$")


def parse_target(text: str) -> SlaTarget:
    """Parse ``"7 working days"``, ``"7 个工作日"``, ``"7wd"``, ``"2h"``, ``"30s"``..."""
    match = _TARGET_RE.match(text)
    unit_text = " ".join(match.group(2).lower().split()) if match else ""
    unit = _UNIT_ALIASES.get(unit_text)
    if match is None or unit is None:
        raise ValueError(
            f"cannot parse SLA target {text!r}: expected '<whole number> <unit>' with unit "
            "one of working days (工作日, wd), hours (小时, h), business hours (bh), "
            "minutes (min, m), seconds (s)"
        )
    return SlaTarget(int(match.group(1)), unit)
