"""Attachments: what a file attached to a ticket is, and which files are accepted (pure).

Events carry an ``AttachmentRef`` — name, type, size and the content's SHA-256 — never the
bytes: the bytes live in an attachment store outside Redis and Kafka
(``consumers.attachment_store``), keyed by that SHA-256, so a message stays small and the
same file sent twice is stored once. The name the person gave is only shown, never used as a
path. ``check_file`` decides whether a file is accepted: its extension must be on the
allow-list, its first bytes must look like that type (a renamed ``.exe`` is not a ``.pdf``),
and it must not be empty nor larger than the limit. A refusal says why in Chinese and English.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

MB = 1024 * 1024
DEFAULT_MAX_BYTES = 10 * MB
DEFAULT_MAX_FILES = 5
MAX_FILES = 10
"""The most attachments one event carries, whatever the settings say."""
DEFAULT_TYPES = "pdf,jpg,jpeg,png,docx,xlsx"
MAX_NAME_CHARS = 120

ZIP_MAGIC = (b"PK\x03\x04",)
KNOWN_TYPES: dict[str, tuple[str, tuple[bytes, ...]]] = {
    "pdf": ("application/pdf", (b"%PDF-",)),
    "jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", ZIP_MAGIC),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ZIP_MAGIC),
}
"""Extension → (the content type it is served as, the first bytes it must start with)."""

SHA256 = r"^[0-9a-f]{64}$"


def no_attachments(value: tuple[object, ...]) -> bool:
    """An event without files serialises as it did before attachments existed (no empty list)."""
    return not value


class AttachmentRefused(ValueError):
    """A file that is not accepted; the message says why (Chinese / English)."""


class AttachmentRef(BaseModel):
    """One attached file as events and tickets carry it: metadata only."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sha256: str = Field(pattern=SHA256, description="the content's SHA-256, also its key in the store")
    name: str = Field(min_length=1, max_length=MAX_NAME_CHARS, description="the name as given, shown only")
    content_type: str = Field(min_length=1, max_length=100)
    size: int = Field(ge=1)

    @property
    def attachment_id(self) -> str:
        return self.sha256


@dataclass(frozen=True)
class AttachmentRules:
    """Which files are accepted: allowed extensions, the largest size, how many per action."""

    types: tuple[str, ...] = tuple(DEFAULT_TYPES.split(","))
    max_bytes: int = DEFAULT_MAX_BYTES
    max_files: int = DEFAULT_MAX_FILES

    @classmethod
    def parse(cls, types: str, max_mb: float, max_files: int = DEFAULT_MAX_FILES) -> AttachmentRules:
        """From settings: a comma list of known extensions and a limit in MiB."""
        wanted = tuple(t.strip().lower().lstrip(".") for t in types.split(",") if t.strip())
        unknown = [t for t in wanted if t not in KNOWN_TYPES]
        if unknown or not wanted:
            raise ValueError(f"unknown attachment types {unknown}; known: {', '.join(KNOWN_TYPES)}")
        return cls(types=wanted, max_bytes=int(max_mb * MB), max_files=max_files)

    @property
    def shown(self) -> str:
        """For the forms: ``pdf、jpg、png … ≤ 10 MB``."""
        return f"{'、'.join(self.types)}，每个不超过 {self.max_bytes / MB:g} MB"

    @property
    def accept(self) -> str:
        """The file input's ``accept`` attribute."""
        return ",".join(f".{t}" for t in self.types)


def safe_name(name: str) -> str:
    """The file's own name, without any directory part or control characters, shortened."""
    base = re.split(r"[\\/]", name)[-1]
    kept = "".join(ch for ch in unicodedata.normalize("NFC", base) if unicodedata.category(ch)[0] != "C")
    kept = kept.strip().strip(".") or "attachment"
    if len(kept) > MAX_NAME_CHARS:
        stem, dot, ext = kept.rpartition(".")
        kept = (stem[: MAX_NAME_CHARS - len(ext) - 1] + dot + ext) if dot and len(ext) < 10 else kept
        kept = kept[:MAX_NAME_CHARS]
    return kept


def extension(name: str) -> str:
    return name.rpartition(".")[2].lower() if "." in name else ""


def check_file(name: str, data: bytes, rules: AttachmentRules) -> AttachmentRef:
    """The reference of an accepted file, or ``AttachmentRefused`` saying why."""
    shown = safe_name(name)
    ext = extension(shown)
    if ext not in rules.types:
        raise AttachmentRefused(
            f"附件“{shown}”的类型不允许，仅接受 {'、'.join(rules.types)} / "
            f"file type not allowed: {ext or 'none'} (allowed: {', '.join(rules.types)})"
        )
    if not data:
        raise AttachmentRefused(f"附件“{shown}”是空文件 / the file is empty")
    if len(data) > rules.max_bytes:
        limit = f"{rules.max_bytes / MB:g} MB"
        raise AttachmentRefused(f"附件“{shown}”超过 {limit} / file larger than {limit}")
    content_type, magics = KNOWN_TYPES[ext]
    if magics and not data.startswith(magics):
        raise AttachmentRefused(f"附件“{shown}”的内容与扩展名 .{ext} 不符 / the content is not a .{ext} file")
    return AttachmentRef(
        sha256=hashlib.sha256(data).hexdigest(), name=shown, content_type=content_type, size=len(data)
    )


def check_files(files: list[tuple[str, bytes]], rules: AttachmentRules) -> tuple[AttachmentRef, ...]:
    """Every file checked (empty uploads, i.e. no file chosen, skipped), at most ``max_files``."""
    chosen = [(name, data) for name, data in files if name or data]
    if len(chosen) > rules.max_files:
        raise AttachmentRefused(f"附件最多 {rules.max_files} 个 / at most {rules.max_files} files per action")
    return tuple(check_file(name, data, rules) for name, data in chosen)


AttachedFiles = Annotated[tuple[AttachmentRef, ...], Field(max_length=MAX_FILES, exclude_if=no_attachments)]
"""An event's ``attachments`` (default ``()``): metadata only, left out of the JSON when there are none."""


def attachments_of(details: dict[str, object]) -> tuple[AttachmentRef, ...]:
    """The attachments a history entry's details record."""
    given = details.get("attachments") or []
    return tuple(AttachmentRef.model_validate(a) for a in given) if isinstance(given, list) else ()
