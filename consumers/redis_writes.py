"""The writes of one batch, collected first and sent as their net effect, checked and applied in one script.

The ticket store queues what a write changes (``redis_batch.index``,
``redis_read_model.write_changes``) on a ``WriteBatch`` instead of a Redis
pipeline. The batch keeps, per key, only the last word on each member or value
and the sum of each counter's increments, so recording 500 events costs a
handful of ``ZADD``/``SADD``/``HINCRBY`` per key touched plus one ``MSET``, not
twenty commands per event. Applying them leaves Redis exactly as applying
every call in order would (a later add of a member beats an earlier removal and
the other way round; increments commute; the last ``set`` wins). Stream entries
(``xadd``) keep their order.

``commit`` sends the batch as one ``EVALSHA`` of ``COMMIT_SCRIPT``, which first
checks what the batch was decided on — every ticket it read is still as read
(the SHA-1 of its stored bytes, or still absent) and every channel message it
claims is unclaimed or already this ticket's — and only then claims the
messages and runs the writes, atomically. If anything changed it writes nothing
and ``commit`` raises ``redis.WatchError``, as a transaction under ``WATCH``
would: the caller reads again and decides again. Unlike ``WATCH`` on a shared
claim bucket, the check is per message, so two recorders never make each other
retry by claiming different messages of one bucket.

The script reads and writes keys it is not given as ``KEYS`` (a standalone
Redis, as ZTC uses, allows it; a cluster would not).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

import redis

REMOVED = None
"""A member's last word in a sorted set: removed."""
MAX_ARGS = 4000
"""Arguments per command the script unpacks at once (Lua's stack holds about 8,000)."""

COMMIT_SCRIPT = """
local i = 1
local n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  local stored = redis.call('GET', ARGV[i])
  local expected = ARGV[i + 1]
  if (stored and redis.sha1hex(stored) or '') ~= expected then return {'changed', ARGV[i]} end
  i = i + 2
end
n = tonumber(ARGV[i]); i = i + 1
local claims = i
for _ = 1, n do
  local owner = redis.call('HGET', ARGV[i], ARGV[i + 1])
  if owner and owner ~= ARGV[i + 2] then return {'claimed', ARGV[i]} end
  i = i + 3
end
for j = claims, i - 1, 3 do redis.call('HSET', ARGV[j], ARGV[j + 1], ARGV[j + 2]) end
local failed = {}
while i <= #ARGV do
  local argc = tonumber(ARGV[i + 1])
  local reply = redis.pcall(ARGV[i], unpack(ARGV, i + 2, i + 1 + argc))
  if type(reply) == 'table' and reply.err then table.insert(failed, ARGV[i] .. ': ' .. reply.err) end
  i = i + 2 + argc
end
if #failed > 0 then return redis.error_reply(table.concat(failed, '; ')) end
return {'ok'}
"""
"""ARGV: ticket count, (ticket key, SHA-1 hex of its bytes or '') each; claim count, (bucket, field,
ticket id) each; then the writes, each as (command, argument count, arguments...). A write that
fails does not stop the others (as in MULTI/EXEC); the reply then names every failure."""


def _text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def fingerprint(stored: bytes | str | None) -> str:
    """What ``COMMIT_SCRIPT`` compares a ticket's stored bytes by ('' when there is none)."""
    if stored is None:
        return ""
    return hashlib.sha1(stored.encode() if isinstance(stored, str) else stored).hexdigest()


