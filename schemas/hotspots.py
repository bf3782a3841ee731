"""Hot-spot grouping core: near-duplicate requests per street, with a heat index. Pure.

**Similarity.** A request's comparison copy is NFKC-folded and lower-cased, the
policy's common words (``common_words``: 企业, 协调, 尽快 ...; plus the street's own
names, which every request of that street shares) are cut out, and what is left is
cut into character n-grams of every length from 1 to ``ngram``. Two requests score
the mean over those lengths of the overlap coefficient |A∩B| / min(|A|, |B|)
(paraphrases of one complaint share few long n-grams, so Jaccard is too strict).
The stored text stays as written; only this copy is folded.

**Grouping.** Groups live per street. A request joins every group of its street,
within the window, that holds a member it resembles at least ``similarity`` (same
category) or ``cross_category_similarity`` (the classifier put it elsewhere), and
groups it links are merged: single linkage, so the groups do not depend on the order
requests arrive in. A request already in a group changes nothing (redelivery).

**Heat.** ``E + w_d·(D − 1) + w_o·O + w_b·B + w_u·U``: E sums, over distinct
enterprises, ``0.5 ** (age of its latest request / half_life)``; D counts the
departments involved (lead and co-departments); O, B and U count the group's tickets
that are overdue, were bounced, or were rated unsatisfied. Tickets the office merged
into another count in none of them. A group is hot when its heat reaches
``threshold`` and it has ``min_enterprises`` distinct enterprises; it is reported once.
``now`` is always passed in.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from pydantic import BaseModel, ConfigDict

from schemas.hotspot_policy import HotspotPolicy as HotspotPolicy  # re-exported

_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)

COMPARED_MEMBERS = 32
"""A request is compared with at most this many members of a group: its first and its latest."""


class HotspotRequest(BaseModel):
    """One routed request as the grouping sees it."""

    model_config = ConfigDict(frozen=True)

    ticket_id: str
    enterprise: str
    """who asked, as counted: the credit code, else the name"""
    enterprise_name: str = ""
    street: str
    category: str
    title: str = ""
    text: str
    at: datetime
    departments: tuple[str, ...] = ()


class TicketSignals(BaseModel):
    """What happened to one ticket since it was routed, as far as its heat is concerned."""

    model_config = ConfigDict(frozen=True)

    overdue: bool = False
    bounces: frozenset[str] = frozenset()
    """event ids of its bounces (a redelivered bounce counts once)"""
    unsatisfied: bool = False
    merged_into: str | None = None


class HotspotGroup(BaseModel):
    """Requests about one problem in one street; ``group_id``: its first ticket's, kept on merging."""

    model_config = ConfigDict(frozen=True)

    group_id: str
    street: str
    category: str
    requests: tuple[HotspotRequest, ...]
    detected_at: datetime | None = None
    more: int = 0
    """requests no longer kept (past ``max_members``: all but the first and the latest)"""

    @property
    def size(self) -> int:
        return len(self.requests) + self.more

    @property
    def last_at(self) -> datetime:
        return self.requests[-1].at  # requests are kept in (at, ticket id) order

    @property
    def ticket_ids(self) -> tuple[str, ...]:
        return tuple(r.ticket_id for r in self.requests)


@dataclass(frozen=True)
class Heat:
    """A group's heat and what it is made of."""

    total: float
    enterprises: float
    """the decayed sum over distinct enterprises"""
    enterprise_count: int
    departments: tuple[str, ...]
    overdue: int
    bounced: int
    unsatisfied: int


# ---------------------------------------------------------------- similarity


@lru_cache(maxsize=4096)
def _common_pattern(words: tuple[str, ...]) -> re.Pattern[str] | None:
    folded = sorted({unicodedata.normalize("NFKC", w).lower() for w in words if w}, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, folded))) if folded else None


@lru_cache(maxsize=16384)
def _folded_parts(text: str, common_words: tuple[str, ...]) -> tuple[str, ...]:
    folded = unicodedata.normalize("NFKC", text).lower()
    pattern = _common_pattern(common_words)
    if pattern is not None:
        folded = pattern.sub(" ", folded)
    return tuple(p for p in _NOISE.split(folded) if p)


