"""The read model in Redis: written inside the recorder's ticket transaction, read by ``consumers.views``.

Keys (``ReadModelKeys``, all under ``{prefix}rm:``): ``open`` and ``groups``
(hashes), ``due:{dept}:{level}`` / ``warn:{dept}:{level}`` / ``first-due:{dept}``
(sorted sets), ``lead-hours`` and ``day:{YYYY-MM-DD}`` (hashes of counters) and
``built`` (set when the read model covers every stored ticket).

Every query is a fixed handful of pipelined commands per department, level or
day: never one per ticket. "At risk now" (warning ≤ now ≤ deadline) is two
range reads per group: stages warned since ``now − L`` and stages due by
``now + L``, where L is the longest warning-to-deadline lead of any open stage
(``lead-hours``, counted per whole hour, rounded up: a few fields, not one
member per stage); their common members are exactly the stages at risk, and
the reads never reach the old overdue backlog or the far future.
"""

from __future__ import annotations

import logging
import math
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import Any

import redis

from consumers.read_model import (
    Contribution,
    Group,
    InMemoryReadModel,
    StageCounts,
    counter_changes,
    group_of,
    indexed_status,
    lead_seconds,
)
from consumers.redis_writes import WriteBatch
from consumers.sla_engine import SlaState, StageStatus, StageWindow
from schemas.events import DISTRICT_ZONE

log = logging.getLogger(__name__)

READ_MODEL_VERSION = "2"
"""Bump when what a ticket contributes changes: recorders then rebuild before they write."""
LEGACY_KEYS = ("sla:deadlines",)
"""Indexes the read model replaced; ``rebuild`` deletes them."""


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _score(moment: datetime) -> float:
    return moment.timestamp()


def _before(moment: datetime) -> str:
    """An exclusive upper bound: scores strictly before ``moment``."""
    return f"({moment.timestamp()!r}"


def lead_hours(window: StageWindow) -> str:
    """The lead-hours field of a stage: whole hours from warning to deadline, rounded up."""
    return str(math.ceil(lead_seconds(window) / 3600))


def _moment(score: float) -> datetime:
    return datetime.fromtimestamp(score, DISTRICT_ZONE)


class ReadModelKeys:
    """Redis key names of the read model, all under ``{prefix}rm:``."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.root = f"{prefix}rm:"

    @property
    def open(self) -> str:
        """Hash: lead department → open tickets."""
        return f"{self.root}open"

    @property
    def groups(self) -> str:
        """Hash: ``department|level`` → open stages in that group."""
        return f"{self.root}groups"

    @property
    def leads(self) -> str:
        """Hash: hours from warning to deadline (rounded up) → open stages with that lead."""
        return f"{self.root}lead-hours"

    @property
    def built(self) -> str:
        """The read model's version, set once it holds every stored ticket (``ztc reindex``)."""
        return f"{self.root}built"

    def due(self, group: Group) -> str:
        """Sorted set: ``ticket:stage`` → deadline (epoch seconds)."""
        return f"{self.root}due:{group[0]}:{group[1]}"

    def warn(self, group: Group) -> str:
        """Sorted set: ``ticket:stage`` → warning moment (epoch seconds)."""
        return f"{self.root}warn:{group[0]}:{group[1]}"

    def first_due(self, department: str) -> str:
        """Sorted set: ticket → its earliest open deadline (overdue tickets per department)."""
        return f"{self.root}first-due:{department}"

    def day(self, day: date) -> str:
        """Hash of day counters (``d|dept|name``, ``c|category``)."""
        return f"{self.root}day:{day.isoformat()}"

    @staticmethod
    def group_field(group: Group) -> str:
        return f"{group[0]}|{group[1]}"

    @staticmethod
    def parse_group(text: str) -> Group:
        department, level = text.rsplit("|", 1)
        return department, int(level)


# ---------------------------------------------------------------- writing


