"""The hot-spot worker's batch handlers, without Faust or Redis: what is applied, dead-lettered, published."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from schemas.events import DeadLettered
from schemas.hotspot_events import HotSpotDetected, SignalEvent, detected
from schemas.hotspots import COMPARED_MEMBERS, HotspotGroup, HotspotRequest
from schemas.topics import Topics
from streams.hotspot_store import decode_group, encode_group
from streams.hotspot_worker import HotspotHandlers
from streams.routing import route_ticket
from tests.unit.factories import NOW, submission
from tests.unit.test_router_handlers import MemorySender
from ztc.bootstrap import DEFAULT_POLICY, load_checked_policy

POLICY = load_checked_policy(DEFAULT_POLICY)
TOPICS = Topics("t.")


@dataclass(frozen=True)
class Message:
    topic: str
    value: bytes | None
    partition: int = 0
    offset: int = 0


@dataclass
class MemoryState:
    """Remembers what it was given; reports what the test queues."""

    applied: list[tuple[list[HotspotRequest], list[tuple[str, SignalEvent]]]] = field(default_factory=list)
    queued: dict[str, HotSpotDetected] = field(default_factory=dict)
    fail: Exception | None = None

    def apply(
        self,
        requests: Sequence[HotspotRequest],
        signal_events: Sequence[tuple[str, SignalEvent]],
        now: datetime,
    ) -> list[HotSpotDetected]:
        if self.fail is not None:
            raise self.fail
        self.applied.append((list(requests), list(signal_events)))
        return []

    def pending(self) -> list[HotSpotDetected]:
        return list(self.queued.values())

    def published(self, hotspot_ids: Sequence[str]) -> None:
        for ident in hotspot_ids:
            self.queued.pop(ident)


def handlers(state: MemoryState, sender: MemorySender) -> HotspotHandlers:
    return HotspotHandlers(TOPICS, POLICY, state, sender, lambda: NOW)


def routed_bytes(n: int) -> bytes:
    sub = submission(
        "振华路被施工围挡封住，货车进不来", ticket_id=f"T{n}", channel_message_id=f"m{n}", street="楼山街道"
    )
    return route_ticket(sub, POLICY, NOW).model_dump_json().encode()


def test_malformed_messages_are_dead_lettered_with_their_reason_and_the_rest_applied() -> None:
    state, sender = MemoryState(), MemorySender()
    batch = [
        Message(TOPICS.routed, routed_bytes(1), offset=0),
        Message(TOPICS.routed, b"{not json", offset=1),
        Message(TOPICS.routed, b'{"type": "TicketRouted"}', offset=2),
        Message(TOPICS.routed, None, offset=3),
    ]
    asyncio.run(handlers(state, sender).routed(batch))
    (applied,) = state.applied
    assert [r.ticket_id for r in applied[0]] == ["T1"]
    letters = [
        DeadLettered.model_validate_json(v) for topic, _, v in sender.sent if topic == TOPICS.deadletter
    ]
    assert [(d.source_offset, d.stage) for d in letters] == [
        (1, "hotspots"),
        (2, "hotspots"),
        (3, "hotspots"),
    ]
    assert all(d.reason for d in letters) and "ticket_id" in letters[1].reason


def test_feedback_heat_does_not_use_is_skipped_and_a_step_failure_dead_letters_the_batch() -> None:
    state, sender = MemoryState(), MemorySender()
    accepted = b'{"type": "TicketAccepted", "ticket_id": "T1"}'
    asyncio.run(handlers(state, sender).feedback([Message(TOPICS.feedback, accepted)]))
    assert state.applied == [] and sender.sent == []
    state.fail = RuntimeError("a bug")
    asyncio.run(handlers(state, sender).routed([Message(TOPICS.routed, routed_bytes(2))]))
    (letter,) = [DeadLettered.model_validate_json(v) for _, _, v in sender.sent]
    assert "a bug" in letter.reason


def test_a_report_the_broker_refuses_stays_queued_until_a_later_send_goes_through() -> None:
    state = MemoryState()
    request = HotspotRequest(
        ticket_id="T1", enterprise="甲", street="s", category="transport", text="x", at=NOW
    )
    group = HotspotGroup(
        group_id="T1", street="s", category="transport", requests=(request,), detected_at=NOW
    )
    report = detected(group, POLICY, NOW)
    state.queued[report.hotspot_id] = report
    refusing = MemorySender(refused=frozenset({TOPICS.hotspots}))
    assert asyncio.run(handlers(state, refusing).publish_pending()) == 0
    assert list(state.queued) == [report.hotspot_id]
    sender = MemorySender()
    assert asyncio.run(handlers(state, sender).publish_pending()) == 1
    assert state.queued == {} and [(t, k) for t, k, _ in sender.sent] == [(TOPICS.hotspots, b"T1")]


def test_a_stored_group_reads_back_as_it_was_with_text_only_where_it_is_compared() -> None:
    requests = tuple(
        HotspotRequest(
            ticket_id=f"T{i:02d}",
            enterprise=f"e{i % 7}",
            enterprise_name=f"企业{i % 7}",
            street="street-loushan",
            category="transport",
            title=f"振华路封路 {i}",
            text=f"振华路被施工围挡封住，货车进不来 {i}",
            at=NOW + timedelta(minutes=i),
            departments=("transport", "street-loushan"),
        )
        for i in range(40)
    )
    small = HotspotGroup(group_id="T00", street="street-loushan", category="transport", requests=requests[:5])
    assert decode_group(encode_group(small)) == small
    big = small.model_copy(update={"requests": requests, "detected_at": NOW, "more": 7})
    back = decode_group(encode_group(big))
    assert back.model_copy(update={"requests": ()}) == big.model_copy(update={"requests": ()})
    kept = [i for i, r in enumerate(back.requests) if r.text]
    assert kept == [0, *range(40 - COMPARED_MEMBERS + 1, 40)]
    assert [r.model_copy(update={"text": ""}) for r in back.requests] == [
        r.model_copy(update={"text": ""}) for r in requests
    ]
