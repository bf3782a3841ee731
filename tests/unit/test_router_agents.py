"""The Faust agents themselves, in memory with ``agent.test_context()``: they send what the steps decide.

Faust has no in-memory broker: ``Topic.send`` is replaced by a recorder for
the test, and the seen-submissions table lives in the app's memory store.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from faust.topics import Topic

from schemas.events import DeadLettered, TicketRouted
from schemas.settings import Settings
from streams.router import build_router_app
from tests.unit.factories import NOW, submission
from ztc.bootstrap import DEFAULT_POLICY, load_checked_policy

POLICY = load_checked_policy(DEFAULT_POLICY)
TOPICS = Settings().topics

Sent = list[tuple[str, bytes | None, bytes]]


@pytest.fixture()
def sent(monkeypatch: pytest.MonkeyPatch) -> Sent:
    records: Sent = []

    async def record(self: Topic, *, key: bytes | None = None, value: bytes = b"", **_: Any) -> None:
        records.append((self.get_topic_name(), key, value))

    monkeypatch.setattr(Topic, "send", record)
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


def test_the_validate_agent_forwards_a_valid_submission_and_dead_letters_garbage(sent: Sent) -> None:
    asyncio.run(feed("validate", submission().model_dump_json().encode(), b"{garbage"))
    [(topic, key, _), (dead_topic, _, letter)] = sent
    assert (topic, key) == (TOPICS.validated, b"wechat_group:m-1")
    assert dead_topic == TOPICS.deadletter
    assert DeadLettered.model_validate_json(letter).reason.startswith("not JSON")


def test_the_route_agent_routes_to_the_lead_department_once_per_channel_message(sent: Sent) -> None:
    valid = submission().model_dump_json().encode()
    asyncio.run(feed("route", valid, valid))
    assert [topic for topic, _, _ in sent] == [TOPICS.routed, TOPICS.department("approval")]
    routed = TicketRouted.model_validate_json(sent[0][2])
    assert routed.lead_department == "approval" and sent[0][1] == routed.ticket_id.encode()
