"""Department client: the Python API behind ``ztc accept``, ``ztc bounce``, the department routes and friends.

Every entry of the action registry (``schemas.actions.ACTIONS``) is one call,
``perform(spec, ticket_id, actor, values, department)``, and a method named
after the entry, generated from it: ``client.co_done(ticket_id, department,
actor, note)``. A method's parameters are the ticket id, the acting department
(left out for the office's actions; the rater for 回访), the actor, then the
entry's fields in order; ``inspect.signature`` shows them.

Each action is checked against the ticket's current state with the same pure
``apply`` the recorder uses, so a refused action fails here at once with its
reason and nothing is published; an allowed one is published to
``tickets.feedback`` and, when asked, awaited until the recorder has it.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import cache
from typing import Any, Protocol

from producers.publisher import Publisher
from schemas.actions import ACTIONS_BY_NAME, Acting, ActionError, ActionSpec, FieldSpec, Kind
from schemas.events import canonical_ticket_id
from schemas.feedback import ENTERPRISE, OFFICE, DepartmentAction
from schemas.ticket import TicketRecord
from schemas.ticket_state import TransitionRefused, apply, companion_events
from schemas.time_limits import parse_target

__all__ = ["ActionError", "DepartmentClient", "TicketReader", "method_signature"]

Clock = Callable[[], datetime]


class TicketReader(Protocol):
    """What the client reads: the ticket's current state (every ticket store has ``get``)."""

    def get(self, ticket_id: str) -> TicketRecord | None: ...


@cache
def method_signature(spec: ActionSpec) -> inspect.Signature:
    """The generated method's parameters: ticket id, the acting department, actor, the fields."""
    positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = [inspect.Parameter("ticket_id", positional)]
    setter = spec.department_field
    if spec.acting is Acting.department:
        params.append(inspect.Parameter("department", positional))
    elif setter is not None:
        params.append(inspect.Parameter(setter.name, positional))
    params.append(inspect.Parameter("actor", positional))
    seen_optional = by_name = False
    for f in spec.fields:
        if f is setter:
            continue
        by_name = by_name or (f.required and seen_optional)  # a required field after an optional one
        kind = inspect.Parameter.KEYWORD_ONLY if by_name else positional
        default = inspect.Parameter.empty if f.required else f.default
        params.append(inspect.Parameter(f.name, kind, default=default))
        seen_optional = seen_optional or not f.required
    return inspect.Signature(params)


class ActionMethod:
    """``client.<action name>``: binds its arguments by the entry's signature, then ``perform``."""

    def __init__(self, client: DepartmentClient, spec: ActionSpec) -> None:
        self.client = client
        self.spec = spec
        self.__signature__ = method_signature(spec)
        self.__name__ = spec.name
        self.__doc__ = f"{spec.help} (``{spec.event.__name__}``)"

    def __call__(self, *args: Any, **kwargs: Any) -> DepartmentAction:
        bound = self.__signature__.bind(*args, **kwargs)
        bound.apply_defaults()
        values = dict(bound.arguments)
        ticket_id, actor = values.pop("ticket_id"), values.pop("actor")
        department = values.pop("department", None)
        return self.client.perform(self.spec, ticket_id, actor, values, department)


class DepartmentClient:
    def __init__(
        self,
        store: TicketReader,
        publisher: Publisher,
        feedback_topic: str,
        departments: tuple[str, ...],
        clock: Clock,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.feedback_topic = feedback_topic
        self.departments = departments
        self.clock = clock

    def __getattr__(self, name: str) -> Callable[..., DepartmentAction]:
        """The registry's actions as methods: ``client.accept(...)``, ``client.co_done(...)``."""
        spec = ACTIONS_BY_NAME.get(name)
        if spec is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return ActionMethod(self, spec)

    def _known(self, *codes: str) -> None:
        for code in codes:
            if code not in self.departments and code != ENTERPRISE:
                raise ActionError(f"未知部门 unknown department {code!r}")

    def _check(self, field: FieldSpec, value: Any) -> None:
        if field.kind is Kind.department:
            self._known(value)
        elif field.kind is Kind.departments:
            self._known(*value)
        elif field.kind is Kind.time_limit:
            try:
                parse_target(value)
            except ValueError as exc:
                raise ActionError(f"{field.name}: {exc}") from None

    @staticmethod
    def _acting(spec: ActionSpec, department: str | None, values: Mapping[str, Any]) -> str:
        setter = spec.department_field
        if spec.acting is Acting.office:
            return OFFICE
        if setter is not None:
            return str(values[setter.name])
        if department is None:
            raise ActionError(f"{spec.verb}: 请指明操作部门 which department acts? (--as DEPT)")
        return department

    def perform(
        self,
        spec: ActionSpec,
        ticket_id: str,
        actor: str,
        values: Mapping[str, Any] | None = None,
        department: str | None = None,
        before_publish: Callable[[], None] | None = None,
    ) -> DepartmentAction:
        """One registry action: its fields checked, its department filled as the entry says, then ``act``.

        ``values`` are the entry's fields by event field name; ``None`` means "not given";
        ``before_publish`` runs once every check passed, just before the event is published (the
        pages keep an action's files there, so a refused action leaves none behind).
        """
        defaults = {f.name: f.default for f in spec.fields if f.default is not None}
        given = defaults | {name: value for name, value in (values or {}).items() if value is not None}
        for field in spec.fields:
            if field.name in given:
                self._check(field, given[field.name])
        acting = self._acting(spec, department, given)
        return self.act(spec.event, ticket_id, acting, before_publish=before_publish, actor=actor, **given)

    def act(
        self,
        action: type[DepartmentAction],
        ticket_id: str,
        department: str,
        *,
        before_publish: Callable[[], None] | None = None,
        **fields: Any,
    ) -> DepartmentAction:
        """Check the action against the current state (TransitionRefused if not allowed) and its
        companions against theirs (the ticket a duplicate is merged into), then publish."""
        self._known(department)
        ticket_id = canonical_ticket_id(ticket_id)
        state = self.store.get(ticket_id)
        if state is None:
            raise ActionError(f"工单不存在 no ticket {ticket_id}")
        event = action(ticket_id=ticket_id, occurred_at=self.clock(), department=department, **fields)
        apply(state, event)
        for companion in companion_events(event):  # e.g. a merge: the ticket kept must take the note
            other = self.store.get(companion.ticket_id)
            if other is None:
                raise TransitionRefused(
                    f"{ticket_id}: no ticket {companion.ticket_id} / 工单 {companion.ticket_id} 不存在"
                )
            apply(other, companion)
        if before_publish is not None:
            before_publish()
        self.publisher.publish_event(self.feedback_topic, event)
        return event

    def wait_recorded(self, event: DepartmentAction, timeout_s: float = 15.0) -> TicketRecord | None:
        """The ticket once the recorder has applied ``event``; None if it has not within the timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            record = self.store.get(event.ticket_id)
            if record is not None and record.has_applied(event.event_id):
                return record
            time.sleep(0.1)
        return None
