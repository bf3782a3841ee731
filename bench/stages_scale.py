"""Router scale-out: throughput with 1 and with 3 router workers in one consumer group, same run.

Topics have 6 partitions for both (so only the number of workers differs). The
workers are started on empty topics and the bench waits until every one says
``/readyz`` (partitions of the group assigned): joining and rebalancing are not
counted. Then N tickets are produced as fast as the broker takes them (a few
hundred milliseconds for 10,000: far less than routing them), and a watcher times
``tickets.routed`` from the first arrival to the N-th. CPU per message is the sum
over the workers. On a machine with 2 cores shared with the broker, Redis and the
producer, 3 workers cannot be 3 times 1: the gain is what is left of a core.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass

from bench.context import Context
from bench.kafka_io import Arrival, Record, Watcher, produce_all
from bench.report import Figure, Row, StageResult
from bench.stack import cpu_seconds, stop
from deploy.embedded import answers_ok, free_port

PARTITIONS = 6
WORKER_COUNTS = (1, 3)
READY_TIMEOUT_S = 120.0


@dataclass
class Scaled:
    rate: float
    cpu_ms: float
    complete: bool


async def _wait_ready(ports: list[int]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not all(answers_ok(port, "/readyz") for port in ports):
        if time.monotonic() > deadline:
            raise RuntimeError(f"router workers not ready within {READY_TIMEOUT_S:.0f}s")
        await asyncio.sleep(0.3)
    await asyncio.sleep(1.0)  # the last join's assignment reaches every member


async def _scaled_throughput(ctx: Context, workers: int, records: list[Record]) -> Scaled:
    settings, env = ctx.stack.fresh(f"scale{workers}", partitions=PARTITIONS)
    env |= {"ZTC_SESSION_TIMEOUT_S": "6", "ZTC_HEARTBEAT_INTERVAL_S": "1"}
    ports = [free_port() for _ in range(workers)]
    children = [
        ctx.stack.spawn(
            [sys.executable, "-m", "ztc", "router"],
            env | {"ZTC_HEALTH_PORT": str(port)},
            f"router-{settings.group_prefix}-{index}",
        )
        for index, port in enumerate(ports)
    ]
    first: dict[str, float] = {}

    def on_arrival(arrival: Arrival) -> None:
        if not first:
            first.update(at=arrival.at, cpu=sum(cpu_seconds(c.pid) for c in children))

    watcher = Watcher(ctx.stack.bootstrap, (settings.topics.routed,), on_arrival=on_arrival)
    try:
        await _wait_ready(ports)
        await watcher.start()
        await produce_all(ctx.stack.bootstrap, settings.topics.submitted, records)
        complete = await watcher.wait_for(len(records), idle_s=60)
        cpu = sum(cpu_seconds(c.pid) for c in children)
    finally:
        await watcher.stop()
        for child in children:
            stop(child)
    rate, counted = watcher.rate_after(first["at"])
    return Scaled(rate, 1000 * (cpu - first["cpu"]) / max(1, counted), complete)


def router_scale_stage(ctx: Context) -> StageResult:
    result = StageResult("router-scale")
    n = ctx.options.tickets
    records = ctx.records("scale", n)
    runs: dict[int, list[Scaled]] = {count: [] for count in WORKER_COUNTS}
    for _ in range(ctx.options.repeat):
        for count in WORKER_COUNTS:
            runs[count].append(asyncio.run(_scaled_throughput(ctx, count, records)))
    if not all(r.complete for rs in runs.values() for r in rs):
        result.notes.append(
            "some runs did not deliver every ticket (60 s without progress); rate over what came"
        )
    one, three = runs[1], runs[3]
    result.rows += [
        Row(
            "router-scale",
            f"{n:,} tickets, {PARTITIONS} partitions: 3 workers vs 1",
            Figure.of([r.rate for r in three], "tickets/s"),
            Figure.of([r.rate for r in one], "tickets/s"),
            "1 router worker",
        ),
        Row(
            "router-scale",
            "router CPU per message, all workers",
            Figure.of([r.cpu_ms for r in three], "ms"),
            Figure.of([r.cpu_ms for r in one], "ms"),
            "1 router worker",
        ),
    ]
    result.extra["router_workers"] = {
        str(count): [round(r.rate, 1) for r in rs] for count, rs in runs.items()
    }
    return result
