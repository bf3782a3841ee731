"""Long-running services behind ``ztc router``, ``ztc recorder`` and ``ztc run``."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Protocol

from kafka import KafkaProducer
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

from consumers.alert_text import AlertDescriber
from consumers.alerter import outbox_key, run_alerter, sinks_from
from consumers.dead_letters import DeadLetterStore, RedisDeadLetterStore
from consumers.metrics import start_metrics_server
from consumers.monitor import Monitor
from consumers.recorder import Recorder
from consumers.sla_engine import SlaBook
from consumers.sla_publisher import ProducerPublisher
from deploy.embedded import EmbeddedStack, ServiceStatus, StackError, die_with_parent
from deploy.topics import ensure_topics
from producers.outbox import RedisOutbox, Relay, kafka_send
from schemas.dead_letters import dead_letter
from schemas.events import now_in_district
from schemas.policy import RoutingPolicy
from schemas.settings import Settings
from schemas.sla import SlaEvent
from streams.metrics import RouterMetrics
from ztc.bootstrap import configure_logging, policy_for, redis_client, router_model, ticket_store
from ztc.health import Health, recorder_health, redis_probe, router_health, serve_worker_health

log = logging.getLogger(__name__)


def embedded_stack(settings: Settings, *, tied_to_parent: bool = False) -> EmbeddedStack:
    return EmbeddedStack(
        settings.data_dir, settings.broker_port, settings.redis_port, tied_to_parent=tied_to_parent
    )


def prepare_topics(settings: Settings, policy: RoutingPolicy, force: bool = False) -> None:
    """Create every topic of the installation, from the one table, with its partition count."""
    if not force and settings.topics_ready:  # a worker of `ztc run`, which created them already
        return
    ensure_topics(
        settings.kafka_bootstrap,
        settings.topics.all(policy.department_codes),
        settings.partitions,
        settings.replication_factor,
        client_options=settings.kafka_client_options(),
    )


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

    from streams.router import build_router_app

    registry, metrics = router_registry()
    serve_metrics(settings, "router", registry)
    policy = policy_for(settings)
    model, watch = router_model(settings, policy)  # a bad policy model stops the router here
    prepare_topics(settings, policy)
    app = build_router_app(settings, policy, now_in_district, model, metrics, watch)
    serve_worker_health(settings, router_health(app))
    watch.start(settings.model_check_s)
    worker = Worker(app, loglevel="INFO", quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
    return 0  # pragma: no cover - execute_from_commandline exits


def run_recorder(settings: Settings) -> int:
    """Run the recorder in this process until SIGINT/SIGTERM."""
    configure_logging()
    serve_metrics(settings, "recorder")
    policy = policy_for(settings)
    prepare_topics(settings, policy)
    stop = _stop_on_signals("recorder")
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


def _stop_on_signals(name: str) -> threading.Event:
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        log.info("%s stopping (signal %s)", name, signum)
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    return stop


def worker_producer(settings: Settings) -> KafkaProducer:
    """A producer for workers: acknowledged by every replica, never creating topics by accident."""
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
        monitor.run(_stop_on_signals("monitor"), now_in_district, settings.monitor_interval_s, relay.run_pass)
        return []
    finally:
        producer.close()


def run_alerter_service(settings: Settings) -> int:
    """Deliver the Redis alert outbox (SLA events the recorder applied) to the sinks until a signal."""
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
    run_alerter(settings, sinks, _stop_on_signals("alerter"), client, report)
    return 0


def _background_child() -> None:
    die_with_parent()
    os.nice(5)


class Supervisor:
    """Starts child services, restarts one that dies, and stops them all in order."""

    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self.settings = settings
        self.log_dir = log_dir
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.restarts: dict[str, float] = {}
        self.background: dict[str, bool] = {}
        self.failures: dict[str, int] = {}
        self.next_start: dict[str, float] = {}
        self.pending: set[str] = set()
        self.halted: set[str] = set()

    def start(self, name: str, background: bool = False) -> None:
        """Start ``ztc NAME``; ``background`` services run niced, leaving the CPU to the ticket path.

        The child gets this process's environment plus ``ZTC_INTERNAL_TOPICS_READY`` (read back
        through ``Settings``): the topics exist already, so it does not create them again.
        """
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        with open(log_path, "ab") as out:
            self.children[name] = subprocess.Popen(
                [sys.executable, "-m", "ztc", name],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env={**os.environ, Settings.variable("internal_topics_ready"): self.settings.kafka_bootstrap},
                preexec_fn=_background_child if background else die_with_parent,
            )
        self.background[name] = background

    def check(self) -> list[str]:
        """Restart children that exited, backing off while they keep failing; report what happened."""
        notes = []
        now = time.monotonic()
        for name, child in list(self.children.items()):
            if name in self.pending or name in self.halted or child.poll() is None:
                continue
            recent = now - self.restarts.get(name, -60.0) < 60
            self.failures[name] = self.failures.get(name, 0) + 1 if recent else 1
            delay = min(2.0 ** self.failures[name], 60.0)
            log_path = self.log_dir / f"{name}.log"
            notes.append(
                f"{name} exited with {child.returncode}; restarting in {delay:.0f}s (log: {log_path})"
            )
            self.next_start[name] = now + delay
            self.pending.add(name)
        for name in sorted(self.pending):
            if now >= self.next_start[name]:
                self.pending.discard(name)
                self.restarts[name] = now
                self.start(name, self.background.get(name, False))
        return notes

    def stop(self, timeout_s: float = 20.0, only: tuple[str, ...] | None = None) -> list[str]:
        """Stop children (all, or ``only``) with SIGTERM; return the names that had to be killed."""
        chosen = {n: c for n, c in self.children.items() if only is None or n in only}
        for child in chosen.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        killed = []
        for name, child in chosen.items():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in time; killing it", name)
                child.kill()
                child.wait()
                killed.append(name)
        return killed

    def halt(self, names: tuple[str, ...], timeout_s: float = 5.0) -> None:
        """Stop these children and do not restart them until ``resume``."""
        self.pending -= set(names)
        self.stop(timeout_s, only=names)
        self.halted |= set(names)

    def resume(self, names: tuple[str, ...]) -> None:
        for name in names:
            self.halted.discard(name)
            self.start(name, self.background.get(name, False))


class WatchedStack(Protocol):
    """What the watch needs of the embedded stack (``deploy.embedded.EmbeddedStack``)."""

    def status(self) -> list[ServiceStatus]: ...
    def restart(self, name: str, timeout_s: float = 20.0) -> None: ...


class StackWatch:
    """Under ``ztc run``: notice a dead embedded broker or Redis within seconds and bring it back.

    Redis comes back with its AOF (the stack waits until it has loaded). The broker
    comes back empty — Tansu keeps everything in memory — so the Kafka workers are
    stopped first (nothing must auto-create a topic with the wrong partition
    count), every topic is created again from the one table, every unconfirmed
    event in the outbox is made due, and the workers start again and replay it.
    """

    KAFKA_WORKERS = ("router", "recorder", "monitor")
    UNANSWERED_CHECKS = 5
    """A live process must fail this many checks in a row (one a second) before it is restarted."""

    def __init__(
        self,
        stack: WatchedStack,
        supervisor: Supervisor,
        recreate_topics: Callable[[], None],
        replay_outbox: Callable[[], int],
    ) -> None:
        self.stack = stack
        self.supervisor = supervisor
        self.recreate_topics = recreate_topics
        self.replay_outbox = replay_outbox
        self.unanswered: dict[str, int] = {}

    @classmethod
    def for_run(
        cls, stack: EmbeddedStack, settings: Settings, policy: RoutingPolicy, supervisor: Supervisor
    ) -> StackWatch:
        def recreate_topics() -> None:
            prepare_topics(settings, policy, force=True)

        def replay_outbox() -> int:
            return RedisOutbox(redis_client(settings), settings.redis_prefix).replay_all()

        return cls(stack, supervisor, recreate_topics, replay_outbox)

    def check(self) -> list[str]:
        notes: list[str] = []
        for status in sorted(self.stack.status(), key=lambda s: s.name != "redis"):  # Redis first
            if status.running:
                self.unanswered[status.name] = 0
                continue
            self.unanswered[status.name] = self.unanswered.get(status.name, 0) + 1
            if status.pid is not None and self.unanswered[status.name] < self.UNANSWERED_CHECKS:
                continue  # alive but busy: give it a few seconds before declaring it hung
            self.unanswered[status.name] = 0
            try:
                notes += self._restart_redis() if status.name == "redis" else self._restart_broker()
            except StackError as exc:
                notes.append(f"重启失败，稍后重试 / restart failed, trying again: {exc}")
        return notes

    def _restart_redis(self) -> list[str]:
        started = time.monotonic()
        self.stack.restart("redis")
        took = time.monotonic() - started
        return [
            "Redis 已停止 / Redis was down; restarted it",
            f"Redis 已恢复 / Redis is back with its data ({took:.1f}s); workers reconnect by themselves",
        ]

    def _restart_broker(self) -> list[str]:
        started = time.monotonic()
        self.supervisor.halt(self.KAFKA_WORKERS)
        self.stack.restart("broker")
        self.recreate_topics()
        replayed = self.replay_outbox()
        self.supervisor.resume(self.KAFKA_WORKERS)
        took = time.monotonic() - started
        return [
            "消息代理已停止 / the embedded broker was down; restarting it and the Kafka workers",
            f"消息代理已恢复 / broker back in {took:.1f}s: topics re-created, "
            f"{replayed} unconfirmed events re-published from the outbox",
        ]
