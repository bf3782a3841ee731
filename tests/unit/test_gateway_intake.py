"""The HTTP intake without a broker or Redis: the in-memory outbox and publisher behind the real routes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import redis
from fastapi import HTTPException
from fastapi.testclient import TestClient
from kafka.errors import KafkaTimeoutError

from consumers.access import KeyRing, write_demo_keys
from producers.gateway import MAX_BODY_BYTES, Intake
from producers.outbox import SOON_S, InMemoryOutbox
from producers.publisher import InMemoryPublisher, TicketPublisher
from schemas.events import Event, TicketSubmitted, ticket_id_for
from schemas.outbox import Admission
from schemas.settings import Settings
from tests.unit.factories import NOW
from ztc.bootstrap import DEFAULT_POLICY, load_checked_policy
from ztc.web_app import create_app

POLICY = load_checked_policy(DEFAULT_POLICY)
TOPIC = Settings().topics.submitted
BODY = {"text": "我们想办理食品经营许可证", "enterprise_name": "康杰药业", "channel_message_id": "web-1"}


class Wire(InMemoryPublisher):
    """The broker side of the publisher: takes what it is given, or refuses while ``down``."""

    down = False

    def publish_event(self, topic: str, event: Event, timeout_s: float = 10.0) -> None:
        if self.down:
            raise KafkaTimeoutError("broker away")
        super().publish_event(topic, event, timeout_s)


class BrokenOutbox(InMemoryOutbox):
    def admit_submission(self, submission: TicketSubmitted, topic: str, now: datetime) -> Admission:
        raise redis.ConnectionError("Connection refused")


class Edge:
    def __init__(self, outbox: InMemoryOutbox | None = None) -> None:
        self.now = NOW
        self.outbox = outbox if outbox is not None else InMemoryOutbox()
        self.wire = Wire()
        publisher = TicketPublisher("127.0.0.1:1", TOPIC, self.outbox, lambda: self.now, transport=self.wire)
        self.intake = Intake(lambda: publisher, lambda: self.now)

    def submit(self, body: dict[str, Any], key: str | None = None) -> tuple[TicketSubmitted, bool]:
        receipt = self.intake.submit(self.intake.validate(body, "web_form", key))
        return receipt.submission, receipt.duplicate


@pytest.fixture()
def edge() -> Edge:
    return Edge()


def test_a_valid_submission_is_in_the_outbox_once_and_published_once(edge: Edge) -> None:
    submission, duplicate = edge.submit(BODY)
    assert not duplicate
    assert submission.ticket_id == ticket_id_for("web_form", "web-1", NOW)
    [entry] = edge.outbox.entries.values()
    assert entry.entry_id == "sub:web_form:web-1" and entry.ticket_id == submission.ticket_id
    [sent] = edge.wire.published
    assert (sent.topic, sent.key) == (TOPIC, submission.ticket_id)
    assert TicketSubmitted.model_validate_json(sent.value) == submission
    assert sent.value == entry.value  # the relay would re-publish exactly these bytes


def test_the_same_idempotency_key_twice_is_one_ticket_published_once(edge: Edge) -> None:
    body = {"text": "我们想办理食品经营许可证"}
    first, _ = edge.submit(body, key="retry-me")
    edge.now += timedelta(minutes=3)
    again, duplicate = edge.submit(body, key="retry-me")
    assert duplicate and again.ticket_id == first.ticket_id
    assert len(edge.outbox.entries) == 1 and len(edge.wire.published) == 1


def test_the_same_idempotency_key_with_a_different_body_is_422_and_publishes_nothing(edge: Edge) -> None:
    """IETF Idempotency-Key draft: a key reused with another payload is a client error (422)."""
    edge.submit({"text": "我们想办理食品经营许可证", "title": "许可证"}, key="k-1")
    _, duplicate = edge.submit({"title": "许可证", "text": "我们想办理食品经营许可证"}, key="k-1")
    assert duplicate  # the same body in another key order is a retry
    with pytest.raises(HTTPException) as refused:
        edge.submit({"text": "另一件事：厂房消防验收"}, key="k-1")
    assert refused.value.status_code == 422
    [problem] = cast(list[dict[str, Any]], refused.value.detail)
    assert problem["loc"] == ["header", "Idempotency-Key"] and "内容不同" in problem["msg"]
    assert len(edge.wire.published) == 1
    _, duplicate = edge.submit({"text": "另一件事：厂房消防验收"}, key="k-2")
    assert not duplicate and len(edge.wire.published) == 2


def test_a_retry_after_the_recorder_confirmed_it_gets_the_first_ticket_id_even_days_later(
    edge: Edge,
) -> None:
    first, _ = edge.submit(BODY)
    edge.outbox.recorded[first.dedupe_key] = first.ticket_id  # what the recorder's message index holds
    edge.outbox.confirm(list(edge.outbox.entries))
    edge.now += timedelta(days=3)  # a new day would derive a new ticket id
    again, duplicate = edge.submit(BODY)
    assert duplicate and again.ticket_id == first.ticket_id
    assert len(edge.wire.published) == 1 and edge.outbox.entries == {}


def test_a_broker_that_refuses_still_gets_a_202_and_the_relay_publishes_soon(edge: Edge) -> None:
    edge.wire.down = True
    submission, duplicate = edge.submit(BODY)
    assert not duplicate and edge.wire.published == []
    [entry] = edge.outbox.due(NOW + timedelta(seconds=SOON_S))
    assert entry.ticket_id == submission.ticket_id


def test_an_outbox_failure_publishes_nothing() -> None:
    edge = Edge(BrokenOutbox())
    with pytest.raises(redis.ConnectionError):
        edge.submit(BODY)
    assert edge.wire.published == []


def test_invalid_fields_are_refused_with_every_error_listed(edge: Edge) -> None:
    body = {"text": "  ", "credit_code": "123", "channel": "email", "colour": "red"}
    with pytest.raises(HTTPException) as refused:
        edge.intake.validate(body, "web_form", " ")
    assert refused.value.status_code == 422
    errors: list[dict[str, Any]] = refused.value.detail  # type: ignore[assignment]
    places = {tuple(e["loc"]) for e in errors}
    assert {("body", "text"), ("body", "credit_code"), ("body", "channel"), ("body", "colour")} <= places
    assert ("header", "Idempotency-Key") in places
    assert edge.outbox.entries == {} and edge.wire.published == []


# ---------------------------------------------------------------- through the real app


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    path = tmp_path_factory.mktemp("keys") / "keys.toml"
    return path, write_demo_keys(path, POLICY.department_codes)


def http(keys: tuple[Path, dict[str, str]], edge: Edge) -> Iterator[tuple[TestClient, dict[str, str]]]:
    unreachable = Settings(
        redis_url="redis://127.0.0.1:1/0", bootstrap_servers="127.0.0.1:1", data_dir=keys[0].parent
    )
    app = create_app(unreachable, POLICY, KeyRing(keys[0]), lambda: edge.now, intake=edge.intake)
    with TestClient(app) as client:
        yield client, {"X-API-Key": keys[1]["channel-web_form"]}


@pytest.fixture()
def client(keys: tuple[Path, dict[str, str]], edge: Edge) -> Iterator[tuple[TestClient, dict[str, str]]]:
    yield from http(keys, edge)


def test_http_202_with_the_ticket_id_then_200_for_the_retry(
    client: tuple[TestClient, dict[str, str]], edge: Edge
) -> None:
    http_client, auth = client
    headers = auth | {"Idempotency-Key": "form-42"}
    first = http_client.post("/api/tickets", json={"text": "我们想办理食品经营许可证"}, headers=headers)
    assert first.status_code == 202, first.text
    assert first.json()["ticket_id"] == ticket_id_for("web_form", "form-42", NOW)
    assert first.json()["duplicate"] is False
    again = http_client.post("/api/tickets", json={"text": "我们想办理食品经营许可证"}, headers=headers)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["ticket_id"] == first.json()["ticket_id"]
    assert len(edge.wire.published) == 1
    ticket_id, link = first.json()["ticket_id"], first.json()["status_url"]
    assert (
        link.startswith(f"http://127.0.0.1:8080/status/{ticket_id}.") and again.json()["status_url"] == link
    )
    assert first.json()["status_expires_at"].startswith(str((NOW + timedelta(days=90)).date()))


def test_http_refuses_malformed_oversized_and_unauthenticated_bodies(
    client: tuple[TestClient, dict[str, str]], edge: Edge
) -> None:
    http_client, auth = client
    missing = http_client.post("/api/tickets", json={"title": "没写内容"}, headers=auth)
    assert missing.status_code == 422 and ["body", "text"] in [e["loc"] for e in missing.json()["detail"]]
    broken = http_client.post("/api/tickets", content=b'{"text": ', headers=auth)
    assert broken.status_code == 422 and broken.json()["detail"][0]["loc"] == ["body"]
    huge = http_client.post("/api/tickets", json={"text": "长" * MAX_BODY_BYTES}, headers=auth)
    assert huge.status_code == 413 and "KiB" in huge.json()["detail"]
    stranger = http_client.post("/api/tickets", json=BODY, headers={"X-API-Key": "nope"})
    assert stranger.status_code == 401
    assert edge.outbox.entries == {} and edge.wire.published == []


def test_http_503_when_the_outbox_is_down_and_nothing_is_published(
    keys: tuple[Path, dict[str, str]],
) -> None:
    edge = Edge(BrokenOutbox())
    for http_client, auth in http(keys, edge):
        answer = http_client.post("/api/tickets", json=BODY, headers=auth)
        assert answer.status_code == 503
        assert "暂不可用" in answer.json()["detail"] and "retry later" in answer.json()["detail"]
    assert edge.wire.published == []


def test_a_channel_uploads_a_file_then_submits_with_its_reference(
    client: tuple[TestClient, dict[str, str]], edge: Edge, keys: tuple[Path, dict[str, str]]
) -> None:
    http_client, auth = client
    pdf = b"%PDF-1.7\n" + b"\x00" * (200 * 1024)  # past the JSON limit: the upload limit applies
    upload = http_client.post(
        "/api/attachments", files=[("attachment", ("图纸.pdf", pdf, "application/pdf"))], headers=auth
    )
    assert upload.status_code == 200, upload.text
    ref = upload.json()
    assert (keys[0].parent / "attachments" / ref["sha256"][:2] / ref["sha256"]).read_bytes() == pdf
    forged = http_client.post(
        "/api/tickets", json={**BODY, "attachments": [{**ref, "size": 1}]}, headers=auth
    )
    assert forged.status_code == 422 and edge.wire.published == []
    first = http_client.post("/api/tickets", json={**BODY, "attachments": [ref]}, headers=auth)
    assert first.status_code == 202, first.text
    [published] = edge.wire.published
    assert "%PDF" not in published.value and ref["sha256"] in published.value and len(published.value) < 2000
    unauthenticated = http_client.post("/api/attachments", files=[("attachment", ("a.pdf", pdf, "x"))])
    assert unauthenticated.status_code == 401
