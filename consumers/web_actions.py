"""The ticket page's action forms: one POST route per registry action, acting as the person signed in.

``POST /dashboard/tickets/{ticket_id}/<path>`` for every entry of
``schemas.actions.ACTIONS`` with an HTTP path, the same entries and request
models as the department API (``consumers.department_api.request_model``).
What differs is who acts: the signed-in account, never a typed name — the
event's ``actor`` is the username, its ``department`` the account's (the
office's for office people). The form must carry the session's CSRF token
(403 otherwise), the person's role must allow the action on this ticket
(``schemas.accounts.offered``: else 403, or 404 for a ticket they may not see),
and a refusal by the ticket's state shows the ticket page again with the
reason (409) and changes nothing.
"""

import logging
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from consumers.attachment_pages import Attachments, HeldFiles, takes_attachments
from consumers.department_api import PerformerFactory, action_values, request_model
from consumers.ticket_store import TicketStore
from consumers.web_sessions import Posted, WebSessions
from schemas.accounts import offered, sees_ticket
from schemas.actions import ActionError, ActionSpec, Kind
from schemas.attachments import AttachmentRefused
from schemas.dead_letters import describe_validation_error
from schemas.ticket_state import TransitionRefused

log = logging.getLogger(__name__)

WAIT_S = 5.0
"""How long a form waits for the recorder, so the page it returns to shows the new state."""


def form_values(spec: ActionSpec, posted: Posted) -> dict[str, Any]:
    """The entry's fields from a form: blank ones left out (defaults apply), department lists split."""
    values: dict[str, Any] = {}
    for field in spec.body_fields:
        given = [v.strip() for v in posted.lists.get(field.body_name, []) if v.strip()]
        if field.kind is Kind.departments:
            values[field.body_name] = [code.strip() for v in given for code in v.split(",") if code.strip()]
        elif given:
            values[field.body_name] = given[0]
    return values


def held_files(attachments: Attachments | None, spec: ActionSpec, posted: Posted) -> HeldFiles | None:
    """The form's files, checked but not yet kept, for an action whose event carries files."""
    if posted.files and attachments is not None and takes_attachments(spec.event):
        return attachments.held(posted.files)
    return None


def action_router(
    store: Callable[[], TicketStore],
    performer: PerformerFactory,
    sessions: WebSessions,
    render: Callable[..., Response],
    actions: tuple[ActionSpec, ...],
    attachments: Attachments | None = None,
) -> APIRouter:
    """``render(request, viewer, ticket_id, record, status=..., error=...)``: the ticket page.

    The files of a multipart form's ``attachment`` fields go with the actions whose event carries
    attachments (supply, resolve): checked and kept by ``attachments``, only references on the event.
    """
    router = APIRouter(include_in_schema=False)
    Form = Annotated[Posted, Depends(sessions.posted)]

    def add(spec: ActionSpec) -> None:
        model = request_model(spec)

        def act(request: Request, ticket_id: str, posted: Form) -> Response:
            viewer = posted.viewer
            record = store().get(ticket_id)
            if record is None or not sees_ticket(viewer.account, record):
                return render(request, viewer, ticket_id, None)
            if spec not in offered(viewer.account, record, actions):
                message = f"您的角色不能{spec.label} / your role may not {spec.title} this ticket"
                return render(request, viewer, ticket_id, record, status=403, error=message)
            try:
                body = model.model_validate({**form_values(spec, posted), "actor": viewer.account.username})
                department = viewer.account.acting_department or ""
                values = action_values(spec, body, department)
                held = held_files(attachments, spec, posted)
                if held is not None:
                    values["attachments"] = held.refs
                client = performer()
                keep = held.keep if held is not None else None  # kept once the ticket's state took it
                event = client.perform(spec, ticket_id, body.actor, values, department, before_publish=keep)
            except ValidationError as exc:
                error = describe_validation_error(exc)
                return render(request, viewer, ticket_id, record, status=422, error=error)
            except TransitionRefused as exc:
                return render(request, viewer, ticket_id, record, status=409, error=str(exc))
            except (ActionError, AttachmentRefused) as exc:
                return render(request, viewer, ticket_id, record, status=422, error=str(exc))
            log.info("%s: %s by %s (web)", ticket_id, spec.verb, viewer.account.username)
            client.wait_recorded(event, timeout_s=WAIT_S)
            return RedirectResponse(f"/dashboard/tickets/{ticket_id}#done-{spec.verb}", status_code=303)

        router.add_api_route(
            f"/dashboard/tickets/{{ticket_id}}/{spec.path}",
            act,
            methods=["POST"],
            name=f"web-{spec.name}",
            response_model=None,
        )

    for spec in actions:
        if spec.path is not None:
            add(spec)
    return router
