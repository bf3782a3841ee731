"""The router's batch handlers in memory: they send what the steps decide, and dead-letter what fails.

Faust has no in-memory broker: the handlers take a ``RecordSender``, here one that
records and acknowledges every record at once (or refuses those to some topics);
``tests/integration/test_record_batches.py`` holds the real one to the same contract.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from prometheus_client import CollectorRegistry

from schemas.events import DeadLettered, TicketRouted
from schemas.settings import Settings
from streams import router
from streams.metrics import RouterMetrics
from streams.record_batches import Outcome, Record
from streams.router import (
    BATCH_MAX,
    YOUNG_OBJECTS_BEFORE_COLLECTING,
    RouterHandlers,
    build_router_app,
    settle_collector,
)
from streams.router_steps import RouterSteps
from tests.unit.factories import NOW, submission
from ztc.bootstrap import DEFAULT_POLICY, load_checked_policy

POLICY = load_checked_policy(DEFAULT_POLICY)
TOPICS = Settings().topics


@dataclass(frozen=True)
class Consumed:
    value: bytes | None
    offset: int = 0
    topic: str = TOPICS.submitted
    partition: int = 0


class MemorySender:
    """Acknowledges every record at once, except those to ``refused`` topics."""

    def __init__(self, refused: frozenset[str] = frozenset()) -> None:
        self.refused = refused
        self.sent: list[tuple[str, bytes | None, bytes]] = []
        self.calls = 0

    async def send_all(self, records: Sequence[Record]) -> list[Outcome]:
        self.calls += 1
        outcomes: list[Outcome] = []
        for record in records:
            if record.topic in self.refused:
                outcomes.append(RuntimeError("broker says no"))
            else:
                self.sent.append((record.topic, record.key, record.value))
                outcomes.append(None)
        return outcomes


def handlers(sender: MemorySender) -> RouterHandlers:
    counts = RouterMetrics.registered_in(CollectorRegistry())
    return RouterHandlers(RouterSteps(TOPICS, POLICY, lambda: NOW, counts), sender)


def test_a_batch_is_routed_to_the_lead_department_once_per_channel_message_in_one_send() -> None:
    sender = MemorySender()
    valid = submission().model_dump_json().encode()
    asyncio.run(handlers(sender).route([Consumed(valid, 0), Consumed(valid, 1), Consumed(b"{garbage", 2)]))
    [routed_topic, lead_topic, dead_topic] = [topic for topic, _, _ in sender.sent]
    assert sender.calls == 1
    assert [routed_topic, lead_topic] == [TOPICS.routed, TOPICS.department("approval")]
    routed = TicketRouted.model_validate_json(sender.sent[0][2])
    assert routed.lead_department == "approval" and sender.sent[0][1] == routed.ticket_id.encode()
    assert sender.sent[1][2] == sender.sent[0][2]  # one serialisation, the same bytes to every topic
    assert dead_topic == TOPICS.deadletter
    letter = DeadLettered.model_validate_json(sender.sent[2][2])
    assert letter.reason.startswith("not JSON") and letter.source_offset == 2


def test_a_routing_the_broker_refuses_is_dead_lettered_with_its_reason_and_the_rest_delivered() -> None:
    sender = MemorySender(refused=frozenset({TOPICS.department("approval")}))
    refused = submission().model_dump_json().encode()
    other = submission(channel_message_id="other", text="消防验收预约排不上").model_dump_json().encode()
    asyncio.run(handlers(sender).route([Consumed(refused, 7), Consumed(other, 8)]))
    dead = [DeadLettered.model_validate_json(v) for topic, _, v in sender.sent if topic == TOPICS.deadletter]
    assert [(d.stage, d.source_offset) for d in dead] == [("route", 7)]
    assert dead[0].reason.startswith("routing failed")
    assert sender.calls == 2  # the batch, then its dead letters together
    assert [t for t, _, _ in sender.sent].count(TOPICS.routed) == 2  # the refused one's routed went out


def test_when_not_even_the_dead_letter_is_written_the_process_exits_before_acknowledging(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exits: list[int] = []
    monkeypatch.setattr(router, "_exit_unacknowledged", exits.append)
    sender = MemorySender(refused=frozenset({TOPICS.department("approval"), TOPICS.deadletter}))
    asyncio.run(handlers(sender).route([Consumed(submission().model_dump_json().encode())]))
    assert exits == [1]


def test_a_reroute_request_that_cannot_be_read_is_dead_lettered_at_the_reroute_stage() -> None:
    sender = MemorySender()
    asyncio.run(handlers(sender).reroute([Consumed(b"[]", 3, TOPICS.reroute)]))
    [(topic, _, value)] = sender.sent
    letter = DeadLettered.model_validate_json(value)
    assert topic == TOPICS.deadletter and letter.stage == "reroute" and letter.source_topic == TOPICS.reroute


def test_the_app_hands_both_input_topics_to_batch_handlers() -> None:
    app = build_router_app(Settings(), POLICY, lambda: NOW)
    assert set(app.batch_handlers) == {TOPICS.submitted, TOPICS.reroute}
    assert not app.agents  # no per-message Faust stream on the hot path


def test_the_collector_is_settled_before_routing_starts() -> None:
    """What lives as long as the router leaves the collector's generations; the young one holds a batch."""
    before = gc.get_threshold()
    try:
        settle_collector()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (YOUNG_OBJECTS_BEFORE_COLLECTING, *before[1:])
        assert YOUNG_OBJECTS_BEFORE_COLLECTING > 10 * BATCH_MAX  # a batch's models, dicts and lists
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
