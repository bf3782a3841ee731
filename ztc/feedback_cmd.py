"""Department actions and files on the command line: accept, bounce, resolve, rate, enterprise show ...

One subcommand per entry of the action registry (``schemas.actions.ACTIONS``):
its verb, ``--as DEPT`` when a department acts for itself, and one flag per
field, all generated; every action runs through ``DepartmentClient.perform``.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable
from typing import Any

from producers.department_client import DepartmentClient
from schemas.actions import ACTIONS, Acting, ActionSpec, FieldSpec, Kind
from schemas.events import now_in_district
from schemas.policy import RoutingPolicy
from schemas.privacy import mask_personal
from schemas.settings import Settings
from schemas.ticket import TicketRecord
from schemas.ticket_state import TransitionRefused
from ztc import render
from ztc.bootstrap import actor_for, policy_for, ticket_store
from ztc.commands import CliError, intake_publisher, print_json


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _perform(args: argparse.Namespace, spec: ActionSpec) -> int:
    settings: Settings = args.settings
    policy = policy_for(settings)
    publisher = intake_publisher(settings)
    client = DepartmentClient(
        ticket_store(settings), publisher, settings.topics.feedback, policy.department_codes, now_in_district
    )
    values = {f.name: getattr(args, f.name) for f in spec.fields}
    try:
        event = client.perform(
            spec, args.ticket_id, actor_for(settings, args.actor), values, getattr(args, "department", None)
        )
    except TransitionRefused as exc:
        raise TransitionRefused(in_cli_words(str(exc), spec)) from None
    finally:
        publisher.close()
    print(f"已发布 published: {event.label} {event.ticket_id} ({event.event_type}, event {event.event_id})")
    if args.no_wait:
        return 0
    record = client.wait_recorded(event)
    if record is None:
        print("注意 note: not recorded yet — is `ztc recorder` running?", file=sys.stderr)
        return 0
    co = "、".join(render.dept_name(c, policy) for c in record.co_departments) or "无"
    status = f"{record.status_label} ({record.status.value})"
    print(
        f"已记录 recorded: 状态 {status}；主办 {render.dept_name(record.lead_department, policy)}；协办 {co}"
    )
    return 0


def in_cli_words(message: str, spec: ActionSpec) -> str:
    """A refusal as the command line says it: each field named by its flag (``override_reason`` →
    ``--override REASON``), since the reason is shared with the HTTP API, where fields are keys."""
    for field in spec.fields:
        if field.cli_flag != f"--{field.name}":
            metavar = field.metavar or field.cli_flag.removeprefix("--").upper().replace("-", "_")
            message = re.sub(rf"\b{re.escape(field.name)}\b", f"{field.cli_flag} {metavar}", message)
    return message


def _add_field(parser: argparse.ArgumentParser, field: FieldSpec) -> None:
    options: dict[str, Any] = {"dest": field.name, "help": field.cli_help}
    if field.required and field.cli_default is None:
        options["required"] = True
    default = field.cli_default if field.cli_default is not None else field.default
    if field.kind is Kind.departments:
        options["type"] = _csv
        default = default if default is not None or field.required else ""
    if default is not None:
        options["default"] = default
    if field.choices is not None:
        options["choices"] = field.choice_values
    else:
        options["metavar"] = field.metavar or field.cli_flag.removeprefix("--").upper().replace("-", "_")
    parser.add_argument(field.cli_flag, **options)


def add_action_parser(sub: Any, spec: ActionSpec) -> argparse.ArgumentParser:
    """``ztc <verb> ID [--as DEPT] [--actor A] [--no-wait] <the entry's flags>``."""
    parser: argparse.ArgumentParser = sub.add_parser(spec.verb, help=spec.help, description=spec.help)
    parser.add_argument("ticket_id", metavar="ID")
    if spec.acting is Acting.department:
        parser.add_argument(
            "--as", dest="department", required=True, metavar="DEPT", help="操作部门代码 acting department"
        )
    parser.add_argument("--actor", help="经办人 person acting (default: $ZTC_ACTOR or the login name)")
    parser.add_argument("--no-wait", action="store_true", help="不等待记录 do not wait for the recorder")
    for field in spec.fields:
        _add_field(parser, field)
    parser.set_defaults(func=lambda args: _perform(args, spec))
    return parser


def add_feedback_parsers(sub: Any, actions: Iterable[ActionSpec] = ACTIONS) -> None:
    for spec in actions:
        add_action_parser(sub, spec)

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
        co = "、".join(render.dept_name(c, policy) for c in r.co_departments) or "-"
        lead = render.dept_name(r.lead_department, policy)
        rows.append(
            f"  {r.ticket_id}  {render.local(r.routed_at)}  {r.status_label:<6}  "
            f"主办 {lead}  协办 {co}  {mask_personal(r.submission.title)}"
        )
    return rows


def enterprise_show(args: argparse.Namespace) -> int:
    from consumers.enterprise_files import enterprise_file

    settings: Settings = args.settings
    policy = policy_for(settings)
    found = enterprise_file(ticket_store(settings), args.name_or_code)
    wanted, records = found.wanted, found.records
    key = any(
        wanted in e.name or (e.credit_code or "").upper() == wanted.upper() for e in policy.key_enterprises
    )
    key = key or any(r.key_enterprise for r in records)
    if not records and not key:
        raise CliError(
            f"没有该企业的工单 no tickets for enterprise {wanted!r} (name, part of it, or credit code)"
        )
    if args.json:
        tickets = [render.ticket_json(r) for r in records]
        print_json(
            {"enterprise": wanted, "names": list(found.names), "key_enterprise": key, "tickets": tickets}
        )
        return 0
    names = "、".join(found.names)
    shown = wanted if not names or names == wanted else f"{wanted} → {names}"
    print(f"一企一策 {shown}" + ("  [重点企业 key enterprise]" if key else "") + f"  工单 {len(records)} 件")
    print("\n".join(_ticket_rows(records, policy)))
    return 0


def project_show(args: argparse.Namespace) -> int:
    settings: Settings = args.settings
    policy = policy_for(settings)
    project = next((p for p in policy.key_projects if args.name in p.names), None)
    name = project.name if project else args.name
    records = ticket_store(settings).project_tickets(name)
    if project is None and not records:
        raise CliError(f"{args.name!r} 不是重点项目 is not a key project of policy {policy.version}")
    if args.json:
        print_json({"project": name, "tickets": [render.ticket_json(r) for r in records]})
        return 0
    enterprises = sorted({r.submission.enterprise_name or "-" for r in records})
    print(f"重点项目 {name}  工单 {len(records)} 件  企业: {'、'.join(enterprises) or '-'}")
    print("\n".join(_ticket_rows(records, policy)))
    return 0
