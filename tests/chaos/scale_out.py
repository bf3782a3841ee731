"""Scale-out under fire: workers of each kind share the partitions; kill -9 a router and a recorder.

``ScaledRun`` starts the embedded stack and, as separate ``python -m ztc NAME``
processes (no ``ztc run`` supervisor, so nothing restarts a killed worker: the
group must take its partitions over), 3 routers, 2 recorders, 2 monitors and an
alerter, over topics of 6 partitions, with short group timeouts
(``ZTC_SESSION_TIMEOUT_S=6``, ``ZTC_HEARTBEAT_INTERVAL_S=1``). It waits until every
router and recorder says ``/readyz`` (partitions assigned), then publishes the
tickets to ``tickets.submitted`` at a steady rate, as an intake channel would
(acknowledged by the broker with ``acks=all``), and kill -9s one router and one
recorder half-way.

**Takeover** is how long the killed worker's partitions stood still: for the
routers, per partition of ``tickets.submitted``, the first routing decision made
after the kill (its time in the recorded history) minus the kill
moment, the slowest partition's; for the recorders, per partition of
``tickets.routed``, the first advance of the recorders' committed offset after
the kill (sampled every 0.2 s), the slowest partition's. Partitions the dead
worker did not hold move on at once, so the slowest is the takeover.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from kafka import KafkaAdminClient, KafkaProducer, TopicPartition

from consumers.sla_engine import SlaBook
from deploy.embedded import EmbeddedStack, answers_ok, die_with_parent, free_port
from producers.publisher import build_submission
from schemas.events import Channel, now_in_district
from schemas.settings import Settings
from schemas.ticket import TicketRecord
from tests.chaos.counting import read_tickets
from tests.chaos.results import Result
from tests.chaos.scenarios import Load, _count, _fast
from tests.chaos.settle import Watched, wait_settled
from tests.chaos.system import RunFailed, ZtcRun, new_data_dir
from tests.chaos.tickets import ticket_body
from tests.chaos.webhook import alert_receiver
from ztc.supervisor import prepare_topics

log = logging.getLogger(__name__)

WORKERS = {"router": 3, "recorder": 2, "monitor": 2, "alerter": 1}
GROUPED = ("router", "recorder")
"""Kinds whose /readyz says they hold partitions of their group."""
PARTITIONS = 6
GROUP_TIMING = {"ZTC_SESSION_TIMEOUT_S": "6", "ZTC_HEARTBEAT_INTERVAL_S": "1"}


class ScaledRun(ZtcRun):
    """The embedded stack and ``workers`` (kind → how many) as separate processes on one data dir."""

    def __init__(
        self, data_dir: Path, webhook_url: str, accept_s: int, workers: dict[str, int], partitions: int
    ) -> None:
        super().__init__(data_dir, webhook_url, accept_s)
        self.env |= {"ZTC_PARTITIONS": str(partitions), **GROUP_TIMING}
        self.settings = Settings.from_env(self.env)
        self.env[Settings.variable("internal_topics_ready")] = self.settings.kafka_bootstrap
        self.stack = EmbeddedStack(data_dir, self.settings.broker_port, self.settings.redis_port)
        self.workers = workers
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.health_ports: dict[str, int] = {}

    def start(self, timeout_s: float = 120.0) -> None:
        began = time.monotonic()
        self.stack.up()
        prepare_topics(self.settings, self.policy, force=True)
        for kind, count in self.workers.items():
            for index in range(1, count + 1):
                self._start_worker(kind, f"{kind}-{index}")
        self.wait_ready([n for n in self.children if n.split("-")[0] in GROUPED], timeout_s)
        log.info("%d workers ready in %.1fs", len(self.children), time.monotonic() - began)

    def _start_worker(self, kind: str, label: str) -> None:
        port = self.health_ports[label] = free_port()
        with open(self.data_dir / f"{label}.log", "ab") as out:
            self.children[label] = subprocess.Popen(
                [sys.executable, "-m", "ztc", kind],
                env=self.env | {"ZTC_HEALTH_PORT": str(port)},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.data_dir,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )

    def ready(self, label: str) -> bool:
        return answers_ok(self.health_ports[label], "/readyz")

    def wait_ready(self, labels: list[str], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not all(self.ready(label) for label in labels):
            dead = [n for n in labels if self.children[n].poll() is not None]
            if dead or time.monotonic() > deadline:
                waiting = [n for n in labels if not self.ready(n)]
                raise RunFailed(f"workers not ready: {waiting} (dead: {dead}); logs in {self.data_dir}")
            time.sleep(0.3)

    def kill(self, name: str) -> int:
        """kill -9 the worker labelled ``name`` (``router-1``)."""
        child = self.children[name]
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        log.info("kill -9 %s (pid %s)", name, child.pid)
        return child.pid

    def stop(self, timeout_s: float = 30.0) -> bool:
        clean = True
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in self.children.values():
            try:
                child.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                clean = False
                child.kill()
                child.wait(timeout=10)
        self.stack.down()
        return clean

    def exit_lines(self) -> list[str]:
        return []


@dataclass
class OffsetWatch:
    """Samples a group's committed offsets every ``period_s`` from a thread: partition → [(time, offset)]."""

    bootstrap: str
    group: str
    topic: str
    partitions: int
    period_s: float = 0.2
    samples: dict[int, list[tuple[float, int]]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> OffsetWatch:
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()

    def _run(self) -> None:
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=3000)
        tps = [TopicPartition(self.topic, p) for p in range(self.partitions)]
        try:
            while not self._stop.wait(self.period_s):
                with contextlib.suppress(Exception):
                    offsets = admin.list_group_offsets({self.group: tps})
                    now = time.time()
                    for tp, meta in offsets.get(self.group, {}).items():
                        self.samples.setdefault(tp.partition, []).append((now, meta.offset))
        finally:
            admin.close()

    def takeover_s(self, killed_at: float) -> float | None:
        """The slowest partition's first committed advance after ``killed_at``, in seconds after it."""
        waits = []
        for series in self.samples.values():
            before = [offset for t, offset in series if t <= killed_at]
            after = [t for t, offset in series if t > killed_at and before and offset > before[-1]]
            if before and after:
                waits.append(after[0] - killed_at)
        return max(waits) if waits else None


