"""``python -m tests.chaos`` (``make chaos``): run the fault suite, print one table, fail on any non-zero.

python -m tests.chaos [--tickets 20000] [--malformed 10000] [--fuzz 10000]
                      [--rate 150] [--only NAME[,NAME...]] [--json FILE] [--root DIR]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from tests.chaos.results import Result, table
from tests.chaos.scenarios import Load
from tests.chaos.suite import SCENARIOS


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=20_000, help="tickets per ticket scenario")
    parser.add_argument("--malformed", type=int, default=10_000, help="malformed messages per input topic")
    parser.add_argument("--fuzz", type=int, default=10_000, help="fuzzed HTTP requests")
    parser.add_argument("--rate", type=float, default=150.0, help="submissions per second")
    parser.add_argument("--idle", type=float, default=120.0, help="give up waiting after this long unchanged")
    parser.add_argument("--only", action="append", default=[], help=f"scenarios: {', '.join(SCENARIOS)}")
    parser.add_argument("--json", type=Path, help="also write the results here as JSON")
    parser.add_argument("--root", type=Path, help="where data dirs go (default: a new temp dir)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s chaos %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("kafka").setLevel(logging.ERROR)
    chosen = [n.strip() for spec in args.only for n in spec.split(",") if n.strip()] or list(SCENARIOS)
    unknown = [n for n in chosen if n not in SCENARIOS]
    if unknown:
        print(f"错误 / error: unknown scenario(s) {unknown}; known: {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    root = args.root or Path(tempfile.mkdtemp(prefix="ztc-chaos-"))
    load = Load(args.tickets, args.malformed, args.fuzz, args.rate, idle_s=args.idle, root=root)
    print(f"ZTC chaos: {', '.join(chosen)}; data under {root}", flush=True)
    results: list[Result] = []
    for name in chosen:
        started = time.monotonic()
        results.append(SCENARIOS[name](load))
        print(f"--- {name}: {time.monotonic() - started:.0f}s", flush=True)
        if args.json:
            args.json.write_text(json.dumps([r.as_json() for r in results], ensure_ascii=False, indent=2))
    print()
    print(table(results), flush=True)
    failed = [r.scenario for r in results if r.failures()]
    print(f"\n{'FAIL: ' + ', '.join(failed) if failed else 'all must-be-zero figures are zero'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
