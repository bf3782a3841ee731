"""The attachment stores in this process: the in-memory fake and the directory (the default)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from consumers.attachment_store import AttachmentStore, DirectoryAttachmentStore, MemoryAttachmentStore
from tests.unit.attachment_store_contract import PDF, AttachmentStoreContract, key


class TestMemoryStore(AttachmentStoreContract):
    @pytest.fixture
    def store(self) -> AttachmentStore:
        return MemoryAttachmentStore()


class TestDirectoryStore(AttachmentStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> AttachmentStore:
        return DirectoryAttachmentStore(tmp_path / "attachments")


def test_the_directory_names_files_by_content_owner_only(tmp_path: Path) -> None:
    store = DirectoryAttachmentStore(tmp_path / "attachments")
    store.put(key(PDF), PDF)
    [kept] = [p for p in (tmp_path / "attachments").rglob("*") if p.is_file()]
    assert kept == tmp_path / "attachments" / key(PDF)[:2] / key(PDF)
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert not list((tmp_path / "attachments").rglob(".part-*"))  # no temporary file left behind
