"""Department inboxes a page at a time: the recorder's sorted inbox indexes, read by range.

Each inbox bucket of each department (``schemas.ticket.InboxBucket``) is a sorted
set of ticket ids scored by the deadline the department works against
(``schemas.ticket_state.inbox_deadline``), kept by the recorder in the same
write as the ticket and rebuilt by ``ztc reindex``. A page is a range read of
ids (``ZRANGEBYSCORE … LIMIT``) and one MGET of those tickets, so it costs the
same with a hundred tickets in the bucket or a hundred thousand; "overdue" and a
deadline range are score ranges, read by rank so a deep page costs what the first does. Filters
the index does not hold (category,
priority, routing day, words of the text) walk the bucket in chunks from the
page's start until the page is full or ``WALK_LIMIT`` entries were looked at;
the page then offers to go on from where it stopped, so one request never reads
a whole bucket.

``InboxQuery`` and ``matches`` are pure; ``RedisInboxIndex`` and
``InMemoryInboxIndex`` are the two adapters of the ``InboxIndex`` port.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Protocol

import redis

from consumers.redis_batch import TicketKeys
from schemas.events import DISTRICT_ZONE, Priority
from schemas.ticket import InboxBucket, TicketRecord
from schemas.ticket_state import inbox_buckets, inbox_deadline
from schemas.ticket_storage import encode_record, record_json

PAGE_SIZE = 20
WALK_LIMIT = 2_000
"""At most this many index entries are looked at for one filtered page (then: 'search on')."""
CHUNK = 200


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class InboxQuery:
    """One page of one bucket as asked for: the order, the filters and where the page starts."""

    bucket: InboxBucket = InboxBucket.new
    latest_first: bool = False
    """deadline order: the most urgent first (default), or the latest first"""
    overdue: bool = False
    category: str | None = None
    priority: Priority | None = None
    routed_from: date | None = None
    routed_to: date | None = None
    words: str = ""
    start: int = 0
    """position in the bucket (within the overdue range, if asked) where this page starts"""
    size: int = PAGE_SIZE

    def until(self, now: datetime) -> float:
        """The index is read up to (not including) this deadline: ``now`` for overdue, else all."""
        return now.timestamp() if self.overdue else math.inf

    @property
    def walks(self) -> bool:
        """Whether a filter the index does not hold is set: the page walks the bucket."""
        return bool(
            self.category or self.priority or self.routed_from or self.routed_to or self.words.strip()
        )

    def at(self, start: int) -> InboxQuery:
        return replace(self, start=max(0, start))


def searchable(record: TicketRecord) -> str:
    """What the words of a search are looked for in: id, enterprise, credit code, title and text."""
    s = record.submission
    parts = (record.ticket_id, s.enterprise_name or "", s.credit_code or "", s.title, s.text)
    return "\n".join(parts).casefold()


def matches(record: TicketRecord, query: InboxQuery) -> bool:
    """Whether ``record`` passes the filters the index does not hold (every word must be found)."""
    if query.category and record.category != query.category:
        return False
    if query.priority and record.priority is not query.priority:
        return False
    day = record.routed_at.astimezone(DISTRICT_ZONE).date()
    if (query.routed_from and day < query.routed_from) or (query.routed_to and day > query.routed_to):
        return False
    words = query.words.casefold().split()
    if words:
        text = searchable(record)
        return all(w in text for w in words)
    return True


class InboxIndex(Protocol):
    """The sorted inbox indexes of every department, read by rank (ascending deadline)."""

    def counts(self, departments: Sequence[str]) -> dict[str, dict[InboxBucket, int]]: ...
    def count(self, department: str, bucket: InboxBucket, until: float) -> int:
        """How many of the bucket's tickets are due by ``until`` (they are its first ranks)."""
        ...

    def ids(self, department: str, bucket: InboxBucket, first: int, last: int) -> list[str]:
        """The ids at ranks ``first`` … ``last`` (inclusive), most urgent first."""
        ...

    def stored(self, ticket_ids: Sequence[str]) -> list[bytes | None]:
        """The tickets' stored bytes (``schemas.ticket_storage``), in order; None for a missing one."""
        ...


class RedisInboxIndex:
    """``{prefix}inbox:{department}:{bucket}`` sorted sets (``TicketKeys.inbox``): ZCOUNT for the
    overdue range (its entries are the first ranks), ZRANGE by rank for a page — O(log N + page),
    however deep the page."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.keys = TicketKeys(prefix)

    def counts(self, departments: Sequence[str]) -> dict[str, dict[InboxBucket, int]]:
        """Each department's bucket sizes, in one round trip."""
        with self.client.pipeline(transaction=False) as pipe:
            for department in departments:
                for bucket in InboxBucket:
                    pipe.zcard(self.keys.inbox(department, bucket))
            found = iter(pipe.execute())
        return {d: {b: int(next(found)) for b in InboxBucket} for d in departments}

    def count(self, department: str, bucket: InboxBucket, until: float) -> int:
        key = self.keys.inbox(department, bucket)
        if until == math.inf:
            return int(self.client.zcard(key))
        return int(self.client.zcount(key, "-inf", f"({until}"))

    def ids(self, department: str, bucket: InboxBucket, first: int, last: int) -> list[str]:
        if last < first:
            return []
        return [_text(m) for m in self.client.zrange(self.keys.inbox(department, bucket), first, last)]

    def stored(self, ticket_ids: Sequence[str]) -> list[bytes | None]:
        if not ticket_ids:
            return []
        raws: list[Any] = self.client.mget([self.keys.ticket(t) for t in ticket_ids])
        return [bytes(raw) if raw is not None else None for raw in raws]


