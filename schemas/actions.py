"""The registry of department actions: one entry per action, from which the rest is generated.

Each ``ActionSpec`` names the feedback event an action publishes, its CLI verb
(``ztc co-done``), its HTTP path (``POST /api/tickets/{ticket_id}/co-done``, or
none), who the CLI and the API let try it — and so how the event's
``department`` is filled — and the fields a person supplies. ``ztc.feedback_cmd``
builds the subcommands from it, ``consumers.department_api`` the routes with
their request models and OpenAPI docs, ``producers.department_client`` the
client's methods, and ``reference_table`` the README's table of actions.

Whether the ticket's state allows an action is not decided here: its
``@transition`` in ``schemas.ticket_state`` stays the authority and refuses with
the reason. Adding an action therefore means: its event class in
``schemas.feedback``, one entry in ``ACTIONS``, and its transition.

Pure data: nothing here imports Kafka, Redis, FastAPI or argparse.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import KW_ONLY, dataclass, field
from enum import StrEnum
from typing import Any

from schemas.feedback import (
    Answer,
    BounceReason,
    CoDepartmentDone,
    DepartmentAction,
    ExtensionApproved,
    ExtensionRejected,
    ExtensionRequested,
    InformationRequested,
    InformationSupplied,
    InvalidKind,
    JointMeetingConvened,
    ProgressNoted,
    RatedBy,
    Rating,
    SatisfactionRated,
    TicketAccepted,
    TicketBounced,
    TicketClosedInvalid,
    TicketDispatched,
    TicketMerged,
    TicketReopened,
    TicketResolved,
    WithdrawalApproved,
    WithdrawalRefused,
    WithdrawalRequested,
)

ACTION_PATH_PREFIX = "/api/tickets/{ticket_id}/"
_KEBAB = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_RESERVED_FLAGS = frozenset({"--as", "--actor", "--no-wait", "--help", "-h"})
_ENVELOPE = frozenset({*DepartmentAction.model_fields, "type"})
"""Fields every action fills the same way (ids, time, ``department``, ``actor``), never an entry's own."""


class ActionError(ValueError):
    """An action that cannot be taken (unknown ticket or department, unreadable time limit)."""


class Who(StrEnum):
    """Who the CLI and the API let try an action (the transition still decides)."""

    lead = "lead"
    co = "co"
    involved = "involved"
    office = "office"
    enterprise = "enterprise"

    @property
    def label(self) -> str:
        return {
            "lead": "主办 lead",
            "co": "协办 co-department",
            "involved": "本工单的部门 any department of the ticket",
            "office": "区政府办公室 office",
            "enterprise": "企业 enterprise",
        }[self.value]


DEPARTMENT_ROLES = frozenset({Who.lead, Who.co, Who.involved})


class Acting(StrEnum):
    """How an action's ``department`` is filled, derived from its ``who``."""

    department = "department"
    """A department acts for itself: ``--as DEPT`` on the CLI, the key's department over HTTP."""
    office = "office"
    """Always the office: no ``--as``; over HTTP only the office's key may try it."""
    field = "field"
    """The value of the field marked ``sets_department`` (回访: the enterprise, or the office)."""


class Kind(StrEnum):
    """What a field holds, and so how the CLI parses it and the client checks it."""

    text = "text"
    choice = "choice"
    department = "department"
    """One department code; the client refuses a code the policy does not know."""
    departments = "departments"
    """Several codes: comma separated on the CLI, a JSON list over HTTP, a tuple in the event."""
    time_limit = "time_limit"
    """e.g. ``"5 working days"``; the client refuses what ``parse_target`` cannot read."""
    ticket = "ticket"
    """Another ticket's id (e.g. the ticket a duplicate is merged into), in any case."""