def write_changes(pipe: WriteBatch, keys: ReadModelKeys, old: Contribution, new: Contribution) -> None:
    """Queue, in the ticket's transaction, what turns ``old``'s contribution into ``new``'s."""
    if old.open_department != new.open_department:
        if old.open_department is not None:
            pipe.hincrby(keys.open, old.open_department, -1)
        if new.open_department is not None:
            pipe.hincrby(keys.open, new.open_department, 1)
    if old.windows != new.windows:
        _move_windows(pipe, keys, old.windows, new.windows)
    if old.first_due != new.first_due:
        ticket_id = (new.windows or old.windows)[0].ticket_id
        if old.first_due is not None:
            pipe.zrem(keys.first_due(old.first_due[0]), ticket_id)
        if new.first_due is not None:
            pipe.zadd(keys.first_due(new.first_due[0]), {ticket_id: _score(new.first_due[1])})
    for (day, name), n in sorted(counter_changes(old, new).items()):
        pipe.hincrby(keys.day(day), name, n)


def _move_windows(
    pipe: WriteBatch,
    keys: ReadModelKeys,
    old: Sequence[StageWindow],
    new: Sequence[StageWindow],
) -> None:
    """Remove the old windows and add the new ones, as ``_reschedule`` does for alerts."""
    for window in old:
        group = group_of(window)
        pipe.zrem(keys.due(group), window.key)
        pipe.zrem(keys.warn(group), window.key)
        pipe.hincrby(keys.groups, keys.group_field(group), -1)
    for window in old:
        pipe.hincrby(keys.leads, lead_hours(window), -1)
    for window in new:
        group = group_of(window)
        pipe.zadd(keys.due(group), {window.key: _score(window.due_at)})
        pipe.zadd(keys.warn(group), {window.key: _score(window.warn_at)})
        pipe.hincrby(keys.groups, keys.group_field(group), 1)
    for window in new:
        pipe.hincrby(keys.leads, lead_hours(window), 1)


def _dump(pipe: redis.client.Pipeline, keys: ReadModelKeys, model: InMemoryReadModel) -> None:
    """Queue the whole of ``model`` (the rebuild's sum over every ticket) as Redis keys."""
    opened: dict[Any, Any] = {d: n for d, n in model.open.items() if n}
    if opened:
        pipe.hset(keys.open, mapping=opened)
    grouped: defaultdict[Group, list[StageWindow]] = defaultdict(list)
    first: dict[tuple[str, str], datetime] = {}
    for window in model.windows.values():
        grouped[group_of(window)].append(window)
        slot = (window.department, window.ticket_id)
        first[slot] = min(first.get(slot, window.due_at), window.due_at)
    for group, windows in grouped.items():
        pipe.zadd(keys.due(group), {w.key: _score(w.due_at) for w in windows})
        pipe.zadd(keys.warn(group), {w.key: _score(w.warn_at) for w in windows})
        pipe.hset(keys.groups, keys.group_field(group), len(windows))
    leads = Counter(lead_hours(w) for w in model.windows.values())
    if leads:
        pipe.hset(keys.leads, mapping=dict(leads))  # type: ignore[arg-type]
    per_department: defaultdict[str, dict[str, float]] = defaultdict(dict)
    for (department, ticket_id), due in first.items():
        per_department[department][ticket_id] = _score(due)
    for department, mapping in per_department.items():
        pipe.zadd(keys.first_due(department), mapping)
    for day, counters in model.days.items():
        values: dict[Any, Any] = {name: n for name, n in counters.items() if n}
        if values:
            pipe.hset(keys.day(day), mapping=values)


def _scan(client: redis.Redis, pattern: str) -> Iterator[str]:
    for key in client.scan_iter(match=pattern, count=1000):
        yield _text(key)


def replace_all(client: redis.Redis, prefix: str, model: InMemoryReadModel) -> int:
    """Replace the read model under ``prefix`` by ``model`` in one transaction; return keys dropped."""
    keys = ReadModelKeys(prefix)
    stale = [*_scan(client, f"{keys.root}*"), *(f"{prefix}{k}" for k in LEGACY_KEYS)]
    with client.pipeline(transaction=True) as pipe:
        for i in range(0, len(stale), 500):
            pipe.delete(*stale[i : i + 500])
        _dump(pipe, keys, model)
        pipe.set(keys.built, READ_MODEL_VERSION)
        pipe.execute()
    return len(stale)