def router_takeover_s(
    records: dict[str, TicketRecord], partition_of: dict[str, int], killed_at: datetime
) -> float | None:
    """The slowest partition's first routing decided after ``killed_at``, in seconds after it."""
    first: dict[int, float] = {}
    for ticket_id, partition in partition_of.items():
        record = records.get(ticket_id)
        if record is None:
            continue
        for entry in record.history:
            if entry.event_type == "TicketRouted" and entry.at > killed_at:
                wait = (entry.at - killed_at).total_seconds()
                first[partition] = min(first.get(partition, wait), wait)
    return max(first.values()) if first else None


@dataclass
class Published:
    acknowledged: dict[str, str] = field(default_factory=dict)
    """channel message id → ticket id"""
    partition_of: dict[str, int] = field(default_factory=dict)
    """ticket id → partition of tickets.submitted"""
    failed: int = 0


def publish(
    settings: Settings, bodies: list[dict[str, object]], rate: float, at_half: threading.Event
) -> Published:
    """Publish every body to ``tickets.submitted`` at ``rate``/s; set ``at_half`` half-way."""
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5)
    out = Published()
    futures = []
    began = time.monotonic()
    try:
        for index, body in enumerate(bodies):
            if index == len(bodies) // 2:
                at_half.set()
            pause = began + index / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            submission = build_submission(body | {"channel": Channel.web_form.value}, now_in_district())
            value = submission.model_dump_json().encode()
            future = producer.send(settings.topics.submitted, key=submission.ticket_id.encode(), value=value)
            futures.append((submission, future))
        producer.flush()
        for submission, future in futures:
            try:
                meta = future.get(timeout=30)
            except Exception:
                out.failed += 1
                continue
            out.acknowledged[submission.channel_message_id] = submission.ticket_id
            out.partition_of[submission.ticket_id] = meta.partition
    finally:
        producer.close()
    return out


