"""The routing policy prepared for the hot path, once per policy object.

A ``RoutingPolicy`` is a frozen pydantic model, so everything routing derives
from it — rule keywords lowered, patterns compiled, categories by code, the
model labels each category sums, street and key-project names, the business
calendar — can be built once and reused for every ticket. ``index_for`` keeps
the index of the last few policies by identity (hashing a pydantic model on
every call costs more than the lookup it saves) and holds a reference to each
policy it indexed, so an id is never reused while its entry lives.
"""

from __future__ import annotations

import re
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from functools import lru_cache

from schemas.business_calendar import BusinessCalendar
from schemas.policy import Category, DepartmentKind, KeyProject, RoutingPolicy, Rule
from schemas.sla_rules import calendar_for


@lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


@dataclass(frozen=True)
class RuleMatcher:
    """A rule ready for the hot path: keywords lowered (with their first character), pattern compiled."""

    rule: Rule
    keywords: tuple[tuple[str, str, str], ...]  # (as written, lowered, first character of lowered)
    pattern: re.Pattern[str] | None

    def match(self, text: str, present: AbstractSet[str]) -> str | None:
        """The first keyword (in the rule's order) found in ``text``, else the pattern's match.

        ``present``: characters known to occur in ``text`` among the keywords' first ones; a
        keyword whose first character is not there cannot be in the text, so it is not searched.
        """
        for keyword, lowered, first in self.keywords:
            if (not first or first in present) and lowered in text:
                return keyword
        if self.pattern is not None:
            found = self.pattern.search(text)
            if found:
                return found.group(0)
        return None


@dataclass(frozen=True)
class PolicyIndex:
    policy: RoutingPolicy
    matchers: tuple[RuleMatcher, ...]
    first_characters: frozenset[str]
    categories: dict[str, Category]
    category_labels: tuple[tuple[str, tuple[str, ...]], ...]
    """(category code, the model labels whose probabilities it sums)"""
    streets: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]
    """(street office code, its street names, those of them with 街道 that a text may name)"""
    projects: tuple[tuple[KeyProject, frozenset[str], tuple[str, ...]], ...]
    """(project, its names, the names lowered)"""
    calendar: BusinessCalendar
    _allowed: dict[frozenset[str], frozenset[str]] = field(default_factory=dict)

    def allowed(self, excluded: frozenset[str]) -> frozenset[str]:
        """Categories that may win when ``excluded`` departments bounced the ticket (street-led stay)."""
        found = self._allowed.get(excluded)
        if found is None:
            if len(self._allowed) > 64:
                self._allowed.clear()
            found = self._allowed[excluded] = frozenset(
                c.code for c in self.policy.categories if c.lead not in excluded or c.lead_is_street
            )
        return found

    @classmethod
    def of(cls, policy: RoutingPolicy) -> PolicyIndex:
        matchers = tuple(
            RuleMatcher(
                rule,
                tuple((k, k.lower(), k.lower()[:1]) for k in rule.keywords),
                _compiled(rule.pattern) if rule.pattern is not None else None,
            )
            for rule in policy.rules
        )
        streets = tuple(
            (d.code, d.street_names, tuple(n for n in d.street_names if "街道" in n))
            for d in policy.departments
            if d.kind is DepartmentKind.street
        )
        return cls(
            policy=policy,
            matchers=matchers,
            first_characters=frozenset(first for m in matchers for _, _, first in m.keywords if first),
            categories={c.code: c for c in reversed(policy.categories)},  # the first of a code wins
            category_labels=tuple((c.code, c.model_labels or (c.code,)) for c in policy.categories),
            streets=streets,
            projects=tuple(
                (p, frozenset(p.names), tuple(n.lower() for n in p.names)) for p in policy.key_projects
            ),
            calendar=calendar_for(policy.sla),
        )


_INDEXES: dict[int, PolicyIndex] = {}


def index_for(policy: RoutingPolicy) -> PolicyIndex:
    """The policy's index, built on first use; the entry keeps ``policy`` alive, so its id stays unique."""
    found = _INDEXES.get(id(policy))
    if found is not None and found.policy is policy:
        return found
    if len(_INDEXES) > 16:
        _INDEXES.clear()
    built = _INDEXES[id(policy)] = PolicyIndex.of(policy)
    return built
