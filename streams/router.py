"""The Faust router: two thin agents over the pure routing steps, one hop per ticket.

    tickets.submitted --route---> tickets.routed + dept.<lead> + dept.<co>...
    tickets.reroute   --reroute-> the same, without the departments that bounced it

Each agent takes its input in batches (``take_events``): every message is
parsed and validated once, routed, and serialised once (the same bytes go to
``tickets.routed`` and to each department), the whole batch's records are
handed to the producer together (one produce request per partition, not one
per record), and only when the broker has acknowledged all of them are the
batch's offsets acknowledged to Faust, which commits them. A routing the broker
refuses is dead-lettered with its reason instead; if even the dead letter
cannot be written the process exits at once, before anything is acknowledged,
so a restart reads the batch again (every output is idempotent downstream).

Repeats of a channel message are filtered early by a bounded in-memory memory
(``SeenMessages``); the recorder is what guarantees one routing per channel
message (see ``streams.router_steps``). Publishers key submissions by their
ticket id, which is derived from the channel message, so copies of one message
share a partition and no re-keying hop is needed. What to send is decided by
the pure steps in ``streams.router_steps`` (unit-tested without Faust).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, cast

import faust
from prometheus_client import CollectorRegistry

from schemas.policy import RoutingPolicy
from schemas.settings import Settings
from streams.faust_transport import PromptApp
from streams.metrics import RouterMetrics
from streams.router_steps import Origin, RouterSteps, SeenMessages, StepOutput
from streams.routing import LabelModel

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

BATCH_MAX = 500
"""Messages routed together at most; their records go to the producer together."""
BATCH_WAIT_S = 0.01
"""How long a batch waits to fill before it is routed as it is (the latency added at low rates)."""
WHAT = {"route": "routing", "reroute": "re-routing"}
UNDELIVERABLE_EXIT = 75
"""Exit status when not even a dead letter could be written (EX_TEMPFAIL: restart and read again)."""


def _raw_topic(app: faust.App, name: str) -> Any:
    return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")


def build_router_app(
    settings: Settings,
    policy: RoutingPolicy,
    clock: Clock,
    model: LabelModel | None = None,
    metrics: RouterMetrics | None = None,
) -> faust.App:
    """Compose the router: app, topics and agents. Connects nothing until started.

    ``metrics`` are the counters the caller exposes (``ztc`` serves their registry);
    without them the router counts into a registry of its own that nobody scrapes.
    """
    counts = metrics if metrics is not None else RouterMetrics.registered_in(CollectorRegistry())
    app = _faust_app(settings)
    names = settings.topics
    submitted = _raw_topic(app, names.submitted)
    reroute_requests = _raw_topic(app, names.reroute)
    seen = SeenMessages()
    steps = RouterSteps(names, policy, clock, counts, model)

    async def deliver(outputs: Sequence[tuple[Any, StepOutput]], stage: str) -> None:
        """Send every output, then wait for the broker; an output it refuses is dead-lettered."""
        pending = [(event, out, await _enqueue(app, out)) for event, out in outputs]
        for event, out, sent in pending:
            failure = await _acknowledged(sent)
            if failure is not None:
                log.error("sending the %s of %s failed: %r", stage, origin(event), failure)
                reason = f"{WHAT[stage]} failed: {failure!r}"
                letter = steps.dead_letter(event.value, origin(event), reason, stage)
                if await _acknowledged(await _enqueue(app, letter)) is not None:
                    _exit_unacknowledged(out)

    @app.agent(submitted)
    async def route(stream: faust.StreamT[Any]) -> None:
        async for events in _batches(stream):
            outputs = []
            for event in events:
                out = steps.route(event.value, origin(event), seen)
                if out.remember is not None:
                    seen.remember(*out.remember)
                outputs.append((event, out))
            await deliver(outputs, "route")

    @app.agent(reroute_requests)
    async def reroute(stream: faust.StreamT[Any]) -> None:
        async for events in _batches(stream):
            await deliver([(e, steps.reroute(e.value, origin(e))) for e in events], "reroute")

    return app


def _batches(stream: faust.StreamT[Any]) -> AsyncIterator[Sequence[Any]]:
    """The stream's events in batches; Faust acknowledges a batch's offsets once the next is asked for."""
    return cast(faust.Stream[Any], stream).take_events(BATCH_MAX, within=BATCH_WAIT_S)


def _faust_app(settings: Settings) -> faust.App:
    return PromptApp(
        f"{settings.group_prefix}-router",
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",
        web_enabled=False,
        topic_partitions=settings.partitions,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=2,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger=0.005,  # a batch's records are handed over together: little to wait for
        producer_max_batch_size=256 * 1024,
    )


async def _enqueue(app: faust.App, out: StepOutput) -> list[Awaitable[Any]] | BaseException:
    """Hand an output's records to the producer; the futures of their acknowledgements, or the error.

    Straight to the producer (raw bytes, default partitioner by key), not through ``Topic.send``:
    the router needs none of its serialisation, callbacks or per-record bookkeeping.
    """
    send = app.producer.send
    try:
        return [await send(s.topic, s.key, s.value, None, None, None) for s in out.sends]
    except Exception as exc:  # e.g. a topic the broker does not have
        return exc


async def _acknowledged(sent: list[Awaitable[Any]] | BaseException) -> BaseException | None:
    """None once the broker acknowledged every record, else why not."""
    if isinstance(sent, BaseException):
        return sent
    results = await asyncio.gather(*sent, return_exceptions=True)
    return next((r for r in results if isinstance(r, BaseException)), None)


def _exit_unacknowledged(out: StepOutput) -> None:
    """Neither the output nor its dead letter was written: stop before its offset is acknowledged."""
    log.critical(
        "the broker refused %d records and their dead letter; exiting so they are read again", len(out.sends)
    )
    logging.shutdown()
    os._exit(UNDELIVERABLE_EXIT)


def origin(event: Any) -> Origin:
    """Where a Faust event was read."""
    message = event.message
    return Origin(message.topic, message.partition, message.offset)
