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
import unicodedata
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from functools import lru_cache
from operator import itemgetter
from typing import Any

from schemas.business_calendar import BusinessCalendar
from schemas.events import Priority, RuleHit
from schemas.policy import Category, DepartmentKind, KeyProject, RoutingPolicy, Rule
from schemas.sla import SlaTier
from schemas.sla_rules import calendar_for, tier_for


@lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


class Needles:
    """Which of a fixed set of literal strings occur in a text, found in one regex scan.

    The needles form one regex, nested by common prefix (a trie: ``施工(?:许可证)?``, each
    longer continuation tried before stopping), so a scan finds, at each position it tries,
    the longest needle starting there, and skips past it — as an alternation of the needles
    longest first would, without trying every needle at every position. Every needle inside a
    found one is present too; a needle that starts inside a found one and runs past its
    end (``土石方施工`` then ``施工许可证`` in ``土石方施工许可证``) is the only kind the scan
    can step over, so those few are checked directly. The result is exactly the needles
    ``n`` with ``n in text``.
    """

    def __init__(self, needles: Iterable[str]) -> None:
        wanted = set(needles)
        distinct = sorted(wanted - {""}, key=lambda n: (-len(n), n))
        self._empty = "" in wanted  # the empty string is in every text
        self._scan = re.compile(_trie_pattern(distinct)) if distinct else None
        self._inside = {k: frozenset(n for n in distinct if n in k) for k in distinct}
        self._straddling = _straddling(distinct)

    def present(self, text: str) -> set[str]:
        found: set[str] = {""} if self._empty else set()
        if self._scan is None:
            return found
        scanned = set(self._scan.findall(text))
        for needle in scanned:
            found |= self._inside[needle]
        for needle in scanned:
            for other in self._straddling[needle]:
                if other not in found and other in text:
                    found.add(other)
        return found


