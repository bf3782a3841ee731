"""Kafka stages: produce rate, router throughput vs the bare pipe, latency at fixed rates, highest rate held.

Throughput: N tickets are pre-loaded on the input topic, then the pipe (or the
router) is started, and a watcher times the output from the first arrival to
the N-th — start-up is not counted for either. CPU per message is the
process's (and the broker's) user + system time over the same window.

Latency: a producer sends tickets one by one at a fixed rate (after a warm-up
that waits until the worker has joined its group); the watcher's arrival time
minus the send time, per ticket, on ``tickets.routed`` and on ``dept.<lead>``.
A ticket not delivered within ``drain_seconds`` of the last send counts as ∞.
"""

from __future__ import annotations

import asyncio
import math
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.context import Context
from bench.kafka_io import Arrival, Record, Watcher, produce_all, send_at_rate
from bench.report import Figure, Row, StageResult, at_least, at_most
from bench.stack import cpu_seconds, stop
from schemas.settings import Settings

PIPE = "bare aiokafka pipe"
BESIDE_START_S = 8.0
"""time the hot-spot worker gets to start and join its group before the router starts"""
SEARCH_RATES = (25, 50, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000)
SUSTAINED_P99_S = 1.0
WARM_UP = 20


# ------------------------------------------------------------------ produce


def produce_stage(ctx: Context) -> StageResult:
    result = StageResult("produce")
    rates = []
    for rep in range(ctx.options.repeat):
        settings, _ = ctx.stack.fresh("produce")
        records = ctx.records("produce", ctx.options.tickets)
        seconds = asyncio.run(produce_all(ctx.stack.bootstrap, settings.topics.submitted, records))
        rates.append(len(records) / seconds)
        del rep
    size = sum(len(v) for _, v in ctx.records("produce", ctx.options.tickets)) / ctx.options.tickets
    result.extra["ticket_bytes"] = round(size)
    result.rows.append(Row("produce", f"aiokafka batched, acks=all, {size:.0f} B", Figure.of(rates, "msg/s")))
    return result


# ------------------------------------------------------------------ throughput


@dataclass
class Throughput:
    rate: float
    cpu_ms: float
    """the worker's CPU per message"""
    broker_cpu_ms: float
    complete: bool
    beside_cpu_ms: float = 0.0
    """the hot-spot worker's CPU per message over the same window (when one ran beside)"""


async def _throughput(
    ctx: Context, name: str, records: Sequence[Record], beside: list[subprocess.Popen[bytes]] | None = None
) -> Throughput:
    """The pipe's or the router's rate over ``records``; ``beside``: first start the hot-spot worker (niced,
    as ``ztc run`` starts it), give it ``BESIDE_START_S`` to start, and leave it in that list."""
    settings, env = ctx.stack.fresh(name)
    source, target = settings.topics.submitted, settings.topics.routed
    await produce_all(ctx.stack.bootstrap, source, records)
    broker = ctx.stack.broker_pid()
    first: dict[str, float] = {}
    child: subprocess.Popen[bytes] | None = None

    def beside_cpu() -> float:
        return sum(cpu_seconds(w.pid) for w in beside or [])

    def on_arrival(arrival: Arrival) -> None:
        if not first and child is not None:
            first.update(
                at=arrival.at, cpu=cpu_seconds(child.pid), broker=cpu_seconds(broker), beside=beside_cpu()
            )

    watcher = Watcher(ctx.stack.bootstrap, (target,), on_arrival=on_arrival)
    await watcher.start()
    if name == "pipe":
        argv = [
            ctx.python,
            "-m",
            "bench.pipe",
            ctx.stack.bootstrap,
            source,
            target,
            f"{settings.group_prefix}-pipe",
        ]
        child = ctx.stack.spawn(argv, env, f"pipe-{settings.group_prefix}")
    else:
        if beside is not None:
            argv = ["nice", "-n", "5", ctx.python, "-m", "ztc", "hotspots"]
            beside.append(ctx.stack.spawn(argv, env, f"hotspots-{settings.group_prefix}"))
            await asyncio.sleep(BESIDE_START_S)
        child = ctx.stack.worker("router", env)
    try:
        complete = await watcher.wait_for(len(records), idle_s=60)
        cpu, broker_cpu, worker_cpu = cpu_seconds(child.pid), cpu_seconds(broker), beside_cpu()
    finally:
        await watcher.stop()
        stop(child)
    rate, counted = watcher.rate_after(first["at"])
    return Throughput(
        rate,
        1000 * (cpu - first["cpu"]) / max(1, counted),
        1000 * (broker_cpu - first["broker"]) / max(1, counted),
        complete,
        1000 * (worker_cpu - first["beside"]) / max(1, counted),
    )


