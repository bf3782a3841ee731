"""The ``ztc`` command: one entrypoint, subcommands for every service and every view.

Every user mistake ends in one line on stderr (``错误 / error: ...``) and a
non-zero exit; the services themselves live in ``ztc.services``.

Start-up is kept short for a clerk going through a queue: this module imports only the
standard library. ``ztc --help`` lists the commands from ``ztc.command_index``; a command's
module — and pydantic, Redis, Kafka, numpy as that command needs them — is imported when it
runs. Errors are told apart by the classes of modules already imported (an exception of a
module never imported cannot have been raised), so reporting one imports nothing either.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from ztc.command_index import ACTION_HELP, COMMANDS, load

EXIT_USAGE = 2

BROKER, REDIS = "broker", "redis"  # deploy.probe.BROKER / REDIS (a test checks they agree)
BOTH = frozenset({BROKER, REDIS})
STORE = frozenset({REDIS})
NOTHING: frozenset[str] = frozenset()
DEPARTMENT_ACTIONS = tuple(ACTION_HELP)
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
    "report": STORE,
    "reindex": STORE,
    "enterprise": STORE,
    "project": STORE,
    "user": STORE,
    "deadletter": lambda args: BOTH if args.action == "replay" else STORE,
    "monitor": lambda args: (BOTH if args.apply else STORE) if args.once else NOTHING,
    "hotspots": lambda args: STORE if args.action == "list" else NOTHING,
    **dict.fromkeys(SERVICES_AND_OFFLINE, NOTHING),
}
"""The servers each ``ztc`` command needs, probed before it runs so a stopped stack is one line
in about a second. Every command is listed; a unit test checks."""


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"错误 / error: {self.prog}: 命令参数有误 / {message} (see --help)\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``ztc`` parser. ``command``: fill in the arguments of that command's module only (what
    ``main`` does, so no other module is imported); ``None``: of every command (tests, docs)."""
    parser = OneLineParser(
        prog="ztc",
        description="营商效能督办直通车 ZTC — 企业诉求接单、派单、反馈 (event-driven ticket router)",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    wanted = COMMANDS[command][1] if command in COMMANDS else None
    added: set[str] = set()
    for name, (help_text, adder) in COMMANDS.items():
        if command is None or adder == wanted:
            if adder not in added:
                added.add(adder)
                load(adder)(sub)
        else:
            sub.add_parser(name, help=help_text, description=help_text)  # listed; its arguments unread
    return parser


def _command_of(argv: Sequence[str]) -> str:
    """The sub-command named on the command line (the first word that is not an option), else ""."""
    return next((word for word in argv if not word.startswith("-")), "")


def _has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


IN_CHINESE: tuple[tuple[str, str, str], ...] = (
    ("streams.classifier", "ModelLoadError", "模型无法使用"),
    ("schemas.settings", "SettingsError", "设置有误"),
    ("schemas.policy", "PolicyError", "派单规则有误"),
    ("schemas.actions", "ActionError", "操作无效"),
    ("deploy.embedded", "StackError", "嵌入式环境出错"),
    ("builtins", "OSError", "文件或系统出错"),
)
"""What a message without Chinese of its own is about, said in front of it."""
USER_ERRORS = (("ztc.errors", "CliError"), *((module, name) for module, name, _ in IN_CHINESE))
"""Mistakes a person can fix: one line, exit 2."""


def _loaded(module: str, name: str) -> type[BaseException] | None:
    """The exception class, if its module was imported (else nothing can have raised it)."""
    found = getattr(sys.modules.get(module), name, None)
    return found if isinstance(found, type) and issubclass(found, BaseException) else None


def _is(exc: BaseException, module: str, name: str) -> bool:
    kind = _loaded(module, name)
    return kind is not None and isinstance(exc, kind)


def _one_line(exc: BaseException) -> str:
    """One line for a person: Chinese first (the English beside it), whatever raised it."""
    if _is(exc, "pydantic", "ValidationError"):
        from schemas.validation_text import problems_in_one_line

        return problems_in_one_line(exc.errors())  # type: ignore[attr-defined]
    line = " ".join(str(exc).split()) or type(exc).__name__
    if _has_chinese(line):
        return line
    said = next((words for module, name, words in IN_CHINESE if _is(exc, module, name)), "无法执行")
    return f"{said} / {line}"


def _report(exc: Exception) -> int:
    """Print ``exc`` as one line and give the exit code; an exception nobody expects is raised."""
    if _is(exc, "deploy.probe", "ServiceUnavailable"):
        print(f"错误 / error: {exc}", file=sys.stderr)
        return 1
    if _is(exc, "schemas.transitions", "TransitionRefused"):
        print(f"拒绝 / refused: {_one_line(exc)}", file=sys.stderr)
        return 1
    if _is(exc, "pydantic", "ValidationError") or any(_is(exc, m, n) for m, n in USER_ERRORS):
        print(f"错误 / error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    for module, name, label, words in (
        ("kafka.errors", "KafkaError", "Kafka", "消息队列出错"),
        ("redis", "RedisError", "Redis", "Redis 出错"),
    ):
        if _is(exc, module, name):
            line = " ".join(str(exc).split()) or type(exc).__name__
            print(f"错误 / error: {words} {label}: {line} (is the stack up? `ztc dev up`)", file=sys.stderr)
            return 1
    raise exc


def _require_servers(args: argparse.Namespace) -> None:
    needed = SERVERS_NEEDED.get(args.command, NOTHING)
    servers = needed(args) if callable(needed) else needed
    if servers:
        from deploy.probe import require_servers
        from ztc.bootstrap import redis_url

        require_servers(args.settings, servers, redis_url(args.settings))


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(_command_of(words)).parse_args(words)
    try:
        from ztc.bootstrap import settings_from_env

        args.settings = settings_from_env()
        _require_servers(args)
        result: int = args.func(args)
        return result
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        return _report(exc)


if __name__ == "__main__":
    sys.exit(main())