@lru_cache(maxsize=32768)
def shingles(text: str, n: int, common_words: tuple[str, ...] = ()) -> frozenset[str]:
    """Character n-grams of length exactly ``n`` of the folded text, common words cut out."""
    parts = _folded_parts(text, common_words)
    grams = {p[i : i + n] for p in parts for i in range(len(p) - n + 1)}
    return frozenset(grams or {p for p in parts if len(p) < n})


def overlap(left: frozenset[str], right: frozenset[str]) -> float:
    if not left or not right:
        return 0.0
    return len(left & right) / min(len(left), len(right))


def similarity(left: str, right: str, ngram: int, common_words: tuple[str, ...] = ()) -> float:
    """Mean overlap coefficient of the n-grams of length 1..``ngram`` (see the module docstring)."""
    scores = [
        overlap(shingles(left, n, common_words), shingles(right, n, common_words))
        for n in range(1, ngram + 1)
    ]
    return sum(scores) / len(scores)


def compared_text(request: HotspotRequest) -> str:
    return f"{request.title}。{request.text}" if request.title else request.text


# ---------------------------------------------------------------- grouping


def _resembles(
    group: HotspotGroup, request: HotspotRequest, policy: HotspotPolicy, words: tuple[str, ...]
) -> bool:
    needed = policy.similarity if group.category == request.category else policy.cross_category_similarity
    if needed > 1:
        return False
    text = compared_text(request)
    members = group.requests
    if len(members) > COMPARED_MEMBERS:  # a big group: its first request and the latest ones
        members = (members[0], *members[1 - COMPARED_MEMBERS :])
    return any(similarity(text, compared_text(m), policy.ngram, words) >= needed for m in members)


def add_request(
    groups: Sequence[HotspotGroup],
    request: HotspotRequest,
    policy: HotspotPolicy,
    common_words: tuple[str, ...] = (),
    known: set[str] | None = None,
) -> list[HotspotGroup]:
    """The groups after ``request`` arrives (it joins only groups of its own street).

    Groups whose last request left the window are dropped; a ticket already grouped changes nothing
    (``known``: the tickets of ``groups``, when the caller keeps them).
    """
    live = [g for g in groups if request.at - g.last_at <= policy.window]
    grouped = (
        request.ticket_id in known
        if known is not None
        else any(request.ticket_id in g.ticket_ids for g in live)
    )
    if grouped:
        return live
    words = (*policy.common_words, *common_words)
    linked = [g for g in live if g.street == request.street and _resembles(g, request, policy, words)]
    joined = {id(g) for g in linked}
    rest = [g for g in live if id(g) not in joined]
    if not linked:
        opened = HotspotGroup(
            group_id=request.ticket_id,
            street=request.street,
            category=request.category,
            requests=(request,),
        )
        return _bounded([*rest, opened], policy)
    return _bounded([*rest, merge_groups([*linked], request, policy.max_members)], policy)


def merge_groups(
    groups: Sequence[HotspotGroup], request: HotspotRequest | None = None, max_members: int | None = None
) -> HotspotGroup:
    """``groups`` (and ``request``) as one, named by the one already reported, else by the earliest request.

    Ids do not depend on the order requests arrive in until a group is reported; then they stay.
    Past ``max_members`` the group keeps its first request and the latest ones, and counts the rest.
    """
    if len(groups) == 1 and request is not None:  # the usual case: one more request, kept in order
        requests = list(groups[0].requests)
        bisect.insort(requests, request, key=_order)
    else:
        members = {r.ticket_id: r for g in groups for r in g.requests}
        if request is not None:
            members[request.ticket_id] = request
        requests = sorted(members.values(), key=_order)
    more = sum(g.more for g in groups)
    if max_members is not None and len(requests) > max_members:
        dropped = len(requests) - max_members
        requests = [requests[0], *requests[1 + dropped :]]
        more += dropped
    reported = sorted(
        (g for g in groups if g.detected_at is not None), key=lambda g: (g.detected_at, g.group_id)
    )
    if reported:
        return reported[0].model_copy(update={"requests": tuple(requests), "more": more})
    first = requests[0]
    return HotspotGroup(
        group_id=first.ticket_id,
        street=first.street,
        category=first.category,
        requests=tuple(requests),
        more=more,
    )


def _order(request: HotspotRequest) -> tuple[datetime, str]:
    return request.at, request.ticket_id


