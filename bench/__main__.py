"""``python -m bench`` (``make bench``): every stage against its bare baseline, on an isolated embedded stack.

python -m bench [--quick] [--only STAGE,STAGE] [--tickets N] [--repeat K] [--json PATH]
                [--latency-seconds S] [--rates 10,100,1000] [--monitor-open 100000[,1000000]]
                [--million] [--web-tickets N] [--root DIR]

Prints one table (medians and ranges of the repetitions, the ratio to the
baseline measured in the same run, and issue 11's goals) and writes it as JSON.
It never fails because something is slow: a goal not met is a ✗.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from bench.context import Context, Options
from bench.report import StageResult, table
from bench.stack import BenchStack
from bench.stages_hotspots import router_hotspots_stage
from bench.stages_kafka import latency_stage, produce_stage, router_stage, sustained_stage
from bench.stages_local import classifier_stage, route_stage
from bench.stages_redis import monitor_stage, recorder_stage, web_stage
from bench.stages_scale import router_scale_stage
from bench.stages_start import cold_start_stage, startup_stage

Stage = Callable[[Context], StageResult]
STAGES: dict[str, Stage] = {
    "produce": produce_stage,
    "router": router_stage,
    "router-scale": router_scale_stage,
    "router-hotspots": router_hotspots_stage,
    "latency": latency_stage,
    "sustained": sustained_stage,
    "recorder": recorder_stage,
    "monitor": monitor_stage,
    "route": route_stage,
    "classifier": classifier_stage,
    "web": web_stage,
    "startup": startup_stage,
    "cold-start": cold_start_stage,
}
DEFAULT_JSON = Path(".ztc/bench.json")


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v.replace("_", "")) for v in text.split(",") if v.strip())


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repetition (a smoke test)")
    parser.add_argument("--only", action="append", default=[], help=f"stages: {', '.join(STAGES)}")
    parser.add_argument("--tickets", type=int, help="tickets per throughput run (default 10,000)")
    parser.add_argument("--repeat", type=int, help="repetitions (default 3)")
    parser.add_argument("--latency-seconds", type=float, help="seconds per fixed rate (default 10)")
    parser.add_argument("--rates", help="fixed latency rates per second (default 10,100,1000)")
    parser.add_argument("--monitor-open", help="open tickets for the monitor (default 100000)")
    parser.add_argument("--million", action="store_true", help="the monitor with 1,000,000 open tickets too")
    parser.add_argument("--web-tickets", type=int, help="tickets behind the dashboard (default 100,000)")
    parser.add_argument(
        "--json", type=Path, default=DEFAULT_JSON, help=f"where the JSON goes ({DEFAULT_JSON})"
    )
    parser.add_argument("--root", type=Path, help="data dir of the bench's stack (default: a temp dir)")
    return parser.parse_args(argv)


def options_from(args: argparse.Namespace) -> Options:
    options = Options.quick_ones() if args.quick else Options()
    changes: dict[str, object] = {}
    if args.tickets:
        changes["tickets"] = args.tickets
    if args.repeat:
        changes["repeat"] = args.repeat
    if args.latency_seconds:
        changes["latency_seconds"] = args.latency_seconds
    if args.rates:
        changes["rates"] = tuple(float(r) for r in args.rates.split(","))
    if args.monitor_open:
        changes["monitor_open"] = _ints(args.monitor_open)
    if args.million:
        changes["monitor_open"] = (*changes.get("monitor_open", options.monitor_open), 1_000_000)  # type: ignore[misc]
    if args.web_tickets:
        changes["web_tickets"] = args.web_tickets
    return replace(options, **changes)  # type: ignore[arg-type]


def machine() -> dict[str, object]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    return {
        "cpus": os.cpu_count(),
        "load_before": os.getloadavg()[0],
        "python": sys.version.split()[0],
        "commit": commit.stdout.strip() or None,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s bench %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("kafka").setLevel(logging.ERROR)  # kafka-python's event-loop notes under load
    options = options_from(args)
    chosen = [n.strip() for spec in args.only for n in spec.split(",") if n.strip()] or list(STAGES)
    unknown = [n for n in chosen if n not in STAGES]
    if unknown:
        print(f"错误 / error: unknown stage(s) {unknown}; known: {', '.join(STAGES)}", file=sys.stderr)
        return 2
    root = args.root or Path(tempfile.mkdtemp(prefix="ztc-bench-"))
    began = time.monotonic()
    started_at = datetime.now().astimezone().isoformat(timespec="seconds")
    about = machine()
    print(f"ZTC 性能基准 pipeline bench: {', '.join(chosen)}; {options}; data under {root}", flush=True)
    stack = BenchStack(root / "stack")
    results: list[StageResult] = []
    try:
        about["stack_up_s"] = round(stack.up(), 2)
        ctx = Context(options, stack)
        for name in chosen:
            stage_began = time.monotonic()
            try:
                result = STAGES[name](ctx)
            except Exception as exc:  # one broken stage must not lose the others' figures
                traceback.print_exc()
                result = StageResult(name, error=f"{type(exc).__name__}: {exc}")
            result.seconds = time.monotonic() - stage_began
            results.append(result)
            print(f"--- {name}: {result.seconds:.0f}s", flush=True)
            _write(args.json, started_at, about, options, results, time.monotonic() - began)
    finally:
        stack.down()
        if args.root is None:
            shutil.rmtree(root, ignore_errors=True)
    total = time.monotonic() - began
    about["load_after"] = os.getloadavg()[0]
    _write(args.json, started_at, about, options, results, total)
    print()
    print(f"ZTC 性能基准 / pipeline bench — {started_at}, commit {about['commit']}, {about['cpus']} CPUs")
    print(table(results))
    for result in results:
        for note in result.notes:
            print(f"  · {result.name}: {note}")
    print(
        f"\ntotal {total:.0f}s; load average (1 min) {about['load_before']:.2f} before, "
        f"{about['load_after']:.2f} after"
    )
    print(f"JSON: {args.json}")
    return 0


def _write(
    path: Path,
    started_at: str,
    about: dict[str, object],
    options: Options,
    results: list[StageResult],
    total: float,
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "started_at": started_at,
        "machine": about,
        "options": {k: v for k, v in vars(options).items()},
        "total_seconds": round(total, 1),
        "stages": {r.name: r.as_json() for r in results},
    }
    path.write_text(json.dumps(document, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
