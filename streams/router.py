"""The Faust router: two thin agents over the pure intake and routing functions.

    tickets.submitted --validate--> tickets.validated (keyed by channel + message id)
    tickets.validated --route-----> tickets.routed + dept.<lead> + dept.<co>...
    tickets.reroute   --reroute---> the same, without the departments that bounced it

The first agent turns bytes into a ``TicketSubmitted`` (or a dead letter) and
re-keys it so every copy of one channel message lands on one partition; the
second de-duplicates with a changelogged table, routes, and publishes. What to
send is decided by the pure steps in ``streams.router_steps`` (unit-tested
without Faust); the agents only send it. Neither agent ever raises on input:
anything it cannot handle is dead-lettered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import faust
from prometheus_client import CollectorRegistry

from schemas.policy import RoutingPolicy
from schemas.settings import Settings
from streams.metrics import RouterMetrics
from streams.router_steps import Origin, RouterSteps, StepOutput
from streams.routing import LabelModel

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def _raw_topic(app: faust.App, name: str) -> Any:
    return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")


def build_router_app(
    settings: Settings,
    policy: RoutingPolicy,
    clock: Clock,
    model: LabelModel | None = None,
    metrics: RouterMetrics | None = None,
) -> faust.App:
    """Compose the router: app, topics, table and agents. Connects nothing until started.

    ``metrics`` are the counters the caller exposes (``ztc`` serves their registry);
    without them the router counts into a registry of its own that nobody scrapes.
    """
    counts = metrics if metrics is not None else RouterMetrics.registered_in(CollectorRegistry())
    app = faust.App(
        f"{settings.group_prefix}-router",
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",
        web_enabled=False,
        topic_partitions=settings.partitions,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=2,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
    )
    names = settings.topics
    submitted = _raw_topic(app, names.submitted)
    reroute_requests = _raw_topic(app, names.reroute)
    departments = [names.department(code) for code in policy.department_codes]
    topics = {n: _raw_topic(app, n) for n in (names.validated, names.routed, names.deadletter, *departments)}
    seen = app.Table("seen-submissions", key_type=str, value_type=str)
    steps = RouterSteps(names, policy, clock, counts, model)

    async def emit(out: StepOutput) -> None:
        for send in out.sends:
            await topics[send.topic].send(key=send.key, value=send.value)
        if out.remember is not None:
            seen[out.remember[0]] = out.remember[1]

    @app.agent(submitted)
    async def validate(stream: faust.StreamT[Any]) -> None:
        async for event in stream.events():
            await emit(steps.validate(event.value, origin(event)))

    @app.agent(topics[names.validated])
    async def route(stream: faust.StreamT[Any]) -> None:
        async for event in stream.events():
            where = origin(event)
            out = steps.route(event.value, where, seen)
            try:
                await emit(out)
            except Exception as exc:  # as a routing that failed: dead-letter and go on
                log.exception("sending the routing of %s failed", where.offset)
                await emit(steps.dead_letter(event.value, where, f"routing failed: {exc!r}", "route"))

    @app.agent(reroute_requests)
    async def reroute(stream: faust.StreamT[Any]) -> None:
        async for event in stream.events():
            await emit(steps.reroute(event.value, origin(event)))

    return app


def origin(event: Any) -> Origin:
    """Where a Faust event was read."""
    message = event.message
    return Origin(message.topic, message.partition, message.offset)
