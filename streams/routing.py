"""Pure routing core: classify a submission by the policy's rules and decide who handles it.

``classify`` scores categories by the rules that fire (each with its weight,
so every decision explains itself); ``decide_route`` turns that into a lead
department, co-departments and a priority; ``route_ticket`` wraps both into a
``TicketRouted`` event. No clock, no I/O: ``now`` and the policy come in as
arguments.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, cast

from schemas.events import Priority, RuleHit, TicketRouted, TicketSubmitted, derived_event_id
from schemas.policy import Category, KeyProject, RoutingPolicy
from schemas.sla_rules import deadlines_from
from schemas.trusted_models import construct_trusted
from streams.classifier import ModelIdentity, TextClassifier
from streams.routing_index import PolicyIndex, index_for
from streams.routing_text import model_text, routing_texts, ticket_text

UNCLASSIFIED = "unclassified"


class LabelModel(Protocol):
    """What routing needs of a text classifier (streams.classifier.TextClassifier)."""

    def predict_proba(self, text: str) -> dict[str, float]: ...

    def explain(self, text: str, label: str, top_k: int = 8) -> list[tuple[str, float]]: ...


class LabelListModel(LabelModel, Protocol):
    """A model that also gives its probabilities as a list in ``labels`` order (no dict to build)."""

    @property
    def labels(self) -> tuple[str, ...]: ...

    def label_probabilities(self, text: str) -> list[float]: ...


@dataclass(frozen=True)
class Classification:
    """Category scores with the evidence behind them.

    ``scores`` decide: rule scores alone, or — with a model — the model's category
    probabilities with every fired rule adding ``rule_boost × weight`` to the log-odds.
    """

    scores: dict[str, float]
    hits: tuple[RuleHit, ...]
    confidence: float
    urgent: bool = False
    rule_scores: dict[str, float] = field(default_factory=dict)
    model_probabilities: dict[str, float] = field(default_factory=dict)

    @property
    def ranked(self) -> list[tuple[str, float]]:
        return sorted(self.scores.items(), key=lambda item: (-item[1], item[0]))

    @property
    def top(self) -> str | None:
        ranked = self.ranked
        return ranked[0][0] if ranked and ranked[0][1] > 0 else None


@dataclass(frozen=True)
class RouteDecision:
    category: str
    lead_department: str
    co_departments: tuple[str, ...]
    priority: Priority
    manual_triage: bool
    key_enterprise: bool
    key_project: str | None
    street_department: str | None


def rules_confidence(ranked_scores: list[float]) -> float:
    """Confidence from rule scores: high when the top category clearly outweighs the rest."""
    if not ranked_scores or ranked_scores[0] <= 0:
        return 0.0
    top = ranked_scores[0]
    runner_up = ranked_scores[1] if len(ranked_scores) > 1 else 0.0
    return round(top / (top + runner_up + 1.0), 4)


def model_fit_problem(labels: Sequence[str], policy: RoutingPolicy) -> str | None:
    """Why a model with these labels cannot serve ``policy`` (none maps to a category), or None."""
    known = set(labels)
    if any(set(c.model_labels or (c.code,)) & known for c in policy.categories):
        return None
    return f"none of its labels maps to a category of policy {policy.version}"


def category_probabilities(
    model: LabelModel, submission: TicketSubmitted, policy: RoutingPolicy, folded: str | None = None
) -> dict[str, float]:
    """The model's label probabilities summed per policy category (``model_labels``, else the code).

    ``folded``: the model's text already NFKC-normalised and lowered (``routing_texts``), if known."""
    index = index_for(policy)
    if hasattr(model, "label_probabilities"):  # the same numbers, without the dict by label
        listing = cast(LabelListModel, model)
        text = model_text(submission)
        values = (
            listing.label_probabilities(text)
            if folded is None or not isinstance(model, TextClassifier)  # it can start from ``folded``
            else model.label_probabilities(text, folded)
        )
        single = index.single_labels(listing.labels)
        if single is not None:  # every category sums exactly one label: pick them all in C
            codes, pick = single
            return dict(zip(codes, pick(values), strict=True))
        return {
            code: values[at[0]] if len(at) == 1 else sum([values[i] for i in at]) if at else 0.0
            for code, at in index.label_positions(listing.labels)
        }
    probabilities = model.predict_proba(model_text(submission))
    get = probabilities.get
    return {
        code: get(labels[0], 0.0) if len(labels) == 1 else sum(get(label, 0.0) for label in labels)
        for code, labels in index.category_labels
    }


_FLOOR = 1e-6
_ROUNDS_TO_ZERO = 4e-5
"""``round(x, 4) == 0.0`` for every 0 <= x below this (the boundary is 5e-5): no need to call it."""


