"""The read model in Redis: written inside the recorder's ticket transaction, read by ``consumers.views``.

Keys (``ReadModelKeys``, all under ``{prefix}rm:``): ``open`` and ``groups``
(hashes), ``first:{dept}:{level}`` / ``later:{dept}:{level}`` (sorted sets),
``lead-hours`` and ``day:{YYYY-MM-DD}`` (hashes of counters) and ``built``
(this layout's version and the SLA policy it was built under, set once the
read model covers every stored ticket).

Every open SLA stage is one member, ``{ticket}:{stage}:{warning}`` (its
warning moment in whole microseconds since the epoch), scored by its deadline,
in its group's ``first`` set if it is the ticket's stage due first, else in
``later``. So "overdue now" is a count of both sets below ``now``, "tickets
overdue" a count of the ``first`` sets alone (a ticket is overdue once its
first stage is), and "at risk now" (warning ≤ now ≤ deadline) the members due
between ``now`` and ``now + L`` whose warning has passed, L being the longest
warning-to-deadline lead of any open stage (``lead-hours``, counted per whole
hour, rounded up: a few fields, not one member per stage). One member per stage
and no other index of stages: about 140 bytes a stage.

Every query is a fixed handful of pipelined commands per department, level or
day: never one per ticket, and the reads never reach the old overdue backlog
(beyond the listing's limit) or the far future. The stages due within the at-risk reach are
read as members alone (the warning is in the member, not the score): only the listed ones' scores.

A member names its warning moment, which the SLA policy decides: a write takes
the old member out by recomputing it, so the recorder must compute it under
the policy that wrote it. ``built`` names that policy (``built_marker``); a
recorder started under another one rebuilds the read model before it writes
(``RedisTicketStore.ensure_read_model``).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from typing import Any

import redis

from consumers.read_model import (
    Contribution,
    Group,
    InMemoryReadModel,
    StageCounts,
    counter_changes,
    first_window,
    group_of,
    indexed_status,
    lead_seconds,
)
from consumers.redis_writes import WriteBatch
from consumers.sla_engine import SlaBook, SlaState, StageStatus, StageWindow
from schemas.events import DISTRICT_ZONE

log = logging.getLogger(__name__)

READ_MODEL_VERSION = "5"
"""Bump when what a ticket contributes, or how it is kept, changes: recorders then rebuild before they
write. 3: one member per stage (first / later), no warning or first-deadline sets. 4: the inbox
indexes are sorted sets scored by deadline (were sets), and co-departments have their own bucket.
5: 回访 answers per kind, bounces, resolved and redone rounds."""
LEGACY_KEYS = ("sla:deadlines",)
"""Indexes the read model replaced; ``rebuild`` deletes them (and every older ``rm:`` key)."""
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _score(moment: datetime) -> float:
    return moment.timestamp()


def _before(moment: datetime) -> str:
    """An exclusive upper bound: scores strictly before ``moment``."""
    return f"({moment.timestamp()!r}"


def _micros(moment: datetime) -> int:
    """Whole microseconds since the epoch: exact, unlike a float timestamp."""
    return (moment - EPOCH) // MICROSECOND


def lead_hours(window: StageWindow) -> str:
    """The lead-hours field of a stage: whole hours from warning to deadline, rounded up."""
    return str(math.ceil(lead_seconds(window) / 3600))


def _moment(score: float) -> datetime:
    return datetime.fromtimestamp(score, DISTRICT_ZONE)


def stage_member(window: StageWindow) -> str:
    """A stage's member: ``{ticket}:{stage}:{warning in microseconds since the epoch}``."""
    return f"{window.key}:{_micros(window.warn_at)}"


def _split_member(member: str) -> tuple[str, int]:
    """(``ticket:stage``, warning in microseconds) of a stage member."""
    ticket_stage, warned = member.rsplit(":", 1)
    return ticket_stage, int(warned)


def built_marker(book: SlaBook | None) -> str:
    """What ``built`` holds once the read model is built under ``book``'s SLA policy (none: ``-``)."""
    policy = hashlib.sha1(book.sla.model_dump_json().encode()).hexdigest()[:12] if book is not None else "-"
    return f"{READ_MODEL_VERSION} {policy}"


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
        """``built_marker``, set once the read model holds every stored ticket (``ztc reindex``)."""
        return f"{self.root}built"

    def first(self, group: Group) -> str:
        """Sorted set: each ticket's stage due first, ``stage_member`` → deadline (epoch seconds)."""
        return f"{self.root}first:{group[0]}:{group[1]}"

    def later(self, group: Group) -> str:
        """Sorted set: the tickets' other open stages, as ``first``."""
        return f"{self.root}later:{group[0]}:{group[1]}"

    def stage_sets(self, group: Group) -> tuple[str, str]:
        return self.first(group), self.later(group)

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