def _bounded(groups: list[HotspotGroup], policy: HotspotPolicy) -> list[HotspotGroup]:
    if len(groups) <= policy.max_groups:
        return groups
    # keep reported groups and the most recently active ones
    ranked = sorted(groups, key=lambda g: (g.detected_at is not None, g.last_at), reverse=True)
    return ranked[: policy.max_groups]


def expire(groups: Iterable[HotspotGroup], policy: HotspotPolicy, now: datetime) -> list[HotspotGroup]:
    """The groups still within the window at ``now``."""
    return [g for g in groups if now - g.last_at <= policy.window]


# ---------------------------------------------------------------- heat


def counted(group: HotspotGroup, signals: Mapping[str, TicketSignals]) -> list[HotspotRequest]:
    """The group's requests that count: not merged into another ticket by the office."""
    return [r for r in group.requests if signals.get(r.ticket_id, TicketSignals()).merged_into is None]


def heat(
    group: HotspotGroup,
    policy: HotspotPolicy,
    now: datetime,
    signals: Mapping[str, TicketSignals] | None = None,
) -> Heat:
    """The group's heat at ``now`` (formula in the module docstring)."""
    known = signals or {}
    requests = counted(group, known) or list(group.requests[:1])
    latest: dict[str, datetime] = {}
    for request in requests:
        latest[request.enterprise] = max(latest.get(request.enterprise, request.at), request.at)
    half_life = policy.half_life.total_seconds()
    decayed = sum(0.5 ** (max((now - at).total_seconds(), 0.0) / half_life) for at in latest.values())
    departments = tuple(dict.fromkeys(d for r in requests for d in r.departments))
    flags = [known.get(r.ticket_id, TicketSignals()) for r in requests]
    overdue = sum(f.overdue for f in flags)
    bounced = sum(bool(f.bounces) for f in flags)
    unsatisfied = sum(f.unsatisfied for f in flags)
    total = (
        decayed
        + policy.department_weight * max(len(departments) - 1, 0)
        + policy.overdue_weight * overdue
        + policy.bounced_weight * bounced
        + policy.unsatisfied_weight * unsatisfied
    )
    return Heat(round(total, 3), round(decayed, 3), len(latest), departments, overdue, bounced, unsatisfied)


def is_hot(value: Heat, policy: HotspotPolicy) -> bool:
    return value.total >= policy.threshold and value.enterprise_count >= policy.min_enterprises


def repeats(group: HotspotGroup, signals: Mapping[str, TicketSignals] | None = None) -> list[tuple[str, str]]:
    """(repeat, first) for every later request of an enterprise already in the group: suggested merges."""
    first: dict[str, str] = {}
    found: list[tuple[str, str]] = []
    for request in counted(group, signals or {}):
        if request.enterprise in first:
            found.append((request.ticket_id, first[request.enterprise]))
        else:
            first[request.enterprise] = request.ticket_id
    return found


def suggests_meeting(value: Heat, policy: HotspotPolicy) -> bool:
    """联合会商 when several departments are involved or a department already bounced a ticket."""
    return len(value.departments) >= policy.meeting_min_departments or value.bounced > 0


@dataclass(frozen=True)
class StreetOutcome:
    """One street after a batch: its groups, those that became hot now, and every hot one (to show)."""

    groups: list[HotspotGroup]
    detected: list[HotspotGroup]
    hot: list[HotspotGroup]


def settle_street(
    groups: Sequence[HotspotGroup],
    requests: Sequence[HotspotRequest],
    signals: Mapping[str, TicketSignals],
    policy: HotspotPolicy,
    now: datetime,
    common_words: tuple[str, ...] = (),
) -> StreetOutcome:
    """Add a batch's requests of one street, drop what left the window, and mark groups that became hot.

    A group past ``max_members`` no longer keeps every ticket: the caller leaves out requests it
    grouped before (``streams.hotspot_store`` remembers every ticket's street for the window).
    """
    current = list(groups)
    known = {r.ticket_id for g in current for r in g.requests}
    for request in sorted(requests, key=_order):
        current = add_request(current, request, policy, common_words, known)
        known.add(request.ticket_id)
    settled: list[HotspotGroup] = []
    detected: list[HotspotGroup] = []
    for group in expire(current, policy, now):
        if group.detected_at is None and is_hot(heat(group, policy, now, signals), policy):
            group = group.model_copy(update={"detected_at": now})
            detected.append(group)
        settled.append(group)
    return StreetOutcome(settled, detected, [g for g in settled if g.detected_at is not None])
