"""The arguments of ``ztc``'s core commands: services, intake, route, views, dead letters, policy.

Light on purpose: the command functions (``ztc.commands``, ``ztc.views_cmd``) are imported only
when their command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ztc.command_index import COMMANDS, lazy


def _add(sub: Any, name: str, target: str) -> argparse.ArgumentParser:
    help_text = COMMANDS[name][0]
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(func=lazy(target))
    return parser


def ticket_fields(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--title", help="标题 title")
    parser.add_argument("--text", help="诉求内容 request text")
    parser.add_argument("--enterprise", help="企业名称 enterprise name")
    parser.add_argument("--credit-code", help="统一社会信用代码 unified social credit code")
    parser.add_argument("--contact", help="联系人 contact")
    parser.add_argument("--street", help="所在街道 street, e.g. 兴城路街道")
    parser.add_argument("--project", help="项目名称 project name")
    parser.add_argument("--channel", default="cli", help="渠道 channel (default: cli)")
    parser.add_argument("--message-id", help="渠道消息号 channel message id (makes retries safe)")
    parser.add_argument("--json", dest="json_file", metavar="FILE", help="从 JSON 文件读取 (- = stdin)")


def add_core_parsers(sub: Any) -> None:
    dev = _add(sub, "dev", "ztc.run_cmd:dev")
    dev.add_argument("action", choices=["up", "down", "status"])
    _add(sub, "router", "ztc.run_cmd:router")
    _add(sub, "recorder", "ztc.run_cmd:recorder")
    run = _add(sub, "run", "ztc.run_cmd:run")
    run.add_argument("--demo", action="store_true", help="送入演示工单 feed the seed's demo tickets")

    submit = _add(sub, "submit", "ztc.commands:submit")
    ticket_fields(submit)
    submit.add_argument(
        "--attach",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="附件 attach a file (repeat for more; pdf, jpg, png, docx, xlsx ≤ 10 MB by default)",
    )
    route = _add(sub, "route", "ztc.commands:route")
    ticket_fields(route)
    route.add_argument("--explain", action="store_true", help="显示命中规则 show the rules that fired")
    route.add_argument("--as-json", action="store_true", help="JSON output")

    ticket = _add(sub, "ticket", "ztc.views_cmd:ticket_show")
    ticket.add_argument("action", choices=["show"])
    ticket.add_argument("ticket_id")
    ticket.add_argument("--json", action="store_true")
    ticket.add_argument(
        "--unmask", action="store_true", help="显示完整电话和身份证号 show phone and ID-card numbers unmasked"
    )
    inbox = _add(sub, "inbox", "ztc.views_cmd:inbox")
    inbox.add_argument("department")
    inbox.add_argument("--json", action="store_true")

    dl = _add(sub, "deadletter", "ztc.commands:deadletter")
    dl.add_argument("action", nargs="?", default="list", choices=["list", "show", "replay", "discard"])
    dl.add_argument(
        "letter_id", nargs="?", metavar="ID", help="死信编号（可只写前 8 位）dead letter id or prefix"
    )
    dl.add_argument("--reason", help="丢弃理由 why it is discarded (discard)")
    dl.add_argument("--actor", help="操作人 who acts (default: $ZTC_ACTOR or the login name)")
    dl.add_argument("--json", action="store_true")
    dl.add_argument("--limit", type=int, default=50)

    policy = _add(sub, "policy", "ztc.commands:policy_check")
    policy.add_argument("action", choices=["check"])
    policy.add_argument("file", type=Path)