@contextlib.contextmanager
def scaled(load: Load, result: Result, workers: dict[str, int], partitions: int) -> Iterator[Watched]:
    started = time.monotonic()
    with alert_receiver() as receiver:
        run = ScaledRun(
            new_data_dir(load.root, "scale-out"), receiver.url, load.accept_s, workers, partitions
        )
        try:
            run.start()
            yield Watched(run, receiver, SlaBook(run.policy))
        except Exception as exc:
            log.exception("scale-out failed")
            result.error = f"{type(exc).__name__}: {str(exc).strip()[:300]}"
        finally:
            if not run.stop():
                result.notes.append("a worker did not stop on SIGTERM")
            result.seconds = time.monotonic() - started
            if result.failures():
                result.notes.append(f"data dir kept: {run.data_dir}")
            else:
                shutil.rmtree(run.data_dir, ignore_errors=True)


@dataclass
class Takeover:
    router_s: float | None = None
    recorder_s: float | None = None


def scale_out_scenario(
    load: Load,
    workers: dict[str, int] | None = None,
    partitions: int = PARTITIONS,
    takeover: Takeover | None = None,
) -> Result:
    """``load.tickets`` over ``workers``; kill -9 ``router-1`` and ``recorder-1`` half-way."""
    result = Result("scale-out", "kill")
    measured = takeover if takeover is not None else Takeover()
    tag = f"scale-{int(time.time())}"
    bodies: list[dict[str, object]] = [ticket_body(tag, i, load.fast_every) for i in range(load.tickets)]
    with scaled(load, result, workers or WORKERS, partitions) as watched:
        run = watched.run
        assert isinstance(run, ScaledRun)
        half = threading.Event()
        killed: list[tuple[float, datetime]] = []

        def kill_half_way() -> None:
            half.wait()
            killed.append((time.time(), now_in_district()))
            run.kill("router-1")
            run.kill("recorder-1")

        killer = threading.Thread(target=kill_half_way, daemon=True)
        killer.start()
        recorder_group = f"{run.settings.group_prefix}-recorder"
        with OffsetWatch(
            run.settings.kafka_bootstrap, recorder_group, run.settings.topics.routed, partitions
        ) as watch:
            published = publish(run.settings, bodies, load.rate, half)
            killer.join(timeout=30)
            acked = published.acknowledged
            result.submitted, result.acknowledged = len(bodies), len(acked)
            ended = wait_settled(
                watched,
                list(acked.values()),
                list(_fast(bodies, acked, load).values()),
                load.idle_s,
                load.cap_s,
                load.settle_s,
            )
        if ended != "settled":
            result.notes.append(f"wait ended: {ended}")
        if not killed:
            raise RuntimeError("the kill did not happen")
        _count(watched, result, acked, _fast(bodies, acked, load))
        records = read_tickets(run.redis(), run.settings.redis_prefix)
        if len(records) != len(acked):
            result.notes.append(f"{len(records)} tickets in Redis for {len(acked)} acknowledged")
        measured.router_s = router_takeover_s(records, published.partition_of, killed[0][1])
        measured.recorder_s = watch.takeover_s(killed[0][0])
        result.worker_restarts = 0
        result.notes.append(
            f"killed router-1 and recorder-1 at ticket {len(bodies) // 2}; takeover: routers "
            f"{_seconds(measured.router_s)}, recorders {_seconds(measured.recorder_s)}"
        )
    return result


def _seconds(value: float | None) -> str:
    return "not measured" if value is None else f"{value:.1f} s"
