"""The outbox in Redis, and the relay that re-publishes what the recorder has not confirmed yet.

See ``schemas.outbox`` for the contract. Redis keeps the entries in its
append-only file, so an acknowledged submission survives a broker that forgets
everything (the embedded one) and a crash of any worker. ``RedisOutbox`` is the
adapter; ``InMemoryOutbox`` passes the same contract tests for unit tests;
``Relay`` turns due entries back into Kafka records.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis
from kafka import KafkaProducer
from kafka.errors import KafkaError

from schemas.events import TicketSubmitted
from schemas.outbox import (
    Admission,
    Outbox,
    OutboxEntry,
    OutboxKeys,
    message_claim,
    message_key,
    submission_entry_id,
)

log = logging.getLogger(__name__)

FIRST_RETRY_S = 300.0
"""A confirmed entry is normally gone within seconds; the relay looks again after this long."""
MAX_RETRY_S = 3600.0
SOON_S = 2.0
"""When the edge could not publish at once (broker down), the relay tries again this soon."""


def retry_delay(attempts: int, first_s: float = FIRST_RETRY_S) -> float:
    """Seconds until the next re-publication after ``attempts`` publications: doubling, capped."""
    return float(min(first_s * 2 ** max(0, attempts - 1), MAX_RETRY_S))


def _entry_json(entry: OutboxEntry) -> str:
    return json.dumps(
        {"topic": entry.topic, "key": entry.key, "value": entry.value, "ticket_id": entry.ticket_id},
        ensure_ascii=False,
    )


def _entry_from(entry_id: str, raw: str | bytes) -> OutboxEntry:
    fields: dict[str, Any] = json.loads(raw)
    return OutboxEntry(entry_id, fields["topic"], fields["key"], fields["value"], fields["ticket_id"])


def submission_entry(submission: TicketSubmitted, topic: str) -> OutboxEntry:
    return OutboxEntry(
        entry_id=submission_entry_id(submission),
        topic=topic,
        key=submission.ticket_id,
        value=submission.model_dump_json(),
        ticket_id=submission.ticket_id,
    )


# KEYS: entries, due, message claims' hash, the message's key of older recorders;
# ARGV: entry id, entry JSON, due score, ticket id, the message's claim field, "soon" score.
# A channel message the recorder already has, or one already waiting, answers with its ticket id.
# One already waiting is made due soon: the channel retries when it got no answer, and the first
# attempt may have died (Redis or the intake killed) after admitting it and before publishing it.
_ADMIT = """
local recorded = redis.call('HGET', KEYS[3], ARGV[5]) or redis.call('GET', KEYS[4])
if recorded then return {recorded, 0} end
local waiting = redis.call('HGET', KEYS[1], ARGV[1])
if waiting then
  local due = redis.call('ZSCORE', KEYS[2], ARGV[1])
  if due and tonumber(due) > tonumber(ARGV[6]) then redis.call('ZADD', KEYS[2], ARGV[6], ARGV[1]) end
  return {cjson.decode(waiting)['ticket_id'], 0}
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return {ARGV[4], 1}
"""


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisOutbox:
    def __init__(self, client: redis.Redis, prefix: str, first_retry_s: float = FIRST_RETRY_S) -> None:
        self.client = client
        self.prefix = prefix
        self.keys = OutboxKeys(prefix)
        self.first_retry_s = first_retry_s
        self._admit = client.register_script(_ADMIT)

    def admit_submission(self, submission: TicketSubmitted, topic: str, now: datetime) -> Admission:
        entry = submission_entry(submission, topic)
        claims, field = message_claim(self.prefix, submission.dedupe_key)
        keys = [self.keys.entries, self.keys.due, claims, message_key(self.prefix, submission.dedupe_key)]
        score, soon = now.timestamp() + self.first_retry_s, now.timestamp() + SOON_S
        ticket_id, new = self._admit(
            keys=keys, args=[entry.entry_id, _entry_json(entry), score, entry.ticket_id, field, soon]
        )
        return Admission(_text(ticket_id), bool(new))

    def put(self, entries: Iterable[OutboxEntry], now: datetime) -> None:
        with self.client.pipeline() as pipe:
            for entry in entries:
                pipe.hset(self.keys.entries, entry.entry_id, _entry_json(entry))
                pipe.zadd(self.keys.due, {entry.entry_id: now.timestamp() + self.first_retry_s}, nx=True)
            pipe.execute()

    def confirm(self, entry_ids: Iterable[str]) -> None:
        ids = list(dict.fromkeys(entry_ids))
        if not ids:
            return
        with self.client.pipeline(transaction=False) as pipe:
            pipe.hdel(self.keys.entries, *ids)
            pipe.zrem(self.keys.due, *ids)
            pipe.hdel(self.keys.attempts, *ids)
            pipe.execute()

    def due(self, now: datetime, limit: int = 500) -> list[OutboxEntry]:
        ids = [_text(m) for m in self.client.zrangebyscore(self.keys.due, "-inf", now.timestamp(), 0, limit)]
        if not ids:
            return []
        raws = self.client.hmget(self.keys.entries, ids)
        gone = [i for i, raw in zip(ids, raws, strict=True) if raw is None]
        if gone:  # confirmed between the two reads
            self.client.zrem(self.keys.due, *gone)
        return [_entry_from(i, raw) for i, raw in zip(ids, raws, strict=True) if raw is not None]

    def postpone(self, entry_ids: Iterable[str], now: datetime) -> None:
        """After a publication: look again later, a little later each time."""
        ids = list(entry_ids)
        if not ids:
            return
        with self.client.pipeline(transaction=False) as pipe:
            for entry_id in ids:
                pipe.hincrby(self.keys.attempts, entry_id, 1)
            attempts = pipe.execute()
            for entry_id, count in zip(ids, attempts, strict=True):
                score = now.timestamp() + retry_delay(int(count), self.first_retry_s)
                pipe.zadd(self.keys.due, {entry_id: score}, xx=True)
            pipe.execute()

    def retry_soon(self, entry_ids: Iterable[str], now: datetime) -> None:
        """The edge could not publish: let the relay try within seconds."""
        ids = list(entry_ids)
        if ids:
            self.client.zadd(self.keys.due, dict.fromkeys(ids, now.timestamp() + SOON_S), xx=True)

    def replay_all(self) -> int:
        """Make every unconfirmed entry due now (after the broker lost its topics); returns how many."""
        return int(self.client.zunionstore(self.keys.due, {self.keys.due: 0}))

    def pending(self) -> int:
        return int(self.client.zcard(self.keys.due))


@dataclass
class InMemoryOutbox:
    """The same behaviour in a dict, for unit tests; kept honest by the shared contract tests."""

    first_retry_s: float = FIRST_RETRY_S
    entries: dict[str, OutboxEntry] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    recorded: dict[str, str] = field(default_factory=dict)
    """channel message (dedupe key) → ticket id, as the recorder's message index holds it."""

    def admit_submission(self, submission: TicketSubmitted, topic: str, now: datetime) -> Admission:
        if (ticket_id := self.recorded.get(submission.dedupe_key)) is not None:
            return Admission(ticket_id, False)
        entry = submission_entry(submission, topic)
        if (waiting := self.entries.get(entry.entry_id)) is not None:
            if entry.entry_id in self.scores:  # a retry: its first attempt may have died before publishing
                self.scores[entry.entry_id] = min(self.scores[entry.entry_id], now.timestamp() + SOON_S)
            return Admission(waiting.ticket_id, False)
        self.put([entry], now)
        return Admission(entry.ticket_id, True)

    def put(self, entries: Iterable[OutboxEntry], now: datetime) -> None:
        for entry in entries:
            self.entries[entry.entry_id] = entry
            self.scores.setdefault(entry.entry_id, now.timestamp() + self.first_retry_s)

    def confirm(self, entry_ids: Iterable[str]) -> None:
        for entry_id in entry_ids:
            self.entries.pop(entry_id, None)
            self.scores.pop(entry_id, None)
            self.attempts.pop(entry_id, None)

    def due(self, now: datetime, limit: int = 500) -> list[OutboxEntry]:
        ready = sorted((s, i) for i, s in self.scores.items() if s <= now.timestamp())
        return [self.entries[i] for _, i in ready[:limit]]

    def postpone(self, entry_ids: Iterable[str], now: datetime) -> None:
        for entry_id in entry_ids:
            if entry_id in self.scores:
                self.attempts[entry_id] = self.attempts.get(entry_id, 0) + 1
                self.scores[entry_id] = now.timestamp() + retry_delay(
                    self.attempts[entry_id], self.first_retry_s
                )

    def retry_soon(self, entry_ids: Iterable[str], now: datetime) -> None:
        for entry_id in entry_ids:
            if entry_id in self.scores:
                self.scores[entry_id] = now.timestamp() + SOON_S

    def replay_all(self) -> int:
        self.scores = dict.fromkeys(self.scores, 0.0)
        return len(self.scores)

    def pending(self) -> int:
        return len(self.scores)


