"""Dead letters kept in Redis: what could not be processed, with its reason, until the office acts.

The dead-letter topic is where workers report; this store is what people read
(``ztc deadletter``), because the embedded broker forgets its topics on a
restart and a topic cannot say "handled". A dead letter stays *open* until it
is replayed (its original bytes sent back to the topic it came from, after a
fix) or discarded, and both are kept with who did it and when.

Both stores pass one contract (``tests/unit/dead_letter_contract.py``): adding a
letter again, even after it was handled, changes nothing; the open list is
oldest first (ties by id) and at most ``limit`` long; an id prefix is matched
literally.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import redis

from schemas.events import DeadLettered


@dataclass(frozen=True)
class DeadLetterView:
    record: DeadLettered
    handled: str | None
    """None while open; else e.g. "replayed 2026-11-28T10:00+08:00 by 张三"."""


class DeadLetterStore(Protocol):
    def add(self, record: DeadLettered) -> bool:
        """Keep one dead letter, open, unless its event id is known (open or handled); True if new."""
        ...

    def open_letters(self, limit: int = 100) -> list[DeadLettered]:
        """At most ``limit`` open letters, oldest first (ties by event id)."""
        ...

    def find(self, id_or_prefix: str) -> DeadLetterView | None:
        """The letter with this id, or the one whose id starts with it; AmbiguousId if several do."""
        ...

    def mark(self, letter_id: str, handled: str) -> None:
        """Close a letter (replayed or discarded) with a note; an unknown id changes nothing."""
        ...

    def open_count(self) -> int: ...


class AmbiguousId(ValueError):
    """A prefix that matches more than one dead letter."""


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


_GLOB = re.compile(r"([*?\[\]\\])")

# KEYS: records, open; ARGV: id, record JSON, score. A known id (open or handled) is left alone.
_ADD = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
"""

# KEYS: records, open, handled; ARGV: id, note. Only a letter that is kept can be handled.
_MARK = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"""


class RedisDeadLetterStore:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.records_key = f"{prefix}deadletters"
        self.open_key = f"{prefix}deadletters:open"
        self.handled_key = f"{prefix}deadletters:handled"
        self._add = client.register_script(_ADD)
        self._mark = client.register_script(_MARK)

    def add(self, record: DeadLettered) -> bool:
        """Keep one dead letter (idempotent by its event id, a handled one stays handled); True if new."""
        keys = [self.records_key, self.open_key]
        args: list[str | float] = [record.event_id, record.model_dump_json(), record.occurred_at.timestamp()]
        return bool(self._add(keys=keys, args=args))

    def open_letters(self, limit: int = 100) -> list[DeadLettered]:
        if limit <= 0:  # ZRANGE 0 -1 would be all of them
            return []
        ids = [_text(i) for i in self.client.zrange(self.open_key, 0, limit - 1)]
        raws = self.client.hmget(self.records_key, ids) if ids else []
        return [DeadLettered.model_validate_json(raw) for raw in raws if raw]

    def open_count(self) -> int:
        return int(self.client.zcard(self.open_key))

    def find(self, id_or_prefix: str) -> DeadLetterView | None:
        letter_id = self._resolve(id_or_prefix.strip().lower())
        if letter_id is None:
            return None
        raw = self.client.hget(self.records_key, letter_id)
        if raw is None:
            return None
        handled = self.client.hget(self.handled_key, letter_id)
        return DeadLetterView(DeadLettered.model_validate_json(raw), _text(handled) if handled else None)

    def _resolve(self, id_or_prefix: str) -> str | None:
        if not id_or_prefix:
            return None
        if self.client.hexists(self.records_key, id_or_prefix):
            return id_or_prefix
        pattern = _GLOB.sub(r"\\\1", id_or_prefix) + "*"  # the prefix literally, not as a glob
        found = self.client.hscan_iter(self.records_key, match=pattern)  # no NOVALUES in Redis 6
        matches = [_text(key) for key, _ in found]
        if len(matches) > 1:
            raise AmbiguousId(f"{id_or_prefix!r} matches {len(matches)} dead letters; give more characters")
        return matches[0] if matches else None

    def mark(self, letter_id: str, handled: str) -> None:
        self._mark(keys=[self.records_key, self.open_key, self.handled_key], args=[letter_id, handled])


@dataclass
class InMemoryDeadLetterStore:
    records: dict[str, DeadLettered] = field(default_factory=dict)
    handled: dict[str, str] = field(default_factory=dict)

    def add(self, record: DeadLettered) -> bool:
        if record.event_id in self.records:
            return False
        self.records[record.event_id] = record
        return True

    def open_letters(self, limit: int = 100) -> list[DeadLettered]:
        open_ = [r for i, r in self.records.items() if i not in self.handled]
        return sorted(open_, key=lambda r: (r.occurred_at.timestamp(), r.event_id))[: max(limit, 0)]

    def open_count(self) -> int:
        return sum(1 for i in self.records if i not in self.handled)

    def find(self, id_or_prefix: str) -> DeadLetterView | None:
        wanted = id_or_prefix.strip().lower()
        matches = [i for i in self.records if wanted and i.startswith(wanted)]
        if wanted in self.records:
            matches = [wanted]
        if len(matches) > 1:
            raise AmbiguousId(f"{wanted!r} matches {len(matches)} dead letters; give more characters")
        if not matches:
            return None
        return DeadLetterView(self.records[matches[0]], self.handled.get(matches[0]))

    def mark(self, letter_id: str, handled: str) -> None:
        if letter_id in self.records:
            self.handled[letter_id] = handled


def handled_note(action: str, actor: str, at: datetime) -> str:
    return f"{action} {at.isoformat(timespec='seconds')} by {actor}"
