"""Attachments at the web edge: accepting files, and serving them only to those who may see the ticket.

A file is accepted by ``schemas.attachments.check_file`` (allow-list, size, first bytes),
its bytes kept in the ``AttachmentStore`` and only its ``AttachmentRef`` put on the event.
An attachment is served from the ticket it is listed on — the submission's, or a history
entry's (supplied information, a resolution) — and only to whoever may see that ticket:

- ``GET /dashboard/tickets/{ticket_id}/attachments/{sha256}``: a signed-in person who sees the
  ticket (``schemas.accounts.sees_ticket``: the involved departments' staff, the office);
- ``GET /status/{token}/attachments/{sha256}``: the enterprise, through its valid status link;
- ``GET /api/tickets/{ticket_id}/attachments/{sha256}``: a department key involved in it, the office;
- ``POST /api/tickets/{ticket_id}/attachments`` and ``POST /api/attachments`` (a channel before
  its submission): upload one file (multipart field ``attachment``), answered with its reference,
  which the action or submission body then lists under ``attachments``.

Anything else — another department's ticket, an attachment not listed on this ticket, a forged
link — is 404, as if it did not exist. Files are sent as downloads (``Content-Disposition:
attachment``, ``nosniff``, never cached), so a crafted file never runs as a page of this site.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from consumers.attachment_store import AttachmentMissing, AttachmentStore
from consumers.ticket_store import TicketStore
from consumers.web_sessions import WebSessions, form_with_files
from schemas.accounts import involved, sees_ticket
from schemas.attachments import (
    AttachmentRef,
    AttachmentRefused,
    AttachmentRules,
    attachments_of,
    check_file,
    check_files,
)
from schemas.principals import Principal
from schemas.status_links import STATUS_PREFIX
from schemas.ticket import TicketRecord

NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}
NOT_FOUND = "附件不存在或无权查看 / no such attachment (or not yours)"


def ticket_attachments(record: TicketRecord) -> dict[str, AttachmentRef]:
    """Every attachment listed on the ticket, by SHA-256: the submission's and the history's."""
    found = {a.sha256: a for a in record.submission.attachments}
    for entry in record.history:
        found.update((a.sha256, a) for a in attachments_of(entry.details))
    return found


def takes_attachments(event: type) -> bool:
    """Whether an event carries attachments (supplied information, a resolution, a submission)."""
    return "attachments" in getattr(event, "model_fields", {})


@dataclass(frozen=True)
class HeldFiles:
    """Files checked and described, not kept yet."""

    refs: tuple[AttachmentRef, ...]
    data: tuple[bytes, ...]
    store: Callable[[], AttachmentStore]

    def keep(self) -> None:
        for ref, data in zip(self.refs, self.data, strict=True):
            self.store().put(ref.sha256, data)


@dataclass(frozen=True)
class Attachments:
    """The store and the rules of one web process."""

    store: Callable[[], AttachmentStore]
    rules: AttachmentRules

    def held(self, files: Iterable[tuple[str, bytes]]) -> HeldFiles:
        """Check every file (``AttachmentRefused`` if one is not accepted); keep none yet. An action
        keeps them only once the ticket's state took it (``DepartmentClient.perform``'s
        ``before_publish``), so a refused action leaves no file behind."""
        chosen = [(name, data) for name, data in files if name or data]
        refs = check_files(chosen, self.rules)
        return HeldFiles(refs, tuple(data for _, data in chosen), self.store)

    def keep(self, files: Iterable[tuple[str, bytes]]) -> tuple[AttachmentRef, ...]:
        """Check every file (``AttachmentRefused`` if one is not accepted), then keep them all."""
        held = self.held(files)
        held.keep()
        return held.refs

    def verified(self, refs: Iterable[AttachmentRef]) -> tuple[AttachmentRef, ...]:
        """References an API body lists: each must be a file uploaded before, described truly."""
        given = tuple(refs)
        if len(given) > self.rules.max_files:
            raise AttachmentRefused(
                f"附件最多 {self.rules.max_files} 个 / at most {self.rules.max_files} files"
            )
        for ref in given:
            try:
                data = self.store().get(ref.sha256)
            except AttachmentMissing:
                raise AttachmentRefused(f"附件未上传：{ref.sha256} / upload the file first") from None
            if check_file(ref.name, data, self.rules) != ref:
                raise AttachmentRefused(
                    f"附件信息与文件不符：{ref.name} / the reference does not match the file"
                )
        return given

    def download(self, ref: AttachmentRef) -> Response:
        try:
            data = self.store().get(ref.sha256)
        except AttachmentMissing:
            raise HTTPException(404, NOT_FOUND) from None
        ascii_name = ref.name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
        return Response(
            data,
            media_type=ref.content_type,
            headers={
                "Content-Disposition": f'attachment; filename="{ascii_name}"; '
                f"filename*=UTF-8''{quote(ref.name)}",
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "private, no-store",
                "Referrer-Policy": "no-referrer",
                "Content-Security-Policy": "default-src 'none'; sandbox",
            },
        )

    def served(self, record: TicketRecord | None, sha256: str) -> Response:
        listed = ticket_attachments(record).get(sha256) if record is not None else None
        if listed is None:
            raise HTTPException(404, NOT_FOUND)
        return self.download(listed)

    async def upload(self, request: Request) -> AttachmentRef:
        _, files = await form_with_files(request)
        if len(files) != 1:
            raise HTTPException(
                422, "请上传一个文件（字段 attachment）/ send one file in the field attachment"
            )
        try:
            return self.keep(files)[0]
        except AttachmentRefused as exc:
            raise HTTPException(422, str(exc)) from None


def staff_attachment_router(
    attachments: Attachments, store: Callable[[], TicketStore], sessions: WebSessions
) -> APIRouter:
    """A signed-in person's route: the attachment of a ticket they may see."""
    router = APIRouter(include_in_schema=False)

    @router.get("/dashboard/tickets/{ticket_id}/attachments/{sha256}", response_model=None)
    def for_staff(request: Request, ticket_id: str, sha256: str) -> Response:
        viewer = sessions.viewer(request)
        if viewer is None:
            return sessions.login_redirect(request)
        record = store().get(ticket_id)
        return attachments.served(record if record and sees_ticket(viewer.account, record) else None, sha256)

    return router


