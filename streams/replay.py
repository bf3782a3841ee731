"""What-if routing: the same submissions through the live policy and model and through a candidate.

Nothing is published; each submission is routed twice as a first routing (nothing excluded) at
the moment it was recorded, and the report counts the tickets whose route would change (lead
department, category, or auto-routed vs manual triage) and how each department's share of leads
moves. Pure: the caller reads the submissions and prints.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from schemas.events import TicketRouted, TicketSubmitted
from schemas.policy import RoutingPolicy
from streams.model_compare import route_key
from streams.routing import LabelModel, route_ticket


@dataclass(frozen=True)
class Router:
    """A policy and the model it routes with (None: rules alone)."""

    policy: RoutingPolicy
    model: LabelModel | None


@dataclass
class ReplayReport:
    n: int = 0
    leads_now: Counter[str] = field(default_factory=Counter)
    leads_then: Counter[str] = field(default_factory=Counter)
    changes: list[tuple[TicketRouted, TicketRouted]] = field(default_factory=list)

    @property
    def departments(self) -> list[str]:
        """Every department leading tickets either way, the most moved first."""
        names = set(self.leads_now) | set(self.leads_then)
        return sorted(names, key=lambda d: (-abs(self.leads_then[d] - self.leads_now[d]), d))


def replay(
    submissions: Sequence[tuple[TicketSubmitted, datetime]], live: Router, candidate: Router
) -> ReplayReport:
    """Route each (submission, moment) with ``live`` and with ``candidate``; count what changes."""
    report = ReplayReport()
    for submission, now in submissions:
        before = route_ticket(submission, live.policy, now, model=live.model)
        after = route_ticket(submission, candidate.policy, now, model=candidate.model)
        report.n += 1
        report.leads_now[before.lead_department] += 1
        report.leads_then[after.lead_department] += 1
        if route_key(before) != route_key(after):
            report.changes.append((before, after))
    return report