def placed(keys: ReadModelKeys, windows: Sequence[StageWindow]) -> Iterator[tuple[str, StageWindow]]:
    """(sorted set, stage) for one ticket's open stages: its first one in ``first``, the others ``later``."""
    first = first_window(windows)
    for window in windows:
        group = group_of(window)
        yield (keys.first(group) if window is first else keys.later(group)), window


def _entries(keys: ReadModelKeys, windows: Sequence[StageWindow]) -> list[tuple[str, str, float, str, str]]:
    """(sorted set, member, deadline, ``groups`` field, ``lead-hours`` field) of each open stage."""
    return [
        (key, stage_member(w), _score(w.due_at), keys.group_field(group_of(w)), lead_hours(w))
        for key, w in placed(keys, windows)
    ]


def write_changes(pipe: WriteBatch, keys: ReadModelKeys, old: Contribution, new: Contribution) -> None:
    """Queue, in the ticket's transaction, what turns ``old``'s contribution into ``new``'s."""
    moved = old.windows != new.windows
    gone, came = (_entries(keys, old.windows), _entries(keys, new.windows)) if moved else ((), ())
    counters = counter_changes(old, new)
    # everything computed: from here on only the batch's dictionaries are written
    if old.open_department != new.open_department:
        if old.open_department is not None:
            pipe.hincrby(keys.open, old.open_department, -1)
        if new.open_department is not None:
            pipe.hincrby(keys.open, new.open_department, 1)
    for key, member, _, group, lead in gone:
        pipe.zrem(key, member)
        pipe.hincrby(keys.groups, group, -1)
        pipe.hincrby(keys.leads, lead, -1)
    for key, member, due, group, lead in came:
        pipe.zadd_one(key, member, due)
        pipe.hincrby(keys.groups, group, 1)
        pipe.hincrby(keys.leads, lead, 1)
    for (day, name), n in counters.items():
        pipe.hincrby(keys.day(day), name, n)


def _dump(pipe: redis.client.Pipeline, keys: ReadModelKeys, model: InMemoryReadModel) -> None:
    """Queue the whole of ``model`` (the rebuild's sum over every ticket) as Redis keys."""
    opened: dict[Any, Any] = {d: n for d, n in model.open.items() if n}
    if opened:
        pipe.hset(keys.open, mapping=opened)
    per_ticket: defaultdict[str, list[StageWindow]] = defaultdict(list)
    for window in model.windows.values():
        per_ticket[window.ticket_id].append(window)
    members: defaultdict[str, dict[str, float]] = defaultdict(dict)
    for windows in per_ticket.values():
        for key, window in placed(keys, windows):
            members[key][stage_member(window)] = _score(window.due_at)
    for key, mapping in members.items():
        items = list(mapping.items())
        for i in range(0, len(items), 1000):
            pipe.zadd(key, dict(items[i : i + 1000]))
    grouped = Counter(keys.group_field(group_of(w)) for w in model.windows.values())
    if grouped:
        pipe.hset(keys.groups, mapping=dict(grouped))  # type: ignore[arg-type]
    leads = Counter(lead_hours(w) for w in model.windows.values())
    if leads:
        pipe.hset(keys.leads, mapping=dict(leads))  # type: ignore[arg-type]
    for day, counters in model.days.items():
        values: dict[Any, Any] = {name: n for name, n in counters.items() if n}
        if values:
            pipe.hset(keys.day(day), mapping=values)


def _scan(client: redis.Redis, pattern: str) -> Iterator[str]:
    for key in client.scan_iter(match=pattern, count=1000):
        yield _text(key)


def replace_all(client: redis.Redis, prefix: str, model: InMemoryReadModel, marker: str) -> int:
    """Replace the read model under ``prefix`` by ``model`` in one transaction, marked built as
    ``marker``; return keys dropped."""
    keys = ReadModelKeys(prefix)
    stale = [*_scan(client, f"{keys.root}*"), *(f"{prefix}{k}" for k in LEGACY_KEYS)]
    with client.pipeline(transaction=True) as pipe:
        for i in range(0, len(stale), 500):
            pipe.delete(*stale[i : i + 500])
        _dump(pipe, keys, model)
        pipe.set(keys.built, marker)
        pipe.execute()
    return len(stale)


# ---------------------------------------------------------------- reading