def router_stage(ctx: Context) -> StageResult:
    result = StageResult("router")
    n = ctx.options.tickets
    records = ctx.records("throughput", n)
    pipes: list[Throughput] = []
    routers: list[Throughput] = []
    for _ in range(ctx.options.repeat):
        pipes.append(asyncio.run(_throughput(ctx, "pipe", records)))
        routers.append(asyncio.run(_throughput(ctx, "router", records)))
    if not all(r.complete for r in routers + pipes):
        result.notes.append(
            "some runs did not deliver every ticket (60 s without progress); rate over what came"
        )
    result.rows += [
        Row(
            "router",
            f"{n:,} pre-loaded: submitted → routed",
            Figure.of([r.rate for r in routers], "tickets/s"),
            Figure.of([p.rate for p in pipes], "msg/s"),
            PIPE,
            at_least(0.3, text="≥ 0.3× (long run 0.6×)"),
        ),
        Row(
            "router",
            "worker CPU per message",
            Figure.of([r.cpu_ms for r in routers], "ms"),
            Figure.of([p.cpu_ms for p in pipes], "ms"),
            PIPE,
        ),
        Row(
            "router",
            "broker CPU per message",
            Figure.of([r.broker_cpu_ms for r in routers], "ms"),
            Figure.of([p.broker_cpu_ms for p in pipes], "ms"),
            PIPE,
        ),
    ]
    return result


# ------------------------------------------------------------------ latency


@dataclass
class Latencies:
    routed: list[float] = field(default_factory=list)
    lead: list[float] = field(default_factory=list)
    sender_late_s: float = 0.0

    def percentile(self, which: str, q: float) -> float:
        values = sorted(self.routed if which == "routed" else self.lead)
        if not values:
            return math.nan
        return values[max(0, math.ceil(q * len(values)) - 1)]


class Tracker:
    """Arrival times per ticket key on the routed topic and on its lead department's topic."""

    def __init__(self, routed_topic: str, dept_prefix: str) -> None:
        self.routed_topic = routed_topic
        self.dept_prefix = dept_prefix
        self.routed: dict[bytes, float] = {}
        self.lead_of: dict[bytes, str] = {}
        self.dept: dict[tuple[str, bytes], float] = {}

    def __call__(self, arrival: Arrival) -> None:
        if arrival.topic == self.routed_topic:
            self.routed.setdefault(arrival.key, arrival.at)
            if arrival.lead is not None:
                self.lead_of[arrival.key] = arrival.lead
        else:
            self.dept.setdefault((arrival.topic.removeprefix(self.dept_prefix), arrival.key), arrival.at)

    def lead_at(self, key: bytes) -> float | None:
        lead = self.lead_of.get(key)
        return self.dept.get((lead, key)) if lead is not None else None


