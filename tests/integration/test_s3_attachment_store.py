"""The S3 attachment store against a real S3-protocol HTTP server (moto's), started here."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

from consumers.attachment_store import AttachmentStore, S3AttachmentStore
from schemas.settings import Settings
from tests.unit.attachment_store_contract import PDF, AttachmentStoreContract, key
from ztc.bootstrap import attachment_store

BUCKET = "ztc-attachments"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        monkeypatch.setenv(name, value)


@pytest.fixture
def bucket(endpoint: str) -> str:
    s3 = boto3.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket=BUCKET)
    for found in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        s3.delete_object(Bucket=BUCKET, Key=found["Key"])
    return BUCKET


class TestS3Store(AttachmentStoreContract):
    @pytest.fixture
    def store(self, endpoint: str, bucket: str) -> AttachmentStore:
        return S3AttachmentStore(bucket, endpoint)


def test_the_setting_chooses_the_bucket_and_keys_are_content_hashes(endpoint: str, bucket: str) -> None:
    settings = Settings(attachment_s3_bucket=bucket, attachment_s3_endpoint=endpoint)
    store = attachment_store(settings)
    assert isinstance(store, S3AttachmentStore)
    store.put(key(PDF), PDF)
    listed = boto3.client("s3", endpoint_url=endpoint).list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"] for o in listed] == [f"attachments/{key(PDF)}"]
