"""Every ``ztc`` sub-command: its one-line help and the function that adds its arguments.

``ztc --help`` is built from this table alone and imports nothing else; a command's own module
(and whatever it needs: pydantic, Redis, Kafka, numpy) is imported only when that command runs.
``tests/unit/test_cli_startup.py`` keeps the table equal to what the modules add (the action
verbs to ``schemas.actions.ACTIONS``).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable

CORE = "ztc.core_cli:add_core_parsers"
FEEDBACK = "ztc.feedback_cmd:add_feedback_parsers"
SLA = "ztc.sla_cmd:add_sla_parsers"

ACTION_HELP: dict[str, str] = {
    "accept": "签收 accept a ticket",
    "progress": "进展 record progress",
    "ask": "需企业补充 request information from the enterprise (clock waits)",
    "supply": "企业已补充 information supplied (--as enterprise|office|DEPT)",
    "bounce": "退单 bounce a ticket that is not yours; it is routed again without you",
    "co-done": "协办完成 a co-department's part is done",
    "resolve": "办结 resolve (lead only; all co-departments done, or --override)",
    "reopen": "重办 reopen (office)",
    "dispatch": "人工派单 dispatch by hand (office)",
    "convene": "联席会议 joint meeting: add departments as co-departments and notify them",
    "rate": "回访 satisfaction callback (enterprise, or office on its behalf; over HTTP the office's)",
    "extend": "延期申请 ask the office for more time (lead)",
    "approve-extension": "批准延期 approve the pending extension (office)",
    "reject-extension": "不予延期 turn the pending extension down; the deadline stays (office)",
    "withdraw": "申请退出协办 a co-department asks the office to let it leave the ticket",
    "approve-withdrawal": "同意退出协办 release the co-department that asked (office)",
    "refuse-withdrawal": "不同意退出协办 the co-department stays on the ticket (office)",
    "merge": "合并重复工单 close this ticket as a duplicate of the one kept (office)",
    "close": "关闭无效工单 close as invalid or spam, left out of the three rates (office)",
}
"""The department actions' verbs and help, as ``schemas.actions.ACTIONS`` says (a test checks)."""

COMMANDS: dict[str, tuple[str, str]] = {
    "dev": ("嵌入式环境 embedded broker + Redis: up | down | status", CORE),
    "router": ("运行 Faust 派单路由 run the router", CORE),
    "recorder": ("运行记录消费者 run the recorder", CORE),
    "run": ("启动全部服务 run stack, router and recorder until Ctrl-C", CORE),
    "submit": ("提交一件诉求 submit one ticket; prints its id", CORE),
    "route": ("试派单，不发布 dry-run routing decision", CORE),
    "ticket": ("工单 ticket views", CORE),
    "inbox": ("部门待办 a department's inbox, oldest first", CORE),
    "deadletter": (
        "死信 dead letters: list | show ID | replay ID (after a fix) | discard ID --reason ...",
        CORE,
    ),
    "policy": ("派单规则 policy: check FILE", CORE),
    "import": (
        "批量导入 import tickets from .xlsx, CSV (UTF-8 or GBK) or JSONL",
        "ztc.import_cmd:add_import_parser",
    ),
    **{verb: (help_text, FEEDBACK) for verb, help_text in ACTION_HELP.items()},
    "enterprise": ("一企一策 an enterprise's file", FEEDBACK),
    "project": ("重点项目 a project's tickets", FEEDBACK),
    "overdue": ("超期与临期 overdue and at-risk tickets", SLA),
    "sla": ("时限计算 SLA calendar: due", SLA),
    "monitor": ("超期监控 run the overdue monitor", SLA),
    "reindex": ("重建报表数据 rebuild the reports' read model from the tickets", SLA),
    "alerter": ("告警推送 send SLA alerts to the sinks", SLA),
    "hotspots": (
        "热点 hot spots: run the worker (default) | list what the office sees",
        "ztc.hotspots_cmd:add_hotspots_parser",
    ),
    "classify": ("工单文本分类 / ticket text classifier", "ztc.classify_cmd:add_classify_parser"),
    "report": (
        "督办通报 weekly / monthly supervision report: .xlsx + printable page [--send]",
        "ztc.report_cmd:add_report_parser",
    ),
    "schema": (
        "事件 JSON Schema 与主题表 event schemas + topic map: export DIR",
        "ztc.schema_cmd:add_schema_parser",
    ),
    "api": (
        "Web 接口与督办看板 web API + dashboard: [serve] | spec [FILE] | keys FILE",
        "ztc.api_cmd:add_api_parser",
    ),
    "user": (
        "账号 personal accounts for the web: add | disable | enable | passwd | list",
        "ztc.user_cmd:add_user_parser",
    ),
}
"""name → (help, ``module:function`` adding the arguments of every command of that module); the
commands of one module stay together, in the order the module adds them."""


def load(target: str) -> Callable[..., object]:
    """``module:function``, imported now."""
    module, _, name = target.partition(":")
    found: Callable[..., object] = getattr(importlib.import_module(module), name)
    return found


def lazy(target: str) -> Callable[[argparse.Namespace], int]:
    """A command function imported only when the command runs (``ztc.commands:ticket_show``)."""

    def run(args: argparse.Namespace) -> int:
        result = load(target)(args)
        assert isinstance(result, int)
        return result

    run.__qualname__ = run.__name__ = target.partition(":")[2]
    return run
