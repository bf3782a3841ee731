"""Hot-spot grouping core: near-duplicate requests per street and category, with a decaying heat index.

Pure: texts are normalised, cut into character n-grams and compared by the overlap
coefficient |A∩B|/min(|A|,|B|) against each open group's first request
(paraphrases of one complaint share few n-grams, so Jaccard is too strict); a request joins the most
similar group of its street and category within the window, else opens one.
Heat counts distinct enterprises, each weighted by ``0.5 ** (age / half_life)``.
``now`` is always passed in.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)


class HotspotPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    ngram: int = Field(default=2, ge=1, le=5)
    similarity: float = Field(default=0.3, gt=0, le=1)
    window: timedelta = timedelta(days=7)
    half_life: timedelta = timedelta(days=2)


class Request(BaseModel):
    model_config = ConfigDict(frozen=True)

    ticket_id: str
    enterprise: str
    street: str
    category: str
    text: str
    at: datetime


class HotspotGroup(BaseModel):
    model_config = ConfigDict(frozen=True)

    street: str
    category: str
    shingles: frozenset[str]
    requests: tuple[Request, ...]


def shingles(text: str, n: int) -> frozenset[str]:
    normal = _NOISE.sub("", unicodedata.normalize("NFKC", text).lower())
    if len(normal) <= n:
        return frozenset({normal}) if normal else frozenset()
    return frozenset(normal[i : i + n] for i in range(len(normal) - n + 1))


def overlap(left: frozenset[str], right: frozenset[str]) -> float:
    if not left or not right:
        return 0.0
    return len(left & right) / min(len(left), len(right))


def add_request(groups: list[HotspotGroup], request: Request, policy: HotspotPolicy) -> list[HotspotGroup]:
    """Groups after ``request`` arrives; groups whose last request left the window are dropped."""
    live = [g for g in groups if request.at - g.requests[-1].at <= policy.window]
    grams = shingles(request.text, policy.ngram)
    best_index, best_score = -1, 0.0
    for index, group in enumerate(live):
        if (group.street, group.category) != (request.street, request.category):
            continue
        score = overlap(grams, group.shingles)
        if score >= policy.similarity and score > best_score:
            best_index, best_score = index, score
    if best_index < 0:
        return [
            *live,
            HotspotGroup(
                street=request.street, category=request.category, shingles=grams, requests=(request,)
            ),
        ]
    chosen = live[best_index]
    live[best_index] = chosen.model_copy(update={"requests": (*chosen.requests, request)})
    return live


def heat(group: HotspotGroup, policy: HotspotPolicy, now: datetime) -> float:
    """Distinct enterprises, each counted by its latest request with half-life decay."""
    latest: dict[str, datetime] = {}
    for request in group.requests:
        latest[request.enterprise] = max(latest.get(request.enterprise, request.at), request.at)
    half_life = policy.half_life.total_seconds()
    weights = [0.5 ** (max((now - at).total_seconds(), 0.0) / half_life) for at in latest.values()]
    return float(sum(weights))
