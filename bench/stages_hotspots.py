"""The router with the hot-spot worker beside it (as ``ztc run`` runs them) against the router alone.

Both read the same pre-loaded submissions on fresh topics, alternately, in the same run;
the hot-spot worker reads ``tickets.routed`` as the router writes it, in its own consumer
group and process (niced, as ``ztc run`` starts it, and started first), so what it costs the router is the CPU
the two share on this machine.
"""

from __future__ import annotations

import asyncio
import subprocess

from bench.context import Context
from bench.report import Figure, Row, StageResult, at_least
from bench.stack import stop
from bench.stages_kafka import Throughput, _throughput


def router_hotspots_stage(ctx: Context) -> StageResult:
    result = StageResult("router-hotspots")
    n = ctx.options.tickets
    records = ctx.records("throughput", n)
    alone: list[Throughput] = []
    beside: list[Throughput] = []
    for _ in range(ctx.options.repeat):
        alone.append(asyncio.run(_throughput(ctx, "router", records)))
        workers: list[subprocess.Popen[bytes]] = []
        try:
            beside.append(asyncio.run(_throughput(ctx, "router", records, beside=workers)))
        finally:
            for worker in workers:
                stop(worker)
    result.rows += [
        Row(
            "router-hotspots",
            f"{n:,} pre-loaded, hot-spot worker beside",
            Figure.of([r.rate for r in beside], "tickets/s"),
            Figure.of([r.rate for r in alone], "tickets/s"),
            "the router alone",
            at_least(0.8, text="≥ 0.8×"),
        ),
        Row(
            "router-hotspots",
            "hot-spot worker CPU per ticket, while the router ran",
            Figure.of([r.beside_cpu_ms for r in beside], "ms"),
            Figure.of([r.cpu_ms for r in alone], "ms"),
            "the router's CPU per ticket",
        ),
    ]
    return result
