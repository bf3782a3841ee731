"""``ztc hotspots``: the hot-spot worker (near-duplicates → ``tickets.hotspots``), one of ``ztc run``'s
services; ``ztc hotspots list``: the hot spots the office sees (as the dashboard's 热点 page)."""

from __future__ import annotations

import argparse
from typing import Any

from ztc.command_index import COMMANDS


def add_hotspots_parser(sub: Any) -> None:
    help_text = COMMANDS["hotspots"][0]
    parser = sub.add_parser("hotspots", help=help_text, description=help_text)
    parser.add_argument("action", nargs="?", choices=["run", "list"], default="run")
    parser.add_argument("--json", action="store_true", help="以 JSON 输出 print JSON (list)")
    parser.set_defaults(func=hotspots)


def hotspots(args: argparse.Namespace) -> int:
    if args.action == "list":
        return _list(args)
    return run_hotspots(args.settings)


def run_hotspots(settings: Any) -> int:
    """Run the hot-spot worker in this process until SIGINT/SIGTERM."""
    from faust.worker import Worker

    from schemas.events import now_in_district
    from streams.hotspot_store import RedisHotspotStore
    from streams.hotspot_worker import build_hotspot_app
    from ztc.bootstrap import policy_for, redis_client
    from ztc.health import router_health, serve_worker_health
    from ztc.supervisor import prepare_topics

    policy = policy_for(settings)
    prepare_topics(settings, policy)
    state = RedisHotspotStore(redis_client(settings), settings.redis_prefix, policy)
    app, _ = build_hotspot_app(settings, policy, state, now_in_district)
    serve_worker_health(settings, router_health(app))
    worker = Worker(app, loglevel="INFO", quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
    return 0  # pragma: no cover - execute_from_commandline exits


def _list(args: argparse.Namespace) -> int:
    from consumers.hotspot_views import recent_hotspots
    from ztc.bootstrap import redis_client
    from ztc.commands import print_json

    found = recent_hotspots(redis_client(args.settings), args.settings.redis_prefix)
    if args.json:
        print_json([h.model_dump(mode="json") for h in found])
        return 0
    if not found:
        print("暂无热点 no hot spots")
    for spot in found:
        size = f"{spot.enterprise_count} 家企业 / {spot.ticket_count or len(spot.tickets)} 件"
        heat = f"热度 heat {spot.heat:.1f}"
        print(f"{spot.hotspot_id}  {spot.street_name}  {size}  {heat}  建议 {spot.suggestion_text}")
        for ticket in spot.tickets:
            print(f"  {ticket.ticket_id}  {ticket.enterprise}  {ticket.title}")
        for merge in spot.merge_suggestions:
            command = f"ztc merge {merge.duplicate} --into {merge.into}"
            print(f"  建议合并 merge {merge.duplicate} → {merge.into}  ({command})")
    return 0
