"""The Faust agents themselves, in memory with ``agent.test_context()``: they send what the steps decide.

Faust has no in-memory broker: the producer's ``send`` is replaced by a recorder
for the test that acknowledges every record at once (or refuses those to one topic).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from faust.transport.drivers.aiokafka import Producer

from schemas.events import DeadLettered, TicketRouted
from schemas.settings import Settings
from streams.router import build_router_app
from tests.unit.factories import NOW, submission
from ztc.bootstrap import DEFAULT_POLICY, load_checked_policy

POLICY = load_checked_policy(DEFAULT_POLICY)
TOPICS = Settings().topics

Sent = list[tuple[str, bytes | None, bytes]]


REFUSED: set[str] = set()


@pytest.fixture()
def sent(monkeypatch: pytest.MonkeyPatch) -> Sent:
    records: Sent = []
    REFUSED.clear()

    async def record(
        self: Producer, topic: str, key: bytes | None, value: bytes, *_: Any
    ) -> asyncio.Future[None]:
        acknowledged: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if topic in REFUSED:
            acknowledged.set_exception(RuntimeError("broker says no"))
        else:
            records.append((topic, key, value))
            acknowledged.set_result(None)
        return acknowledged

    monkeypatch.setattr(Producer, "send", record)
    return records


async def settle() -> None:
    """Let the agent finish the value ``put`` handed over (it returns as the agent takes it)."""
    for _ in range(20):
        await asyncio.sleep(0)


async def feed(agent_name: str, *values: bytes) -> None:
    app = build_router_app(Settings(), POLICY, lambda: NOW)
    agent = app.agents[f"streams.router.{agent_name}"]
    async with agent.test_context() as running:
        for value in values:
            await running.put(value)
            await settle()


def test_the_route_agent_routes_to_the_lead_department_once_per_channel_message(sent: Sent) -> None:
    valid = submission().model_dump_json().encode()
    asyncio.run(feed("route", valid, valid, b"{garbage"))
    [routed_topic, lead_topic, dead_topic] = [topic for topic, _, _ in sent]
    assert [routed_topic, lead_topic] == [TOPICS.routed, TOPICS.department("approval")]
    routed = TicketRouted.model_validate_json(sent[0][2])
    assert routed.lead_department == "approval" and sent[0][1] == routed.ticket_id.encode()
    assert sent[1][2] == sent[0][2]  # one serialisation, the same bytes to every topic
    assert dead_topic == TOPICS.deadletter
    assert DeadLettered.model_validate_json(sent[2][2]).reason.startswith("not JSON")


def test_a_routing_the_broker_refuses_is_dead_lettered_with_its_reason(sent: Sent) -> None:
    REFUSED.add(TOPICS.department("approval"))
    asyncio.run(feed("route", submission().model_dump_json().encode()))
    dead = [DeadLettered.model_validate_json(value) for topic, _, value in sent if topic == TOPICS.deadletter]
    assert [d.stage for d in dead] == ["route"] and dead[0].reason.startswith("routing failed")
