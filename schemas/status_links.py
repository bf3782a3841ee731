"""The enterprise's status link: an unguessable, expiring URL to one ticket, no account needed.

A link is ``{base}/status/{ticket_id}.{expires}.{signature}``: ``expires`` in Unix seconds,
``signature`` the first 128 bits of HMAC-SHA256 over ``v1|ticket_id|expires`` under the
server's secret, base64url. Verifying needs only the secret and the clock — no lookup —
and any change to the id, the expiry or the signature makes the link worthless, like one
past its expiry. Whoever holds the link may read that ticket's progress, supply requested
information and rate it; nothing else. Rotating the secret ends every link at once.

Pure: the secret, the base URL and ``now`` are passed in (``ztc.bootstrap.status_links``
keeps the secret in the data dir).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from schemas.events import DISTRICT_ZONE

STATUS_PREFIX = "/status/"
MIN_SECRET_BYTES = 32
SIGNATURE_BYTES = 16
_TICKET_ID = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,63}$")
_SIGNATURE = re.compile(r"^[A-Za-z0-9_-]{22}$")
_VERSION = "v1"


@dataclass(frozen=True)
class StatusLink:
    url: str
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class StatusLinks:
    """Makes and reads status links under one secret."""

    secret: bytes = field(repr=False)
    days: int
    """How long a new link lasts."""
    base_url: str
    """Where people reach the web edge, e.g. ``https://ztc.example.gov.cn`` (no trailing slash)."""

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_SECRET_BYTES:
            raise ValueError(f"the status-link secret needs at least {MIN_SECRET_BYTES} bytes")
        if self.days < 1:
            raise ValueError("a status link lasts at least a day")

    def _signature(self, ticket_id: str, expires: int) -> str:
        message = f"{_VERSION}|{ticket_id}|{expires}".encode()
        digest = hmac.new(self.secret, message, hashlib.sha256).digest()[:SIGNATURE_BYTES]
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def token(self, ticket_id: str, expires_at: datetime) -> str:
        if not _TICKET_ID.match(ticket_id):
            raise ValueError(f"not a ticket id: {ticket_id!r}")
        expires = int(expires_at.timestamp())
        return f"{ticket_id}.{expires}.{self._signature(ticket_id, expires)}"

    def link(self, ticket_id: str, now: datetime) -> StatusLink:
        """A new link to ``ticket_id``, good to the end of the district-zone day ``days`` from ``now``
        (so every link made for a ticket on one day is the same link)."""
        last_day = now.astimezone(DISTRICT_ZONE).date() + timedelta(days=self.days)
        expires_at = datetime.combine(last_day, time(23, 59, 59), DISTRICT_ZONE)
        token = self.token(ticket_id, expires_at)
        return StatusLink(f"{self.base_url.rstrip('/')}{STATUS_PREFIX}{token}", token, expires_at)

    def ticket_of(self, token: str, now: datetime) -> str | None:
        """The ticket id a token opens at ``now``; ``None`` if altered, forged, malformed or expired."""
        parts = token.rsplit(".", 2)
        if len(parts) != 3:
            return None
        ticket_id, expires, signature = parts
        if not (_TICKET_ID.match(ticket_id) and expires.isdigit() and len(expires) <= 12):
            return None
        if not _SIGNATURE.match(signature):
            return None
        if not hmac.compare_digest(signature, self._signature(ticket_id, int(expires))):
            return None
        if now.timestamp() >= int(expires):
            return None
        return ticket_id


def token_expiry(token: str) -> datetime | None:
    """When a token (already verified with ``ticket_of``) runs out, to show it; not a check."""
    parts = token.rsplit(".", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    return datetime.fromtimestamp(int(parts[1]), DISTRICT_ZONE)
