"""Which classifier model the routers use: model files and the active one, kept in Redis.

``ztc classify switch MODEL`` checks the file, stores its bytes under their SHA-256 and points
``<prefix>model:active`` at them, in one transaction; every router reads the pointer every
``ZTC_MODEL_CHECK_S`` seconds (``streams.model_watch``) and takes the new model between two batches.
Redis, not a control topic: the embedded broker forgets its topics when it restarts, Redis keeps
its data, so a router started tomorrow still finds the model switched today. Without a pointer (or
after ``--reset``) routers use the policy's own ``model`` file.

Stored bytes are checked against their hash when read, so a damaged copy is refused like a
damaged file (``ModelLoadError``), and the router keeps the model it has.
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import redis

from streams.classifier import ModelLoadError, TextClassifier

_SHA256 = re.compile(r"[0-9a-f]{64}")
SWITCHES_KEPT = 50
"""How many past switches ``<prefix>model:switches`` remembers (newest first)."""


@dataclass(frozen=True)
class ActiveModel:
    """The pointer: which stored model routers should use, since when, from which file."""

    version: str
    sha256: str
    switched_at: str
    source: str

    @property
    def short(self) -> str:
        return f"{self.version}@{self.sha256[:12]}"


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


class ModelRegistry:
    """The model files and the active pointer under one key prefix (the ``ZTC_REDIS_PREFIX``)."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.active_key = f"{prefix}model:active"
        self.switches_key = f"{prefix}model:switches"
        self._file_prefix = f"{prefix}model:file:"

    def file_key(self, sha256: str) -> str:
        return self._file_prefix + sha256

    def publish(self, model: TextClassifier, raw: bytes, source: str, now: datetime) -> ActiveModel:
        """Store ``raw`` (the bytes ``model`` was read from) and make it the active model."""
        identity = model.identity
        if hashlib.sha256(raw).hexdigest() != identity.sha256:
            raise ValueError("the bytes given are not the model's file")
        pointer = ActiveModel(identity.version, identity.sha256, now.isoformat(), source)
        document = json.dumps(asdict(pointer), ensure_ascii=False)
        with self.client.pipeline(transaction=True) as pipe:
            pipe.set(self.file_key(identity.sha256), zlib.compress(raw, 6))
            pipe.set(self.active_key, document)
            pipe.lpush(self.switches_key, document)
            pipe.ltrim(self.switches_key, 0, SWITCHES_KEPT - 1)
            pipe.execute()
        return pointer

    def reset(self, now: datetime) -> bool:
        """Back to the policy's own model; False if no model was switched to."""
        document = json.dumps({"reset_at": now.isoformat()})
        with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(self.active_key)
            pipe.lpush(self.switches_key, document)
            pipe.ltrim(self.switches_key, 0, SWITCHES_KEPT - 1)
            deleted, _, _ = pipe.execute()
        return bool(deleted)

    def active(self) -> ActiveModel | None:
        """The pointer, or None; ``ModelLoadError`` if what is stored there is not one."""
        raw = self.client.get(self.active_key)
        if raw is None:
            return None
        try:
            fields = json.loads(_text(raw))
            pointer = ActiveModel(
                str(fields["version"]),
                str(fields["sha256"]),
                str(fields["switched_at"]),
                str(fields["source"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelLoadError(f"{self.active_key}: not a model pointer ({exc})") from None
        if not _SHA256.fullmatch(pointer.sha256):
            raise ModelLoadError(f"{self.active_key}: not a SHA-256: {pointer.sha256[:80]!r}")
        return pointer

    def load(self, pointer: ActiveModel) -> TextClassifier:
        """The stored model the pointer names, its bytes checked against the hash; ``ModelLoadError``."""
        where = self.file_key(pointer.sha256)
        stored = self.client.get(where)
        if stored is None:
            raise ModelLoadError(f"{where}: model file not stored")
        try:
            raw = zlib.decompress(stored if isinstance(stored, bytes) else _text(stored).encode())
        except zlib.error as exc:
            raise ModelLoadError(f"{where}: damaged model file ({exc})") from None
        if hashlib.sha256(raw).hexdigest() != pointer.sha256:
            raise ModelLoadError(f"{where}: content does not match its SHA-256")
        return TextClassifier.from_bytes(raw, where)

    def switches(self) -> list[dict[str, str]]:
        """Past switches and resets, newest first."""
        return [json.loads(_text(raw)) for raw in self.client.lrange(self.switches_key, 0, -1)]