def fuse(
    model: dict[str, float], rules: dict[str, float], allowed: AbstractSet[str], boost: float
) -> dict[str, float]:
    """Model probabilities times exp(boost × rule score), renormalised; only allowed categories can win.

    Probability the model gives to excluded categories (a department that bounced the ticket) or to
    labels no category claims (e.g. "unclear") stays in the total as a competitor that never wins:
    a bounced or vague request then has low confidence and goes to manual triage.
    """
    unclaimed = max(0.0, 1.0 - sum(model.values()))
    exp = math.exp
    # exp(log p + boost × r - shift) = p × exp(boost × r - shift): no logarithm per category, and a
    # category without rule evidence keeps p × exp(-shift). ``shift`` (the largest boost) keeps every
    # factor at most 1, as subtracting the top logit did.
    shift = max(0.0, boost * max(rules.values(), default=0.0))
    if shift:
        scale = exp(-shift)
        weights = {
            c: (p if p > _FLOOR else _FLOOR) * (exp(boost * rules[c] - shift) if c in rules else scale)
            for c, p in model.items()
        }
    else:
        weights = {c: p if p > _FLOOR else _FLOOR for c, p in model.items()}
    if not weights.keys() >= allowed:
        missing = {c: _FLOOR * exp(boost * rules.get(c, 0.0) - shift) for c in allowed if c not in weights}
        weights |= missing
    total = sum(weights.values()) + unclaimed * exp(-shift)
    fused = {}
    floor = math.floor
    for c in allowed:
        share = weights[c] / total
        if share < _ROUNDS_TO_ZERO:
            fused[c] = 0.0
            continue
        # round(share, 4) without its decimal string round trip: share × 10⁴ is within 2⁻³⁹ of the exact
        # product, so away from a half its nearest integer is round()'s, and n / 10⁴ (both exact, one
        # correctly rounded division) is the double round() returns. Near a half, round() itself decides.
        scaled = share * 10000.0
        whole = floor(scaled)
        rest = scaled - whole
        fused[c] = round(share, 4) if -1e-6 < rest - 0.5 < 1e-6 else (whole + (rest > 0.5)) / 10000.0
    return fused


def classify(
    submission: TicketSubmitted,
    policy: RoutingPolicy,
    excluded: frozenset[str] = frozenset(),
    model: LabelModel | None = None,
    text: str | None = None,
    folded: str | None = None,
) -> Classification:
    """Score every category by the rules that fire (and the model, if any).

    Categories led by an excluded department drop out. Rules decide alone — whatever the model
    says — when an ``override`` rule fires, or when a coordination request spans several categories
    (a joint request is the policy's call, not a text classifier's).
    """
    index = index_for(policy)
    text = ticket_text(submission) if text is None else text
    scores: dict[str, float] = {}
    hits: list[RuleHit] = []
    overrides: list[str] = []
    urgent = False
    allowed = index.allowed(excluded)
    for rule, hit in index.rule_hits(text):
        urgent = urgent or rule.urgent
        hits.append(hit)
        if rule.category is not None and rule.category in allowed:
            scores[rule.category] = scores.get(rule.category, 0.0) + rule.weight
            if rule.override:
                overrides.append(rule.category)
    scores, joint = _absorb_into_coordination(scores, index)
    if overrides:
        scores[overrides[0]] = max(scores.values()) + 1.0
        return Classification(scores, tuple(hits), 1.0, urgent, rule_scores=scores)
    if model is None or joint:
        ranked = sorted(scores.values(), reverse=True)
        confidence = rules_confidence(ranked)
        return Classification(scores, tuple(hits), confidence, urgent, rule_scores=scores)
    probabilities = category_probabilities(model, submission, policy, folded)
    fused = fuse(probabilities, scores, allowed, policy.rule_boost)
    confidence = max(fused.values(), default=0.0)
    return Classification(fused, tuple(hits), confidence, urgent, scores, probabilities)


def _absorb_into_coordination(scores: dict[str, float], index: PolicyIndex) -> tuple[dict[str, float], bool]:
    """A coordination request touching several categories is one joint request: it takes their weight."""
    joint = [code for code in index.street_led if scores.get(code, 0) > 0]
    if not joint:
        return scores, False
    others = [code for code in scores if code not in joint]
    if len(others) < index.policy.coordination_min_categories:
        return scores, False
    absorbed = dict(scores)
    absorbed[joint[0]] += sum(scores[code] for code in others)
    return absorbed, True


def named_street(submission: TicketSubmitted, policy: RoutingPolicy, text: str | None = None) -> str | None:
    """The street office a ticket names: its street field first, then '...街道' in the text."""
    index = index_for(policy)
    if submission.street:
        code = index.street_codes.get(submission.street.strip())
        if code is not None:
            return code
    return index.street_in(index.found_in(ticket_text(submission) if text is None else text))


def key_project_of(
    submission: TicketSubmitted, policy: RoutingPolicy, text: str | None = None
) -> KeyProject | None:
    index = index_for(policy)
    found = index.found_in(ticket_text(submission) if text is None else text)
    return index.key_project(submission.project_name, found)


def is_key_enterprise(submission: TicketSubmitted, policy: RoutingPolicy) -> bool:
    index = index_for(policy)
    code, name = submission.credit_code, submission.enterprise_name
    return bool(code and code in index.enterprise_codes) or bool(name and name in index.enterprise_names)


