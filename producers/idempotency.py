"""Idempotency-Key with a different body: the first request's fingerprint, remembered per key.

The IETF ``Idempotency-Key`` draft: a retry carries the same key *and the same payload*; the same
key with a different payload is a client error, answered ``422``. The outbox already makes a key
one ticket; this remembers what the first request said, so a different one is refused instead
of silently answered with the first ticket. Fingerprints live ``FINGERPRINT_TTL_S`` (retries
come within minutes or hours); after that a reused key gets the first ticket back, as before.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Protocol

import redis

FINGERPRINT_TTL_S = 7 * 24 * 3600


def fingerprint(body: dict[str, Any]) -> str:
    """SHA-256 of the body as JSON with sorted keys: key order and spacing do not matter."""
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class RequestFingerprints(Protocol):
    def remember(self, scope: str, key: str, print_: str) -> str:
        """Keep ``print_`` for (scope, key) unless one is kept already; the one kept."""
        ...


class InMemoryFingerprints:
    def __init__(self) -> None:
        self.kept: dict[tuple[str, str], str] = {}

    def remember(self, scope: str, key: str, print_: str) -> str:
        return self.kept.setdefault((scope, key), print_)


class RedisFingerprints:
    """``{prefix}idem:{scope}:{sha256(key)}`` → fingerprint, SET NX with a lifetime."""

    def __init__(self, client: redis.Redis, prefix: str, ttl_s: int = FINGERPRINT_TTL_S) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_s = ttl_s

    def remember(self, scope: str, key: str, print_: str) -> str:
        name = f"{self.prefix}idem:{scope}:{hashlib.sha256(key.encode('utf-8')).hexdigest()}"
        if self.client.set(name, print_, nx=True, ex=self.ttl_s):
            return print_
        kept = self.client.get(name)
        if kept is None:  # expired between the two calls: this request is the first now
            self.client.set(name, print_, nx=True, ex=self.ttl_s)
            return print_
        return kept.decode() if isinstance(kept, bytes) else str(kept)