Send = Callable[[OutboxEntry], Any]


def kafka_send(producer: KafkaProducer) -> Send:
    """Publish one entry; returns kafka-python's future."""

    def send(entry: OutboxEntry) -> Any:
        return producer.send(entry.topic, key=entry.key.encode(), value=entry.value.encode())

    return send


class Relay:
    """Re-publishes due outbox entries; whatever the broker does not acknowledge is tried again soon."""

    def __init__(self, outbox: Outbox, send: Send, flush: Callable[[], None], batch: int = 500) -> None:
        self.outbox = outbox
        self.send = send
        self.flush = flush
        self.batch = batch

    def run_pass(self, now: datetime) -> int:
        """Publish what is due; return how many entries the broker acknowledged."""
        entries = self.outbox.due(now, self.batch)
        if not entries:
            return 0
        futures = [(entry, self.send(entry)) for entry in entries]
        try:
            self.flush()
        except KafkaError as exc:
            log.warning("relay: broker unavailable (%s); %d entries wait", exc, len(entries))
        done, failed = [], []
        for entry, future in futures:
            try:
                future.get(timeout=10)
                done.append(entry.entry_id)
            except KafkaError:
                failed.append(entry.entry_id)
        self.outbox.postpone(done, now)
        self.outbox.retry_soon(failed, now)
        if done:
            log.info("relay re-published %d unconfirmed events", len(done))
        return len(done)
