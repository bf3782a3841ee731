"""Two models side by side on labelled tickets, routed as the router would route them.

Each case (a submission, the category a person gave it, the moment it was routed) is routed with
the policy and the old model, then the new one. Per model: accuracy (the routed category is the
person's), the share auto-routed (confidence at or above the policy's threshold), precision of
those auto-routed, and per category the cases each got right; and the cases whose route changes
(lead department, category or auto/triage). Pure: the caller reads the cases and prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from schemas.events import TicketRouted, TicketSubmitted
from schemas.policy import RoutingPolicy
from streams.routing import LabelModel, route_ticket


@dataclass(frozen=True)
class Case:
    submission: TicketSubmitted
    category: str
    now: datetime


@dataclass
class Scores:
    n: int = 0
    correct: int = 0
    auto: int = 0
    auto_correct: int = 0
    per_category: dict[str, int] = field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0

    @property
    def auto_share(self) -> float:
        return self.auto / self.n if self.n else 0.0

    @property
    def auto_precision(self) -> float:
        return self.auto_correct / self.auto if self.auto else 1.0

    def add(self, decision: TicketRouted, gold: str) -> None:
        right = decision.category == gold
        self.n += 1
        self.correct += right
        self.auto += not decision.manual_triage
        self.auto_correct += right and not decision.manual_triage
        self.per_category[gold] = self.per_category.get(gold, 0) + right


@dataclass(frozen=True)
class Change:
    ticket_id: str
    gold: str
    old: TicketRouted
    new: TicketRouted


@dataclass
class Comparison:
    old: Scores = field(default_factory=Scores)
    new: Scores = field(default_factory=Scores)
    support: dict[str, int] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)


def route_key(decision: TicketRouted) -> tuple[str, str, bool]:
    """What a person sees change: the lead, the category, auto-routed or not."""
    return decision.lead_department, decision.category, decision.manual_triage


def compare_models(
    cases: Sequence[Case], policy: RoutingPolicy, old: LabelModel | None, new: LabelModel | None
) -> Comparison:
    """Route every case with each model (first routing: nothing excluded) and score both."""
    out = Comparison()
    for case in cases:
        before = route_ticket(case.submission, policy, case.now, model=old)
        after = route_ticket(case.submission, policy, case.now, model=new)
        out.old.add(before, case.category)
        out.new.add(after, case.category)
        out.support[case.category] = out.support.get(case.category, 0) + 1
        if route_key(before) != route_key(after):
            out.changes.append(Change(case.submission.ticket_id, case.category, before, after))
    return out
