"""``ztc ticket show`` and ``ztc inbox``: read commands a clerk runs many times a day, kept quick
to start (no Kafka, no routing model: only the store, the policy and the text)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from consumers.ticket_reader import read_ticket
from schemas.events import now_in_district
from schemas.settings import Settings
from schemas.ticket import InboxBucket
from ztc import render
from ztc.bootstrap import policy_for, redis_client, ticket_store
from ztc.errors import CliError


def print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def ticket_show(args: argparse.Namespace) -> int:
    settings: Settings = args.settings
    record = read_ticket(redis_client(settings), settings.redis_prefix, args.ticket_id)
    if record is None:
        raise CliError(f"工单不存在 no ticket {args.ticket_id}")
    policy = policy_for(settings)
    unmask = render.operator_unmasks(policy, args.unmask)
    if args.json:
        print_json(render.ticket_json(record, unmask=unmask))
    else:
        print(render.ticket_text(record, policy, now_in_district(), unmask=unmask))
    return 0


def inbox(args: argparse.Namespace) -> int:
    settings: Settings = args.settings
    policy = policy_for(settings)
    if policy.department(args.department) is None:
        known = ", ".join(policy.department_codes)
        raise CliError(f"未知部门 unknown department {args.department!r}; 可选 known: {known}")
    store = ticket_store(settings)
    buckets = {bucket: store.inbox(args.department, bucket) for bucket in InboxBucket}
    unmask = render.operator_unmasks(policy)
    if args.json:
        shown = {b.value: [render.ticket_json(r, unmask=unmask) for r in rs] for b, rs in buckets.items()}
        print_json(shown)
        return 0
    print(render.inbox_text(args.department, buckets, policy, unmask=unmask))
    return 0
