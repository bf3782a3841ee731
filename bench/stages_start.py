"""Start-up: the ``ztc`` command line a clerk types, and ``ztc run`` from cold.

CLI (stage ``startup``): ``ztc --help`` against ``python -c pass``, and ``ztc ticket show ID``
against the bench stack's Redis — one recorded ticket — against a bare Python that imports
redis-py and GETs the same key (the least any Python client pays). Each command is run once
before measuring, so the page cache and compiled bytecode, not the first read from disk, are
measured.

Cold start (stage ``cold-start``): ``ztc run`` in an empty data dir → the first ticket on ``tickets.routed``.

ZTC: the fault suite's ``ZtcRun`` (its own data dir, free ports, every worker)
is started, and from the same moment one ticket is produced as soon as the
broker takes it and ``tickets.routed`` is read until it arrives. Baseline, the
same clock and the same produce/read loop: an embedded broker and Redis
started in an empty data dir, the two topics created and the bare pipe
started.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from bench.context import Context
from bench.payloads import encoded, routed_events, submissions
from bench.report import Figure, Row, StageResult, at_most
from bench.stack import BenchStack, stop
from consumers.sla_engine import SlaBook
from consumers.ticket_store import RedisTicketStore
from tests.chaos.system import ZtcRun

TIMEOUT_S = 120.0
BARE_GET = "import sys, redis; redis.Redis.from_url(sys.argv[1]).get(sys.argv[2])"


def _run_seconds(argv: list[str], env: dict[str, str]) -> float:
    began = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env=env)
    return time.perf_counter() - began


def _timed(argv: list[str], runs: int, env: dict[str, str] | None = None) -> Figure:
    """Median over ``runs`` after one run that warms the page cache and writes the bytecode, as an
    installed ZTC has it (``PYTHONDONTWRITEBYTECODE`` would make every run compile every module)."""
    given = {k: v for k, v in (os.environ if env is None else env).items() if k != "PYTHONDONTWRITEBYTECODE"}
    _run_seconds(argv, given)
    return Figure.of([1000 * _run_seconds(argv, given) for _ in range(runs)], "ms")


def startup_stage(ctx: Context) -> StageResult:
    """``ztc --help`` (goal ≤ 300 ms) and ``ztc ticket show`` against Redis (goal ≤ 600 ms)."""
    result = StageResult("startup")
    runs = max(5, ctx.options.repeat)
    bare = _timed([ctx.python, "-c", "pass"], runs)
    ztc = _timed([ctx.python, "-m", "ztc", "--help"], runs)
    result.rows.append(
        Row("startup", "ztc --help", ztc, bare, "python -c pass", at_most(300, "ztc", "≤ 300 ms"))
    )
    settings, env = ctx.stack.fresh("show")
    client = ctx.stack.redis(settings)
    event = routed_events("show", 1, ctx.stack.policy, ctx.model)[0]
    RedisTicketStore(client, settings.redis_prefix, SlaBook(ctx.stack.policy)).record(event)
    url = client.connection_pool.connection_kwargs
    redis_url = f"redis://:{url.get('password') or ''}@{url['host']}:{url['port']}/0"
    key = f"{settings.redis_prefix}ticket:{event.ticket_id}"
    bare_get = _timed([ctx.python, "-c", BARE_GET, redis_url, key], runs)
    show = _timed([ctx.python, "-m", "ztc", "ticket", "show", event.ticket_id.lower()], runs, env)
    result.rows.append(
        Row(
            "startup",
            "ztc ticket show ID (Redis)",
            show,
            bare_get,
            "python: import redis, GET the ticket",
            at_most(600, "ztc", "≤ 600 ms"),
        )
    )
    return result


def _first_through(
    bootstrap: str, source: str, target: str, record: tuple[bytes, bytes], began: float
) -> float:
    """Produce ``record`` as soon as the broker takes it; seconds from ``began`` until it is on ``target``."""
    deadline = began + TIMEOUT_S
    while True:
        try:
            producer = KafkaProducer(
                bootstrap_servers=bootstrap, acks="all", max_block_ms=500, allow_auto_create_topics=False
            )
            try:
                producer.send(source, key=record[0], value=record[1]).get(timeout=5)
                break
            finally:
                producer.close(timeout=2)
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, fetch_max_wait_ms=20, enable_auto_commit=False
    )
    try:
        partitions = [
            TopicPartition(target, p) for p in sorted(consumer.partitions_for_topic(target) or {0, 1, 2})
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        while time.monotonic() < deadline:
            if any(consumer.poll(timeout_ms=50).values()):
                return time.monotonic() - began
        raise TimeoutError(f"nothing arrived on {target} in {TIMEOUT_S:.0f}s")
    finally:
        consumer.close()


def _ztc_once(ctx: Context, root: Path, n: int) -> float:
    """``ztc run`` started from this thread (its children die with the thread that started them)."""
    run = ZtcRun(root / f"ztc-{n}", webhook_url="http://127.0.0.1:9/unused", accept_s=3600)
    record = encoded(next(submissions(f"cold{n}", 1)))
    took: list[float] = []
    failed: list[BaseException] = []
    began = time.monotonic()

    def probe() -> None:
        topics = run.settings.topics
        try:
            took.append(
                _first_through(run.settings.kafka_bootstrap, topics.submitted, topics.routed, record, began)
            )
        except BaseException as exc:  # reported below
            failed.append(exc)

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    try:
        run.start()
        prober.join(timeout=TIMEOUT_S)
    finally:
        run.stop()
    if failed or not took:
        raise failed[0] if failed else TimeoutError("the probe did not finish")
    return took[0]


def _bare_once(ctx: Context, root: Path, n: int) -> float:
    record = encoded(next(submissions(f"coldbare{n}", 1)))
    began = time.monotonic()
    stack = BenchStack(root / f"bare-{n}", ctx.stack.policy_path)
    stack.up()
    try:
        stack.topics("cold.in", "cold.out")
        argv = [ctx.python, "-m", "bench.pipe", stack.bootstrap, "cold.in", "cold.out", "cold-pipe"]
        child = stack.spawn(argv, stack.env("cold"), "pipe-cold")
        try:
            return _first_through(stack.bootstrap, "cold.in", "cold.out", record, began)
        finally:
            stop(child)
    finally:
        stack.down()


def cold_start_stage(ctx: Context) -> StageResult:
    result = StageResult("cold-start")
    root = ctx.stack.data_dir.parent / "cold"
    bare, ztc = [], []
    for n in range(ctx.options.repeat):
        bare.append(_bare_once(ctx, root, n))
        ztc.append(_ztc_once(ctx, root, n))
    result.rows.append(
        Row(
            "cold-start",
            "ztc run → first ticket routed",
            Figure.of(ztc, "s"),
            Figure.of(bare, "s"),
            "broker + Redis up, bare pipe ready",
            at_most(1.5),
        )
    )
    with contextlib.suppress(OSError):
        result.extra["data_dirs"] = str(root)
    return result
