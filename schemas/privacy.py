"""Personal data masking: phone and resident ID numbers, for pages, API answers, dead letters and logs.

:func:`mask_personal` masks, in any text,

- mainland mobile numbers (11 digits ``1[3-9]x``, optionally ``+86``/``0086``/``86``
  and ``-`` or space between the 3-4-4 groups) as ``138****0000``;
- landline numbers written with their area code (``0532-88886666``,
  ``(0532)88886666``, ``010 12345678``) as ``0532-****6666``: the area code
  stays, the local number keeps its last four digits;
- 18-character resident ID numbers (region code, a birth date 19xx/20xx, and a
  digit or X) as the first 6 + ``********`` + the last 4.

It leaves alone what only looks alike: a number that is part of a longer run of
digits or letters (ticket ids, event ids, credit codes with letters), money
amounts and measures (``13800000000元``, ``¥13900000000``), dates, and an
all-digit unified social credit code whose check character is right while the
ID check digit is not. A number glued to ASCII letters (``tel13800000000``) is
not masked: that is the price of never touching ids.

Who sees numbers unmasked is the routing policy's ``[privacy]`` section;
:func:`shows_personal_data` decides it from the reader's roles on a ticket
(:func:`reader_roles`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from schemas.events import TicketSubmitted
from schemas.policy import PrivacyPolicy, PrivacyRole
from schemas.ticket import AssignmentRole, TicketRecord

_ALNUM_BEFORE = r"(?<![0-9A-Za-z])"
_ALNUM_AFTER = r"(?![0-9A-Za-z])"

_ID_CARD = re.compile(
    _ALNUM_BEFORE
    + r"[1-9]\d{5}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
    + _ALNUM_AFTER
)
_MOBILE = re.compile(
    r"(?<![0-9A-Za-z+])"
    r"(?P<prefix>(?:\+|00)?86[- ]?|[(（]\+?86[)）] ?)?"
    r"(?P<number>1[3-9]\d(?:[- ]?\d{4}){2})" + _ALNUM_AFTER
)
_LANDLINE = re.compile(
    _ALNUM_BEFORE + r"(?P<area>[(（]?0(?:10|2\d|[3-9]\d{2})(?:[)）] ?|[-－] ?| ))"
    r"(?P<local>[2-9]\d{6,7})" + _ALNUM_AFTER
)
_AMOUNT_AFTER = re.compile(r"\s*(?:[元万亿千百块圆角%％‰㎡]|美元|平方|平米|米|公里|吨|\.\d)")
_AMOUNT_BEFORE = re.compile(r"(?:[¥￥$＄]|RMB|CNY|USD)\s*$")

_DIGIT = re.compile(r"\d")

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def _id_check_ok(value: str) -> bool:
    total = sum(int(c) * w for c, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    return "10X98765432"[total % 11] == value[17].upper()


def _credit_check_ok(value: str) -> bool:
    """GB 32100 check character of a unified social credit code."""
    if any(c not in _CREDIT_CHARS for c in value.upper()):
        return False
    total = sum(_CREDIT_CHARS.index(c) * w for c, w in zip(value.upper()[:17], _CREDIT_WEIGHTS, strict=True))
    return _CREDIT_CHARS[(31 - total % 31) % 31] == value[17].upper()


def _is_amount(match: re.Match[str]) -> bool:
    text = match.string
    return bool(
        _AMOUNT_AFTER.match(text, match.end())
        or _AMOUNT_BEFORE.search(text[max(0, match.start() - 6) : match.start()])
    )


def _mask_id_card(match: re.Match[str]) -> str:
    value = match.group()
    if _credit_check_ok(value) and not _id_check_ok(value):
        return value  # an all-digit unified social credit code, not an ID number
    return f"{value[:6]}********{value[-4:]}"


def _mask_mobile(match: re.Match[str]) -> str:
    if _is_amount(match):
        return match.group()
    digits = re.sub(r"\D", "", match.group("number"))
    return f"{match.group('prefix') or ''}{digits[:3]}****{digits[-4:]}"


def _mask_landline(match: re.Match[str]) -> str:
    if _is_amount(match):
        return match.group()
    local = match.group("local")
    return f"{match.group('area')}{'*' * (len(local) - 4)}{local[-4:]}"


def mask_personal(text: str) -> str:
    """``text`` with mobile, landline and resident ID numbers masked; everything else unchanged."""
    if _DIGIT.search(text) is None:
        return text
    text = _ID_CARD.sub(_mask_id_card, text)
    text = _MOBILE.sub(_mask_mobile, text)
    return _LANDLINE.sub(_mask_landline, text)


def mask_optional(text: str | None) -> str | None:
    return None if text is None else mask_personal(text)


def _mask_value(value: Any) -> Any:
    """Strings anywhere inside JSON-like details (dicts, lists, tuples) masked."""
    if isinstance(value, str):
        return mask_personal(value)
    if isinstance(value, dict):
        return {k: _mask_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_mask_value(v) for v in value)
    return value


def mask_submission(submission: TicketSubmitted) -> TicketSubmitted:
    """The submission with personal numbers masked in every free-text field (ids and codes kept)."""
    return submission.model_copy(
        update={
            "title": mask_personal(submission.title),
            "text": mask_personal(submission.text),
            "contact": mask_optional(submission.contact),
            "enterprise_name": mask_optional(submission.enterprise_name),
            "project_name": mask_optional(submission.project_name),
            "street": mask_optional(submission.street),
        }
    )


def mask_record(record: TicketRecord) -> TicketRecord:
    """The ticket with personal numbers masked in its submission, history, bounces, ratings and resolution."""
    history = tuple(
        entry.model_copy(
            update={
                "summary": mask_personal(entry.summary),
                "actor": mask_optional(entry.actor),
                "details": _mask_value(entry.details),
            }
        )
        for entry in record.history
    )
    bounces = tuple(b.model_copy(update={"note": mask_personal(b.note)}) for b in record.bounces)
    ratings = tuple(r.model_copy(update={"comment": mask_optional(r.comment)}) for r in record.ratings)
    return record.model_copy(
        update={
            "submission": mask_submission(record.submission),
            "history": history,
            "bounces": bounces,
            "ratings": ratings,
            "resolution": mask_optional(record.resolution),
        }
    )


def shows_personal_data(privacy: PrivacyPolicy, roles: Iterable[PrivacyRole]) -> bool:
    """True when a reader holding any of ``roles`` may see personal data unmasked."""
    allowed = set(privacy.unmasked_roles)
    return any(role in allowed for role in roles)


def reader_roles(record: TicketRecord, department: str, *, is_office: bool = False) -> frozenset[PrivacyRole]:
    """A department's roles on a ticket now: lead or co (triage counts as office), and office by key."""
    roles = {PrivacyRole.office} if is_office else set()
    row = record.current_assignment(department)
    if row is not None:
        role = {
            AssignmentRole.lead: PrivacyRole.lead,
            AssignmentRole.co: PrivacyRole.co,
            AssignmentRole.triage: PrivacyRole.office,
        }[row.role]
        roles.add(role)
    elif department == record.lead_department:
        roles.add(PrivacyRole.office if record.manual_triage else PrivacyRole.lead)
    elif department in record.co_departments:
        roles.add(PrivacyRole.co)
    return frozenset(roles)


def record_for(record: TicketRecord, privacy: PrivacyPolicy, roles: Iterable[PrivacyRole]) -> TicketRecord:
    """The record as a reader with ``roles`` may see it: unmasked if the policy allows, else masked."""
    return record if shows_personal_data(privacy, roles) else mask_record(record)
