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

from kafka import KafkaProducer

from consumers.alerter import run_alerter, sinks_from
from consumers.metrics import EVENTS_OUT, start_metrics_server
from consumers.monitor import Monitor
from consumers.recorder import Recorder
from consumers.sla_engine import SlaBook
from deploy.embedded import EmbeddedStack, die_with_parent
from deploy.topics import ensure_topics
from schemas.events import now_in_district
from schemas.policy import RoutingPolicy
from schemas.settings import Settings
from schemas.sla import SlaEvent
from ztc.bootstrap import configure_logging, model_for, policy_for, redis_client, ticket_store

log = logging.getLogger(__name__)


def embedded_stack(settings: Settings, *, tied_to_parent: bool = False) -> EmbeddedStack:
    return EmbeddedStack(
        settings.data_dir, settings.broker_port, settings.redis_port, tied_to_parent=tied_to_parent
    )


TOPICS_READY_ENV = "ZTC_INTERNAL_TOPICS_READY"  # set by the supervisor, which created them already


def prepare_topics(settings: Settings, policy: RoutingPolicy) -> None:
    if os.environ.get(TOPICS_READY_ENV) == settings.kafka_bootstrap:
        return
    ensure_topics(
        settings.kafka_bootstrap,
        settings.topics.all(policy.department_codes),
        settings.partitions,
        settings.replication_factor,
    )


METRICS_OFFSET = {"router": 0, "recorder": 1, "monitor": 2, "alerter": 3}


def serve_metrics(settings: Settings, service: str) -> None:
    """Prometheus /metrics for one worker, at ZTC_METRICS_PORT + its offset (off when unset)."""
    if settings.metrics_port is not None:
        port = settings.metrics_port + METRICS_OFFSET[service]
        start_metrics_server(port)
        log.info("%s metrics on http://127.0.0.1:%s/metrics", service, port)


def run_router(settings: Settings) -> int:
    """Run the Faust router in this process until SIGINT/SIGTERM."""
    from faust.worker import Worker

    from streams.router import build_router_app

    serve_metrics(settings, "router")
    policy = policy_for(settings)
    model = model_for(settings, policy)  # a bad model stops the router here, before it consumes anything
    prepare_topics(settings, policy)
    app = build_router_app(settings, policy, now_in_district, model)
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
    Recorder(settings, ticket_store(settings, policy), now_in_district).run(stop)
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


def sla_publisher(settings: Settings) -> tuple[Callable[[SlaEvent], None], Callable[[], None]]:
    """Publish SLA events with broker acknowledgement; returns (publish, close)."""
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")

    def publish(event: SlaEvent) -> None:
        value = event.model_dump_json().encode()
        producer.send(settings.topics.sla, key=event.ticket_id.encode(), value=value).get(timeout=10)
        EVENTS_OUT.labels(topic=settings.topics.sla).inc()

    return publish, producer.close


def run_monitor(settings: Settings, once: bool = False, now: datetime | None = None) -> list[SlaEvent]:
    """One pass at ``now`` (drills and tests), or keep watching until SIGINT/SIGTERM."""
    configure_logging()
    policy = policy_for(settings)
    prepare_topics(settings, policy)
    store = ticket_store(settings, policy)
    publish, close = sla_publisher(settings)
    monitor = Monitor(store, SlaBook(policy), publish)
    try:
        if once:
            return monitor.run_pass(now or now_in_district())
        serve_metrics(settings, "monitor")
        monitor.run(_stop_on_signals("monitor"), now_in_district, settings.monitor_interval_s)
        return []
    finally:
        close()


def run_alerter_service(settings: Settings) -> int:
    configure_logging()
    policy = policy_for(settings)
    prepare_topics(settings, policy)
    sinks = sinks_from(settings, redis_client(settings))
    serve_metrics(settings, "alerter")
    run_alerter(settings, sinks, _stop_on_signals("alerter"))
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

    def start(self, name: str, background: bool = False) -> None:
        """Start ``ztc NAME``; ``background`` services run niced, leaving the CPU to the ticket path."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        with open(log_path, "ab") as out:
            self.children[name] = subprocess.Popen(
                [sys.executable, "-m", "ztc", name],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env={**os.environ, TOPICS_READY_ENV: self.settings.kafka_bootstrap},
                preexec_fn=_background_child if background else die_with_parent,
            )
        self.background[name] = background

    def check(self) -> list[str]:
        """Restart children that exited, backing off while they keep failing; report what happened."""
        notes = []
        now = time.monotonic()
        for name, child in list(self.children.items()):
            if name in self.pending or child.poll() is None:
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

    def stop(self, timeout_s: float = 20.0) -> None:
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for name, child in self.children.items():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in time; killing it", name)
                child.kill()
                child.wait()
