"""Department actions and files on the command line: accept, bounce, resolve, rate, enterprise show ..."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable
from typing import Any

from producers.department_client import DepartmentClient
from schemas.events import now_in_district
from schemas.feedback import BounceReason, DepartmentAction, RatedBy, Rating
from schemas.policy import RoutingPolicy
from schemas.privacy import mask_personal
from schemas.settings import Settings
from schemas.ticket import TicketRecord
from ztc import render
from ztc.bootstrap import policy_for, ticket_store
from ztc.commands import CliError, intake_publisher, print_json

Action = Callable[[DepartmentClient, argparse.Namespace], DepartmentAction]


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _actor(args: argparse.Namespace) -> str:
    if args.actor:
        return str(args.actor)
    return os.environ.get("ZTC_ACTOR") or getpass.getuser() or "cli"


def _perform(args: argparse.Namespace, action: Action) -> int:
    settings: Settings = args.settings
    policy = policy_for(settings)
    publisher = intake_publisher(settings)
    client = DepartmentClient(
        ticket_store(settings), publisher, settings.topics.feedback, policy.department_codes, now_in_district
    )
    try:
        event = action(client, args)
    finally:
        publisher.close()
    print(f"已发布 published: {event.label} {event.ticket_id} ({event.event_type}, event {event.event_id})")
    if args.no_wait:
        return 0
    record = client.wait_recorded(event)
    if record is None:
        print("注意 note: not recorded yet — is `ztc recorder` running?", file=sys.stderr)
        return 0
    co = "、".join(record.co_departments) or "无"
    status = f"{record.status.label} ({record.status.value})"
    print(f"已记录 recorded: 状态 {status}；主办 {record.lead_department}；协办 {co}")
    return 0


def _add_action(sub: Any, name: str, help_text: str, action: Action, *, needs_dept: bool = True) -> Any:
    parser = sub.add_parser(name, help=help_text, description=help_text)
    parser.add_argument("ticket_id", metavar="ID")
    if needs_dept:
        parser.add_argument(
            "--as", dest="department", required=True, metavar="DEPT", help="操作部门代码 acting department"
        )
    parser.add_argument("--actor", help="经办人 person acting (default: $ZTC_ACTOR or the login name)")
    parser.add_argument("--no-wait", action="store_true", help="不等待记录 do not wait for the recorder")
    parser.set_defaults(func=lambda args: _perform(args, action))
    return parser


def add_feedback_parsers(sub: Any) -> None:
    p = _add_action(
        sub,
        "accept",
        "签收 accept a ticket",
        lambda c, a: c.accept(a.ticket_id, a.department, _actor(a), a.note),
    )
    p.add_argument("--note")
    p = _add_action(
        sub,
        "progress",
        "进展 record progress",
        lambda c, a: c.progress(a.ticket_id, a.department, _actor(a), a.note),
    )
    p.add_argument("--note", required=True)
    p = _add_action(
        sub,
        "ask",
        "需企业补充 request information from the enterprise (clock waits)",
        lambda c, a: c.request_info(a.ticket_id, a.department, _actor(a), a.question),
    )
    p.add_argument("--question", required=True)
    p = _add_action(
        sub,
        "supply",
        "企业已补充 information supplied (--as enterprise|office|DEPT)",
        lambda c, a: c.supply_info(a.ticket_id, a.department, _actor(a), a.content),
    )
    p.add_argument("--content", required=True)
    p = _add_action(
        sub,
        "bounce",
        "退单 bounce a ticket that is not yours; it is routed again without you",
        lambda c, a: c.bounce(
            a.ticket_id, a.department, _actor(a), BounceReason(a.reason), a.note, a.suggest
        ),
    )
    p.add_argument("--reason", required=True, choices=[r.value for r in BounceReason])
    p.add_argument("--note", required=True)
    p.add_argument("--suggest", metavar="DEPT", help="建议部门 suggested department")
    p = _add_action(
        sub,
        "co-done",
        "协办完成 a co-department's part is done",
        lambda c, a: c.co_done(a.ticket_id, a.department, _actor(a), a.note),
    )
    p.add_argument("--note", required=True)
    p = _add_action(
        sub,
        "resolve",
        "办结 resolve (lead only; all co-departments done, or --override)",
        lambda c, a: c.resolve(a.ticket_id, a.department, _actor(a), a.resolution, a.override),
    )
    p.add_argument("--resolution", required=True)
    p.add_argument(
        "--override", metavar="REASON", help="协办未完成仍办结的理由 resolve before co-departments are done"
    )
    p = _add_action(
        sub,
        "reopen",
        "重办 reopen (office)",
        lambda c, a: c.reopen(a.ticket_id, _actor(a), a.reason),
        needs_dept=False,
    )
    p.add_argument("--reason", required=True)
    p = _add_action(
        sub,
        "dispatch",
        "人工派单 dispatch by hand (office)",
        lambda c, a: c.dispatch(a.ticket_id, _actor(a), a.lead, _csv(a.co), a.note),
        needs_dept=False,
    )
    p.add_argument("--lead", required=True, metavar="DEPT")
    p.add_argument("--co", default="", metavar="D2,D3", help="协办部门 co-departments, comma separated")
    p.add_argument("--note")
    p = _add_action(
        sub,
        "convene",
        "联席会议 joint meeting: add departments as co-departments and notify them",
        lambda c, a: c.convene(a.ticket_id, _actor(a), _csv(a.departments), a.note),
        needs_dept=False,
    )
    p.add_argument("--departments", required=True, metavar="A,B,C")
    p.add_argument("--note", default="联席会议协同办理")
    p = _add_action(
        sub,
        "rate",
        "回访 satisfaction callback (enterprise, or office on its behalf)",
        lambda c, a: c.rate(a.ticket_id, RatedBy(a.by), _actor(a), Rating(a.rating), a.comment),
        needs_dept=False,
    )
    p.add_argument("--rating", required=True, choices=[r.value for r in Rating])
    p.add_argument("--comment")
    p.add_argument("--by", default=RatedBy.enterprise.value, choices=[r.value for r in RatedBy])

    p = _add_action(
        sub,
        "extend",
        "延期申请 ask the office for more time (lead)",
        lambda c, a: c.extend(a.ticket_id, a.department, _actor(a), a.by, a.reason),
    )
    p.add_argument("--by", required=True, metavar="TARGET", help='延长 e.g. "5 working days"')
    p.add_argument("--reason", required=True)
    p = _add_action(
        sub,
        "approve-extension",
        "批准延期 approve the pending extension (office)",
        lambda c, a: c.approve_extension(a.ticket_id, _actor(a), a.note),
        needs_dept=False,
    )
    p.add_argument("--note")

    files = sub.add_parser(
        "enterprise", help="一企一策 an enterprise's file", description="一企一策 an enterprise's file"
    )
    files.add_argument("action", choices=["show"])
    files.add_argument("name_or_code", metavar="NAME_OR_CODE")
    files.add_argument("--json", action="store_true")
    files.set_defaults(func=enterprise_show)
    project = sub.add_parser(
        "project", help="重点项目 a project's tickets", description="重点项目 a project's tickets"
    )
    project.add_argument("action", choices=["show"])
    project.add_argument("name")
    project.add_argument("--json", action="store_true")
    project.set_defaults(func=project_show)


def _ticket_rows(records: list[TicketRecord], policy: RoutingPolicy) -> list[str]:
    rows = []
    for r in records:
        co = "、".join(r.co_departments) or "-"
        rows.append(
            f"  {r.ticket_id}  {render.local(r.routed_at)}  {r.status.label:<6}  主办 {r.lead_department}  "
            f"协办 {co}  {mask_personal(r.submission.title)}"
        )
    return rows


def enterprise_show(args: argparse.Namespace) -> int:
    settings: Settings = args.settings
    policy = policy_for(settings)
    records = ticket_store(settings).enterprise_tickets(args.name_or_code)
    wanted = args.name_or_code
    key = any(
        e.name == wanted or (e.credit_code or "").upper() == wanted.upper() for e in policy.key_enterprises
    )
    key = key or any(r.key_enterprise for r in records)
    if not records and not key:
        raise CliError(f"no tickets for enterprise {wanted!r}")
    if args.json:
        print_json(
            {"enterprise": wanted, "key_enterprise": key, "tickets": [render.ticket_json(r) for r in records]}
        )
        return 0
    print(f"一企一策 {wanted}" + ("  [重点企业 key enterprise]" if key else "") + f"  工单 {len(records)} 件")
    print("\n".join(_ticket_rows(records, policy)))
    return 0


def project_show(args: argparse.Namespace) -> int:
    settings: Settings = args.settings
    policy = policy_for(settings)
    project = next((p for p in policy.key_projects if args.name in p.names), None)
    name = project.name if project else args.name
    records = ticket_store(settings).project_tickets(name)
    if project is None and not records:
        raise CliError(f"{args.name!r} is not a key project of policy {policy.version}")
    if args.json:
        print_json({"project": name, "tickets": [render.ticket_json(r) for r in records]})
        return 0
    enterprises = sorted({r.submission.enterprise_name or "-" for r in records})
    print(f"重点项目 {name}  工单 {len(records)} 件  企业: {'、'.join(enterprises) or '-'}")
    print("\n".join(_ticket_rows(records, policy)))
    return 0
