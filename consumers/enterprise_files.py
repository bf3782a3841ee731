"""一企一策: an enterprise's tickets by credit code, full name, or a part of the name.

People type what they remember — ``海德精密`` for 青岛海德精密机械有限公司 — so when neither the
code nor the exact name has tickets, every recorded enterprise name containing the words is
taken. Names are NFKC-normalised on intake (``OptionalText``), and so is what is typed here.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from consumers.ticket_store import InMemoryTicketStore, RedisTicketStore, TicketStore
from schemas.ticket import TicketRecord

MIN_PART_CHARS = 2
"""A shorter part (``公司``, ``青``) would match half the district: only whole names then."""
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


@dataclass(frozen=True)
class EnterpriseFile:
    wanted: str
    names: tuple[str, ...]
    """the enterprise names found (one for a code or an exact name; any number for a part)"""
    records: list[TicketRecord]


def names_containing(store: TicketStore, part: str) -> list[str]:
    """Recorded enterprise names containing ``part``, sorted (a SCAN of the name indexes in Redis)."""
    if isinstance(store, RedisTicketStore):
        prefix = store.keys.enterprise("name:")
        pattern = prefix + "*" + _GLOB_SPECIAL.sub(r"\\\1", part) + "*"
        found = {
            key.decode() if isinstance(key, bytes) else str(key)
            for key in store.client.scan_iter(pattern, 1000)
        }
        return sorted(name[len(prefix) :] for name in found)
    if isinstance(store, InMemoryTicketStore):
        names = {r.submission.enterprise_name for r in store.tickets.values()}
        return sorted(n for n in names if n and part in n)
    return []


def enterprise_file(store: TicketStore, name_or_code: str) -> EnterpriseFile:
    """The tickets of the code or exact name given, else of every enterprise whose name contains it."""
    wanted = unicodedata.normalize("NFKC", name_or_code).strip()
    records = store.enterprise_tickets(wanted)
    if records or len(wanted) < MIN_PART_CHARS:
        names = sorted({r.submission.enterprise_name or wanted for r in records})
        return EnterpriseFile(wanted, tuple(names), records)
    names = names_containing(store, wanted)
    found = {r.ticket_id: r for name in names for r in store.enterprise_tickets(name)}
    ordered = sorted(found.values(), key=lambda r: (r.routed_at, r.ticket_id))
    return EnterpriseFile(wanted, tuple(names), ordered)
