"""``ztc reindex`` for the Redis ticket store: every index rebuilt from the stored tickets.

What the recorder keeps beside each ticket is a pure function of the stored
tickets, so it can always be summed again: the read model
(``redis_read_model``), the SLA due index (one entry per ticket with alerts to
come), the inbox / enterprise / project sets and the channel-message claims
(each ticket claims its submission's message). A rebuild also moves what older
recorders kept into today's form and deletes the old keys: the inbox,
enterprise and project sorted sets, one string key per channel message (its
ticket is kept as the message's claim), the set of every ticket id and the
per-alert due members.

Run it while no recorder writes (``ztc reindex`` says so; a recorder itself
runs it under a lock before its first write when the read model is missing,
older or built under another SLA policy): a write between the read and the
swap would be lost from the sums.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis

from consumers.read_model import InMemoryReadModel, contribution
from consumers.redis_batch import Claim, TicketKeys, index
from consumers.redis_read_model import built_marker, replace_all
from consumers.redis_writes import WriteBatch
from consumers.sla_engine import SlaBook
from schemas.outbox import claim_bucket, message_claim
from schemas.ticket import TicketRecord
from schemas.ticket_storage import decode_record

BATCH = 500


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass
class _Sums:
    """Everything the rebuild gathers from the tickets before it writes."""

    model: InMemoryReadModel = field(default_factory=InMemoryReadModel)
    due: dict[str, float] = field(default_factory=dict)
    sets: WriteBatch = field(default_factory=WriteBatch)
    claims: dict[Claim, tuple[datetime, str]] = field(default_factory=dict)
    """each message's claim → (routing time, ticket) of its first ticket"""
    count: int = 0

    def add(self, records: Sequence[TicketRecord], keys: TicketKeys, book: SlaBook | None) -> None:
        self.count += len(records)
        self.model.add(contribution(r, book) for r in records)
        for record in records:
            index(self.sets, keys, None, record)
            claim = message_claim(keys.prefix, record.submission.dedupe_key)
            first = (record.routed_at, record.ticket_id)
            self.claims[claim] = min(self.claims.get(claim, first), first)
            if book is not None and (fire_at := book.next_alert_at(record)) is not None:
                self.due[record.ticket_id] = fire_at.timestamp()


def rebuild(client: redis.Redis, keys: TicketKeys, book: SlaBook | None, batch: int = BATCH) -> int:
    """Rebuild every index under ``keys`` from the stored tickets; returns how many tickets."""
    sums = _Sums()
    for records in every_ticket(client, keys, batch):
        sums.add(records, keys, book)
    _keep_claims(client, keys, sums.claims, batch)
    _replace_sets(client, keys, sums.sets, batch)
    if book is not None:
        _replace_due(client, keys, sums.due, batch)
    replace_all(client, keys.prefix, sums.model, built_marker(book))  # last: marks the rebuild done
    return sums.count


def every_ticket(client: redis.Redis, keys: TicketKeys, batch: int) -> Iterator[list[TicketRecord]]:
    """Every stored ticket, ``batch`` keys at a time (SCAN: each key once, in no order)."""
    names: list[bytes] = []
    for name in client.scan_iter(match=keys.every_ticket, count=batch):
        names.append(name)
        if len(names) >= batch:
            yield [decode_record(raw) for raw in client.mget(names) if raw]
            names = []
    if names:
        yield [decode_record(raw) for raw in client.mget(names) if raw]


def _scan(client: redis.Redis, pattern: str, batch: int) -> list[str]:
    return [_text(k) for k in client.scan_iter(match=pattern, count=batch)]


def _keep_claims(
    client: redis.Redis, keys: TicketKeys, claims: dict[Claim, tuple[datetime, str]], batch: int
) -> None:
    """Every message's claim in its hash: first what older recorders kept one key per message (those
    keys then go), then each ticket's own message (the first routed, should two tickets name one);
    a claim already there always stays (HSETNX)."""
    legacy = _scan(client, keys.legacy_messages, batch)
    for i in range(0, len(legacy), batch):
        chunk = legacy[i : i + batch]
        owners = client.mget(chunk)
        with client.pipeline(transaction=False) as pipe:
            for name, owner in zip(chunk, owners, strict=True):
                if owner is not None:
                    digest = bytes.fromhex(name.rsplit(":", 1)[1])
                    pipe.hsetnx(claim_bucket(keys.prefix, digest), digest, owner)
            pipe.delete(*chunk)
            pipe.execute()
    items = list(claims.items())
    for i in range(0, len(items), batch):
        with client.pipeline(transaction=False) as pipe:
            for (bucket, digest), (_, ticket_id) in items[i : i + batch]:
                pipe.hsetnx(bucket, digest, ticket_id)
            pipe.execute()


def _replace_sets(client: redis.Redis, keys: TicketKeys, sets: WriteBatch, batch: int) -> None:
    """The inbox, enterprise and project sets as ``sets`` says, the older sorted sets gone, in one
    transaction."""
    stale = [
        k for pattern in (*keys.every_index, *keys.legacy_indexes) for k in _scan(client, pattern, batch)
    ]
    with client.pipeline(transaction=True) as pipe:
        for i in range(0, len(stale), batch):
            pipe.delete(*stale[i : i + batch])
        for command in sets.commands():
            pipe.execute_command(*command)  # type: ignore[no-untyped-call]
        pipe.execute()


def _replace_due(client: redis.Redis, keys: TicketKeys, due: dict[str, float], batch: int) -> None:
    """The due index as ``due`` says (legacy members, one per alert, go)."""
    items: list[Any] = list(due.items())
    with client.pipeline(transaction=True) as pipe:
        pipe.delete(keys.sla_due)
        for i in range(0, len(items), batch):
            pipe.zadd(keys.sla_due, dict(items[i : i + batch]))
        pipe.execute()
