"""Where attachments' bytes are kept: outside Redis and Kafka, keyed by their SHA-256.

``AttachmentStore`` is the port; ``MemoryAttachmentStore`` is the fake for unit tests,
``DirectoryAttachmentStore`` the default (a directory under the data dir) and
``S3AttachmentStore`` keeps them in an S3-compatible bucket (``ZTC_ATTACHMENT_S3_BUCKET``).
Every store is content-addressed: the key is the content's SHA-256 in lower-case hex,
checked against a strict pattern before it touches a path or a bucket, so neither a
user's file name nor a crafted id can reach outside the store. ``put`` is idempotent.
Who may read an attachment is decided by the pages (the attachment must be listed on a
ticket the viewer may see); the store only keeps bytes.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Protocol

KEY = re.compile(r"^[0-9a-f]{64}$")


class AttachmentMissing(LookupError):
    """No attachment under this key (or a key that is not a SHA-256)."""


def checked_key(sha256: str) -> str:
    if not KEY.fullmatch(sha256):
        raise AttachmentMissing(sha256[:80])
    return sha256


def digest_of(data: bytes, sha256: str) -> None:
    """Refuse bytes that are not the content the key names."""
    if hashlib.sha256(data).hexdigest() != checked_key(sha256):
        raise ValueError("the bytes do not match their SHA-256")


class AttachmentStore(Protocol):
    def put(self, sha256: str, data: bytes) -> None:
        """Keep ``data`` under its SHA-256 (again: nothing changes)."""

    def get(self, sha256: str) -> bytes:
        """The bytes under ``sha256``, or ``AttachmentMissing``."""

    def has(self, sha256: str) -> bool: ...


class MemoryAttachmentStore:
    def __init__(self) -> None:
        self.kept: dict[str, bytes] = {}

    def put(self, sha256: str, data: bytes) -> None:
        digest_of(data, sha256)
        self.kept.setdefault(sha256, data)

    def get(self, sha256: str) -> bytes:
        try:
            return self.kept[checked_key(sha256)]
        except KeyError:
            raise AttachmentMissing(sha256) from None

    def has(self, sha256: str) -> bool:
        return KEY.fullmatch(sha256) is not None and sha256 in self.kept


class DirectoryAttachmentStore:
    """``<root>/ab/abcdef…``: two-character fan-out, written to a temporary file and renamed."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        key = checked_key(sha256)
        return self.root / key[:2] / key

    def put(self, sha256: str, data: bytes) -> None:
        digest_of(data, sha256)
        target = self.path(sha256)
        if target.exists():
            return
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        target.parent.mkdir(exist_ok=True, mode=0o700)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temporary, 0o600)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def get(self, sha256: str) -> bytes:
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError:
            raise AttachmentMissing(sha256) from None

    def has(self, sha256: str) -> bool:
        return KEY.fullmatch(sha256) is not None and self.path(sha256).is_file()


class S3AttachmentStore:
    """An S3-compatible bucket through boto3 (imported only when this store is chosen)."""

    def __init__(self, bucket: str, endpoint_url: str | None = None, prefix: str = "attachments/") -> None:
        import boto3

        self.bucket = bucket
        self.prefix = prefix
        self.client: Any = boto3.client("s3", endpoint_url=endpoint_url)

    def key(self, sha256: str) -> str:
        return self.prefix + checked_key(sha256)

    def put(self, sha256: str, data: bytes) -> None:
        digest_of(data, sha256)
        if not self.has(sha256):
            self.client.put_object(Bucket=self.bucket, Key=self.key(sha256), Body=data)

    def get(self, sha256: str) -> bytes:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.key(sha256))
        except self.client.exceptions.NoSuchKey:
            raise AttachmentMissing(sha256) from None
        data: bytes = answer["Body"].read()
        return data

    def has(self, sha256: str) -> bool:
        if KEY.fullmatch(sha256) is None:
            return False
        found = self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.key(sha256), MaxKeys=1)
        return bool(found.get("KeyCount", 0))