class RedisReadModel:
    """``ReportSource`` over Redis: a few pipelined commands per group or day, none per ticket."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.keys = ReadModelKeys(prefix)

    def is_built(self, marker: str | None = None) -> bool:
        """Whether the read model was built over every stored ticket, by this version's rules (and
        as ``marker`` says, if given: under the same SLA policy)."""
        built = _text(self.client.get(self.keys.built) or b"")
        return built == marker if marker is not None else built.split(" ")[0] == READ_MODEL_VERSION

    def open_counts(self) -> dict[str, int]:
        raw: dict[Any, Any] = self.client.hgetall(self.keys.open)
        counts = {_text(k): int(v) for k, v in raw.items()}
        return {d: n for d, n in sorted(counts.items()) if n > 0}

    def groups(self) -> list[Group]:
        raw: dict[Any, Any] = self.client.hgetall(self.keys.groups)
        return sorted(self.keys.parse_group(_text(k)) for k, v in raw.items() if int(v) > 0)

    def _reach(self) -> float:
        """Seconds from warning to deadline of the longest-lead open stage, plus a second of slack
        for float rounding (the filter on the warning moment is exact)."""
        raw: dict[Any, Any] = self.client.hgetall(self.keys.leads)
        return float(max((int(h) for h, n in raw.items() if int(n) > 0), default=0) * 3600) + 1.0

    def stage_counts(self, groups: Sequence[Group], now: datetime) -> dict[Group, StageCounts]:
        at, reach, now_us = _score(now), self._reach(), _micros(now)
        with self.client.pipeline(transaction=False) as pipe:
            for group in groups:
                for key in self.keys.stage_sets(group):
                    pipe.zcount(key, "-inf", _before(now))
                    pipe.zrangebyscore(key, at, at + reach)
            answers = pipe.execute()
        out = {}
        for i, group in enumerate(groups):
            first_late, first_soon, later_late, later_soon = answers[4 * i : 4 * i + 4]
            warned = sum(1 for _ in _warned([*first_soon, *later_soon], now_us))
            out[group] = StageCounts(int(first_late) + int(later_late), warned)
        return out

    def overdue_tickets(self, departments: Sequence[str], now: datetime) -> dict[str, int]:
        wanted = set(departments)
        groups = [g for g in self.groups() if g[0] in wanted]
        with self.client.pipeline(transaction=False) as pipe:
            for group in groups:
                pipe.zcount(self.keys.first(group), "-inf", _before(now))
            answers = pipe.execute()
        out = dict.fromkeys(departments, 0)
        for group, n in zip(groups, answers, strict=True):
            out[group[0]] += int(n)
        return out

    def stages(
        self, groups: Sequence[Group], now: datetime, limit: int | None = None
    ) -> tuple[dict[Group, list[StageStatus]], dict[Group, list[StageStatus]]]:
        at, reach, now_us = _score(now), self._reach(), _micros(now)
        start = 0 if limit is not None else None
        keys = [key for group in groups for key in self.keys.stage_sets(group)]
        with self.client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.zrangebyscore(key, "-inf", _before(now), start=start, num=limit, withscores=True)
                pipe.zrangebyscore(key, at, at + reach)  # members alone: scores cost ~10x to parse
            answers = pipe.execute()
        late = dict(zip(keys, answers[0::2], strict=True))
        soon = self._scored(
            {k: list(islice(_warned(ms, now_us), limit)) for k, ms in zip(keys, answers[1::2], strict=True)}
        )
        overdue: dict[Group, list[StageStatus]] = {}
        at_risk: dict[Group, list[StageStatus]] = {}
        for group in groups:
            first, later = self.keys.stage_sets(group)
            overdue[group] = [
                _status(m, group, s, SlaState.overdue, now)
                for s, m in _by_deadline([*late[first], *late[later]])[:limit]
            ]
            at_risk[group] = [
                _status(m, group, s, SlaState.at_risk, now)
                for s, m in _by_deadline([*soon[first], *soon[later]])[:limit]
            ]
        return overdue, at_risk

    def _scored(self, members: dict[str, list[Any]]) -> dict[str, list[tuple[Any, Any]]]:
        """(member, deadline) of the given members of each set: one ZMSCORE per set with any (a member
        gone since it was read is left out). Enough for a listing: the first N at risk of a group are
        among the first N of each of its sets."""
        wanted = [key for key, found in members.items() if found]
        with self.client.pipeline(transaction=False) as pipe:
            for key in wanted:
                pipe.zmscore(key, members[key])
            answers = pipe.execute()
        out: dict[str, list[tuple[Any, Any]]] = {key: [] for key in members}
        for key, scores in zip(wanted, answers, strict=True):
            out[key] = [(m, s) for m, s in zip(members[key], scores, strict=True) if s is not None]
        return out

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


def _warned(members: Sequence[Any], now_us: int) -> Iterator[Any]:
    """The stage members, in order, whose warning moment is at or before ``now_us``. Not decoded: a
    16-digit moment (the years 2001 to 2286) is compared as bytes, equal-length digits ordering as
    numbers; any other is parsed."""
    digits = str(now_us).encode()
    fast = len(digits) == 16
    return (
        m
        for m in members
        if (
            m[-16:] <= digits
            if fast and m[-17:-16] == b":" and m[-16:].isdigit()
            else _split_member(_text(m))[1] <= now_us
        )
    )


def _by_deadline(found: Sequence[tuple[Any, Any]]) -> list[tuple[float, str]]:
    """(deadline, member) of range answers from both of a group's sets, soonest deadline first."""
    return sorted((float(score), _text(member)) for member, score in found)


def _status(member: str, group: Group, score: float, state: SlaState, now: datetime) -> StageStatus:
    return indexed_status(_split_member(member)[0], group, _moment(score), state, now)
