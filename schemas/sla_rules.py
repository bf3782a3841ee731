"""Pure SLA rules: which tier a ticket gets, the district calendar, and the deadlines it starts with.

Shared domain: the router stamps the first deadlines with it, the SLA engine in
``consumers`` moves, pauses and escalates them, and ``ztc`` checks a policy's
``[sla]`` section with :func:`sla_problems`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from schemas.business_calendar import BusinessCalendar, SlaTarget, due_at, parse_target
from schemas.events import Priority
from schemas.sla import SlaClock, SlaPolicy, SlaTier


@lru_cache(maxsize=16)
def calendar_for(sla: SlaPolicy) -> BusinessCalendar:
    """The business calendar a policy describes (cached: policies are frozen)."""
    return BusinessCalendar(
        working_periods=sla.working_periods,
        holidays=frozenset(sla.holidays),
        workdays=frozenset(sla.workdays),
    )


@lru_cache(maxsize=256)
def target(text: str) -> SlaTarget:
    return parse_target(text)


def tier_for(sla: SlaPolicy, category: str, priority: Priority, key: bool) -> SlaTier:
    """The first matching rule's tier, else the default tier."""
    for rule in sla.rules:
        if rule.categories and category not in rule.categories:
            continue
        if rule.priorities and priority not in rule.priorities:
            continue
        if rule.key is not None and rule.key != key:
            continue
        tier = sla.tier(rule.tier)
        if tier is not None:
            return tier
    tier = sla.tier(sla.default_tier)
    if tier is None:  # policy_problems() rejects such a policy; keep the router alive regardless
        raise ValueError(f"SLA default tier {sla.default_tier!r} is not defined")
    return tier


@dataclass(frozen=True)
class Deadlines:
    tier: str
    accept_due_at: datetime
    resolve_due_at: datetime


def deadlines_from(tier: SlaTier, start: datetime, calendar: BusinessCalendar) -> Deadlines:
    return Deadlines(
        tier=tier.name,
        accept_due_at=due_at(start, target(tier.accept), calendar),
        resolve_due_at=due_at(start, target(tier.resolve), calendar),
    )


def new_clock(deadlines: Deadlines, start: datetime, urgent: bool, round_: int = 0) -> SlaClock:
    return SlaClock(
        tier=deadlines.tier,
        urgent=urgent,
        round=round_,
        accept_started_at=start,
        accept_due_at=deadlines.accept_due_at,
        resolve_started_at=start,
        resolve_due_at=deadlines.resolve_due_at,
        outcomes=(),
    )


ZERO_DELAYS = frozenset({"0", "0s", "0 seconds", "at breach"})


def escalation_time(breach_at: datetime, after: str, calendar: BusinessCalendar) -> datetime:
    """When a rung of the ladder is due: at the breach itself, or a target's time after it."""
    if after.strip().lower() in ZERO_DELAYS:
        return breach_at
    return due_at(breach_at, target(after), calendar)


def sla_problems(sla: SlaPolicy) -> list[tuple[str, str]]:
    """(path, message) for every SLA setting that cannot be used."""
    problems: list[tuple[str, str]] = []
    names = [t.name for t in sla.tiers]
    for i, tier in enumerate(sla.tiers):
        for field in ("accept", "resolve"):
            try:
                target(getattr(tier, field))
            except ValueError as exc:
                problems.append((f"sla.tiers[{i}].{field}", str(exc)))
    for i, level in enumerate(sla.escalation):
        try:
            escalation_time(
                datetime(2026, 1, 5, 9, tzinfo=calendar_for(sla).zone), level.after, calendar_for(sla)
            )
        except ValueError as exc:
            problems.append((f"sla.escalation[{i}].after", str(exc)))
    for i, rule in enumerate(sla.rules):
        if rule.tier not in names:
            problems.append((f"sla.rules[{i}].tier", f"unknown tier {rule.tier!r}"))
    if sla.default_tier not in names:
        problems.append(("sla.default_tier", f"unknown tier {sla.default_tier!r}"))
    return problems