class Running:
    """The pipe or the router, running on fresh topics, warmed up, with a watcher on its outputs."""

    def __init__(self, ctx: Context, system: str) -> None:
        self.ctx = ctx
        self.system = system
        self.settings: Settings | None = None
        self.child: subprocess.Popen[bytes] | None = None
        self.watcher: Watcher | None = None
        self.tracker: Tracker | None = None
        self.serial = 0

    async def __aenter__(self) -> Running:
        settings, env = self.ctx.stack.fresh(self.system)
        self.settings = settings
        topics = settings.topics
        dept = [topics.department(c) for c in self.ctx.stack.policy.department_codes]
        self.tracker = Tracker(topics.routed, topics.department(""))
        routing = self.system == "router"
        watched = (topics.routed, *dept) if routing else (topics.routed,)
        parse = frozenset({topics.routed}) if routing else frozenset()
        self.watcher = Watcher(self.ctx.stack.bootstrap, watched, parse, self.tracker)
        await self.watcher.start()
        if routing:
            self.child = self.ctx.stack.worker("router", env)
        else:
            group = f"{settings.group_prefix}-pipe"
            argv = [
                self.ctx.python,
                "-m",
                "bench.pipe",
                self.ctx.stack.bootstrap,
                topics.submitted,
                topics.routed,
                group,
            ]
            self.child = self.ctx.stack.spawn(argv, env, f"pipe-{settings.group_prefix}")
        await self.at_rate(20.0, WARM_UP, drain_s=90.0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.watcher is not None:
            await self.watcher.stop()
        if self.child is not None:
            stop(self.child)

    async def at_rate(self, rate: float, count: int, drain_s: float) -> Latencies:
        assert self.settings is not None and self.tracker is not None
        self.serial += 1
        records = self.ctx.records(f"{self.settings.group_prefix}-{self.serial}", count)
        sent: dict[bytes, float] = {}
        late = await send_at_rate(
            self.ctx.stack.bootstrap, self.settings.topics.submitted, records, rate, sent
        )
        deadline = time.monotonic() + drain_s
        lead = self.system == "router"
        while time.monotonic() < deadline:
            routed = sum(1 for k in sent if k in self.tracker.routed)
            leads = sum(1 for k in sent if self.tracker.lead_at(k) is not None) if lead else routed
            if routed == len(sent) and leads == len(sent):
                break
            await asyncio.sleep(0.1)
        out = Latencies(sender_late_s=late)
        for key, at in sent.items():
            routed_at = self.tracker.routed.get(key)
            out.routed.append(routed_at - at if routed_at is not None else math.inf)
            if lead:
                lead_at = self.tracker.lead_at(key)
                out.lead.append(lead_at - at if lead_at is not None else math.inf)
        return out


async def _series(ctx: Context, system: str) -> dict[float, Latencies]:
    out: dict[float, Latencies] = {}
    async with Running(ctx, system) as running:
        for rate in ctx.options.rates:
            count = max(1, int(rate * ctx.options.latency_seconds))
            out[rate] = await running.at_rate(rate, count, ctx.options.drain_seconds)
    return out


def latency_stage(ctx: Context) -> StageResult:
    result = StageResult("latency")
    pipes: list[dict[float, Latencies]] = []
    routers: list[dict[float, Latencies]] = []
    for _ in range(ctx.options.repeat):
        pipes.append(asyncio.run(_series(ctx, "pipe")))
        routers.append(asyncio.run(_series(ctx, "router")))
    for rate in ctx.options.rates:
        for q, label in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
            pipe = Figure.of([p[rate].percentile("routed", q) for p in pipes], "ms")
            pipe = Figure(tuple(1000 * v for v in pipe.values), "ms")
            for which, target in (("routed", "tickets.routed"), ("lead", "dept.<lead>")):
                ztc = Figure(tuple(1000 * r[rate].percentile(which, q) for r in routers), "ms")
                goal = at_most(2.0) if (rate == 100 and q == 0.99 and which == "lead") else None
                result.rows.append(
                    Row("latency", f"{rate:g}/s {label} submit → {target}", ztc, pipe, PIPE, goal)
                )
        late = [r[rate].sender_late_s for r in routers + pipes]
        if max(late) > 0.5:
            result.notes.append(f"at {rate:g}/s the sender fell up to {max(late):.1f}s behind its schedule")
    result.extra["seconds_per_rate"] = ctx.options.latency_seconds
    result.extra["drain_seconds"] = ctx.options.drain_seconds
    return result


# ------------------------------------------------------------------ highest sustained rate


async def _search(ctx: Context, system: str) -> tuple[float, float, list[dict[str, float]]]:
    """Step the rate up; (highest with p99 ≤ 1 s, highest merely kept up with, the steps)."""
    steps: list[dict[str, float]] = []
    best = kept_up = 0.0
    async with Running(ctx, system) as running:
        for rate in SEARCH_RATES:
            count = max(1, int(rate * ctx.options.step_seconds))
            got = await running.at_rate(rate, count, drain_s=5.0)
            p99 = got.percentile("lead" if system == "router" else "routed", 0.99)
            behind = got.sender_late_s > 0.1 * ctx.options.step_seconds
            steps.append(
                {
                    "rate": rate,
                    "p99_ms": 1000 * p99 if math.isfinite(p99) else -1.0,
                    "sender_late_s": round(got.sender_late_s, 2),
                }
            )
            if not math.isfinite(p99) or behind:
                break
            kept_up = rate
            if p99 <= SUSTAINED_P99_S:
                best = rate
    return best, kept_up, steps


def sustained_stage(ctx: Context) -> StageResult:
    result = StageResult("sustained")
    pipe, pipe_kept, pipe_steps = asyncio.run(_search(ctx, "pipe"))
    ztc, ztc_kept, ztc_steps = asyncio.run(_search(ctx, "router"))
    result.extra |= {
        "pipe_steps": pipe_steps,
        "router_steps": ztc_steps,
        "step_seconds": ctx.options.step_seconds,
    }
    result.notes.append(
        f"one search each: rates {SEARCH_RATES[0]}…{SEARCH_RATES[-1]}/s for {ctx.options.step_seconds:g}s, "
        f"stop at the first not delivered within 5 s (p99 of submit → dept.<lead> for the router)"
    )
    if pipe == SEARCH_RATES[-1]:
        result.notes.append("the bare pipe held the highest rate tried: its figure is a lower bound")
    result.rows += (
        Row(
            "sustained",
            f"highest rate with p99 ≤ {SUSTAINED_P99_S:g}s",
            Figure.of([ztc], "tickets/s"),
            Figure.of([pipe], "msg/s"),
            PIPE,
            at_least(1000, on="ztc", text="≥ 1,000/s"),
        ),
        Row(
            "sustained",
            "highest rate kept up with (all within 5 s)",
            Figure.of([ztc_kept], "tickets/s"),
            Figure.of([pipe_kept], "msg/s"),
            PIPE,
        ),
    )
    return result