def status_attachment_router(
    attachments: Attachments, store: Callable[[], TicketStore], ticket_of_token: Callable[[str], str | None]
) -> APIRouter:
    """The enterprise's route: an attachment of the one ticket its valid link opens."""
    router = APIRouter(include_in_schema=False)

    @router.get(STATUS_PREFIX + "{token}/attachments/{sha256}", response_model=None)
    def for_enterprise(token: str, sha256: str) -> Response:
        ticket_id = ticket_of_token(token)
        record = store().get(ticket_id) if ticket_id is not None else None
        response = attachments.served(record, sha256)
        response.headers.update(NO_STORE)
        return response

    return router


def api_attachment_router(
    attachments: Attachments, store: Callable[[], TicketStore], principal: Callable[..., Principal]
) -> APIRouter:
    """Upload and download over the API, with the department API's rule of who sees a ticket."""
    router = APIRouter(tags=["attachments 附件"])
    Who = Annotated[Principal, Depends(principal)]

    def seen(ticket_id: str, who: Principal) -> TicketRecord | None:
        record = store().get(ticket_id)
        if record is None or not (who.is_office or (who.department and involved(record, who.department))):
            return None
        return record

    @router.post("/api/attachments", summary="上传附件（提交诉求前）/ upload a file for a submission")
    async def upload_for_submission(request: Request, who: Who) -> AttachmentRef:
        return await attachments.upload(request)

    @router.post("/api/tickets/{ticket_id}/attachments", summary="上传附件 / upload a file for an action")
    async def upload(request: Request, ticket_id: str, who: Who) -> AttachmentRef:
        if seen(ticket_id, who) is None:
            raise HTTPException(404, "工单不存在或无权查看 / no such ticket (or not yours)")
        return await attachments.upload(request)

    @router.get(
        "/api/tickets/{ticket_id}/attachments/{sha256}", summary="下载附件 / download", response_model=None
    )
    def download(ticket_id: str, sha256: str, who: Who) -> Response:
        return attachments.served(seen(ticket_id, who), sha256)

    return router