@dataclass(frozen=True)
class FieldSpec:
    """One field a person supplies for an action."""

    name: str
    """The event's field."""
    label: str
    """Chinese label, e.g. ``退单说明``."""
    help: str
    """The same in English, e.g. ``why``."""
    _: KW_ONLY
    kind: Kind = Kind.text
    required: bool = False
    choices: type[StrEnum] | None = None
    default: str | None = None
    """Filled in when the field is left out, on every side."""
    cli_default: str | None = None
    """Filled in by the CLI only when its flag is left out; the HTTP body must still give it."""
    flag: str | None = None
    """The CLI flag; ``--<name>`` (dashes for underscores) unless given."""
    body: str | None = None
    """The key in the HTTP body; ``name`` unless given."""
    metavar: str | None = None
    options_from: str | None = None
    """For a department field: the ticket's attribute listing the codes a page offers
    (``pending_withdrawals``); every department of the policy unless given."""
    sets_department: bool = False
    """The value is also the event's ``department`` (for ``Acting.field``). Over HTTP and on the
    pages it is no body field: the office's key or person acts, so it is the office."""

    def __post_init__(self) -> None:
        if (self.kind is Kind.choice) != (self.choices is not None):
            raise ValueError(f"{self.name}: choices go with kind=choice, and only with it")
        if self.required and self.default is not None:
            raise ValueError(f"{self.name}: a required field has no default")
        if self.options_from is not None and self.kind is not Kind.department:
            raise ValueError(f"{self.name}: options_from goes with kind=department")

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def body_name(self) -> str:
        return self.body or self.name

    @property
    def description(self) -> str:
        """For the OpenAPI document: ``退单说明 / why``."""
        return f"{self.label} / {self.help}"

    @property
    def cli_help(self) -> str:
        comma = ", comma separated" if self.kind is Kind.departments else ""
        return f"{self.label} {self.help}{comma}"

    @property
    def choice_values(self) -> list[str]:
        return [c.value for c in self.choices] if self.choices is not None else []

    @property
    def choice_labels(self) -> list[tuple[str, str]]:
        """(value, what a page shows): ``("spam", "骚扰或垃圾信息 spam")``."""
        choices = list(self.choices) if self.choices is not None else []
        return [(c.value, f"{getattr(c, 'label', '')} {c.value}".strip()) for c in choices]


@dataclass(frozen=True, eq=False)
class ActionSpec:
    """One department action: the event, the CLI verb, the HTTP path, who may try, the fields.

    Compared and hashed by identity, so an entry can key a cache.
    """

    name: str
    """The client's method: ``DepartmentClient.<name>(...)``."""
    event: type[DepartmentAction]
    _: KW_ONLY
    verb: str
    """``ztc <verb>``."""
    title: str
    """A short English name, e.g. ``request information`` (the OpenAPI summary)."""
    help: str
    """The CLI's help line, Chinese and English."""
    who: tuple[Who, ...]
    fields: tuple[FieldSpec, ...] = ()
    path: str | None = None
    """``POST /api/tickets/{ticket_id}/<path>`` and the ticket page's form; ``None``: CLI and client
    only. An action acting through a field (回访) is the office's over HTTP (on the enterprise's
    behalf); the enterprise itself rates on its status page."""
    example: Mapping[str, Any] = field(default_factory=dict)
    """An HTTP body for the OpenAPI document (the route's own keys, ``actor`` included)."""

    def __post_init__(self) -> None:
        where = f"action {self.name!r}"
        if not self.who:
            raise ValueError(f"{where}: who may try it?")
        if not _KEBAB.match(self.verb) or (self.path is not None and not _KEBAB.match(self.path)):
            raise ValueError(f"{where}: verb and path are lower-case words joined by dashes")
        unknown = [f.name for f in self.fields if f.name not in self.event.model_fields]
        if unknown:
            raise ValueError(f"{where}: {self.event.__name__} has no field {', '.join(unknown)}")
        envelope = [f.name for f in self.fields if f.name in _ENVELOPE]
        if envelope:
            raise ValueError(f"{where}: {', '.join(envelope)} is filled by every action, not a field of it")
        for attribute in ("name", "cli_flag", "body_name"):
            values = [getattr(f, attribute) for f in self.fields]
            if len(set(values)) != len(values):
                raise ValueError(f"{where}: two fields share a {attribute}")
        if _RESERVED_FLAGS & {f.cli_flag for f in self.fields}:
            raise ValueError(f"{where}: a field's flag is one every action has")
        setters = [f for f in self.fields if f.sets_department]
        if len(setters) != (1 if self.acting is Acting.field else 0):
            raise ValueError(f"{where}: exactly the actions acting through a field mark one sets_department")
        if self.path is not None and not self.example:
            raise ValueError(f"{where}: an HTTP action documents an example body")

    @property
    def label(self) -> str:
        """The Chinese label, the event's own (``协办完成``)."""
        return self.event.label

    @property
    def acting(self) -> Acting:
        """A department role among ``who``: the department acting; the office alone: the office;
        otherwise (the enterprise, or the office on its behalf): the ``sets_department`` field."""
        if DEPARTMENT_ROLES & set(self.who):
            return Acting.department
        if self.who == (Who.office,):
            return Acting.office
        return Acting.field

    @property
    def department_field(self) -> FieldSpec | None:
        return next((f for f in self.fields if f.sets_department), None)

    @property
    def body_fields(self) -> tuple[FieldSpec, ...]:
        """The fields an HTTP body or a page's form gives: all but the one the acting side fills."""
        return tuple(f for f in self.fields if not f.sets_department)

    @property
    def http_path(self) -> str | None:
        return None if self.path is None else ACTION_PATH_PREFIX + self.path

    @property
    def summary(self) -> str:
        """The OpenAPI summary: ``签收 / accept``, ``人工派单（区政府办公室）/ dispatch (office)``."""
        if self.acting is Acting.office:
            return f"{self.label}（区政府办公室）/ {self.title} (office)"
        return f"{self.label} / {self.title}"