class WriteBatch:
    """Sorted-set, set, hash-counter, string and stream writes, reduced to their net effect."""

    def __init__(self) -> None:
        self.members: defaultdict[str, dict[str, float | None]] = defaultdict(dict)
        self.set_members: defaultdict[str, dict[str, bool]] = defaultdict(dict)
        """set key → member → kept (True) or removed (False)"""
        self.counters: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.values: dict[str, bytes | str] = {}
        self.entries: list[tuple[str, dict[str, str]]] = []

    def zadd(self, key: str, mapping: dict[str, float]) -> None:
        self.members[key].update(mapping)

    def zadd_one(self, key: str, member: str, score: float) -> None:
        self.members[key][member] = score

    def zrem(self, key: str, *members: str) -> None:
        slot = self.members[key]
        for member in members:
            slot[member] = REMOVED

    def sadd(self, key: str, *members: str) -> None:
        slot = self.set_members[key]
        for member in members:
            slot[member] = True

    def srem(self, key: str, *members: str) -> None:
        slot = self.set_members[key]
        for member in members:
            slot[member] = False

    def hincrby(self, key: str, field: str, amount: int = 1) -> None:
        self.counters[key][field] += amount

    def set(self, key: str, value: bytes | str) -> None:
        self.values[key] = value

    def xadd(self, key: str, fields: dict[str, str]) -> None:
        self.entries.append((key, fields))

    def __bool__(self) -> bool:
        return bool(
            self.members or self.set_members or self.values or self.entries or any(self.counters.values())
        )

    def commands(self) -> Iterator[tuple[Any, ...]]:
        """The net writes as Redis commands: strings, sorted sets, sets, counters, stream entries."""
        if self.values:
            yield from _chunked(("MSET",), [x for kv in self.values.items() for x in kv], 2)
        for key, slot in self.members.items():
            gone = [m for m, score in slot.items() if score is REMOVED]
            kept = [x for m, score in slot.items() if score is not REMOVED for x in (score, m)]
            yield from _chunked(("ZREM", key), gone, 1)
            yield from _chunked(("ZADD", key), kept, 2)
        for key, members in self.set_members.items():
            yield from _chunked(("SREM", key), [m for m, kept in members.items() if not kept], 1)
            yield from _chunked(("SADD", key), [m for m, kept in members.items() if kept], 1)
        for key, fields in self.counters.items():
            for field, amount in fields.items():
                if amount:
                    yield ("HINCRBY", key, field, amount)
        for key, entry in self.entries:
            yield ("XADD", key, "*", *(x for kv in entry.items() for x in kv))

    def flush(self, pipe: redis.client.Pipeline) -> None:
        """Queue the net writes on ``pipe`` (for a caller with its own transaction)."""
        for command in self.commands():
            pipe.execute_command(*command)  # type: ignore[no-untyped-call]

    def merge(self, other: WriteBatch) -> None:
        """Add ``other``'s writes after this batch's own (as if queued after them)."""
        for key, slot in other.members.items():
            self.members[key].update(slot)
        for key, members in other.set_members.items():
            self.set_members[key].update(members)
        for key, fields in other.counters.items():
            mine = self.counters[key]
            for field, amount in fields.items():
                mine[field] += amount
        self.values.update(other.values)
        self.entries += other.entries


def _chunked(head: tuple[str, ...], args: Sequence[Any], step: int) -> Iterator[tuple[Any, ...]]:
    """``head + args`` as one command, or several when there are too many arguments for one."""
    size = MAX_ARGS - MAX_ARGS % step
    for start in range(0, len(args), size):
        yield (*head, *args[start : start + size])


class Committer:
    """``COMMIT_SCRIPT`` registered on one client (EVALSHA, loaded again if Redis forgot it)."""

    def __init__(self, client: redis.Redis) -> None:
        self.script = client.register_script(COMMIT_SCRIPT)

    def __call__(
        self,
        read: dict[str, str],
        claims: Sequence[tuple[str, bytes, str]],
        writes: WriteBatch,
    ) -> None:
        """Apply ``writes`` and ``claims`` if every ticket key in ``read`` still has its fingerprint and
        every claim (bucket, field, ticket id) is free or the ticket's own; else WatchError."""
        args: list[Any] = [len(read)]
        for key, seen in read.items():
            args += (key, seen)
        args.append(len(claims))
        for claim in claims:
            args += claim
        for command in writes.commands():
            args += (command[0], len(command) - 1, *command[1:])
        answer = [_text(part) for part in self.script(keys=[], args=args)]
        if answer[0] != "ok":
            raise redis.WatchError(f"{answer[0]}: {answer[1]!r} changed since it was read")