def _street_of_project(project: KeyProject | None, policy: RoutingPolicy) -> str | None:
    if project is None or project.street is None:
        return None
    for dept in policy.departments:
        if project.street == dept.code or project.street in dept.street_names:
            return dept.code
    return None


def _unique(codes: list[str], without: set[str]) -> tuple[str, ...]:
    out: list[str] = []
    for code in codes:
        if code not in without and code not in out:
            out.append(code)
    return tuple(out)


def _lead_for(category: Category, street: str | None, excluded: frozenset[str]) -> str:
    if category.lead_is_street and street is not None and street not in excluded:
        return street
    return category.lead


def decide_route(
    submission: TicketSubmitted,
    classification: Classification,
    policy: RoutingPolicy,
    excluded: frozenset[str] = frozenset(),
    text: str | None = None,
) -> RouteDecision:
    """Lead, co-departments and priority from a classification; unclear tickets go to triage."""
    categories = index_for(policy).categories
    text = ticket_text(submission) if text is None else text
    project = key_project_of(submission, policy, text)
    street = named_street(submission, policy, text) or _street_of_project(project, policy)
    key_enterprise = is_key_enterprise(submission, policy)
    scores = classification.scores
    best = max(scores.values(), default=0.0)
    top = min(c for c, v in scores.items() if v == best) if best > 0 else None  # ``classification.top``
    category = categories.get(top) if top else None
    # the higher of the category's priority and "urgent" when an urgent rule fired (urgent outranks all)
    priority = category.priority if category is not None else Priority.normal
    priority = Priority.urgent if classification.urgent else priority
    if (key_enterprise or project is not None) and priority is Priority.normal:
        priority = Priority.high
    lead = _lead_for(category, street, excluded) if category is not None else None
    if category is None or lead is None or lead in excluded or classification.confidence < policy.threshold:
        return RouteDecision(  # the named street hears of it while the office decides
            category=top or UNCLASSIFIED,
            lead_department=policy.triage_department,
            co_departments=_unique([street] if street else [], {policy.triage_department, *excluded}),
            priority=priority,
            manual_triage=True,
            key_enterprise=key_enterprise,
            key_project=project.name if project else None,
            street_department=street,
        )
    top_score = scores[category.code]
    share = 0.0 if category.lead_is_street else policy.co_share
    evidenced = [  # co-departments need evidence a person can read: rule scores, in ``ranked`` order
        (-scores[code], code)
        for code, weight in classification.rule_scores.items()
        if weight > 0 and code != top and code in scores
    ]
    secondary = [
        other.lead
        for minus_score, code in sorted(evidenced)
        if -minus_score >= share * top_score
        and (other := categories.get(code)) is not None
        and not other.lead_is_street
    ]
    co = _unique([*category.co, *secondary, *([street] if street else [])], {lead, *excluded})
    return RouteDecision(
        category=category.code,
        lead_department=lead,
        co_departments=co,
        priority=priority,
        manual_triage=False,
        key_enterprise=key_enterprise,
        key_project=project.name if project else None,
        street_department=street,
    )


def route_ticket(
    submission: TicketSubmitted,
    policy: RoutingPolicy,
    now: datetime,
    excluded: frozenset[str] = frozenset(),
    event_id: str | None = None,
    model: LabelModel | None = None,
    model_identity: ModelIdentity | None = None,
) -> TicketRouted:
    """Classify and decide in one step, as the router's agent does.

    ``model_identity`` (the model's version and file hash) is stamped on the decision: the router
    always gives it with a model, so every routing says which model scored it.

    The event is assembled without validating it again: every field comes from the validated
    submission, the validated policy or the arithmetic above (``tests/unit/test_routing_golden.py``
    keeps the bytes equal to those of a validated construction).
    """
    index = index_for(policy)
    text, folded = routing_texts(submission)
    classification = classify(submission, policy, excluded, model, text, folded)
    decision = decide_route(submission, classification, policy, excluded, text)
    key = decision.key_enterprise or decision.key_project is not None
    tier = index.tier(decision.category, decision.priority, key)
    deadlines = deadlines_from(tier, now, index.calendar)  # also refuses a naive ``now``
    return construct_trusted(
        TicketRouted,
        event_id=event_id or derived_event_id("routed", submission.event_id),
        ticket_id=submission.ticket_id,
        occurred_at=now,
        submission=submission,
        category=decision.category,
        confidence=classification.confidence,
        lead_department=decision.lead_department,
        co_departments=decision.co_departments,
        priority=decision.priority,
        manual_triage=decision.manual_triage,
        rules_fired=classification.hits,
        key_enterprise=decision.key_enterprise,
        key_project=decision.key_project,
        policy_version=policy.version,
        sla_tier=deadlines.tier,
        accept_due_at=deadlines.accept_due_at,
        resolve_due_at=deadlines.resolve_due_at,
        model_version=model_identity.version if model_identity is not None else None,
        model_sha256=model_identity.sha256 if model_identity is not None else None,
    )
