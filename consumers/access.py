"""API keys: who may call the web edge, stored hashed, rotated by editing the file.

The keys file (TOML or JSON, path from ``ZTC_API_KEYS``) lists one entry per
key: a name for logs, a scope (``channel`` to submit tickets, ``department``
to act on tickets) and the key's salted SHA-256. Plaintext keys are never
stored or logged. ``KeyRing`` re-reads the file whenever its mtime or size
changes, so adding, rotating or revoking a key needs no restart; a file that
cannot be read keeps the last good keys and logs why. What a matched key stands
for (``Principal``, ``Scope``) is a contract in ``schemas.principals``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import tomllib
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request, Security
from fastapi.security import APIKeyHeader
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from schemas.principals import Principal, Scope

log = logging.getLogger(__name__)

KEY_PREFIX = "ztc_"


class KeyEntry(BaseModel):
    """One key as stored: never the key itself, only its salt and salted hash."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    scope: Scope
    channel: str | None = None
    department: str | None = None
    salt: str = Field(min_length=16)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    expires_at: AwareDatetime | None = Field(default=None, description="for rotation: old key's last moment")


class KeysFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    keys: tuple[KeyEntry, ...] = ()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str, salt: str) -> str:
    return hashlib.sha256(f"{salt}\x1f{key}".encode()).hexdigest()


def entry_for(key: str, name: str, scope: Scope, **where: str) -> KeyEntry:
    """A storable entry for a plaintext key (fresh random salt)."""
    salt = secrets.token_hex(16)
    return KeyEntry(name=name, scope=scope, salt=salt, sha256=hash_key(key, salt), **where)


def match(entries: Iterable[KeyEntry], key: str, now: datetime) -> Principal | None:
    """The principal whose hash matches ``key``; every entry is compared, in constant time each."""
    found: KeyEntry | None = None
    for entry in entries:
        if hmac.compare_digest(hash_key(key, entry.salt), entry.sha256) and found is None:
            found = entry
    if found is None or (found.expires_at is not None and found.expires_at <= now):
        return None
    return Principal(found.name, found.scope, found.channel, found.department)


def parse_keys(raw: bytes, suffix: str) -> KeysFile:
    """Decode a keys file (``.json``, else TOML); ValueError with a reason that holds no secret."""
    try:
        data: Any = json.loads(raw) if suffix == ".json" else tomllib.loads(raw.decode("utf-8"))
        return KeysFile.model_validate(data)
    except (ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, ValidationError):
            where = "; ".join(".".join(map(str, e["loc"])) + ": " + e["msg"] for e in exc.errors())
            raise ValueError(f"invalid keys file: {where}") from None
        raise ValueError(f"unreadable keys file: {type(exc).__name__}") from None


class KeyRing:
    """The keys of one file, re-read when the file changes (rotation without restart)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._entries: tuple[KeyEntry, ...] = ()
        self._stamp: tuple[int, int] | None = None
        self._lock = threading.Lock()

    def entries(self) -> tuple[KeyEntry, ...]:
        self._refresh()
        return self._entries

    def _refresh(self) -> None:
        if self.path is None:
            return
        try:
            stat = os.stat(self.path)
        except OSError as exc:
            if self._stamp is not None:
                log.warning("keys file %s unavailable (%s); keeping the last keys", self.path, exc.strerror)
                self._stamp = None
            return
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if stamp == self._stamp:
                return
            try:
                self._entries = parse_keys(self.path.read_bytes(), self.path.suffix.lower()).keys
                log.info("loaded %d API key(s) from %s", len(self._entries), self.path)
            except (OSError, ValueError) as exc:
                log.warning("keys file %s not loaded (%s); keeping the last keys", self.path, exc)
            self._stamp = stamp

    def authenticate(self, key: str | None, now: datetime) -> Principal | None:
        if not key:
            return None
        return match(self.entries(), key, now)


def _toml_value(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def keys_toml(entries: Iterable[KeyEntry]) -> str:
    lines = ["# ZTC API keys: salted SHA-256 only; edit and save to rotate (no restart needed).", ""]
    for entry in entries:
        lines.append("[[keys]]")
        for field, value in entry.model_dump(mode="json", exclude_none=True).items():
            lines.append(f"{field} = {_toml_value(str(value))}")
        lines.append("")
    return "\n".join(lines)


def write_demo_keys(
    path: Path, departments: Iterable[str], channels: Iterable[str] = ("web_form", "wechat_group", "api")
) -> dict[str, str]:
    """Write a keys file with one random key per department and channel; return name → plaintext key.

    The plaintext keys exist only in the returned mapping (print them once); the
    file holds hashes. The file is created with mode 0600.
    """
    plain: dict[str, str] = {}
    entries: list[KeyEntry] = []
    for code in departments:
        name = f"dept-{code}"
        plain[name] = new_key()
        entries.append(entry_for(plain[name], name, Scope.department, department=code))
    for channel in channels:
        name = f"channel-{channel}"
        plain[name] = new_key()
        entries.append(entry_for(plain[name], name, Scope.channel, channel=channel))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(keys_toml(entries))
    return plain


# ---------------------------------------------------------------- the web edge's dependency

API_KEY_HEADER = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    scheme_name="ApiKey",
    description="渠道或部门的 API 密钥 / the channel's or department's API key",
)


def principal_dependency(keys: KeyRing, clock: Callable[[], datetime]) -> Callable[..., Principal]:
    """A FastAPI dependency: the caller's principal, or 401 (the key itself is never logged)."""

    def principal(request: Request, key: str | None = Security(API_KEY_HEADER)) -> Principal:
        found = keys.authenticate(key, clock())
        if found is None:
            client = request.client.host if request.client else "-"
            log.warning(
                "401 %s %s from %s: %s API key",
                request.method,
                request.url.path,
                client,
                "unknown" if key else "missing",
            )
            raise HTTPException(
                status_code=401,
                detail="缺少或无效的 API 密钥 / missing or unknown API key (header X-API-Key)",
                headers={"WWW-Authenticate": "ApiKey"},
            )
        return found

    return principal
