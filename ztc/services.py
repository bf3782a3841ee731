"""Long-running services behind ``ztc router``, ``ztc recorder`` and ``ztc run``."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

from consumers.metrics import start_metrics_server
from schemas.dead_letters import dead_letter
from schemas.events import now_in_district
from schemas.settings import Settings
from streams.metrics import RouterMetrics
from ztc.bootstrap import configure_logging, model_for, policy_for, redis_client, router_model, ticket_store
from ztc.health import Health, recorder_health, redis_probe, router_health, serve_worker_health
from ztc.supervisor import prepare_topics, stop_on_signals, wait_for_release

if TYPE_CHECKING:  # each worker imports what it runs, when it runs it: the router starts sooner
    from kafka import KafkaProducer

    from consumers.dead_letters import DeadLetterStore
    from schemas.sla import SlaEvent

log = logging.getLogger(__name__)


METRICS_OFFSET = {"router": 0, "recorder": 1, "monitor": 2, "alerter": 3}


def serve_metrics(settings: Settings, service: str, registry: CollectorRegistry | None = None) -> None:
    """Prometheus /metrics for one worker, at ZTC_METRICS_PORT + its offset (off when unset).

    ``registry``: what to serve; the default registry unless the worker was given its own.
    """
    if settings.metrics_port is not None:
        port = settings.metrics_port + METRICS_OFFSET[service]
        start_metrics_server(port, settings.metrics_host, registry=registry)
        log.info("%s metrics on http://%s:%s/metrics", service, settings.metrics_host, port)


def router_registry() -> tuple[CollectorRegistry, RouterMetrics]:
    """The router process's registry: its own counters plus the process, platform and GC collectors.

    The router does not count into the default registry, which ``consumers.metrics``
    fills with the other workers' counters of the same names; serving this one
    instead keeps every family once in the exposition.
    """
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry, RouterMetrics.registered_in(registry)


def run_router(settings: Settings) -> int:
    """Run the Faust router in this process until SIGINT/SIGTERM."""
    from faust.worker import Worker

    from streams.router import build_router_app, settle_collector

    registry, metrics = router_registry()
    serve_metrics(settings, "router", registry)
    policy = policy_for(settings)
    own = model_for(settings, policy)  # a bad policy model stops the router here, before anything connects
    if not wait_for_release(settings):
        return 0
    model, watch = router_model(settings, policy, own)  # the switched-to model, if one is active
    metrics.show_model(model.identity if model is not None else None)
    watch.on_switch = metrics.show_model
    prepare_topics(settings, policy)
    app = build_router_app(settings, policy, now_in_district, model, metrics, watch)
    serve_worker_health(settings, router_health(app))
    watch.start(settings.model_check_s)
    worker = Worker(app, loglevel="INFO", quiet=True, redirect_stdouts=False)
    settle_collector()
    worker.execute_from_commandline()
    return 0  # pragma: no cover - execute_from_commandline exits


def run_recorder(settings: Settings) -> int:
    """Run the recorder in this process until SIGINT/SIGTERM."""
    from consumers.dead_letters import RedisDeadLetterStore
    from consumers.recorder import Recorder
    from producers.outbox import RedisOutbox

    configure_logging()
    serve_metrics(settings, "recorder")
    policy = policy_for(settings)
    if not wait_for_release(settings):
        return 0
    prepare_topics(settings, policy)
    stop = stop_on_signals(name="recorder")
    store = ticket_store(settings, policy)
    store.ensure_read_model()  # tickets from before the read model are summed in before the first write
    outbox = RedisOutbox(store.client, settings.redis_prefix)
    dead_letters = RedisDeadLetterStore(store.client, settings.redis_prefix)
    departments = frozenset(policy.department_codes)
    recorder = Recorder(settings, store, now_in_district, outbox, dead_letters, departments)
    serve_worker_health(settings, recorder_health(recorder, store.client))
    recorder.run(stop)
    log.info("recorder stopped")
    return 0


def worker_producer(settings: Settings) -> KafkaProducer:
    """A producer for workers: acknowledged by every replica, never creating topics by accident."""
    from kafka import KafkaProducer

    return KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        max_block_ms=10000,
        allow_auto_create_topics=False,
        **settings.kafka_client_options(),
    )


class DeadLetterReporter:
    """Keeps what a worker could not handle as a dead letter people can read (``ztc deadletter``)."""

    def __init__(self, dead_letters: DeadLetterStore, stage: str, source: str) -> None:
        self.dead_letters = dead_letters
        self.stage = stage
        self.source = source

    def __call__(self, raw: bytes, reason: str, ticket_id: str = "-") -> None:
        record = dead_letter(
            raw,
            reason=reason,
            stage=self.stage,
            source_topic=self.source,
            now=now_in_district(),
            ticket_id=ticket_id,
        )
        self.dead_letters.add(record)

    def alert_key(self, key: str, reason: str) -> None:
        """The monitor's form: a due ticket (its id, or a legacy alert key ``ticket:stage:kind:round``)."""
        self(key.encode(), reason, key.split(":", 1)[0][:64] or "-")


def run_monitor(settings: Settings, once: bool = False, now: datetime | None = None) -> list[SlaEvent]:
    """One pass at ``now`` (drills and tests), or keep watching — and relaying the outbox — until a signal."""
    from consumers.dead_letters import RedisDeadLetterStore
    from consumers.monitor import Monitor
    from consumers.sla_engine import SlaBook
    from consumers.sla_publisher import ProducerPublisher
    from producers.outbox import RedisOutbox, Relay, kafka_send

    configure_logging()
    policy = policy_for(settings)
    prepare_topics(settings, policy)
    store = ticket_store(settings, policy)
    producer = worker_producer(settings)
    report = DeadLetterReporter(
        RedisDeadLetterStore(store.client, settings.redis_prefix), "monitor", store.sla_due_key
    )
    publisher = ProducerPublisher(producer)
    monitor = Monitor(
        store.sla_schedule,
        SlaBook(policy),
        publisher,
        settings.topics.sla,
        dead_letter=report.alert_key,
    )
    try:
        if once:
            return monitor.run_pass(now or now_in_district())
        serve_metrics(settings, "monitor")
        serve_worker_health(settings, Health(ready=[redis_probe(store.client)]))
        outbox = RedisOutbox(store.client, settings.redis_prefix)
        relay = Relay(outbox, kafka_send(producer), producer.flush)
        monitor.run(
            stop_on_signals(name="monitor"), now_in_district, settings.monitor_interval_s, relay.run_pass
        )
        return []
    finally:
        producer.close()


def run_alerter_service(settings: Settings) -> int:
    """Deliver the Redis alert outbox (SLA events the recorder applied) to the sinks until a signal."""
    from consumers.alert_text import AlertDescriber
    from consumers.alerter import outbox_key, run_alerter, sinks_from
    from consumers.dead_letters import RedisDeadLetterStore

    configure_logging()
    client = redis_client(settings)
    policy = policy_for(settings)
    store = ticket_store(settings, policy)
    describe = AlertDescriber(store.get, policy, settings.public_base_url)
    sinks = sinks_from(settings, client, describe)
    serve_metrics(settings, "alerter")
    serve_worker_health(settings, Health(ready=[redis_probe(client)]))

    letters = RedisDeadLetterStore(client, settings.redis_prefix)
    report = DeadLetterReporter(letters, "alerter", outbox_key(settings.redis_prefix))
    run_alerter(settings, sinks, stop_on_signals(name="alerter"), client, report)
    return 0