# ---------------------------------------------------------------- reading


class RedisReadModel:
    """``ReportSource`` over Redis: a few pipelined commands per group or day, none per ticket."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.keys = ReadModelKeys(prefix)

    def is_built(self) -> bool:
        """Whether the read model was built, by this version's rules, over every stored ticket."""
        return _text(self.client.get(self.keys.built) or b"") == READ_MODEL_VERSION

    def open_counts(self) -> dict[str, int]:
        raw: dict[Any, Any] = self.client.hgetall(self.keys.open)
        counts = {_text(k): int(v) for k, v in raw.items()}
        return {d: n for d, n in sorted(counts.items()) if n > 0}

    def groups(self) -> list[Group]:
        raw: dict[Any, Any] = self.client.hgetall(self.keys.groups)
        return sorted(self.keys.parse_group(_text(k)) for k, v in raw.items() if int(v) > 0)

    def stage_counts(self, groups: Sequence[Group], now: datetime) -> dict[Group, StageCounts]:
        with self.client.pipeline(transaction=False) as pipe:
            for group in groups:
                pipe.zcount(self.keys.due(group), "-inf", _before(now))
                pipe.zcount(self.keys.warn(group), "-inf", _score(now))
            answers = pipe.execute()
        out = {}
        for i, group in enumerate(groups):
            overdue, warned = int(answers[2 * i]), int(answers[2 * i + 1])
            out[group] = StageCounts(overdue, warned - overdue)  # warning ≤ deadline: overdue ⊂ warned
        return out

    def overdue_tickets(self, departments: Sequence[str], now: datetime) -> dict[str, int]:
        with self.client.pipeline(transaction=False) as pipe:
            for department in departments:
                pipe.zcount(self.keys.first_due(department), "-inf", _before(now))
            answers = pipe.execute()
        return {d: int(n) for d, n in zip(departments, answers, strict=True)}

    def _longest_lead(self) -> float:
        raw: dict[Any, Any] = self.client.hgetall(self.keys.leads)
        return float(max((int(h) for h, n in raw.items() if int(n) > 0), default=0) * 3600)

    def stages(
        self, groups: Sequence[Group], now: datetime, overdue_limit: int | None = None
    ) -> tuple[dict[Group, list[StageStatus]], dict[Group, list[StageStatus]]]:
        reach = self._longest_lead() + 1.0  # a second of slack for float rounding; the filter is exact
        at = _score(now)
        with self.client.pipeline(transaction=False) as pipe:
            for group in groups:
                if overdue_limit is None:
                    pipe.zrangebyscore(self.keys.due(group), "-inf", _before(now), withscores=True)
                else:
                    pipe.zrangebyscore(
                        self.keys.due(group), "-inf", _before(now), 0, overdue_limit, withscores=True
                    )
                pipe.zrangebyscore(self.keys.warn(group), at - reach, at, withscores=True)
                pipe.zrangebyscore(self.keys.due(group), at, at + reach, withscores=True)
            answers = pipe.execute()
        overdue: dict[Group, list[StageStatus]] = {}
        at_risk: dict[Group, list[StageStatus]] = {}
        for i, group in enumerate(groups):
            late, warned, due_soon = answers[3 * i : 3 * i + 3]
            overdue[group] = [
                indexed_status(_text(m), group, _moment(s), SlaState.overdue, now) for m, s in late
            ]
            warned_members = {_text(m) for m, _ in warned}
            risky = [(float(s), _text(m)) for m, s in due_soon if _text(m) in warned_members]
            at_risk[group] = [
                indexed_status(m, group, _moment(s), SlaState.at_risk, now) for s, m in sorted(risky)
            ]
        return overdue, at_risk

    def day_counts(self, days: Sequence[date]) -> dict[date, dict[str, int]]:
        with self.client.pipeline(transaction=False) as pipe:
            for day in days:
                pipe.hgetall(self.keys.day(day))
            answers = pipe.execute()
        out = {}
        for day, raw in zip(days, answers, strict=True):
            counters = {_text(k): int(v) for k, v in raw.items() if int(v)}
            if counters:
                out[day] = counters
        return out
