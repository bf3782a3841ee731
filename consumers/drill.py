"""Drills: what the monitor would emit at a chosen moment, read from the SLA schedule, changing nothing.

``ztc monitor --once --now ISO`` used to run a real pass as if it were that
moment: breaches and escalations with future dates went into live tickets and
the alerter sent them. ``rehearse`` answers the same question without writing:
it reads the due members of the schedule (``SlaSchedule.due``: ZRANGEBYSCORE,
no lease, no claim) and the tickets, lets the pure ``plan_pass`` decide and
returns the plan's alerts as ``DrillItem`` rows. Only ``--apply`` runs the real
pass, and never for a moment in the future beyond ``APPLY_SKEW``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from consumers.alert_text import due_text, lateness
from consumers.monitor import DEFAULT_PACE, plan_pass
from consumers.sla_engine import SlaBook
from consumers.sla_schedule import SlaSchedule, Tickets
from schemas.policy import RoutingPolicy
from schemas.sla import SlaEscalated, SlaEvent, SlaWarning
from schemas.sla_rules import calendar_for

APPLY_SKEW = timedelta(minutes=5)
"""``--apply`` takes a ``--now`` at most this far ahead of the clock (clocks differ a little)."""


@dataclass(frozen=True)
class DrillItem:
    """One alert the monitor would emit: for people, with names and working-time lateness."""

    ticket_id: str
    stage: str
    kind: str
    level: int
    department: str
    department_name: str
    due_at: datetime
    late: str
    """how late at the drill's moment, in working time ("" for a warning)"""
    event: SlaEvent

    def line(self) -> str:
        level = f" 第{self.level}级" if self.level else ""
        late = f"  已超期 {self.late}" if self.late else ""
        return (
            f"{self.ticket_id}  {self.stage}  {self.kind}{level}  {self.department_name}  "
            f"时限 {due_text(self.due_at)}{late}"
        )


def apply_refusal(now: datetime, clock: datetime) -> str | None:
    """Why ``--apply`` must not run at ``now`` (None: it may): a future moment would write future alerts."""
    if now - clock > APPLY_SKEW:
        return (
            f"--apply 不能用于将来的时刻 {now.isoformat()}（现在 {clock.isoformat(timespec='seconds')}）："
            "会把未到期的超期写进工单 / --apply refuses a --now in the future; drop --apply to rehearse"
        )
    return None


def drill_items(events: list[SlaEvent], policy: RoutingPolicy, now: datetime) -> list[DrillItem]:
    calendar = calendar_for(policy.sla)
    items = []
    for event in events:
        department = policy.department(event.department)
        late, _ = lateness(event, calendar, now)
        items.append(
            DrillItem(
                ticket_id=event.ticket_id,
                stage=event.stage.label,
                kind=event.level_label if isinstance(event, SlaEscalated) else event.label,
                level=event.level if isinstance(event, SlaEscalated) else 0,
                department=event.department,
                department_name=department.name if department is not None else event.department,
                due_at=event.due_at,
                late="" if isinstance(event, SlaWarning) else late,
                event=event,
            )
        )
    return items


def rehearse(
    schedule: SlaSchedule, tickets: Tickets, policy: RoutingPolicy, now: datetime, limit: int = 100_000
) -> list[DrillItem]:
    """Every alert due by ``now`` as the monitor would decide it; reads only."""
    due = schedule.due(now, limit)
    plan = plan_pass(due, tickets, SlaBook(policy), now, DEFAULT_PACE)
    return drill_items([event for _, event in plan.emit], policy, now)
