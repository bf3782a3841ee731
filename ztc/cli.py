"""The ``ztc`` command: one entrypoint, subcommands for every service and every view.

Every user mistake ends in one line on stderr (``错误 / error: ...``) and a
non-zero exit; the services themselves live in ``ztc.services``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import redis
from kafka.errors import KafkaError
from pydantic import ValidationError

from deploy.embedded import StackError
from deploy.probe import BROKER, REDIS, ServiceUnavailable, require_servers
from schemas.actions import ACTIONS, ActionError
from schemas.policy import PolicyError
from schemas.settings import SettingsError
from schemas.ticket_state import TransitionRefused
from schemas.validation_text import problems_in_one_line
from streams.classifier import ModelLoadError
from ztc import commands
from ztc.api_cmd import add_api_parser
from ztc.bootstrap import redis_url, settings_from_env
from ztc.classify_cmd import add_classify_parser
from ztc.commands import CliError
from ztc.feedback_cmd import add_feedback_parsers
from ztc.import_cmd import add_import_parser
from ztc.schema_cmd import add_schema_parser
from ztc.sla_cmd import add_sla_parsers
from ztc.user_cmd import add_user_parser

EXIT_USAGE = 2

BOTH = frozenset({BROKER, REDIS})
STORE = frozenset({REDIS})
NOTHING: frozenset[str] = frozenset()
DEPARTMENT_ACTIONS = tuple(spec.verb for spec in ACTIONS)
SERVICES_AND_OFFLINE = (
    "dev", "run", "router", "recorder", "alerter", "api", "route", "policy", "schema", "classify", "sla",
)  # fmt: skip
"""Not probed: long-running services (``ztc run`` starts and restarts them) and offline commands."""
SERVERS_NEEDED: dict[str, frozenset[str] | Callable[[argparse.Namespace], frozenset[str]]] = {
    "submit": BOTH,
    "import": BOTH,
    **dict.fromkeys(DEPARTMENT_ACTIONS, BOTH),
    "ticket": STORE,
    "inbox": STORE,
    "overdue": STORE,
    "reindex": STORE,
    "enterprise": STORE,
    "project": STORE,
    "user": STORE,
    "deadletter": lambda args: BOTH if args.action == "replay" else STORE,
    "monitor": lambda args: (BOTH if args.apply else STORE) if args.once else NOTHING,
    **dict.fromkeys(SERVICES_AND_OFFLINE, NOTHING),
}
"""The servers each ``ztc`` command needs, probed before it runs so a stopped stack is one line
in about a second. Every command is listed; a unit test checks."""


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"错误 / error: {self.prog}: {message} (see --help)\n")


def _add(
    subparsers: Any, name: str, help_text: str, func: Callable[[argparse.Namespace], int]
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(func=func)
    return parser


def _ticket_fields(parser: argparse.ArgumentParser) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="ztc",
        description="营商效能督办直通车 ZTC — 企业诉求接单、派单、反馈 (event-driven ticket router)",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    dev = _add(sub, "dev", "嵌入式环境 embedded broker + Redis: up | down | status", commands.dev)
    dev.add_argument("action", choices=["up", "down", "status"])
    _add(sub, "router", "运行 Faust 派单路由 run the router", commands.router)
    _add(sub, "recorder", "运行记录消费者 run the recorder", commands.recorder)
    run = _add(sub, "run", "启动全部服务 run stack, router and recorder until Ctrl-C", commands.run)
    run.add_argument("--demo", action="store_true", help="送入演示工单 feed the seed's demo tickets")

    submit = _add(sub, "submit", "提交一件诉求 submit one ticket; prints its id", commands.submit)
    _ticket_fields(submit)
    submit.add_argument(
        "--attach",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="附件 attach a file (repeat for more; pdf, jpg, png, docx, xlsx ≤ 10 MB by default)",
    )
    add_import_parser(sub)

    route = _add(sub, "route", "试派单，不发布 dry-run routing decision", commands.route)
    _ticket_fields(route)
    route.add_argument("--explain", action="store_true", help="显示命中规则 show the rules that fired")
    route.add_argument("--as-json", action="store_true", help="JSON output")

    ticket = _add(sub, "ticket", "工单 ticket views", commands.ticket_show)
    ticket.add_argument("action", choices=["show"])
    ticket.add_argument("ticket_id")
    ticket.add_argument("--json", action="store_true")
    ticket.add_argument(
        "--unmask", action="store_true", help="显示完整电话和身份证号 show phone and ID-card numbers unmasked"
    )

    inbox = _add(sub, "inbox", "部门待办 a department's inbox, oldest first", commands.inbox)
    inbox.add_argument("department")
    inbox.add_argument("--json", action="store_true")

    dl = _add(
        sub,
        "deadletter",
        "死信 dead letters: list | show ID | replay ID (after a fix) | discard ID --reason ...",
        commands.deadletter,
    )
    dl.add_argument("action", nargs="?", default="list", choices=["list", "show", "replay", "discard"])
    dl.add_argument(
        "letter_id", nargs="?", metavar="ID", help="死信编号（可只写前 8 位）dead letter id or prefix"
    )
    dl.add_argument("--reason", help="丢弃理由 why it is discarded (discard)")
    dl.add_argument("--actor", help="操作人 who acts (default: $ZTC_ACTOR or the login name)")
    dl.add_argument("--json", action="store_true")
    dl.add_argument("--limit", type=int, default=50)

    policy = _add(sub, "policy", "派单规则 policy: check FILE", commands.policy_check)
    policy.add_argument("action", choices=["check"])
    policy.add_argument("file", type=Path)

    add_feedback_parsers(sub)
    add_sla_parsers(sub)
    add_classify_parser(sub)
    add_schema_parser(sub)
    add_api_parser(sub)
    add_user_parser(sub)
    return parser


IN_CHINESE: tuple[tuple[type[BaseException], str], ...] = (
    (ModelLoadError, "模型无法使用"),
    (SettingsError, "设置有误"),
    (PolicyError, "派单规则有误"),
    (ActionError, "操作无效"),
    (StackError, "嵌入式环境出错"),
    (OSError, "文件或系统出错"),
    (KafkaError, "消息队列出错"),
    (redis.RedisError, "Redis 出错"),
)
"""What a message that has no Chinese of its own is about, said in front of it."""


def _has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def _one_line(exc: BaseException) -> str:
    """One line for a person: Chinese first (the English beside it), whatever raised it."""
    if isinstance(exc, ValidationError):
        return problems_in_one_line(exc.errors())
    line = " ".join(str(exc).split()) or type(exc).__name__
    if _has_chinese(line):
        return line
    said = next((words for kind, words in IN_CHINESE if isinstance(exc, kind)), "无法执行")
    return f"{said} / {line}"


def _require_servers(args: argparse.Namespace) -> None:
    needed = SERVERS_NEEDED.get(args.command, NOTHING)
    servers = needed(args) if callable(needed) else needed
    if servers:
        require_servers(args.settings, servers, redis_url(args.settings))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.settings = settings_from_env()
        _require_servers(args)
        result: int = args.func(args)
        return result
    except KeyboardInterrupt:
        return 130
    except ServiceUnavailable as exc:
        print(f"错误 / error: {exc}", file=sys.stderr)
        return 1
    except TransitionRefused as exc:
        print(f"拒绝 / refused: {_one_line(exc)}", file=sys.stderr)
        return 1
    except (
        CliError,
        ActionError,
        ModelLoadError,
        SettingsError,
        PolicyError,
        StackError,
        ValidationError,
        OSError,
    ) as exc:
        print(f"错误 / error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KafkaError as exc:
        print(
            f"错误 / error: Kafka: {_one_line(exc)} (is the stack up? `ztc dev up`)",
            file=sys.stderr,
        )
        return 1
    except redis.RedisError as exc:
        print(
            f"错误 / error: Redis: {_one_line(exc)} (is the stack up? `ztc dev up`)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
