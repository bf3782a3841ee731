"""The Faust router: two thin agents over the pure intake and routing functions.

    tickets.submitted --validate--> tickets.validated (keyed by channel + message id)
    tickets.validated --route-----> tickets.routed + dept.<lead> + dept.<co>...
    tickets.reroute   --reroute---> the same, without the departments that bounced it

The first agent turns bytes into a ``TicketSubmitted`` (or a dead letter) and
re-keys it so every copy of one channel message lands on one partition; the
second de-duplicates with a changelogged table, routes, and publishes. Neither
agent ever raises on input: anything it cannot handle is dead-lettered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import faust
from prometheus_client import CollectorRegistry

from schemas.dead_letters import dead_letter
from schemas.events import RerouteRequested, TicketRouted, TicketSubmitted, derived_event_id
from schemas.policy import RoutingPolicy
from schemas.settings import Settings
from streams.intake import InvalidInput, parse_submission
from streams.metrics import RouterMetrics
from streams.routing import LabelModel, route_ticket

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
    validated = _raw_topic(app, names.validated)
    reroute_requests = _raw_topic(app, names.reroute)
    routed = _raw_topic(app, names.routed)
    deadletter = _raw_topic(app, names.deadletter)
    departments = {code: _raw_topic(app, names.department(code)) for code in policy.department_codes}
    seen = app.Table("seen-submissions", key_type=str, value_type=str)

    async def send_dead_letter(event: Any, reason: str, stage: str, ticket_id: str = "-") -> None:
        message = event.message
        record = dead_letter(
            event.value,
            reason=reason,
            stage=stage,
            source_topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            now=clock(),
            ticket_id=ticket_id,
        )
        log.warning("dead-lettered %s@%s/%s: %s", message.topic, message.partition, message.offset, reason)
        counts.dead_letters.labels(stage=stage).inc()
        await deadletter.send(key=None, value=record.model_dump_json().encode())

    @app.agent(submitted)
    async def validate(stream: faust.StreamT[Any]) -> None:
        async for event in stream.events():
            counts.events_in.labels(topic=event.message.topic).inc()
            try:
                submission = parse_submission(event.value)
            except InvalidInput as exc:
                await send_dead_letter(event, str(exc), "validate")
                continue
            except Exception as exc:  # a bug must not stop the agent: dead-letter and go on
                log.exception("validating %s failed", event.message.offset)
                await send_dead_letter(event, f"validation failed: {type(exc).__name__}: {exc}", "validate")
                continue
            key = submission.dedupe_key.encode()
            await validated.send(key=key, value=submission.model_dump_json().encode())

    @app.agent(validated)
    async def route(stream: faust.StreamT[Any]) -> None:
        async for event in stream.events():
            try:
                submission = TicketSubmitted.model_validate_json(event.value)
                first = seen.get(submission.dedupe_key)
                if first is not None:
                    log.info("duplicate of %s ignored (%s)", first, submission.dedupe_key)
                    continue
                await publish(route_ticket(submission, policy, clock(), model=model))
                seen[submission.dedupe_key] = submission.ticket_id
            except Exception as exc:
                log.exception("routing failed for %s", event.message.offset)
                await send_dead_letter(event, f"routing failed: {exc!r}", "route")

    @app.agent(reroute_requests)
    async def reroute(stream: faust.StreamT[Any]) -> None:
        async for event in stream.events():
            try:
                request = RerouteRequested.model_validate_json(event.value)
                excluded = frozenset(request.excluded_departments)
                event_id = derived_event_id("rerouted", request.event_id)
                decision = route_ticket(request.submission, policy, clock(), excluded, event_id, model)
                await publish(decision.model_copy(update={"reroute_request_id": request.event_id}))
            except Exception as exc:
                log.exception("re-routing failed for %s", event.message.offset)
                await send_dead_letter(event, f"re-routing failed: {exc!r}", "reroute")

    async def publish(decision: TicketRouted) -> None:
        payload = decision.model_dump_json().encode()
        key = decision.ticket_id.encode()
        await routed.send(key=key, value=payload)
        for code in decision.departments:
            await departments[code].send(key=key, value=payload)
        counts.events_out.labels(topic=names.routed).inc()
        counts.routing_latency.observe(
            max(0.0, (decision.occurred_at - decision.submission.submitted_at).total_seconds())
        )
        log.info(
            "routed %s → %s (co: %s) [%s, %.2f]",
            decision.ticket_id,
            decision.lead_department,
            ",".join(decision.co_departments) or "-",
            decision.category,
            decision.confidence,
        )

    return app