class InMemoryInboxIndex:
    """The same answers computed from an in-memory store's tickets (unit tests)."""

    def __init__(self, tickets: Callable[[], Sequence[TicketRecord]]) -> None:
        self.tickets = tickets

    def _entries(self, department: str, bucket: InboxBucket) -> list[tuple[float, str]]:
        return sorted(
            (inbox_deadline(r, department).timestamp(), r.ticket_id)
            for r in self.tickets()
            if inbox_buckets(r).get(department) == bucket
        )

    def counts(self, departments: Sequence[str]) -> dict[str, dict[InboxBucket, int]]:
        return {d: {b: len(self._entries(d, b)) for b in InboxBucket} for d in departments}

    def count(self, department: str, bucket: InboxBucket, until: float) -> int:
        return sum(1 for score, _ in self._entries(department, bucket) if score < until)

    def ids(self, department: str, bucket: InboxBucket, first: int, last: int) -> list[str]:
        return [t for _, t in self._entries(department, bucket)][first : last + 1]

    def stored(self, ticket_ids: Sequence[str]) -> list[bytes | None]:
        by_id = {r.ticket_id: r for r in self.tickets()}
        return [encode_record(by_id[t]) if t in by_id else None for t in ticket_ids]


@dataclass(frozen=True)
class InboxPage:
    """The tickets of one page, and where the next and previous pages start."""

    query: InboxQuery
    records: tuple[TicketRecord, ...]
    total: int | None
    """tickets in the bucket (and overdue range); None when a walking filter is set"""
    next_start: int | None
    previous_start: int | None
    examined: int
    """index entries looked at for this page"""


def _previous_start(query: InboxQuery) -> int | None:
    """Where the page before starts; a walked page cannot know it, so: back to the first."""
    if query.start == 0:
        return None
    return 0 if query.walks else max(0, query.start - query.size)


def _window(query: InboxQuery, total: int, start: int, count: int) -> tuple[int, int, bool]:
    """(first rank, last rank, reversed) of ``count`` entries from position ``start`` of the
    ``total`` in range, in the query's order."""
    if not query.latest_first:
        return start, min(start + count, total) - 1, False
    return max(0, total - start - count), total - start - 1, True


def _ranked(
    index: InboxIndex, department: str, query: InboxQuery, total: int, start: int, count: int
) -> list[str]:
    first, last, backwards = _window(query, total, start, count)
    ids = index.ids(department, query.bucket, first, last)
    return ids[::-1] if backwards else ids


def _maybe(stored_json: bytes, query: InboxQuery) -> bool:
    """A cheap look at the stored JSON before it is validated: False only when ``matches`` would be.

    Words without case (Chinese, digits) are looked for in the bytes as they are; only a word
    with letters makes the text be case-folded.
    """
    if query.category and f'"category":"{query.category}"'.encode() not in stored_json:
        return False
    words = [w for w in query.words.split() if '"' not in w and "\\" not in w]
    if not all(w.encode() in stored_json for w in words if w.lower() == w.upper()):
        return False
    cased = [w.casefold() for w in words if w.lower() != w.upper()]
    if not cased:
        return True
    folded = stored_json.decode().casefold()
    return all(w in folded for w in cased)


def _walk(
    index: InboxIndex, department: str, query: InboxQuery, total: int
) -> tuple[list[TicketRecord], int]:
    """The page's matching tickets and the position after the last entry looked at."""
    found: list[TicketRecord] = []
    position = query.start
    while len(found) < query.size and position < total and position - query.start < WALK_LIMIT:
        ids = _ranked(index, department, query, total, position, CHUNK)
        for offset, (ticket_id, raw) in enumerate(zip(ids, index.stored(ids), strict=True)):
            text = record_json(raw) if raw else b""
            if text and _maybe(text, query):
                record = TicketRecord.model_validate_json(text)
                if record.ticket_id == ticket_id and matches(record, query):
                    found.append(record)
                    if len(found) == query.size:
                        return found, position + offset + 1
        position += len(ids)
    return found, position


def inbox_page(
    index: InboxIndex,
    load: Callable[[Sequence[str]], list[TicketRecord]],
    department: str,
    query: InboxQuery,
    now: datetime,
) -> InboxPage:
    """One page of ``department``'s bucket as ``query`` asks; ``load``: tickets by id, in order."""
    total = index.count(department, query.bucket, query.until(now))
    previous = _previous_start(query)
    if not query.walks:
        ids = _ranked(index, department, query, total, query.start, query.size)
        following = query.start + len(ids)
        more = following if following < total else None
        return InboxPage(query, tuple(load(ids)), total, more, previous, len(ids))
    found, position = _walk(index, department, query, total)
    more = position if position < total else None
    return InboxPage(query, tuple(found), None, more, previous, position - query.start)
