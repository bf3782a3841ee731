"""Department REST API: inbox, read, and the 接单 → 反馈 actions, each department with its own key.

A department sees and acts on only the tickets it is or was involved in (lead
or co, any row in ``assignments``); any other ticket is 404, exactly like one
that does not exist. The office's key also sees everything and may dispatch
and convene. One route per entry of the action registry that has an HTTP path
(``schemas.actions.ACTIONS``), with its request model and OpenAPI docs
generated from the entry. Actions go through a ``Performer`` the composition
root injects (the department client): refused by the ticket's state → 409 with
the reason; nothing is published then.

Phone and ID-card numbers in answers are masked unless the policy's
``[privacy]`` lets the reader's role on that ticket see them (by default only
the lead department, which must call the enterprise).
"""

from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any, Protocol, Self

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from consumers.ticket_store import TicketStore
from schemas.accounts import involved
from schemas.actions import ACTIONS, Acting, ActionError, ActionSpec, FieldSpec, Kind
from schemas.attachments import MAX_FILES, AttachmentRef, AttachmentRefused
from schemas.feedback import DepartmentAction
from schemas.policy import PrivacyPolicy
from schemas.principals import Principal, Scope
from schemas.privacy import mask_optional, mask_personal, reader_roles, record_for, shows_personal_data
from schemas.ticket import InboxBucket, TicketRecord, TicketStatus
from schemas.ticket_state import TransitionRefused


class Performer(Protocol):
    """What the routes need to act: ``producers.department_client.DepartmentClient`` is one."""

    def perform(
        self,
        spec: ActionSpec,
        ticket_id: str,
        actor: str,
        values: Mapping[str, Any] | None = None,
        department: str | None = None,
        before_publish: Callable[[], None] | None = None,
    ) -> DepartmentAction: ...

    def wait_recorded(self, event: DepartmentAction, timeout_s: float = 15.0) -> TicketRecord | None: ...


PerformerFactory = Callable[[], Performer]
VerifyAttachments = Callable[[Iterable[AttachmentRef]], tuple[AttachmentRef, ...]]


# ---------------------------------------------------------------- bodies


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    actor: str = Field(
        min_length=1, max_length=200, description="经办人 / person acting", examples=["王科长"]
    )


def _body_field(field: FieldSpec) -> tuple[Any, Any]:
    """The annotation and ``Field`` of one registry field in a request body."""
    kind: Any = field.choices if field.choices is not None else str
    if field.kind is Kind.departments:
        if field.required:
            return list[str], Field(min_length=1, description=field.description)
        return list[str], Field(default_factory=list, description=field.description)
    if field.required:
        return kind, Field(description=field.description)
    if field.default is not None:
        return kind, Field(default=field.default, description=field.description)
    return kind | None, Field(default=None, description=field.description)


def request_model(spec: ActionSpec) -> type[ActionIn]:
    """The body of ``POST /api/tickets/{ticket_id}/<path>``: ``actor`` plus the entry's fields."""
    assert spec.path is not None
    name = "".join(word.capitalize() for word in spec.path.split("-")) + "In"
    namespace: dict[str, Any] = {
        "__module__": __name__,
        "__doc__": f"{spec.summary} → {spec.event.__name__}",
        "__annotations__": {},
        "model_config": ConfigDict(extra="forbid", json_schema_extra={"examples": [dict(spec.example)]}),
    }
    for field in spec.body_fields:
        annotation, info = _body_field(field)
        namespace["__annotations__"][field.body_name] = annotation
        namespace[field.body_name] = info
    if "attachments" in spec.event.model_fields:
        namespace["__annotations__"]["attachments"] = list[AttachmentRef]
        namespace["attachments"] = Field(
            default_factory=list,
            max_length=MAX_FILES,
            description="附件：先上传（POST /api/tickets/{ticket_id}/attachments），再列出其返回值 / "
            "files uploaded first, as that call returned them",
        )
    model: type[ActionIn] = type(name, (ActionIn,), namespace)
    return model


def action_values(spec: ActionSpec, body: BaseModel, department: str) -> dict[str, Any]:
    """The body's fields by the event's field names, lists as the event's tuples; the field that
    says who acts (回访's ``rated_by``) is the acting side's own, never the body's."""
    values = {f.name: getattr(body, f.body_name) for f in spec.body_fields}
    setter = spec.department_field
    if setter is not None:
        values[setter.name] = department
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


