"""Ticket ids: derived from the channel message (never taken from input), typed by people in any case."""

from __future__ import annotations

import hashlib
from datetime import datetime
from zoneinfo import ZoneInfo

_DISTRICT_ZONE = ZoneInfo("Asia/Shanghai")  # schemas.events.DISTRICT_ZONE (which imports this module)


def ticket_id_for(channel: str, channel_message_id: str, submitted_at: datetime) -> str:
    """A stable, human-typable ticket id: the same channel message always maps to one id.

    48 bits of the message's hash under the day: with 20,000 messages a day two share an id
    about once in 4,000 years (32 bits: once in three weeks); the recorder still refuses, loudly,
    a second message under a taken id rather than treating it as a repeat.
    """
    digest = hashlib.sha1(f"{channel}\x1f{channel_message_id}".encode()).digest()[:6].hex().upper()
    day = submitted_at.astimezone(_DISTRICT_ZONE)  # %Y%m%d as strftime writes it, at a third of the cost
    return f"ZTC-{day.year}{day.month:02d}{day.day:02d}-{digest}"


def canonical_ticket_id(text: str) -> str:
    """A ticket id as stored, from what a person typed: trimmed, and ``ZTC-…`` ids in upper case
    (``ztc-20261128-1c2d3e4f`` finds ``ZTC-20261128-1C2D3E4F``). Other ids are only trimmed."""
    value = text.strip()
    return value.upper() if value[:4].upper() == "ZTC-" else value
