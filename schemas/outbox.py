"""The outbox contract: what an edge acknowledged stays durable until the recorder has seen it.

The embedded broker keeps everything in memory, and even a real cluster can
refuse a write the edge has already promised. So whoever acknowledges an
event (the HTTP intake answering 202, ``ztc submit`` printing an id, a
department action, the recorder's own re-route request) first puts it in the
outbox — Redis with its append-only file — and publishes it at once; a relay
re-publishes whatever is still unconfirmed later (sooner after a broker
restart); the recorder confirms an entry once it has seen the event's effect,
whether it applied it, recognised a duplicate or refused it. Re-publishing is
harmless because every step downstream is idempotent by event or message id.

Entry ids say what confirms them: a submission's entry is named by its channel
message (``sub:<channel>:<message id>``, which also makes intake idempotent),
any other event's by its event id (``evt:<event id>``). Nothing here talks to
Redis: this module is the contract the producers' adapter and the recorder share.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Protocol

from schemas.events import Event, TicketRouted, TicketSubmitted


@dataclass(frozen=True)
class OutboxEntry:
    """One event waiting to reach the recorder: where it goes and its exact bytes (JSON text)."""

    entry_id: str
    topic: str
    key: str
    value: str
    ticket_id: str


class Admission(NamedTuple):
    """What the intake outbox said about a submission: the ticket id to tell the channel, and if it is new."""

    ticket_id: str
    new: bool


def submission_entry_id(submission: TicketSubmitted) -> str:
    return f"sub:{submission.dedupe_key}"


def event_entry_id(event_id: str) -> str:
    return f"evt:{event_id}"


def answered_entries(event: Event) -> list[str]:
    """The outbox entries the recorder confirms once it has processed ``event`` (applied or not):
    the event's own, and for a routing the submission (or re-route request) it answers."""
    entries = [event_entry_id(event.event_id)]
    if isinstance(event, TicketRouted):
        entries.append(submission_entry_id(event.submission))
        if event.reroute_request_id is not None:
            entries.append(event_entry_id(event.reroute_request_id))
    return entries


def alert_outbox_key(prefix: str) -> str:
    """Redis stream of recorded SLA events: the recorder adds each applied one, the alerter delivers it."""
    return f"{prefix}alerts:outbox"


MESSAGE_BUCKETS_BITS = 10
"""Channel-message claims live in 2**10 = 1,024 hashes: small enough per hash for Redis's compact
encoding (up to 128 fields each: ~130,000 claims), and still one hash field, not one key, each
beyond that."""


def message_claim(prefix: str, dedupe_key: str) -> tuple[str, bytes]:
    """(hash key, field) remembering which ticket a channel message became (written by the recorder).

    The field is the SHA-1 of the message's dedupe key (20 bytes); its first bits choose the hash.
    """
    digest = hashlib.sha1(dedupe_key.encode()).digest()
    return claim_bucket(prefix, digest), digest


def claim_bucket(prefix: str, digest: bytes) -> str:
    """The hash holding the claim of the message whose dedupe key has SHA-1 ``digest``."""
    bucket = int.from_bytes(digest[:2], "big") >> (16 - MESSAGE_BUCKETS_BITS)
    return f"{prefix}msg:{bucket:03x}"


def message_key(prefix: str, dedupe_key: str) -> str:
    """The key older recorders kept a channel message's ticket under (one string key per message).

    Still read where a claim is looked up, until ``ztc reindex`` (or a recorder's first start)
    has moved them into ``message_claim``'s hashes.
    """
    digest = hashlib.sha1(dedupe_key.encode()).hexdigest()
    return f"{prefix}message:{digest}"


@dataclass(frozen=True)
class OutboxKeys:
    """Redis key names of the outbox under one prefix."""

    prefix: str

    @property
    def entries(self) -> str:
        """HASH entry id → JSON of the entry."""
        return f"{self.prefix}outbox:entries"

    @property
    def due(self) -> str:
        """ZSET entry id → when the relay should (re)publish it."""
        return f"{self.prefix}outbox:due"

    @property
    def attempts(self) -> str:
        """HASH entry id → how often the relay published it."""
        return f"{self.prefix}outbox:attempts"


class Outbox(Protocol):
    """Durable hand-over of acknowledged events; the Redis adapter lives in ``producers.outbox``."""

    def admit_submission(self, submission: TicketSubmitted, topic: str, now: datetime) -> Admission: ...

    def put(self, entries: Iterable[OutboxEntry], now: datetime) -> None: ...

    def confirm(self, entry_ids: Iterable[str]) -> None: ...

    def due(self, now: datetime, limit: int) -> list[OutboxEntry]: ...

    def postpone(self, entry_ids: Iterable[str], now: datetime) -> None: ...

    def retry_soon(self, entry_ids: Iterable[str], now: datetime) -> None: ...

    def replay_all(self) -> int: ...

    def pending(self) -> int: ...