# ---------------------------------------------------------------- answers


class TicketSummary(BaseModel):
    ticket_id: str
    title: str
    enterprise_name: str | None
    status: TicketStatus
    status_label: str
    role: str = Field(description="lead | co | triage | office")
    priority: str
    category: str
    routed_at: AwareDatetime
    accept_due_at: AwareDatetime | None = None
    resolve_due_at: AwareDatetime | None = None

    @classmethod
    def of(cls, record: TicketRecord, department: str, *, unmask: bool = False) -> Self:
        row = record.current_assignment(department)
        s = record.submission
        return cls(
            ticket_id=record.ticket_id,
            title=s.title if unmask else mask_personal(s.title),
            enterprise_name=s.enterprise_name if unmask else mask_optional(s.enterprise_name),
            status=record.status,
            status_label=record.status_label,
            role=row.role.value if row else "office",
            priority=record.priority.value,
            category=record.category,
            routed_at=record.routed_at,
            accept_due_at=record.sla.accept_due_at if record.sla else None,
            resolve_due_at=record.sla.resolve_due_at if record.sla else None,
        )


class InboxOut(BaseModel):
    department: str
    new: list[TicketSummary]
    in_progress: list[TicketSummary]
    awaiting_enterprise: list[TicketSummary]
    co_handling: list[TicketSummary] = []
    """tickets this department co-handles and has accepted (协办中)"""


class ActionResult(BaseModel):
    event_id: str
    event_type: str
    label: str = Field(examples=["签收"])
    ticket_id: str
    recorded: bool = Field(description="记录器已应用 / the recorder has applied it")
    status: TicketStatus | None = None
    status_label: str | None = Field(default=None, examples=["已签收"])


# ---------------------------------------------------------------- rules of visibility


def department_of(principal: Principal) -> str:
    if principal.scope is not Scope.department or principal.department is None:
        raise HTTPException(403, "此密钥不是部门密钥 / this key is not a department's key")
    return principal.department


def visible(record: TicketRecord | None, principal: Principal) -> TicketRecord:
    """The record if this principal may see it; 404 otherwise (never 403: no leak that it exists)."""
    department = department_of(principal)
    if record is None or not (principal.is_office or involved(record, department)):
        raise HTTPException(404, "工单不存在 / no such ticket")
    return record


def shown_to(record: TicketRecord, principal: Principal, privacy: PrivacyPolicy) -> TicketRecord:
    """The record as this principal may read it: personal numbers masked unless its role allows."""
    roles = reader_roles(record, department_of(principal), is_office=principal.is_office)
    return record_for(record, privacy, roles)


def _unmasked_for(record: TicketRecord, principal: Principal, privacy: PrivacyPolicy) -> bool:
    roles = reader_roles(record, department_of(principal), is_office=principal.is_office)
    return shows_personal_data(privacy, roles)


def _office_only(principal: Principal) -> None:
    if not principal.is_office:
        raise HTTPException(403, "仅区政府办公室可操作 / only the office may do this")