def _trie_pattern(needles: Iterable[str]) -> str:
    """A regex matching, at a position, the longest of ``needles`` (non-empty) that starts there."""
    trie: dict[str, Any] = {}
    for needle in needles:
        node = trie
        for char in needle:
            node = node.setdefault(char, {})
        node[""] = {}  # a needle ends here

    def pattern(node: dict[str, Any]) -> str:
        branches = [re.escape(char) + pattern(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        if len(branches) == 1 and "" not in node:
            return branches[0]
        return "(?:" + "|".join(branches) + (")?" if "" in node else ")")  # greedy: longer first

    return pattern(trie)


def _straddling(distinct: list[str]) -> dict[str, tuple[str, ...]]:
    """For each needle ``k``, the needles that can start inside it and end after it (not inside it).

    Such a needle begins with one of ``k``'s proper suffixes and is longer than that suffix: the
    needles are looked up by their proper prefixes instead of compared pair by pair.
    """
    by_prefix: dict[str, list[str]] = {}
    for needle in distinct:
        for size in range(1, len(needle)):
            by_prefix.setdefault(needle[:size], []).append(needle)
    straddling: dict[str, tuple[str, ...]] = {}
    for k in distinct:
        found = {w for size in range(1, len(k)) for w in by_prefix.get(k[-size:], ()) if w not in k}
        straddling[k] = tuple(w for w in distinct if w in found)  # in the needles' order
    return straddling


@dataclass(frozen=True)
class RuleKeyword:
    """One keyword of a rule: the rule's position in the policy, the keyword's in the rule, its hit."""

    rule: int
    order: int
    hit: RuleHit


@dataclass(frozen=True)
class PolicyIndex:
    policy: RoutingPolicy
    needles: Needles
    """every string a ticket's text is searched for: rule keywords, street and project names"""
    keywords: dict[str, tuple[RuleKeyword, ...]]
    """lowered keyword -> the rules it belongs to (with its hit, made once)"""
    patterns: tuple[tuple[int, Rule, re.Pattern[str]], ...]
    """(rule position, rule, compiled pattern) of the rules that have one"""
    categories: dict[str, Category]
    street_led: tuple[str, ...]
    """codes of the categories a street office leads (coordination), in policy order"""
    category_labels: tuple[tuple[str, tuple[str, ...]], ...]
    """(category code, the model labels whose probabilities it sums)"""
    street_codes: dict[str, str]
    """a street field's value (office code or street name) -> the first street office it names"""
    streets_in_text: tuple[tuple[str, tuple[str, ...]], ...]
    """(street office code, its street names with 街道, which a text may name)"""
    projects: tuple[tuple[KeyProject, frozenset[str], tuple[str, ...]], ...]
    """(project, its names, the names lowered)"""
    street_of_name: dict[str, int]
    """a street name with 街道 -> the position in ``streets_in_text`` of the first office it names"""
    project_of_name: dict[str, int]
    """a project's name -> the position in ``projects`` of the first project it names"""
    project_of_lowered: dict[str, int]
    """a project's name lowered -> the position in ``projects`` of the first project it names"""
    enterprise_codes: frozenset[str]
    enterprise_names: frozenset[str]
    calendar: BusinessCalendar
    _allowed: dict[frozenset[str], frozenset[str]] = field(default_factory=dict)
    _tiers: dict[tuple[str, Priority, bool], SlaTier] = field(default_factory=dict)
    _label_positions: dict[tuple[str, ...], tuple[tuple[str, tuple[int, ...]], ...]] = field(
        default_factory=dict
    )
    _single_labels: dict[tuple[str, ...], tuple[tuple[str, ...], itemgetter[Any]] | None] = field(
        default_factory=dict
    )
    _last_found: list[tuple[str, AbstractSet[str]]] = field(default_factory=lambda: [("", frozenset())])

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

    def found_in(self, text: str) -> AbstractSet[str]:
        """The needles ``text`` contains (the last text's answer is kept: routing asks several times)."""
        last_text, last_found = self._last_found[0]
        if last_text is text:
            return last_found
        found = self.needles.present(text)
        self._last_found[0] = (text, found)
        return found

    def rule_hits(self, text: str) -> list[tuple[Rule, RuleHit]]:
        """The rules that fire on ``text``, in policy order, each with its hit: the first of its
        keywords (in the rule's order) that the text contains, else its pattern's match."""
        found = self.found_in(text)
        first: dict[int, RuleKeyword] = {}
        for needle in found:
            for entry in self.keywords.get(needle, ()):
                best = first.get(entry.rule)
                if best is None or entry.order < best.order:
                    first[entry.rule] = entry
        hits = {position: entry.hit for position, entry in first.items()}
        for position, rule, pattern in self.patterns:
            if position not in hits and (match := pattern.search(text)):
                hits[position] = RuleHit(
                    rule_id=rule.id, category=rule.category, weight=rule.weight, matched=match.group(0)
                )
        rules = self.policy.rules
        return [(rules[position], hits[position]) for position in sorted(hits)]

    def street_in(self, found: AbstractSet[str]) -> str | None:
        """The first street office (in policy order) one of whose names with 街道 is in ``found``."""
        positions = [at for name in found if (at := self.street_of_name.get(name)) is not None]
        return self.streets_in_text[min(positions)][0] if positions else None

    def key_project(self, project_name: str | None, found: AbstractSet[str]) -> KeyProject | None:
        """The first key project (in policy order) named by ``project_name`` or by a name in ``found``."""
        positions = [at for name in found if (at := self.project_of_lowered.get(name)) is not None]
        if project_name is not None and (at := self.project_of_name.get(project_name)) is not None:
            positions.append(at)
        return self.projects[min(positions)][0] if positions else None

    def tier(self, category: str, priority: Priority, key: bool) -> SlaTier:
        """``tier_for`` the policy's SLA rules, remembered per (category, priority, key)."""
        found = self._tiers.get((category, priority, key))
        if found is None:
            if len(self._tiers) > 1024:
                self._tiers.clear()
            found = self._tiers[category, priority, key] = tier_for(self.policy.sla, category, priority, key)
        return found

    def single_labels(self, labels: tuple[str, ...]) -> tuple[tuple[str, ...], itemgetter[Any]] | None:
        """(category codes, a getter of their labels' values from a list in ``labels`` order) when every
        category sums exactly one label and there are at least two (a getter of one gives no tuple)."""
        if labels in self._single_labels:
            return self._single_labels[labels]
        positions = self.label_positions(labels)
        found = None
        if len(positions) >= 2 and all(len(at) == 1 for _, at in positions):
            found = (tuple(code for code, _ in positions), itemgetter(*(at[0] for _, at in positions)))
        if len(self._single_labels) > 16:
            self._single_labels.clear()
        self._single_labels[labels] = found
        return found

    def label_positions(self, labels: tuple[str, ...]) -> tuple[tuple[str, tuple[int, ...]], ...]:
        """(category code, positions in ``labels`` of the model labels it sums) for a model's labels."""
        found = self._label_positions.get(labels)
        if found is None:
            if len(self._label_positions) > 16:
                self._label_positions.clear()
            position = {label: i for i, label in reversed(list(enumerate(labels)))}
            found = self._label_positions[labels] = tuple(
                (code, tuple(position[label] for label in wanted if label in position))
                for code, wanted in self.category_labels
            )  # a label the model lacks has probability 0.0: leaving it out of a sum changes nothing
        return found

    @classmethod
    def of(cls, policy: RoutingPolicy) -> PolicyIndex:
        keywords: dict[str, list[RuleKeyword]] = {}
        for position, rule in enumerate(policy.rules):
            for order, keyword in enumerate(rule.keywords):
                hit = RuleHit(rule_id=rule.id, category=rule.category, weight=rule.weight, matched=keyword)
                folded = unicodedata.normalize("NFKC", keyword).lower()  # as ``ticket_text`` folds
                keywords.setdefault(folded, []).append(RuleKeyword(position, order, hit))
        streets = [d for d in policy.departments if d.kind is DepartmentKind.street]
        street_codes: dict[str, str] = {}
        for dept in streets:
            for name in (dept.code, *dept.street_names):
                street_codes.setdefault(name, dept.code)
        streets_in_text = tuple((d.code, tuple(n for n in d.street_names if "街道" in n)) for d in streets)
        projects = tuple(
            (p, frozenset(p.names), tuple(n.lower() for n in p.names)) for p in policy.key_projects
        )
        street_of_name: dict[str, int] = {}
        for at, (_, names) in enumerate(streets_in_text):
            for name in names:
                street_of_name.setdefault(name, at)
        project_of_name: dict[str, int] = {}
        project_of_lowered: dict[str, int] = {}
        for at, project in enumerate(policy.key_projects):
            for name in project.names:
                project_of_name.setdefault(name, at)
                project_of_lowered.setdefault(name.lower(), at)
        needles = [*keywords, *street_of_name]
        needles += [n for _, _, lowered in projects for n in lowered]
        return cls(
            policy=policy,
            needles=Needles(needles),
            keywords={k: tuple(v) for k, v in keywords.items()},
            patterns=tuple(
                (position, rule, _compiled(rule.pattern))
                for position, rule in enumerate(policy.rules)
                if rule.pattern is not None
            ),
            categories={c.code: c for c in reversed(policy.categories)},  # the first of a code wins
            street_led=tuple(c.code for c in policy.categories if c.lead_is_street),
            category_labels=tuple((c.code, c.model_labels or (c.code,)) for c in policy.categories),
            street_codes=street_codes,
            streets_in_text=streets_in_text,
            projects=projects,
            street_of_name=street_of_name,
            project_of_name=project_of_name,
            project_of_lowered=project_of_lowered,
            enterprise_codes=frozenset(e.credit_code for e in policy.key_enterprises if e.credit_code),
            enterprise_names=frozenset(e.name for e in policy.key_enterprises),
            calendar=calendar_for(policy.sla),
        )


_INDEXES: dict[int, PolicyIndex] = {}
_LAST: list[PolicyIndex | None] = [None]


def index_for(policy: RoutingPolicy) -> PolicyIndex:
    """The policy's index, built on first use; the entry keeps ``policy`` alive, so its id stays unique."""
    last = _LAST[0]
    if last is not None and last.policy is policy:  # asked several times per ticket, nearly always one policy
        return last
    found = _INDEXES.get(id(policy))
    if found is not None and found.policy is policy:
        _LAST[0] = found
        return found
    if len(_INDEXES) > 16:
        _INDEXES.clear()
    built = _INDEXES[id(policy)] = _LAST[0] = PolicyIndex.of(policy)
    return built