# ---------------------------------------------------------------- the registry


def _note(label: str, help: str, *, required: bool = False) -> FieldSpec:
    return FieldSpec("note", label, help, required=required)


def _withdrawing() -> FieldSpec:
    return FieldSpec(
        "withdrawing",
        "申请退出的部门",
        "the co-department (default: the only one asking)",
        kind=Kind.department,
        metavar="DEPT",
        options_from="pending_withdrawals",
    )


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec(
        "accept",
        TicketAccepted,
        verb="accept",
        title="accept",
        help="签收 accept a ticket",
        who=(Who.involved,),
        fields=(_note("备注", "note"),),
        path="accept",
        example={"actor": "王科长", "note": "已签收，今日联系企业"},
    ),
    ActionSpec(
        "progress",
        ProgressNoted,
        verb="progress",
        title="progress",
        help="进展 record progress",
        who=(Who.lead,),
        fields=(_note("进展说明", "what happened", required=True),),
        path="progress",
        example={"actor": "王科长", "note": "已与企业对接材料清单"},
    ),
    ActionSpec(
        "request_info",
        InformationRequested,
        verb="ask",
        title="request information",
        help="需企业补充 request information from the enterprise (clock waits)",
        who=(Who.lead, Who.office),
        fields=(FieldSpec("question", "需企业补充的材料", "what the enterprise must supply", required=True),),
        path="request-info",
        example={"actor": "王科长", "question": "请补充土方量测算报告"},
    ),
    ActionSpec(
        "supply_info",
        InformationSupplied,
        verb="supply",
        title="supply information",
        help="企业已补充 information supplied (--as enterprise|office|DEPT)",
        who=(Who.enterprise, Who.office, Who.lead),
        fields=(FieldSpec("content", "补充的材料", "what the enterprise supplied", required=True),),
        path="supply-info",
        example={"actor": "王科长", "content": "企业已补交土方量测算报告"},
    ),
    ActionSpec(
        "bounce",
        TicketBounced,
        verb="bounce",
        title="bounce",
        help="退单 bounce a ticket that is not yours; it is routed again without you",
        who=(Who.involved,),
        fields=(
            FieldSpec(
                "reason",
                "退单原因",
                "why it is not yours",
                kind=Kind.choice,
                required=True,
                choices=BounceReason,
            ),
            _note("退单说明", "why", required=True),
            FieldSpec(
                "suggested_department",
                "建议部门",
                "suggested department",
                kind=Kind.department,
                flag="--suggest",
                metavar="DEPT",
            ),
        ),
        path="bounce",
        example={
            "actor": "李科长",
            "reason": "not_our_remit",
            "note": "属审批事项",
            "suggested_department": "approval",
        },
    ),
    ActionSpec(
        "co_done",
        CoDepartmentDone,
        verb="co-done",
        title="co-department done",
        help="协办完成 a co-department's part is done",
        who=(Who.co,),
        fields=(_note("协办情况", "what was done", required=True),),
        path="co-done",
        example={"actor": "李工", "note": "施工图审查意见已反馈"},
    ),
    ActionSpec(
        "resolve",
        TicketResolved,
        verb="resolve",
        title="resolve",
        help="办结 resolve (lead only; all co-departments done, or --override)",
        who=(Who.lead,),
        fields=(
            FieldSpec("resolution", "办理结果", "outcome", required=True),
            FieldSpec(
                "override_reason",
                "协办未完成仍办结的理由",
                "resolve before co-departments are done",
                flag="--override",
                metavar="REASON",
            ),
        ),
        path="resolve",
        example={"actor": "王科长", "resolution": "土石方施工许可证已核发"},
    ),
    ActionSpec(
        "reopen",
        TicketReopened,
        verb="reopen",
        title="reopen",
        help="重办 reopen (office)",
        who=(Who.office,),
        fields=(FieldSpec("reason", "重办理由", "why it is reopened", required=True),),
        path="reopen",
        example={"actor": "督办科", "reason": "企业反映问题仍未解决"},
    ),
    ActionSpec(
        "dispatch",
        TicketDispatched,
        verb="dispatch",
        title="dispatch",
        help="人工派单 dispatch by hand (office)",
        who=(Who.office,),
        fields=(
            FieldSpec(
                "lead_department",
                "主办部门",
                "lead department",
                kind=Kind.department,
                required=True,
                flag="--lead",
                body="lead",
                metavar="DEPT",
            ),
            FieldSpec(
                "co_departments",
                "协办部门",
                "co-departments",
                kind=Kind.departments,
                flag="--co",
                body="co",
                metavar="D2,D3",
            ),
            _note("派单说明", "note"),
        ),
        path="dispatch",
        example={"actor": "派单台 张三", "lead": "approval", "co": ["construction"]},
    ),
    ActionSpec(
        "convene",
        JointMeetingConvened,
        verb="convene",
        title="convene",
        help="联席会议 joint meeting: add departments as co-departments and notify them",
        who=(Who.office,),
        fields=(
            FieldSpec(
                "departments",
                "参会并协办的部门",
                "departments joining",
                kind=Kind.departments,
                required=True,
                metavar="A,B,C",
            ),
            FieldSpec(
                "note", "会议说明", "what the meeting is for", required=True, cli_default="联席会议协同办理"
            ),
        ),
        path="convene",
        example={"actor": "督办科", "departments": ["planning", "approval"], "note": "周三联席会议"},
    ),
    ActionSpec(
        "rate",
        SatisfactionRated,
        verb="rate",
        title="rate",
        help="回访 satisfaction callback (enterprise, or office on its behalf; over HTTP the office's)",
        who=(Who.enterprise, Who.office),
        fields=(
            FieldSpec("rating", "评价", "rating", kind=Kind.choice, required=True, choices=Rating),
            FieldSpec("comment", "评价说明", "comment"),
            FieldSpec(
                "contacted",
                "承办部门是否联系企业",
                "did the department contact the enterprise (response rate)",
                kind=Kind.choice,
                choices=Answer,
            ),
            FieldSpec(
                "solved",
                "问题是否解决",
                "was the problem solved (resolution rate)",
                kind=Kind.choice,
                choices=Answer,
            ),
            FieldSpec(
                "final_answer",
                "认定为最终答复",
                "certified final answer, office only (may leave the rates)",
                kind=Kind.choice,
                choices=Answer,
            ),
            FieldSpec(
                "rated_by",
                "评价人",
                "the enterprise, or the office on its behalf",
                kind=Kind.choice,
                choices=RatedBy,
                default=RatedBy.enterprise.value,
                flag="--by",
                sets_department=True,
            ),
        ),
        path="rate",
        example={
            "actor": "回访员 刘",
            "rating": "satisfied",
            "comment": "电话回访，企业满意",
            "contacted": "yes",
            "solved": "yes",
        },
    ),
    ActionSpec(
        "extend",
        ExtensionRequested,
        verb="extend",
        title="request an extension",
        help="延期申请 ask the office for more time (lead)",
        who=(Who.lead,),
        fields=(
            FieldSpec(
                "extension",
                "延长",
                'e.g. "5 working days"',
                kind=Kind.time_limit,
                required=True,
                flag="--by",
                metavar="TARGET",
            ),
            FieldSpec("reason", "延期理由", "why more time is needed", required=True),
        ),
        path="extend",
        example={"actor": "王科长", "extension": "5 working days", "reason": "需第三方检测报告"},
    ),
    ActionSpec(
        "approve_extension",
        ExtensionApproved,
        verb="approve-extension",
        title="approve an extension",
        help="批准延期 approve the pending extension (office)",
        who=(Who.office,),
        fields=(_note("备注", "note"),),
        path="approve-extension",
        example={"actor": "督办科", "note": "同意延期"},
    ),
    ActionSpec(
        "reject_extension",
        ExtensionRejected,
        verb="reject-extension",
        title="reject an extension",
        help="不予延期 turn the pending extension down; the deadline stays (office)",
        who=(Who.office,),
        fields=(FieldSpec("reason", "不予延期的理由", "why not", required=True),),
        path="reject-extension",
        example={"actor": "督办科", "reason": "期限内可办结"},
    ),
    ActionSpec(
        "request_withdrawal",
        WithdrawalRequested,
        verb="withdraw",
        title="request withdrawal",
        help="申请退出协办 a co-department asks the office to let it leave the ticket",
        who=(Who.co,),
        fields=(FieldSpec("reason", "申请退出的理由", "why it should leave", required=True),),
        path="withdraw",
        example={"actor": "李工", "reason": "经核实不涉及本部门职责"},
    ),
    ActionSpec(
        "approve_withdrawal",
        WithdrawalApproved,
        verb="approve-withdrawal",
        title="approve a withdrawal",
        help="同意退出协办 release the co-department that asked (office)",
        who=(Who.office,),
        fields=(_withdrawing(), _note("备注", "note")),
        path="approve-withdrawal",
        example={"actor": "督办科", "withdrawing": "planning", "note": "同意"},
    ),
    ActionSpec(
        "refuse_withdrawal",
        WithdrawalRefused,
        verb="refuse-withdrawal",
        title="refuse a withdrawal",
        help="不同意退出协办 the co-department stays on the ticket (office)",
        who=(Who.office,),
        fields=(FieldSpec("reason", "不同意的理由", "why it must stay", required=True), _withdrawing()),
        path="refuse-withdrawal",
        example={"actor": "督办科", "reason": "仍需出具规划意见"},
    ),
    ActionSpec(
        "merge",
        TicketMerged,
        verb="merge",
        title="merge a duplicate",
        help="合并重复工单 close this ticket as a duplicate of the one kept (office)",
        who=(Who.office,),
        fields=(
            FieldSpec(
                "into",
                "保留的工单号",
                "the ticket kept",
                kind=Kind.ticket,
                required=True,
                metavar="TICKET_ID",
            ),
            _note("合并说明", "note"),
        ),
        path="merge",
        example={"actor": "派单台 张三", "into": "ZTC-20261128-1C2D3E4F", "note": "同一项目重复反映"},
    ),
    ActionSpec(
        "close_invalid",
        TicketClosedInvalid,
        verb="close",
        title="close as invalid",
        help="关闭无效工单 close as invalid or spam, left out of the three rates (office)",
        who=(Who.office,),
        fields=(
            FieldSpec(
                "kind", "类型", "invalid or spam", kind=Kind.choice, required=True, choices=InvalidKind
            ),
            FieldSpec("reason", "关闭理由", "why", required=True),
        ),
        path="close",
        example={"actor": "派单台 张三", "kind": "spam", "reason": "推销广告，与营商诉求无关"},
    ),
)
"""Every department action, in the order ``ztc --help`` lists them."""

ACTIONS_BY_NAME: dict[str, ActionSpec] = {spec.name: spec for spec in ACTIONS}


# ---------------------------------------------------------------- docs


def synopsis(spec: ActionSpec) -> str:
    """The command line in short: ``ztc bounce ID --as DEPT --reason R --note ... [--suggest DEPT]``."""
    parts = ["ztc", spec.verb, "ID"]
    if spec.acting is Acting.department:
        parts += ["--as", "DEPT"]
    for f in spec.fields:
        value = "|".join(f.choice_values) or f.metavar or "..."
        flag = f"{f.cli_flag} {value}"
        parts.append(flag if f.required and f.cli_default is None else f"[{flag}]")
    return " ".join(parts)


def reference_table(actions: Iterable[ActionSpec] = ACTIONS) -> str:
    """The README's table of department actions, one row per registry entry."""
    rows = [
        "| command | who | what | HTTP |",
        "|---|---|---|---|",
    ]
    for spec in actions:
        who = ", ".join(w.label for w in spec.who)
        http = f"`POST {spec.http_path}`" if spec.http_path else "—"
        cells = (f"`{synopsis(spec)}`", who, spec.help, http)
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows) + "\n"
