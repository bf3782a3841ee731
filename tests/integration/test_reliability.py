"""Reliability on the embedded stack: repeats never re-route, poison never stops recording, dead letters kept.

Each test here reproduces a defect found by a fault-injection run against ``ztc run``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import pytest

from consumers.dead_letters import RedisDeadLetterStore
from consumers.ticket_store import RedisTicketStore
from producers.outbox import RedisOutbox
from producers.publisher import TicketPublisher, build_submission
from schemas.events import DeadLettered, now_in_district
from schemas.feedback import ExtensionRequested, TicketAccepted
from schemas.outbox import event_entry_id, submission_entry_id
from schemas.policy import load_policy
from schemas.settings import Settings
from schemas.ticket import TicketRecord
from streams.routing import route_ticket
from tests.integration.conftest import Services, WaitFor, ztc
from ztc.bootstrap import DEFAULT_POLICY

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def outbox(store: RedisTicketStore, settings: Settings) -> RedisOutbox:
    return RedisOutbox(store.client, settings.redis_prefix)


@pytest.fixture(scope="module")
def publisher(settings: Settings, outbox: RedisOutbox) -> Iterator[TicketPublisher]:
    running = TicketPublisher(settings.kafka_bootstrap, settings.topics.submitted, outbox)
    yield running
    running.close()


@pytest.fixture(scope="module")
def letters(store: RedisTicketStore, settings: Settings) -> RedisDeadLetterStore:
    return RedisDeadLetterStore(store.client, settings.redis_prefix)


def submit(publisher: TicketPublisher, text: str, message_id: str | None = None) -> str:
    fields = {"channel": "web_form", "text": text, "channel_message_id": message_id or uuid.uuid4().hex}
    return publisher.publish(build_submission(fields, now_in_district())).ticket_id


def wait_for(predicate: object, what: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def dead_letter_about(letters: RedisDeadLetterStore, needle: str) -> DeadLettered | None:
    return next((r for r in letters.open_letters(10_000) if needle in r.reason), None)


def test_a_repeated_routing_of_a_live_ticket_is_counted_not_applied(
    settings: Settings,
    services: Services,
    publisher: TicketPublisher,
    outbox: RedisOutbox,
    store: RedisTicketStore,
    wait_for_ticket: WaitFor,
) -> None:
    """Defect 1: after a broker restart the same channel message was routed again and overwrote the ticket."""
    ticket_id = submit(publisher, "我们的营业执照需要办理变更登记，地址变了")
    first = wait_for_ticket(ticket_id, 60)
    assert first.status.value == "routed"  # the old code accepted a second routing in this state
    policy = load_policy(DEFAULT_POLICY)
    again = route_ticket(first.submission, policy, now_in_district(), event_id=uuid.uuid4().hex)
    routing = again.model_copy(update={"lead_department": "planning", "co_departments": ("market",)})
    publisher.publish_event(settings.topics.routed, routing)
    seen = event_entry_id(routing.event_id)  # the recorder confirms the entry once it has processed it
    wait_for(lambda: not outbox.client.hexists(outbox.keys.entries, seen), "the recorder to see it")
    after = store.get(ticket_id)
    assert after is not None and after == first


def test_re_sending_a_recorded_channel_message_publishes_nothing(
    services: Services, publisher: TicketPublisher, outbox: RedisOutbox, wait_for_ticket: WaitFor
) -> None:
    message_id = f"resend-{uuid.uuid4().hex[:8]}"
    ticket_id = submit(publisher, "公司想申请高新技术企业认定，需要准备什么", message_id)
    wait_for_ticket(ticket_id, 60)
    fields = {"channel": "web_form", "text": "换个说法再发一次", "channel_message_id": message_id}
    again = publisher.publish(build_submission(fields, now_in_district()))
    assert again == (ticket_id, False)


def test_the_recorder_confirms_what_it_recorded_in_the_outbox(
    services: Services, publisher: TicketPublisher, outbox: RedisOutbox, wait_for_ticket: WaitFor
) -> None:
    """What an edge acknowledged stays in the outbox only until the recorder has it."""
    fields = {"channel": "web_form", "text": "厂房消防验收没通过，需要怎么整改", "channel_message_id": "ob-1"}
    submission = build_submission(fields, now_in_district())
    publisher.publish(submission)
    wait_for_ticket(submission.ticket_id, 60)
    entries = outbox.keys.entries
    wait_for(
        lambda: not outbox.client.hexists(entries, submission_entry_id(submission)), "outbox confirmation"
    )


def test_a_poison_action_is_dead_lettered_and_recording_goes_on(
    settings: Settings,
    services: Services,
    publisher: TicketPublisher,
    letters: RedisDeadLetterStore,
    wait_for_ticket: WaitFor,
) -> None:
    """Defect 2: an ExtensionRequested with extension="5 fortnights" passed and then crashed the recorder."""
    ticket_id = submit(publisher, "我们的食品经营许可证到期了，需要延续")
    record: TicketRecord = wait_for_ticket(ticket_id, 60)
    lead = record.lead_department
    now = now_in_district()
    common = {"ticket_id": ticket_id, "department": lead, "actor": "王科长"}
    publisher.publish_event(settings.topics.feedback, TicketAccepted(occurred_at=now, **common))
    bad = ExtensionRequested(occurred_at=now, extension="5 fortnights", reason="材料多", **common)
    publisher.publish_event(settings.topics.feedback, bad)
    after = [submit(publisher, f"第{i}件：企业招工需要参加招聘会") for i in range(5)]
    for later in after:
        wait_for_ticket(later, 60)
    wait_for(lambda: dead_letter_about(letters, "5 fortnights") is not None, "the dead letter")
    kept = dead_letter_about(letters, "5 fortnights")
    assert kept is not None and kept.ticket_id == ticket_id and kept.stage == "record"


def test_the_office_lists_replays_and_discards_dead_letters(
    settings: Settings, services: Services, publisher: TicketPublisher, letters: RedisDeadLetterStore
) -> None:
    raw_publisher = TicketPublisher(settings.kafka_bootstrap, settings.topics.submitted)
    try:
        raw_publisher.publish_raw(b'{"text": "no channel, no id"}')
    finally:
        raw_publisher.close()
    wait_for(lambda: dead_letter_about(letters, "channel") is not None, "the router's dead letter")
    letter = dead_letter_about(letters, "channel")
    assert letter is not None
    listed = json.loads(ztc(settings, "deadletter", "--json", check=True).stdout)
    assert letter.event_id in [d["event_id"] for d in listed]
    refused = ztc(settings, "deadletter", "discard", letter.event_id[:10])
    assert refused.returncode == 2 and "--reason" in refused.stderr
    done = ztc(settings, "deadletter", "discard", letter.event_id[:10], "--reason", "测试数据", check=True)
    assert "discarded" in done.stdout
    view = letters.find(letter.event_id)
    assert view is not None and view.handled is not None and "测试数据" in view.handled
    assert letter.event_id not in [r.event_id for r in letters.open_letters(10_000)]
    again = ztc(settings, "deadletter", "replay", letter.event_id)
    assert again.returncode == 2 and "already handled" in again.stderr
