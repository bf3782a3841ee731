"""One ticket read from Redis with nothing else loaded: for the CLI's quick views.

``RedisTicketStore`` brings the recorder's whole write path (read model, batches, Lua); a
clerk's ``ztc ticket show`` needs one GET and ``decode_record``.
"""

from __future__ import annotations

import redis

from schemas.ticket import TicketRecord
from schemas.ticket_ids import canonical_ticket_id
from schemas.ticket_storage import decode_record, ticket_key


def read_ticket(client: redis.Redis, prefix: str, ticket_id: str) -> TicketRecord | None:
    """The ticket as stored (the id as people type it: any case, spaces around), or None."""
    raw = client.get(ticket_key(prefix, canonical_ticket_id(ticket_id)))
    return decode_record(raw) if raw else None
