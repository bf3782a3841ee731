"""The router's Faust app fetches with a short wait (Tansu holds a fetch for the whole wait)."""

from __future__ import annotations

from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka

from streams import faust_transport
from streams.faust_transport import FETCH_MAX_WAIT_MS, PromptApp, PromptTransport


def test_the_router_app_builds_consumers_with_the_short_fetch_wait(monkeypatch: Any) -> None:
    app = PromptApp("ztc-test-prompt", broker="kafka://127.0.0.1:1", store="memory://", web_enabled=False)
    transport = app.transport
    assert isinstance(transport, PromptTransport)

    class Built:
        _fetch_max_wait_ms = 1500

    monkeypatch.setattr(
        faust_aiokafka.AIOKafkaConsumerThread,
        "_create_worker_consumer",
        lambda self, transport: Built(),
    )
    thread = faust_transport._PromptConsumerThread.__new__(faust_transport._PromptConsumerThread)
    consumer = thread._create_worker_consumer(transport)
    assert consumer._fetch_max_wait_ms == FETCH_MAX_WAIT_MS < 1500
    assert transport.Consumer is faust_transport._PromptConsumer