def _perform(
    performer: Performer, wait_s: float, act: Callable[[Performer], DepartmentAction]
) -> ActionResult:
    try:
        event = act(performer)
    except TransitionRefused as exc:
        raise HTTPException(409, str(exc)) from None
    except ActionError as exc:
        raise HTTPException(404 if str(exc).startswith("工单不存在") else 422, str(exc)) from None
    except ValidationError as exc:
        detail: list[dict[str, Any]] = [
            {"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]} for e in exc.errors()
        ]
        raise HTTPException(422, detail) from None
    record = performer.wait_recorded(event, timeout_s=wait_s) if wait_s > 0 else None
    return ActionResult(
        event_id=event.event_id,
        event_type=event.event_type,
        label=event.label,
        ticket_id=event.ticket_id,
        recorded=record is not None,
        status=record.status if record else None,
        status_label=record.status_label if record else None,
    )


def _verified(verify: VerifyAttachments | None, listed: list[AttachmentRef]) -> tuple[AttachmentRef, ...]:
    if verify is None:
        raise HTTPException(422, "此服务不接受附件 / attachments are not accepted here")
    try:
        return verify(listed)
    except AttachmentRefused as exc:
        raise HTTPException(422, str(exc)) from None


# ---------------------------------------------------------------- routes


def department_router(
    store: Callable[[], TicketStore],
    performer: PerformerFactory,
    principal: Callable[..., Principal],
    privacy: PrivacyPolicy | None = None,
    actions: Iterable[ActionSpec] = ACTIONS,
    verify_attachments: VerifyAttachments | None = None,
) -> APIRouter:
    """The department routes: inbox, read, and one per action of ``actions`` that has an HTTP path.

    ``privacy`` is the policy's ``[privacy]`` (default: only the lead unmasked);
    ``verify_attachments`` checks the files a body lists were uploaded (none accepted without it).
    """
    router = APIRouter(tags=["departments 部门"])
    privacy = privacy if privacy is not None else PrivacyPolicy()
    errors: dict[int | str, dict[str, Any]] = {
        401: {"description": "缺少或无效的 API 密钥 / missing or unknown key"},
        404: {"description": "工单不存在或无权查看 / no such ticket (or not yours)"},
        409: {"description": "工单当前状态不允许此操作 / refused by the ticket's state"},
        422: {"description": "字段校验失败 / invalid fields"},
    }
    Who = Annotated[Principal, Depends(principal)]
    Wait = Annotated[
        float, Query(ge=0, le=30, description="等待记录的秒数 / seconds to wait for the recorder")
    ]

    def ticket_for(ticket_id: str, who: Principal) -> TicketRecord:
        return visible(store().get(ticket_id), who)

    @router.get(
        "/api/inbox",
        response_model=InboxOut,
        summary="我的待办 / my inbox",
        responses=errors,
        response_description="按新派单、办理中、待企业补充、协办中分组 / by inbox bucket",
    )
    def inbox(
        who: Who,
        department: Annotated[
            str | None, Query(description="仅区政府办公室可查看其他部门 / office only")
        ] = None,
    ) -> InboxOut:
        own = department_of(who)
        if department not in (None, own):
            _office_only(who)
        code = department or own

        def summary(record: TicketRecord) -> TicketSummary:  # masked by the reader's role, not the inbox's
            return TicketSummary.of(record, code, unmask=_unmasked_for(record, who, privacy))

        buckets = {b: [summary(r) for r in store().inbox(code, b)] for b in InboxBucket}
        return InboxOut(
            department=code,
            new=buckets[InboxBucket.new],
            in_progress=buckets[InboxBucket.in_progress],
            awaiting_enterprise=buckets[InboxBucket.awaiting_enterprise],
            co_handling=buckets[InboxBucket.co_handling],
        )

    @router.get(
        "/api/tickets/{ticket_id}",
        response_model=TicketRecord,
        summary="查看工单 / read a ticket",
        response_description="工单及其时间线 / the ticket and its timeline",
        responses=errors,
    )
    def read(ticket_id: str, who: Who) -> TicketRecord:
        return shown_to(ticket_for(ticket_id, who), who, privacy)

    def add_action(spec: ActionSpec, path: str) -> None:
        """``POST path``: the entry's body; the department is the key's (or the office's, office key only)."""

        def act(ticket_id: str, body: ActionIn, who: Who, wait_s: Wait = 5.0) -> ActionResult:
            if spec.acting is not Acting.department:  # the office's, or 回访 on the enterprise's behalf
                _office_only(who)
            department = department_of(who)
            ticket_for(ticket_id, who)
            values = action_values(spec, body, department)
            listed = getattr(body, "attachments", [])
            if listed:
                values["attachments"] = _verified(verify_attachments, listed)
            return _perform(
                performer(), wait_s, lambda p: p.perform(spec, ticket_id, body.actor, values, department)
            )

        act.__annotations__["body"] = request_model(spec)  # FastAPI reads the body's model from here
        router.add_api_route(
            path,
            act,
            methods=["POST"],
            name=spec.name,
            response_model=ActionResult,
            summary=spec.summary,
            responses=errors,
            response_description="已发布（附记录后的状态）/ published, with the recorded status",
        )

    for spec in actions:
        if spec.http_path is not None:
            add_action(spec, spec.http_path)
    return router
