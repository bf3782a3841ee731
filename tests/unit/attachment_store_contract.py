"""What every ``AttachmentStore`` does: run against the fake, the directory and an S3 server."""

from __future__ import annotations

import hashlib

import pytest

from consumers.attachment_store import AttachmentMissing, AttachmentStore

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 4


def key(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class AttachmentStoreContract:
    @pytest.fixture
    def store(self) -> AttachmentStore:
        raise NotImplementedError

    def test_kept_bytes_come_back_under_their_sha256(self, store: AttachmentStore) -> None:
        assert not store.has(key(PDF))
        store.put(key(PDF), PDF)
        store.put(key(PDF), PDF)  # again: nothing changes
        assert store.has(key(PDF)) and store.get(key(PDF)) == PDF

    def test_bytes_that_are_not_their_key_are_refused(self, store: AttachmentStore) -> None:
        with pytest.raises(ValueError, match="SHA-256"):
            store.put(key(b"other"), PDF)
        assert not store.has(key(b"other"))

    def test_a_missing_key_is_missing(self, store: AttachmentStore) -> None:
        with pytest.raises(AttachmentMissing):
            store.get(key(b"never kept"))

    @pytest.mark.parametrize(
        "crafted",
        ["../" * 8 + "etc/passwd", "A" * 64, "a" * 63, "/" + "a" * 63, "a" * 32 + "/" + "a" * 31, ""],
    )
    def test_a_key_that_is_not_a_sha256_never_reaches_a_path(
        self, store: AttachmentStore, crafted: str
    ) -> None:
        assert not store.has(crafted)
        with pytest.raises(AttachmentMissing):
            store.get(crafted)
        with pytest.raises((AttachmentMissing, ValueError)):
            store.put(crafted, PDF)
